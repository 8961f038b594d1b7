"""Streaming apps: bronze apps (one per streamed catalog target) and derived apps (silver billing, gold refreshes)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import DataFrame

from stm.catalog import TableSpec
from stm.config import Config
from stm.store.base import Bound, MergeResult
from stm.store.delta import TableStore
from stm.store.retry import retry_on_conflict
from stm.transforms.bronze import key_census, latest_per_key, with_audit_columns

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BronzeApp:
    """Read the system table ``source`` with skipChangeCommits; MERGE each micro-batch into ``target`` as ``spec``
    (its catalog entry) says."""

    name: str
    source: str
    target: str
    spec: TableSpec

    def missing_hint(self) -> str:
        return f"source {self.source} missing: enable system schema '{self.spec.source_schema}'"


@dataclass(frozen=True)
class DerivedApp:
    """Read the bronze table ``source`` (``driver``) with skipChangeCommits; each micro-batch refreshes
    billing_summary (for billing) and the gold dates its rows touch."""

    name: str
    source: str
    target: str
    driver: str

    def missing_hint(self) -> str:
        return f"source {self.source} missing: run the app {self.driver} first"


App = BronzeApp | DerivedApp


def derived_apps(cfg: Config) -> list[App]:
    """The silver billing app and one gold app per streamed bronze table that dates a gold model."""
    from streaming.derived import SILVER, models_driven_by

    apps: list[App] = [
        DerivedApp(SILVER, cfg.output_name("billing_usage_bronze"), cfg.output_name(SILVER), "billing_usage_bronze")
    ]
    for table in cfg.tables_in_mode("stream"):
        if table != "billing_usage_bronze" and models_driven_by(cfg, table):
            name = "gold_" + table.removesuffix("_bronze")
            apps.append(DerivedApp(name, cfg.output_name(table), name, table))
    return apps


def all_apps(cfg: Config) -> list[App]:
    bronze = [
        BronzeApp(n, cfg.source_name(cfg.tables[n]), cfg.output_name(n), cfg.tables[n])
        for n in cfg.tables_in_mode("stream")
    ]
    return bronze + derived_apps(cfg)


def resolve_apps(cfg: Config, names: list[str], all_selected: bool) -> list[App]:
    """The apps named (or all), bronze first; an unknown name lists the valid ones."""
    from stm.console import choose

    apps = all_apps(cfg)
    chosen = set(choose("app", "apps", [a.name for a in apps], names, all_selected))
    return [a for a in apps if a.name in chosen]


@dataclass
class AppStats:
    """One app's run as the driver sees it: its micro-batches from the rows they appended to stream_progress, the
    triggers from Spark's progress reports."""

    batches: int = 0
    rows_in: int = 0
    rows_written: int = 0
    seconds: float = 0.0  # in foreachBatch
    trigger_seconds: float = 0.0  # whole triggers that had rows (source planning, batch, offset log)
    status: str = "pending"
    detail: str = ""


@dataclass(frozen=True)
class BatchLog:
    """Where a sink reports its micro-batches: the stream_progress table, under the run that started it."""

    table: str
    run_id: str

    def record(
        self, store: TableStore, app: str, batch_id: int, rows_in: int, rows_out: int, seconds: float, extra: str = ""
    ) -> None:
        """Log the micro-batch's line where it runs (the driver, or a Connect session's worker process) and append
        its row to stream_progress, the driver's only view of a batch that ran elsewhere."""
        from stm.console import ensure_logging
        from stm.transforms.bronze import progress_row

        ensure_logging()
        log.info(
            "app=%s batch=%d rows_in=%d rows_out=%d%s seconds=%.2f", app, batch_id, rows_in, rows_out, extra, seconds
        )
        row = progress_row(store.spark, self.run_id, app, batch_id, rows_in, rows_out, seconds)
        retry_on_conflict(f"app {app} batch {batch_id} progress", lambda: store.append(self.table, row))


def writer_tag(app: str, batch_id: int) -> str:
    """What a derived app's writes carry as their commit's user metadata: its name and micro-batch."""
    return f"stm:{app}:{batch_id}"


@dataclass
class BronzeSink:
    """foreachBatch of a bronze app: dedupe the batch by key, one Delta MERGE, idempotent on replay (keyed).

    Holds declarations only, so it pickles (serverless and standard access mode run it in a worker process of its
    own): the app and a store without a session. Works only with the batch DataFrame and its own session
    (``batch.sparkSession``), never the driver's.
    """

    app: BronzeApp
    store: TableStore
    batches: BatchLog
    after_merge: Callable[[int, MergeResult], None] | None = None  # fault-injection hook for tests

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        started = time.monotonic()
        spec = self.app.spec
        session = batch.sparkSession
        store = self.store.bound(session)
        census = key_census(batch, spec.keys, spec.prune_by).first()
        rows_in = int(census["rows"]) if census is not None else 0
        duplicated = list(census["duplicated"]) if census is not None else []
        bound = None
        if spec.prune_by is not None and census is not None:
            bound = Bound(spec.prune_by, census["low"], census["high"], bool(census["nulls"]))
        deduped = batch
        if duplicated:  # rare (a record delivered twice): only then are the copies ranked
            keys = session.createDataFrame([tuple(k) for k in duplicated], batch.select(*spec.keys).schema)
            deduped = latest_per_key(batch, spec.keys, spec.order_by, keys)
        out = with_audit_columns(deduped, batch_id)
        insert_only = spec.merge == "insert_only"
        target, key_columns, partition_by = self.app.target, spec.keys, spec.partition_by
        result = retry_on_conflict(
            f"app {self.app.name} batch {batch_id}",
            lambda: store.merge(
                target, out, key_columns, insert_only=insert_only, bound=bound, partition_by=partition_by
            ),
        )
        if self.after_merge is not None:
            self.after_merge(batch_id, result)
        rows_out, seconds = result.inserted + result.updated, time.monotonic() - started
        self.batches.record(store, self.app.name, batch_id, rows_in, rows_out, seconds)


@dataclass
class DerivedSink:
    """foreachBatch of a derived app: billing_summary upsert (billing), then the gold dates of the batch.

    Picklable like ``BronzeSink``: the app, the configuration and a store without a session."""

    app: DerivedApp
    store: TableStore
    batches: BatchLog
    cfg: Config

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        from streaming.derived import refresh_from_batch

        started = time.monotonic()
        rows_in = batch.count()
        if rows_in == 0:
            return
        store = self.store.bound(batch.sparkSession)
        cfg, driver, tag = self.cfg, self.app.driver, writer_tag(self.app.name, batch_id)
        refreshed = retry_on_conflict(
            f"app {self.app.name} batch {batch_id}", lambda: refresh_from_batch(cfg, store, driver, batch, tag)
        )
        merged = refreshed.merged or MergeResult(0, 0)
        rows_out = merged.inserted + merged.updated + sum(n for n in refreshed.written.values() if n > 0)
        days = f" dates={len(refreshed.dates)} tables={len(refreshed.written)}"
        self.batches.record(store, self.app.name, batch_id, rows_in, rows_out, time.monotonic() - started, days)


Sink = BronzeSink | DerivedSink
