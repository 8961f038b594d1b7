"""The registry of silver/gold models: what each reads, how it is built, its MERGE key and how it is recomputed.

How the I/O layer uses it:

- ``SILVER_BILLING`` builds ``billing_summary`` from ``billing_usage_bronze`` (micro-batches) and the
  ``list_prices`` snapshot, plus ``account_prices`` when ``system.billing.account_prices`` is readable (an
  optional input). Rows priced before a price arrived or changed need repricing: rebuild the rows with
  ``is_priced = false`` and those whose ``usage_end_time`` is at or after a changed ``price_start_time``.
- ``MODELS`` (in dependency order) read bronze tables and ``billing_summary``. For a model with a
  ``date_column``, find the dates touched by new rows of each of its ``dated_inputs`` and call
  ``compute(model, frames, cfg, dates=...)``: it restricts the dated inputs to those dates (dimension inputs are
  passed whole) and returns exactly the rows of those dates. Replace those dates in the target (delete the dates,
  insert the rows; or MERGE on ``keys`` with null-safe equality and delete unmatched target rows of those dates):
  some key columns can be NULL (``user_identity``, ``user_email``, ``endpoint_name``, ``status``, ...) and a group
  can vanish when a dimension changes.
- A model with ``date_column = None`` is a small full table: recompute it whole when any input changed
  (``endpoint_inventory`` also depends on today's date, so at least daily).
- Dimension inputs (``jobs_bronze``, ``served_entities_bronze``) are looked up at their latest version; a change to
  them does not dirty any date, so recompute recent dates periodically if late dimension rows matter.
- Date columns of timestamp inputs are ``to_date`` in the session time zone, which must be UTC (``stm.spark``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from stm.config import Config
from stm.transforms import aiml, cost_model, gold

SCOPE = ("account_id", "workspace_id")


@dataclass(frozen=True)
class DatedInput:
    """An input whose new rows dirty dates: ``column`` is a DATE, or a TIMESTAMP whose date is taken."""

    input: str
    column: str
    is_timestamp: bool = False

    def date(self) -> Column:
        return F.to_date(F.col(self.column)) if self.is_timestamp else F.col(self.column)


@dataclass(frozen=True)
class Model:
    """One output table. ``build`` takes the inputs as keyword arguments named like ``inputs``, plus ``cfg``."""

    name: str
    inputs: tuple[str, ...]
    build: Callable[..., DataFrame]
    keys: tuple[str, ...]
    date_column: str | None
    driver_input: str
    driver_date: str
    driver_is_timestamp: bool = False
    also_dated: tuple[DatedInput, ...] = ()
    optional_inputs: tuple[str, ...] = ()

    @property
    def dated_inputs(self) -> tuple[DatedInput, ...]:
        """Every input whose rows are grouped by date: the driver first, then ``also_dated``."""
        return (DatedInput(self.driver_input, self.driver_date, self.driver_is_timestamp), *self.also_dated)


def _inputs(model: Model, frames: Mapping[str, DataFrame]) -> dict[str, DataFrame]:
    return {name: frames[name] for name in (*model.inputs, *model.optional_inputs) if name in frames}


def restrict(model: Model, frames: Mapping[str, DataFrame], dates: Sequence[date]) -> dict[str, DataFrame]:
    """The model's inputs with each dated input cut to ``dates``; dimension inputs are left whole."""
    out = _inputs(model, frames)
    for dated in model.dated_inputs:
        out[dated.input] = out[dated.input].where(dated.date().isin(list(dates)))
    return out


def compute(
    model: Model, frames: Mapping[str, DataFrame], cfg: Config, *, dates: Sequence[date] | None = None
) -> DataFrame:
    """Build ``model``: whole, or (dated models) only the rows of ``dates``, from the input rows of those dates."""
    if dates is None or model.date_column is None:
        return model.build(**_inputs(model, frames), cfg=cfg)
    built = model.build(**restrict(model, frames, dates), cfg=cfg)
    return built.where(F.col(model.date_column).isin(list(dates)))


def _plain(fn: Callable[..., DataFrame]) -> Callable[..., DataFrame]:
    """A build for a transform that needs no configuration."""

    def build(*, cfg: Config, **inputs: DataFrame) -> DataFrame:
        return fn(**inputs)

    return build


def _billing_summary(
    *, billing_usage_bronze: DataFrame, list_prices: DataFrame, cfg: Config, account_prices: DataFrame | None = None
) -> DataFrame:
    return cost_model.billing_summary(
        billing_usage_bronze, list_prices, account_prices=account_prices, discounts=cfg.pricing.discounts
    )


def _cost_by_tag(*, billing_summary: DataFrame, cfg: Config) -> DataFrame:
    return gold.cost_by_tag(billing_summary, tag_keys=cfg.analytics.tag_keys)


def _cluster_utilization(*, node_timeline_bronze: DataFrame, cfg: Config) -> DataFrame:
    return gold.cluster_utilization(node_timeline_bronze, idle_cpu_percent=cfg.analytics.idle_cpu_percent)


def _billing_model(name: str, fn: Callable[..., DataFrame], *keys: str) -> Model:
    """A model over ``billing_summary`` alone, grouped by ``usage_date`` and ``keys``."""
    return Model(
        name, ("billing_summary",), fn, (*SCOPE, "usage_date", *keys), "usage_date", "billing_summary", "usage_date"
    )


SILVER_BILLING = Model(
    name="billing_summary",
    inputs=("billing_usage_bronze", "list_prices"),
    optional_inputs=("account_prices",),
    build=_billing_summary,
    keys=(*SCOPE, "usage_date", "record_id"),
    date_column="usage_date",
    driver_input="billing_usage_bronze",
    driver_date="usage_date",
)

_ENDPOINT_USAGE = ("endpoint_usage_bronze", "served_entities_bronze")
_ENTITY_KEYS = (*SCOPE, "usage_date", "served_entity_id")
_ENDPOINT_KEYS = ("endpoint_name", "endpoint_id")

_ALL: tuple[Model, ...] = (
    _billing_model("cost_by_product", _plain(gold.cost_by_product), "billing_origin_product"),
    _billing_model("cost_by_sku", _plain(gold.cost_by_sku), "sku_name", "cloud", "usage_unit"),
    Model(
        "cost_by_job",
        ("billing_summary", "jobs_bronze"),
        _plain(gold.cost_by_job),
        (*SCOPE, "usage_date", "job_id"),
        "usage_date",
        "billing_summary",
        "usage_date",
    ),
    _billing_model("cost_by_user", _plain(gold.cost_by_user), "user_identity"),
    _billing_model("cost_by_tag", _cost_by_tag, "tag_key", "tag_value"),
    _billing_model("dq_unpriced_usage", _plain(cost_model.dq_unpriced_usage), "sku_name", "cloud", "usage_unit"),
    Model(
        "executive_summary",
        ("billing_summary",),
        _plain(gold.executive_summary),
        (*SCOPE, "summary_date"),
        "summary_date",
        "billing_summary",
        "usage_date",
    ),
    Model(
        "job_runs_summary",
        ("job_runs_bronze",),
        _plain(gold.job_runs_summary),
        (*SCOPE, "run_date", "job_id"),
        "run_date",
        "job_runs_bronze",
        "period_start_time",
        driver_is_timestamp=True,
    ),
    Model(
        "cluster_utilization",
        ("node_timeline_bronze",),
        _cluster_utilization,
        (*SCOPE, "date", "cluster_id"),
        "date",
        "node_timeline_bronze",
        "start_time",
        driver_is_timestamp=True,
    ),
    Model(
        "user_activity_summary",
        ("audit_logs_bronze",),
        _plain(gold.user_activity_summary),
        (*SCOPE, "event_date", "user_email", "service_name"),
        "event_date",
        "audit_logs_bronze",
        "event_date",
    ),
    Model(
        "data_access_summary",
        ("audit_logs_bronze",),
        _plain(gold.data_access_summary),
        (*SCOPE, "event_date", "table_name", "access_type"),
        "event_date",
        "audit_logs_bronze",
        "event_date",
    ),
    *(
        Model(
            name, _ENDPOINT_USAGE, _plain(fn), _ENTITY_KEYS, "usage_date", "endpoint_usage_bronze", "request_time", True
        )
        for name, fn in (
            ("endpoint_usage_summary", aiml.endpoint_usage_summary),
            ("foundation_model_usage", aiml.foundation_model_usage),
            ("external_model_usage", aiml.external_model_usage),
        )
    ),
    _billing_model("model_serving_costs", _plain(aiml.model_serving_costs), *_ENDPOINT_KEYS),
    _billing_model("vector_search_costs", _plain(aiml.vector_search_costs), *_ENDPOINT_KEYS),
    _billing_model("vector_search_summary", _plain(aiml.vector_search_summary), *_ENDPOINT_KEYS),
    Model(
        "aiml_executive_summary",
        ("billing_summary", "endpoint_usage_bronze"),
        _plain(aiml.aiml_executive_summary),
        (*SCOPE, "summary_date"),
        "summary_date",
        "billing_summary",
        "usage_date",
        also_dated=(DatedInput("endpoint_usage_bronze", "request_time", is_timestamp=True),),
    ),
    Model(
        "mlflow_runs_summary",
        ("mlflow_runs_bronze",),
        _plain(aiml.mlflow_runs_summary),
        (*SCOPE, "run_date", "experiment_id", "status"),
        "run_date",
        "mlflow_runs_bronze",
        "start_time",
        driver_is_timestamp=True,
    ),
    Model(
        "mlflow_experiments_summary",
        ("mlflow_experiments_bronze", "mlflow_runs_bronze"),
        _plain(aiml.mlflow_experiments_summary),
        (*SCOPE, "experiment_id"),
        None,
        "mlflow_runs_bronze",
        "start_time",
        driver_is_timestamp=True,
    ),
    Model(
        "endpoint_inventory",
        ("served_entities_bronze", "billing_summary"),
        _plain(aiml.endpoint_inventory),
        (*SCOPE, "endpoint_id"),
        None,
        "billing_summary",
        "usage_date",
    ),
)

MODELS: dict[str, Model] = {m.name: m for m in _ALL}
