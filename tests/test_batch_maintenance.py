"""Maintenance: conflict retry with backoff, VACUUM's retention guard, OPTIMIZE (catalog Z-order) while a stream
MERGEs into the same table."""

from __future__ import annotations

import functools
import json
import logging
import subprocess
import sys
import uuid
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlparse

import pyarrow as pa
import pytest

from batch.maintenance import maintenance_tables, optimize_tables, vacuum_tables
from batch.registry import BatchContext
from stm.errors import JobFailed, UsageError
from stm.store.base import StreamOptions
from stm.store.databricks import CatalogTableStore
from stm.store.retry import Backoff, is_commit_conflict, retry_on_conflict
from tests.lakes import append
from tests.test_batch_lake import ctx, make_ctx, put, read

__all__ = ["ctx"]  # the fixture, imported for pytest

AUDIT = pa.schema([("event_id", pa.string()), ("event_date", pa.date32()), ("workspace_id", pa.string())])


def audit_rows(ids: list[str], day: int = 0) -> pa.Table:
    when = date(2026, 3, 2) + timedelta(days=day)
    return pa.table({"event_id": ids, "event_date": [when] * len(ids), "workspace_id": ["ws1"] * len(ids)}, AUDIT)


class Flaky:
    """Raises ``error`` for the first ``failures`` calls, then returns the number of calls."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures, self.error, self.calls = failures, error, 0

    def __call__(self) -> int:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return self.calls


def test_retry_on_conflict_backs_off_exponentially_and_logs(caplog) -> None:
    waits: list[float] = []
    backoff = Backoff(attempts=5, first_seconds=0.5, sleep=waits.append)
    with caplog.at_level(logging.WARNING, logger="batch.maintenance"):
        flaky = Flaky(3, RuntimeError("[DELTA_CONCURRENT_APPEND] concurrent update"))
        assert retry_on_conflict("optimize t", flaky, backoff) == 4
    assert waits == [0.5, 1.0, 2.0]
    assert len([r for r in caplog.records if "conflicted with a concurrent" in r.getMessage()]) == 3


def test_retry_on_conflict_bounded_then_fails_and_other_errors_not_retried() -> None:
    waits: list[float] = []
    backoff = Backoff(attempts=4, first_seconds=1, max_seconds=3, sleep=waits.append)
    with pytest.raises(JobFailed, match="still conflicting after 4 attempts"):
        retry_on_conflict("vacuum t", Flaky(99, RuntimeError("[DELTA_CONCURRENT_APPEND] conflict")), backoff)
    assert waits == [1, 2, 3]
    other = Flaky(1, ValueError("bad data"))
    with pytest.raises(ValueError, match="bad data"):
        retry_on_conflict("vacuum t", other, backoff)
    assert (other.calls, waits) == (1, [1, 2, 3])


def test_commit_conflicts_recognised_from_delta_errors():
    """Delta's conflicts reach Python as errors whose text names the Java exception and the error class."""
    append = "io.delta.exceptions.ConcurrentAppendException: [DELTA_CONCURRENT_APPEND.WITHOUT_HINT] Files were added"
    assert is_commit_conflict(RuntimeError(append))
    assert is_commit_conflict(RuntimeError("[DELTA_CONCURRENT_DELETE_READ] This transaction attempted to read"))
    assert is_commit_conflict(RuntimeError("[DELTA_METADATA_CHANGED] MetadataChangedException"))
    assert not is_commit_conflict(RuntimeError("[TABLE_OR_VIEW_NOT_FOUND] no such table"))
    assert not is_commit_conflict(ValueError("bad data"))


def test_vacuum_retention_guard_refuses_short_retention_without_override(spark, cfg, tmp_path):
    lake = tmp_path / "lake"
    guarded = make_ctx(spark, cfg, lake)
    for value in (1, 2):  # the second overwrite leaves the first one's file unreferenced
        put(guarded, "cost_weekly_rollup", [(value,)], "v int")
    table = lake / "monitoring" / "workspace_usage" / "cost_weekly_rollup"
    live = {Path(urlparse(f).path).name for f in read(guarded, "cost_weekly_rollup").inputFiles()}
    files_before = sorted(table.glob("*.parquet"))
    assert {p.name for p in files_before} > live  # the first overwrite's files are still there
    assert vacuum_tables(guarded).rows == 1  # catalog default, 168 h: nothing old enough
    with pytest.raises(UsageError, match="below 168 h"):
        vacuum_tables(guarded, retain_hours=0)
    assert sorted(table.glob("*.parquet")) == files_before
    overridden = make_ctx(spark, cfg, lake, allow_short_retention=True)
    assert vacuum_tables(overridden, retain_hours=0).status == "ok"
    assert {p.name for p in table.glob("*.parquet")} == live
    assert [r.v for r in read(overridden, "cost_weekly_rollup").collect()] == [2]


def test_vacuum_uses_each_catalog_tables_retention(spark, cfg, tmp_path, caplog):
    spec = replace(cfg.tables["audit_logs_bronze"], vacuum_retain_hours=720)
    ctx = make_ctx(spark, replace(cfg, tables={**cfg.tables, "audit_logs_bronze": spec}), tmp_path / "lake")
    put(ctx, "audit_logs_bronze", [("e1",)], "event_id string")
    put(ctx, "cost_monthly_rollup", [(1,)], "v int")
    with caplog.at_level(logging.INFO, logger="batch.maintenance"):
        vacuum_tables(ctx)
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("vacuum:")]
    assert "audit_logs_bronze: retain 720 h" in line and "cost_monthly_rollup: retain 168 h" in line


def test_optimize_zorders_catalog_tables_compacts_declared_and_discovered_others(spark, cfg, tmp_path):
    lake = tmp_path / "lake"
    ctx = make_ctx(spark, cfg, lake)
    for name in ("audit_logs_bronze", "cost_weekly_rollup", "scratch_table"):
        for i in range(3):
            append(lake / "monitoring" / "workspace_usage" / name, audit_rows([f"{name}{i}"], day=i))
    assert optimize_tables(ctx, Backoff(sleep=pytest.fail)).rows == 3
    zorders = {}
    for name in ("audit_logs_bronze", "cost_weekly_rollup", "scratch_table"):
        last = ctx.store.history(ctx.cfg.output_name(name))[0]
        assert (last["operation"], last["operationMetrics"]["numRemovedFiles"]) == ("OPTIMIZE", "3")
        zorders[name] = json.loads(last["operationParameters"]["zOrderBy"])
    assert zorders == {"audit_logs_bronze": ["workspace_id"], "cost_weekly_rollup": [],
                       "scratch_table": []}  # fmt: skip


def test_maintenance_in_a_catalog_schema_with_a_view_maintains_only_the_tables(spark, cfg, tmp_path):
    """Deploy's masked views (``stm_masked_*``) live in the output schema on Databricks; OPTIMIZE and VACUUM name
    tables only (a view would fail both: the catalog lists it with tableType VIEW)."""
    schema = f"m_{uuid.uuid4().hex[:12]}"
    spark.sql(f"CREATE DATABASE {schema} LOCATION '{tmp_path / schema}'")
    catalog_cfg = replace(cfg, output=replace(cfg.output, catalog="spark_catalog", schema=schema))
    ctx = BatchContext(catalog_cfg, spark, CatalogTableStore(spark))
    put(ctx, "audit_logs_bronze", [("e1", "ws1", "1.2.3.4")], "event_id string, workspace_id string, source_ip string")
    spark.sql(f"CREATE VIEW spark_catalog.{schema}.stm_masked_audit_logs_bronze AS "
              f"SELECT event_id FROM spark_catalog.{schema}.audit_logs_bronze")  # fmt: skip
    assert maintenance_tables(ctx.cfg, ctx.store) == ["audit_logs_bronze"]
    assert optimize_tables(ctx, Backoff(sleep=pytest.fail)).detail == "1 tables"
    assert vacuum_tables(ctx, Backoff(sleep=pytest.fail)).detail == "1 tables"
    assert ctx.store.history(ctx.cfg.output_name("audit_logs_bronze"))[0]["operation"] == "VACUUM END"


def test_optimize_while_a_stream_merges_loses_nothing(spark, cfg, tmp_path) -> None:
    lake = tmp_path / "lake"
    ctx = make_ctx(spark, cfg, lake)
    store = ctx.store
    source, target = "system.access.audit", ctx.cfg.output_name("audit_logs_bronze")
    expected = set()
    for i in range(12):
        ids = [f"e{i}-{j}" for j in range(3)] + ([f"e{i - 1}-0"] if i else [])  # and one duplicate delivery
        append(lake / "system" / "access" / "audit", audit_rows(ids, day=i % 5))
        expected |= set(ids)
    store.merge(target, spark.createDataFrame(audit_rows(["seed"]).to_pylist(), "event_id string, event_date date, "
                "workspace_id string"), ["event_id"], insert_only=True)  # fmt: skip
    stream_waits: list[float] = []
    stream_backoff = Backoff(attempts=40, sleep=stream_waits.append)

    def merge_batch(batch, batch_id):  # a bronze foreachBatch: one idempotent MERGE, retried on conflict
        rows = batch.dropDuplicates(["event_id"])
        merge = functools.partial(store.merge, target, rows, ["event_id"], insert_only=True)
        retry_on_conflict(f"stream batch {batch_id}", merge, stream_backoff)

    query = (
        store.read_stream(source, StreamOptions(max_files_per_trigger=1))
        .writeStream.foreachBatch(merge_batch)
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .trigger(availableNow=True)
        .start()
    )
    optimize_waits: list[float] = []
    optimizations = 0
    try:
        while query.isActive or optimizations == 0:
            optimize_tables(ctx, Backoff(attempts=40, sleep=optimize_waits.append))
            optimizations += 1
        query.awaitTermination()
    finally:
        query.stop()
    assert query.exception() is None
    ids = [r.event_id for r in read(ctx, "audit_logs_bronze").collect()]
    assert sorted(ids) == sorted(expected | {"seed"})  # every record once, none lost
    history = store.history(target)
    assert sum(h["operation"] == "OPTIMIZE" for h in history) >= 1
    assert sum(h["operation"] != "OPTIMIZE" for h in history) >= 13  # the seed and one write per source commit
    logging.getLogger(__name__).info("conflicts retried: stream %d, optimize %d (%d optimize runs)",
                                     len(stream_waits), len(optimize_waits), optimizations)  # fmt: skip


def test_stm_batch_list_shows_every_job():
    cmd = [sys.executable, "-c", "from stm.cli import entry; entry()", "batch", "--list"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False, cwd=Path(__file__).parents[1])
    assert done.returncode == 0, done.stderr[-2000:]
    listed = [line.split()[0] for line in done.stdout.splitlines() if line.strip()]
    mine = ["clusters_current", "jobs_current", "served_entities_current", "warehouses_current", "workspace_info",
            "cost_monthly_rollup", "cost_trend_analysis", "cost_weekly_rollup", "job_success_rate_weekly",
            "optimize", "vacuum"]  # fmt: skip
    assert [n for n in listed if n in mine] == mine  # in --all order: current state, rollups, maintenance
