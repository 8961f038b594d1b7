"""The simulated system catalog as Delta Lake's own Spark connector sees it: every kind of commit a live system table
gets (appends, in-place UPDATE and DELETE, MERGE, OPTIMIZE, deletion vectors, a column added mid-history, duplicate
deliveries), in the initial run and in ``--append``, and the bronze apps reading it exactly once.

One tiny lake for the module: simulate, run every bronze app (availableNow), simulate one more day, run them again.
The first run starts from the source's snapshot, whose file carries a deletion vector; the second run meets the
append run's deletion-vector DELETE as a change commit and skips it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest
from delta.tables import DeltaTable

from stm.config import Config
from stm.engine import CHECKPOINTS_DIR
from stm.simulate.simulator import simulate
from stm.store.base import StreamOptions
from stm.store.local import LocalTableStore
from streaming.apps import AppStats, resolve_apps
from streaming.checkpoints import Checkpoints
from streaming.runner import StreamRunner
from tests.test_simulate_support import commits

AUDIT = "access.audit"
# the apps whose sources get more than appends: deletion vectors, DELETE and OPTIMIZE (audit), OPTIMIZE and
# duplicate deliveries (billing), a column added mid-history (jobs); the other bronze apps read append-only sources
APPS = ("audit_logs_bronze", "billing_usage_bronze", "jobs_bronze")


@dataclass(frozen=True)
class StreamedLake:
    root: Path
    first_streamed_version: int  # the audit version the first bronze run started from (its snapshot)
    runs: tuple[dict[str, AppStats], dict[str, AppStats]]


def _path(root: Path, table: str) -> str:
    return str(root.joinpath("system", *table.split(".")))


def _run_bronze(spark: Any, cfg: Config, root: Path) -> dict[str, AppStats]:
    store = LocalTableStore(spark, root)
    options = StreamOptions(
        cfg.streaming.skip_change_commits, max_files_per_trigger=cfg.streaming.max_files_per_trigger
    )
    runner = StreamRunner(cfg, spark, store, Checkpoints(root / CHECKPOINTS_DIR), options, {"availableNow": True})
    return runner.run(resolve_apps(cfg, list(APPS), False))


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory, spark: Any, cfg: Config) -> StreamedLake:
    root = tmp_path_factory.mktemp("simulated-delta")
    simulate(
        root, accounts=1, workspaces=1, days=2, seed=3, billing_rows_per_day=20, audit_events_per_day=40,
        session=lambda: spark,
    )  # fmt: skip
    version = DeltaTable.forPath(spark, _path(root, AUDIT)).history(1).collect()[0]["version"]
    first = _run_bronze(spark, cfg, root)
    simulate(root, days=1, append=True, session=lambda: spark)
    return StreamedLake(root, version, (first, _run_bronze(spark, cfg, root)))


def _history(spark: Any, root: Path, table: str) -> list[dict[str, Any]]:
    rows = DeltaTable.forPath(spark, _path(root, table)).history().orderBy("version").collect()
    return [r.asDict() for r in rows]


def _keys(spark: Any, root: Path, table: str, key: str, version: int | None = None) -> list[str]:
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return [r[key] for r in reader.load(_path(root, table)).select(key).collect()]


def _appended(root: Path, table: str, key: str) -> dict[str, list[int]]:
    """key -> the versions of the append commits that delivered it (read from each commit's own new files)."""
    versions: dict[str, list[int]] = defaultdict(list)
    for version, actions in enumerate(commits(root, table)):
        if not any(a.get("commitInfo", {}).get("operation") == "WRITE" for a in actions):
            continue
        files = [str(Path(_path(root, table)) / a["add"]["path"]) for a in actions if "add" in a]
        if files:
            for value in (
                ds.dataset(files, format="parquet").to_table(columns=[key], use_threads=False)[key].to_pylist()
            ):
                versions[value].append(version)
    return versions


@pytest.mark.parametrize(
    ("table", "operation", "at_least"),
    [
        ("billing.usage", "WRITE", 4),
        (AUDIT, "WRITE", 4),
        ("compute.node_timeline", "WRITE", 3),
        ("billing.list_prices", "UPDATE", 2),
        ("access.workspaces_latest", "UPDATE", 1),  # one workspace: none is provisioning, a rename on append
        (AUDIT, "DELETE", 2),
        ("mlflow.runs_latest", "MERGE", 2),
        ("billing.usage", "OPTIMIZE", 2),
        (AUDIT, "OPTIMIZE", 2),
    ],
)
def test_simulated_history_has_commit_kind_in_initial_and_append_runs(
    spark: Any, lake: StreamedLake, table: str, operation: str, at_least: int
) -> None:
    operations = [h["operation"] for h in _history(spark, lake.root, table)]
    assert operations.count(operation) >= at_least, operations


def test_simulated_audit_deletes_write_deletion_vectors_not_files(spark: Any, lake: StreamedLake) -> None:
    detail = DeltaTable.forPath(spark, _path(lake.root, AUDIT)).detail().collect()[0]
    assert detail["properties"].get("delta.enableDeletionVectors") == "true"
    assert "deletionVectors" in detail["tableFeatures"]
    deletes = [h for h in _history(spark, lake.root, AUDIT) if h["operation"] == "DELETE"]
    assert len(deletes) == 2  # the initial run's and the append run's
    for h in deletes:
        metrics = h["operationMetrics"]
        assert int(metrics["numDeletedRows"]) > 0 and int(metrics["numDeletionVectorsAdded"]) >= 1, metrics
        assert metrics["numRemovedFiles"] == "0" and metrics["numAddedFiles"] == "0", metrics
    adds = [a["add"] for a in commits(lake.root, AUDIT)[-1] if "add" in a]  # the live file, re-added with its DV
    assert adds and all(a.get("deletionVector") for a in adds)


def test_simulated_jobs_gain_columns_mid_history(spark: Any, lake: StreamedLake) -> None:
    path = _path(lake.root, "lakeflow.jobs")
    first = spark.read.format("delta").option("versionAsOf", 0).load(path).columns
    last = spark.read.format("delta").load(path).columns
    assert "trigger" not in first and "create_time" not in first
    assert set(last) - set(first) >= {"trigger", "trigger_type", "paused", "create_time"}


@pytest.mark.parametrize(("table", "key"), [("billing.usage", "record_id"), (AUDIT, "event_id")])
def test_simulated_duplicates_delivered_in_separate_append_commits(lake: StreamedLake, table: str, key: str) -> None:
    delivered = _appended(lake.root, table, key)
    twice = [versions for versions in delivered.values() if len(versions) > 1]
    assert twice and all(len(set(versions)) == len(versions) for versions in twice)


def test_bronze_apps_over_simulated_lake_succeed_in_both_runs(lake: StreamedLake) -> None:
    for run in lake.runs:
        assert {name: s.status for name, s in run.items()} == dict.fromkeys(APPS, "ok")
        assert run["audit_logs_bronze"].rows_in > 0


def test_audit_bronze_holds_each_delivered_event_once_despite_deletion_vectors(
    spark: Any, cfg: Config, lake: StreamedLake
) -> None:
    """Bronze = the first run's snapshot (its deletion vector applied) plus every later append; the append run's
    deletion-vector DELETE is a change commit the stream skips, so bronze keeps those rows, once each."""
    target = LocalTableStore(spark, lake.root).read(cfg.output_name("audit_logs_bronze"))
    in_bronze = [r["event_id"] for r in target.select("event_id").collect()]
    assert len(in_bronze) == len(set(in_bronze))
    history = _history(spark, lake.root, AUDIT)
    last_append = max(h["version"] for h in history if h["operation"] == "WRITE")
    delivered = set(_keys(spark, lake.root, AUDIT, "event_id", last_append))
    assert set(in_bronze) == delivered
    appended = _appended(lake.root, AUDIT, "event_id")
    before_first_run = {k for k, versions in appended.items() if min(versions) <= lake.first_streamed_version}
    hidden_by_first_dv = before_first_run - set(_keys(spark, lake.root, AUDIT, "event_id", lake.first_streamed_version))
    skipped_second_dv = delivered - set(_keys(spark, lake.root, AUDIT, "event_id"))
    redelivered = {k for k, versions in appended.items() if len(versions) > 1}
    assert hidden_by_first_dv and hidden_by_first_dv.isdisjoint(in_bronze)
    assert skipped_second_dv and skipped_second_dv <= set(in_bronze)
    assert redelivered & delivered  # duplicates reached bronze (and are stored once, asserted first)


def test_billing_bronze_holds_each_record_once(spark: Any, cfg: Config, lake: StreamedLake) -> None:
    target = LocalTableStore(spark, lake.root).read(cfg.output_name("billing_usage_bronze"))
    in_bronze = [r["record_id"] for r in target.select("record_id").collect()]
    assert len(in_bronze) == len(set(in_bronze))
    assert set(in_bronze) == set(_keys(spark, lake.root, "billing.usage", "record_id"))
