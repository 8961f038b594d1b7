"""Streaming apps: one per streamed target of the table catalog, each with its foreachBatch MERGE."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import DataFrame

from stm.config import Config, TableSpec
from stm.errors import UsageError
from stm.store.base import MergeResult, TableStore, Txn
from streaming.bronze import bronze_batch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class App:
    """A streaming app: read ``source`` with skipChangeCommits, MERGE each micro-batch into ``target``."""

    name: str
    source: str
    target: str
    spec: TableSpec


def resolve_apps(cfg: Config, names: list[str], all_apps: bool, modes: tuple[str, ...] = ("stream",)) -> list[App]:
    """The apps named (or all of ``modes``), in catalog order; an unknown name lists the valid ones."""
    valid = cfg.tables_in_mode(*modes)
    if all_apps and names:
        raise UsageError("give app names or --all, not both")
    if not all_apps and not names:
        raise UsageError(f"name at least one app or pass --all; apps: {', '.join(valid)}")
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise UsageError(f"unknown app {unknown[0]!r}; valid apps: {', '.join(valid)}")
    chosen = valid if all_apps else [n for n in valid if n in names]
    return [App(n, cfg.source_name(cfg.tables[n]), cfg.output_name(n), cfg.tables[n]) for n in chosen]


@dataclass
class AppStats:
    batches: int = 0
    rows_in: int = 0
    rows_written: int = 0
    replays_skipped: int = 0
    seconds: float = 0.0
    status: str = "pending"
    detail: str = ""


@dataclass
class BronzeSink:
    """foreachBatch of a bronze app: rows of the batch, dedupe by key, one MERGE, idempotent on replay.

    The transaction id is (app, streaming query id, batch id): the query id lives in the checkpoint, so a reset
    checkpoint gets a new id and its batches are never mistaken for ones already written.
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

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        started = time.monotonic()
        spec = self.app.spec
        rows = self.store.batch_rows(self.app.source, batch)
        rows_in = rows.count()  # parquet footers locally, the batch's files on Databricks: no full pass
        out = bronze_batch(rows, spec.keys, spec.order_by, batch_id)
        result = self.store.merge(
            self.app.target, out, spec.keys, insert_only=spec.merge == "insert_only", txn=Txn(self.txn_app_id, batch_id)
        )
        if self.after_merge is not None:
            self.after_merge(batch_id, result)
        seconds = time.monotonic() - started
        self.stats.batches += 1
        self.stats.rows_in += rows_in
        self.stats.rows_written += result.inserted + result.updated
        self.stats.replays_skipped += int(result.replay_skipped)
        self.stats.seconds += seconds
        log.info(
            "app=%s batch=%d rows_in=%d rows_out=%d%s seconds=%.2f",
            self.app.name,
            batch_id,
            rows_in,
            result.inserted + result.updated,
            " (replay skipped)" if result.replay_skipped else "",
            seconds,
        )
