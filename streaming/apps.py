"""Streaming apps: bronze apps (one per streamed catalog target) and derived apps (silver billing, gold refreshes)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import DataFrame

from stm.catalog import TableSpec
from stm.config import Config
from stm.store.base import Bound, MergeResult, Txn
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
    batches: int = 0
    rows_in: int = 0
    rows_written: int = 0
    replays_skipped: int = 0
    seconds: float = 0.0  # in foreachBatch
    # whole triggers that had rows (source planning, batch, offset log), as Spark reports them; Spark keeps the last
    # 100 reports, so a longer run counts only those
    trigger_seconds: float = 0.0
    status: str = "pending"
    detail: str = ""


@dataclass
class CheckpointedSink:
    """A foreachBatch function whose writes carry the transaction id (app, streaming query id, batch id).

    The query id lives in the checkpoint, so a reset checkpoint gets a new id and its batches are never mistaken
    for ones already written.
    """

    app: App
    store: TableStore
    checkpoint: Path
    stats: AppStats = field(default_factory=AppStats)
    after_merge: Callable[[int, MergeResult], None] | None = None  # fault-injection hook for tests
    _query_id: str | None = None

    @property
    def txn_app_id(self) -> str:
        if self._query_id is None:
            meta = json.loads((self.checkpoint / "metadata").read_text(encoding="utf-8"))
            self._query_id = str(meta["id"])
        return f"stm:{self.app.name}:{self._query_id}"

    def _record(self, batch_id: int, rows_in: int, result: MergeResult, seconds: float, extra: str = "") -> None:
        self.stats.batches += 1
        self.stats.rows_in += rows_in
        self.stats.rows_written += result.inserted + result.updated
        self.stats.replays_skipped += int(result.replay_skipped)
        self.stats.seconds += seconds
        log.info(
            "app=%s batch=%d rows_in=%d rows_out=%d%s%s seconds=%.2f",
            self.app.name,
            batch_id,
            rows_in,
            result.inserted + result.updated,
            " (replay skipped)" if result.replay_skipped else "",
            extra,
            seconds,
        )


@dataclass
class BronzeSink(CheckpointedSink):
    """foreachBatch of a bronze app: dedupe the batch by key, one Delta MERGE, idempotent on replay.

    Works only with the batch DataFrame and its own session (``batch.sparkSession``), never the driver's.
    """

    def _write(self, batch_id: int, write: Callable[[Txn], MergeResult]) -> MergeResult:
        txn = Txn(self.txn_app_id, batch_id)
        return retry_on_conflict(f"app {self.app.name} batch {batch_id}", lambda: write(txn))

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        started = time.monotonic()
        assert isinstance(self.app, BronzeApp)
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
        result = self._write(batch_id, lambda txn: store.merge(
            self.app.target, out, spec.keys, insert_only=insert_only, txn=txn, bound=bound,
            partition_by=spec.partition_by))  # fmt: skip
        if self.after_merge is not None:
            self.after_merge(batch_id, result)
        self._record(batch_id, rows_in, result, time.monotonic() - started)


@dataclass
class DerivedSink(CheckpointedSink):
    """foreachBatch of a derived app: billing_summary upsert (billing), then the gold dates of the batch."""

    cfg: Config | None = None

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        from streaming.derived import refresh_from_batch

        started = time.monotonic()
        assert self.cfg is not None and isinstance(self.app, DerivedApp)
        rows_in = batch.count()
        if rows_in == 0:
            return
        store = self.store.bound(batch.sparkSession)
        cfg, driver, txn = self.cfg, self.app.driver, Txn(self.txn_app_id, batch_id)
        refreshed = retry_on_conflict(
            f"app {self.app.name} batch {batch_id}", lambda: refresh_from_batch(cfg, store, driver, batch, txn)
        )
        merged = refreshed.merged or MergeResult(0, 0, 0)
        gold_rows = sum(n for n in refreshed.written.values() if n > 0)
        written = MergeResult(merged.rows_in, merged.inserted + gold_rows, merged.updated, merged.replay_skipped)
        days = f" dates={len(refreshed.dates)} tables={len(refreshed.written)}"
        self._record(batch_id, rows_in, written, time.monotonic() - started, days)
