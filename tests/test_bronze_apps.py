"""Bronze streaming apps: keyed insert-only MERGE, idempotent replay, restart, crash recovery, checkpoint reset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stm.config import TableSpec, load_config
from stm.errors import AppRunning, UsageError
from stm.store.base import MergeResult, StreamOptions
from stm.store.local import LocalTableStore
from streaming.apps import App, BronzeSink, resolve_apps
from streaming.checkpoints import Checkpoints
from streaming.runner import StreamRunner, summary_table
from tests.lakes import append, events

SPEC = TableSpec(
    source="access.events", mode="stream", keys=["event_id"], merge="insert_only", why="test", order_by="event_time"
)
APP = App("events_bronze", "system.access.events", "monitoring.workspace_usage.events_bronze", SPEC)


class Crash(RuntimeError):
    """Raised by the fault-injection hook between the MERGE and the checkpoint commit."""


def _runner(spark: Any, lake: Path) -> StreamRunner:
    store = LocalTableStore(spark, lake)
    return StreamRunner(
        load_config(), spark, store, Checkpoints(lake / "_checkpoints"), StreamOptions(), {"availableNow": True}
    )


def _target_ids(spark: Any, lake: Path) -> list[str]:
    df = LocalTableStore(spark, lake).read(APP.target)
    return sorted(r.event_id for r in df.select("event_id").collect())


def _src(lake: Path) -> Path:
    return lake / "system" / "access" / "events"


def _commit_actions(table: Path) -> list[dict]:
    return [
        json.loads(line) for f in sorted((table / "_delta_log").glob("*.json")) for line in f.read_text().splitlines()
    ]


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return tmp_path / "lake"


def test_app_duplicate_deliveries_stored_once_and_commits_append_only(spark, lake):
    append(_src(lake), events(["a", "b", "b"]))
    append(_src(lake), events(["b", "c"], hour=1))  # "b" delivered again in a later commit
    stats = _runner(spark, lake).run([APP])
    assert stats[APP.name].status == "ok"
    assert _target_ids(spark, lake) == ["a", "b", "c"]
    append(_src(lake), events(["c", "d"], hour=2))
    _runner(spark, lake).run([APP])
    assert _target_ids(spark, lake) == ["a", "b", "c", "d"]
    target = lake / "monitoring" / "workspace_usage" / "events_bronze"
    assert not [a for a in _commit_actions(target) if "remove" in a]
    cols = LocalTableStore(spark, lake).read(APP.target).columns
    assert {"_ingested_at", "_batch_id"} <= set(cols)


def test_app_restart_with_same_checkpoint_processes_only_new_rows(spark, lake):
    append(_src(lake), events(["a", "b"]))
    first = _runner(spark, lake).run([APP])[APP.name]
    append(_src(lake), events(["c"]))
    second = _runner(spark, lake).run([APP])[APP.name]
    assert (first.rows_in, second.rows_in) == (2, 1)
    assert _target_ids(spark, lake) == ["a", "b", "c"]


def test_sink_replayed_batch_leaves_target_unchanged(spark, lake):
    append(_src(lake), events(["a", "b"]))
    _runner(spark, lake).run([APP])
    store = LocalTableStore(spark, lake)
    version = store.version(APP.target)
    sink = BronzeSink(APP, store, lake / "_checkpoints" / APP.name)
    batch = store.read_stream(APP.source, StreamOptions())  # shape only; a replay reuses batch id 0
    files = spark.createDataFrame([(f, 0, 0) for f in store.read(APP.source).inputFiles()], batch.schema)
    sink(files, 0)
    assert sink.stats.replays_skipped == 1
    assert store.version(APP.target) == version
    assert _target_ids(spark, lake) == ["a", "b"]


def test_app_crash_after_merge_before_checkpoint_commit_leaves_no_duplicates(spark, lake, monkeypatch):
    append(_src(lake), events(["a", "b"]))
    store = LocalTableStore(spark, lake)
    merged: list[MergeResult] = []

    def crash(batch_id: int, result: MergeResult) -> None:
        merged.append(result)
        raise Crash("killed between MERGE and checkpoint commit")

    original_init = BronzeSink.__init__

    def with_crash(self: BronzeSink, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.after_merge = crash

    monkeypatch.setattr(BronzeSink, "__init__", with_crash)
    stats = _runner(spark, lake).run([APP])
    assert stats[APP.name].status == "failed" and merged[0].inserted == 2
    monkeypatch.undo()
    append(_src(lake), events(["c"]))
    stats = _runner(spark, lake).run([APP])
    assert stats[APP.name].status == "ok"
    assert stats[APP.name].replays_skipped == 1  # batch 0 replayed, its transaction already committed
    assert _target_ids(spark, lake) == ["a", "b", "c"]
    assert store.read(APP.target).count() == 3


def test_checkpoint_reset_resumes_from_version_without_duplicates(spark, lake):
    append(_src(lake), events(["a"]))
    append(_src(lake), events(["b"]))
    _runner(spark, lake).run([APP])
    checkpoints = Checkpoints(lake / "_checkpoints")
    backup = checkpoints.reset(APP.name, starting_version=1, starting_timestamp=None)
    assert backup is not None and (backup / "offsets").is_dir()
    append(_src(lake), events(["c"]))
    stats = _runner(spark, lake).run([APP])[APP.name]
    assert stats.rows_in == 2  # versions 1 and 2 re-read: "b" again and "c"
    assert stats.rows_written == 1  # "b" was already there: matched, not duplicated
    assert _target_ids(spark, lake) == ["a", "b", "c"]


def test_checkpoint_reset_refuses_while_app_runs(lake):
    checkpoints = Checkpoints(lake / "_checkpoints")
    with checkpoints.running(APP.name), pytest.raises(AppRunning, match="is running"):
        checkpoints.reset(APP.name, None, None)


def test_checkpoint_reset_rejects_bad_timestamp(lake):
    with pytest.raises(UsageError, match="not an ISO timestamp"):
        Checkpoints(lake / "_checkpoints").reset(APP.name, None, "yesterday")


def test_runner_missing_source_skips_app_naming_schema_to_enable(spark, lake):
    stats = _runner(spark, lake).run([APP])
    assert stats[APP.name].status == "skipped"
    assert "enable system schema 'access'" in stats[APP.name].detail
    assert "events_bronze" in summary_table(stats)


def test_resolve_apps_unknown_name_lists_valid_apps(cfg):
    with pytest.raises(UsageError, match="valid apps: billing_usage_bronze, audit_logs_bronze"):
        resolve_apps(cfg, ["nope"], False)
    names = [a.name for a in resolve_apps(cfg, [], True)]
    assert names[: len(cfg.tables_in_mode("stream"))] == cfg.tables_in_mode("stream")
    assert "billing_summary" in names
