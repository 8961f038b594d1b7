"""Silver and gold I/O: the billing silver app, gold refreshes of the dates each micro-batch touches.

The transforms are pure (``stm.transforms.cost_model``, ``gold``, ``aiml``, registered in
``stm.transforms.models``); this module reads their inputs through the table store and writes their outputs:
``billing_summary`` by a keyed upsert, dated gold tables by replacing exactly the dates recomputed, small full
tables whole.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame

from stm.config import Config
from stm.store.base import MergeResult
from stm.store.delta import TableStore
from stm.store.retry import retry_on_conflict
from stm.transforms.models import SILVER_BILLING, DatedInput, Model, compute, models

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)
SILVER = SILVER_BILLING.name
ACCOUNT_PRICES = "billing.account_prices"  # private preview: used when readable
# Derived apps run in one process and two of them can refresh the same table (aiml_executive_summary is dated by
# billing and by endpoint usage). A replace reads the table, then commits it whole: writers of one table take turns,
# or one would overwrite the other's dates (or both would try to create it).
_TABLE_LOCKS: dict[str, threading.Lock] = {}
_TABLE_LOCKS_GUARD = threading.Lock()
# seconds each model's last refresh in this process took: the slowest start first, so the writers finish together
_LAST_SECONDS: dict[str, float] = {}


def table_lock(name: str) -> threading.Lock:
    with _TABLE_LOCKS_GUARD:
        return _TABLE_LOCKS.setdefault(name, threading.Lock())


def empty_input(spark: SparkSession, cfg: Config, name: str) -> DataFrame:
    """An empty frame shaped like the bronze table ``name``: its system table's columns plus the audit columns."""
    from pyspark.sql.pandas.types import from_arrow_schema
    from pyspark.sql.types import LongType, StructField, StructType, TimestampType

    from stm.simulate.schemas import SYSTEM_TABLES

    system = from_arrow_schema(SYSTEM_TABLES[cfg.table(name).source])
    audit = [StructField("_ingested_at", TimestampType()), StructField("_batch_id", LongType())]
    return spark.createDataFrame([], StructType([*system.fields, *audit]))


class Inputs:
    """Reads a model's inputs once per refresh; a missing bronze table is an empty frame (dimensions are optional)."""

    def __init__(self, cfg: Config, store: TableStore) -> None:
        self.cfg = cfg
        self.store = store
        self._frames: dict[str, DataFrame | None] = {}

    def get(self, name: str) -> DataFrame | None:
        if name not in self._frames:
            self._frames[name] = self._load(name)
        return self._frames[name]

    def _load(self, name: str) -> DataFrame | None:
        if name == "account_prices":
            full = f"{self.cfg.system_catalog}.{ACCOUNT_PRICES}"
            return self.store.read(full) if self.store.exists(full) else None
        full = self.cfg.output_name(name)
        if self.store.exists(full):
            return self.store.read(full)
        if name in self.cfg.tables:
            return empty_input(self.store.spark, self.cfg, name)
        return None

    def for_model(self, model: Model) -> dict[str, DataFrame] | None:
        """The model's frames, or None when a required input that is not a bronze table is missing."""
        frames: dict[str, DataFrame] = {}
        for name in (*model.inputs, *model.optional_inputs):
            frame = self.get(name)
            if frame is None and name in model.inputs:
                return None
            if frame is not None:
                frames[name] = frame
        return frames


def dates_of(rows: DataFrame, dated: DatedInput) -> list[date]:
    """Distinct dates of ``rows`` by the input's date column (a small collect: one value per day)."""
    return sorted(r[0] for r in rows.select(dated.date().alias("d")).distinct().collect() if r[0] is not None)


def refresh(
    cfg: Config,
    store: TableStore,
    models: Iterable[Model],
    dates: Sequence[date] | None,
    inputs: Inputs | None = None,
    tag: str | None = None,
) -> dict[str, int]:
    """Recompute ``models`` for ``dates`` (None: everything) and write them (their commits carry ``tag``); returns
    rows written per table.

    Models read only inputs, never each other, so up to ``streaming.gold_writers`` of them are computed and written
    at once. Each reads the dates' partitions of its dated inputs itself: a few dates' columns read from parquet
    cost less than building and scanning a cached copy of the whole rows.
    """
    inputs = inputs or Inputs(cfg, store)
    todo: list[tuple[Model, dict[str, DataFrame]]] = []
    for model in models:
        if dates is not None and not dates and model.date_column is not None:
            continue
        frames = inputs.for_model(model)
        if frames is None:
            log.info("%s: an input is missing, not refreshed", model.name)
            continue
        todo.append((model, frames))
    todo.sort(key=lambda item: -_LAST_SECONDS.get(item[0].name, 0.0))
    with ThreadPoolExecutor(max_workers=cfg.streaming.gold_writers, thread_name_prefix="gold") as pool:
        futures = {m.name: pool.submit(_write_model, cfg, store, m, f, dates, tag) for m, f in todo}
    return {name: future.result() for name, future in futures.items()}


def _write_model(
    cfg: Config,
    store: TableStore,
    model: Model,
    frames: dict[str, DataFrame],
    dates: Sequence[date] | None,
    tag: str | None,
) -> int:
    started = time.monotonic()
    out = compute(model, frames, cfg, dates=dates)
    target = cfg.output_name(model.name)
    with table_lock(target):
        values = list(dates) if dates is not None else None
        # per write: a conflict with a stream or the daily batch writing this table reruns this replace alone
        rows = retry_on_conflict(
            f"replace {target}",
            lambda: store.replace(target, out, column=model.date_column, values=values, tag=tag),
        )
    seconds = _LAST_SECONDS[model.name] = time.monotonic() - started
    log.debug("%s: %d rows in %.2f s", model.name, rows, seconds)
    return rows


def billing_models(cfg: Config) -> list[Model]:
    """Models refreshed with billing_summary: those dated by it, and small full tables that read it."""
    return [
        m
        for m in models(cfg).values()
        if any(d.input == SILVER for d in m.dated_inputs) or (m.date_column is None and SILVER in m.inputs)
    ]


def models_driven_by(cfg: Config, table: str) -> list[Model]:
    return [
        m for m in models(cfg).values() if m.date_column is not None and any(d.input == table for d in m.dated_inputs)
    ]


def price_billing(cfg: Config, inputs: Inputs, usage: DataFrame) -> DataFrame:
    """billing_summary rows for ``usage`` (bronze rows), priced with the current price tables."""
    frames = {"billing_usage_bronze": usage}
    for name in ("list_prices", "account_prices"):
        frame = inputs.get(name)
        if frame is not None:
            frames[name] = frame
    return compute(SILVER_BILLING, frames, cfg)


@dataclass(frozen=True)
class RefreshResult:
    merged: MergeResult | None
    dates: list[date]
    written: dict[str, int]
    seconds: float


def refresh_from_batch(cfg: Config, store: TableStore, driver: str, rows: DataFrame, tag: str) -> RefreshResult:
    """One micro-batch of ``driver`` (a bronze table): silver first for billing, then the gold dates it touches (the
    gold commits carry ``tag``).

    Nothing is cached (serverless foreachBatch has no cache): the batch's dates come from its bronze rows, whose
    ``usage_date`` billing_summary keeps as is."""
    started = time.monotonic()
    inputs = Inputs(cfg, store)
    merged: MergeResult | None = None
    if driver == SILVER_BILLING.driver_input:
        dates = dates_of(rows, DatedInput(driver, SILVER_BILLING.driver_date))
        # bronze records are immutable and arrive once: new records are inserted (a replay finds them and adds
        # nothing); prices that change later are applied by the repricing job
        merged = store.merge(
            cfg.output_name(SILVER),
            price_billing(cfg, inputs, rows),
            list(SILVER_BILLING.keys),
            insert_only=True,
            partition_by=SILVER_BILLING.date_column,
        )
        inputs = Inputs(cfg, store)  # billing_summary changed
        written = refresh(cfg, store, billing_models(cfg), dates, inputs, tag)
    else:
        driven = models_driven_by(cfg, driver)
        dated = next(d for d in driven[0].dated_inputs if d.input == driver)
        dates = dates_of(rows, dated)
        written = refresh(cfg, store, driven, dates, inputs, tag)
    return RefreshResult(merged, dates, written, time.monotonic() - started)


def reprice(cfg: Config, store: TableStore) -> tuple[int, list[date]]:
    """Recompute billing_summary from bronze and current prices; upsert rows whose values changed.

    Catches prices that arrived or changed after the records were first priced. Returns (rows changed, their dates).
    """
    from stm.transforms.bronze import row_hash

    inputs = Inputs(cfg, store)
    bronze = inputs.get(SILVER_BILLING.driver_input)
    if bronze is None:
        return 0, []
    fresh = row_hash(price_billing(cfg, inputs, bronze), exclude=("_ingested_at", "_batch_id"))
    silver_name = cfg.output_name(SILVER)
    if store.exists(silver_name):
        current = row_hash(store.read(silver_name), exclude=("_ingested_at", "_batch_id"))
        changed = fresh.join(current.select("record_id", "_row_hash"), ["record_id", "_row_hash"], "left_anti")
    else:
        changed = fresh
    changed = changed.drop("_row_hash")
    # the changed rows are computed twice (their dates, then the MERGE) rather than cached: jobs may run serverless
    dates = sorted(r[0] for r in changed.select("usage_date").distinct().collect())
    if not dates:
        return 0, []
    merge = functools.partial(
        store.merge,
        silver_name,
        changed,
        list(SILVER_BILLING.keys),
        insert_only=False,
        partition_by=SILVER_BILLING.date_column,
    )
    result = retry_on_conflict(f"merge {silver_name}", merge)
    return result.inserted + result.updated, dates


def date_range(rows: Iterable[date], date_from: date | None, date_to: date | None) -> list[date]:
    return [d for d in rows if (date_from is None or d >= date_from) and (date_to is None or d <= date_to)]
