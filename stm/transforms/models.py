"""The registry of silver/gold models: what each reads, how it is built, its MERGE key and how it is recomputed.

How the I/O layer uses it:

- ``SILVER_BILLING`` builds ``billing_summary`` from ``billing_usage_bronze`` (micro-batches) and the
  ``list_prices`` snapshot, plus ``account_prices`` when ``system.billing.account_prices`` is readable (an
  optional input). Rows priced before a price arrived or changed need repricing: rebuild the rows with
  ``is_priced = false`` and those whose ``usage_end_time`` is at or after a changed ``price_start_time``.
- ``models(cfg)``, declared under ``models:`` in ``conf/catalog.yml`` (in dependency order), read bronze tables
  and ``billing_summary``; each names its transform by ``module.function``. For a model with a
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

import functools
import importlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from stm.config import OPTIONAL_SOURCES, SILVER_TABLE, Config
from stm.errors import ConfigError
from stm.specs import ModelSpec
from stm.transforms import cost_model

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


def _billing_summary(
    *, billing_usage_bronze: DataFrame, list_prices: DataFrame, cfg: Config, account_prices: DataFrame | None = None
) -> DataFrame:
    return cost_model.billing_summary(
        billing_usage_bronze, list_prices, account_prices=account_prices, discounts=cfg.pricing.discounts
    )


SILVER_BILLING = Model(
    name=SILVER_TABLE,
    inputs=("billing_usage_bronze", "list_prices"),
    optional_inputs=OPTIONAL_SOURCES,
    build=_billing_summary,
    keys=(*SCOPE, "usage_date", "record_id"),
    date_column="usage_date",
    driver_input="billing_usage_bronze",
    driver_date="usage_date",
)


@functools.cache
def transform(path: str, where: str) -> Callable[..., DataFrame]:
    """The function ``module.function`` as a model's build: inputs by keyword, plus ``cfg`` when it takes one.
    Resolved once per path: the gold apps make their models on every micro-batch."""
    module, _, name = path.rpartition(".")
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise ConfigError(where, f"no function {path!r}: give module.function of a pure transform") from None
    takes_cfg = "cfg" in inspect.signature(fn).parameters

    def build(*, cfg: Config, **inputs: DataFrame) -> DataFrame:
        return fn(**inputs, cfg=cfg) if takes_cfg else fn(**inputs)

    return build


def model(name: str, spec: ModelSpec) -> Model:
    also = tuple(DatedInput(d.input, d.column, d.timestamp) for d in spec.also_dated)
    return Model(
        name,
        tuple(spec.inputs),
        transform(spec.build, f"models.{name}.build"),
        tuple(spec.keys),
        spec.date_column,
        spec.driver.input,
        spec.driver.column,
        spec.driver.timestamp,
        also,
        tuple(spec.optional_inputs),
    )


def models(cfg: Config) -> dict[str, Model]:
    """The silver/gold models of ``models:`` in the catalog (``conf/catalog.yml``), in declared order."""
    return {name: model(name, spec) for name, spec in cfg.models.items()}
