"""Bronze streaming apps: keyed insert-only MERGE, idempotent replay, restart, crash recovery, checkpoint reset."""

from __future__ import annotations

from datetime import timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from stm.catalog import TableSpec
from stm.config import load_config
from stm.errors import AppRunning, UsageError
from stm.store.base import MergeResult, StreamOptions
from stm.store.local import LocalTableStore
from streaming.apps import BronzeApp, BronzeSink, resolve_apps
from streaming.checkpoints import Checkpoints
from streaming.runner import StreamRunner, summary_table
from tests.delta_log import data_commits
from tests.lakes import append, events

SPEC = TableSpec(
    source="access.events", mode="stream", keys=["event_id"], merge="insert_only", why="test", order_by="event_time"
)
APP = BronzeApp("events_bronze", "system.access.events", "monitoring.workspace_usage.events_bronze", SPEC)


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
    actions = [a for commit in data_commits(target) for a in commit]  # auto compaction checked and passed over
    assert not [a for a in actions if "remove" in a]
    # Delta's own engine wrote every commit
    infos = [a["commitInfo"] for a in actions if "commitInfo" in a]
    assert len(infos) == 2 and all("Delta-Lake/" in i["engineInfo"] for i in infos)
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
    sink = BronzeSink(APP, store, _runner(spark, lake).batches)
    sink(store.read(APP.source), 0)  # batch 0 again, as a restart before the checkpoint commit replays it
    assert store.version(APP.target) == version  # every key found: nothing inserted, nothing committed
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
    # a system-table stream runs once: the restart replays batch 0 alone, whose keys are all found (nothing added)
    assert (stats[APP.name].batches, stats[APP.name].rows_in, stats[APP.name].rows_written) == (1, 2, 0)
    assert _target_ids(spark, lake) == ["a", "b"]
    stats = _runner(spark, lake).run([APP])  # the next run reads "c"
    assert (stats[APP.name].batches, stats[APP.name].rows_in, stats[APP.name].rows_written) == (1, 1, 1)
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


def test_checkpoint_reset_resumes_from_timestamp_without_duplicates(spark, lake):
    append(_src(lake), events(["a"]))
    append(_src(lake), events(["b"]))
    _runner(spark, lake).run([APP])
    store = LocalTableStore(spark, lake)
    second = next(c for c in store.history(APP.source) if c["version"] == 1)["timestamp"]
    at = second.astimezone(timezone.utc)  # history gives local naive times
    Checkpoints(lake / "_checkpoints").reset(APP.name, None, at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    append(_src(lake), events(["c"]))
    stats = _runner(spark, lake).run([APP])[APP.name]
    assert (stats.rows_in, stats.rows_written) == (2, 1)  # "b" again (already there) and "c"
    assert _target_ids(spark, lake) == ["a", "b", "c"]


def test_checkpoint_reset_refuses_while_app_runs(lake):
    checkpoints = Checkpoints(lake / "_checkpoints")
    with checkpoints.running(APP.name), pytest.raises(AppRunning, match="is running"):
        checkpoints.reset(APP.name, None, None)


def test_checkpoint_reset_rejects_bad_timestamp(lake):
    with pytest.raises(UsageError, match=r"--starting-timestamp must be an ISO 8601 timestamp.*got .yesterday."):
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


def _events_at(rows: list[tuple[str, int, int]], region: list[str] | None = None) -> pa.Table:
    """Events (id, hour, amount); with ``region``, the later schema that has that column."""
    table = events([], 0).select(["event_id", "workspace_id", "event_time", "amount"])
    parts = [events([i], hour, amount) for i, hour, amount in rows]
    table = pa.concat_tables(parts) if parts else table
    return table.append_column("region", pa.array(region, pa.string())) if region is not None else table


def test_app_keeps_latest_copy_per_key_leaves_known_keys_and_evolves_schema(spark, tmp_path):
    """The latest copy of a key within a batch, keys the table has left alone, a column added to the source later;
    a space in the lake's path (Spark gives file URIs with it escaped)."""
    lake = tmp_path / "lake with space"
    src = _src(lake)
    append(src, _events_at([("a", 0, 1), ("b", 0, 1), ("b", 2, 2)]))
    append(src, _events_at([("c", 3, 4), ("c", 1, 3)]))
    store = LocalTableStore(spark, lake)
    runner = StreamRunner(
        load_config(), spark, store, Checkpoints(lake / "_checkpoints"), StreamOptions(), {"availableNow": True}
    )
    assert runner.run([APP])[APP.name].status == "ok"
    append(src, _events_at([("b", 5, 9), ("d", 0, 1)]))  # "b" is in the table already: left alone
    append(src, _events_at([("e", 0, 1), ("e", 4, 7)], region=["x", "y"]), schema_mode="merge")
    stats = runner.run([APP])[APP.name]
    assert (stats.status, stats.rows_in, stats.rows_written) == ("ok", 4, 2)
    table = store.read(APP.target)
    assert table.select("_ingested_at").where("_ingested_at IS NULL").count() == 0
    expected = [
        ("a", 0, 1, None, 0),
        ("b", 2, 2, None, 0),
        ("c", 3, 4, None, 0),
        ("d", 0, 1, None, 1),
        ("e", 4, 7, "y", 1),
    ]
    rows = table.drop("_ingested_at").orderBy("event_id").collect()
    assert [(r.event_id, r.event_time.hour, int(r.amount), r.region, r._batch_id) for r in rows] == expected


def test_source_trigger_on_a_system_table_runs_once_and_ignores_max_files(cfg):
    """As Databricks streams a system table (Delta Sharing): availableNow runs as once, maxFilesPerTrigger is
    dropped; a stream on the pipeline's own tables keeps both."""
    from streaming.apps import resolve_apps
    from streaming.runner import source_trigger

    bronze, silver = resolve_apps(cfg, ["billing_usage_bronze", "billing_summary"], False)
    bounded = StreamOptions(max_files_per_trigger=10)
    assert source_trigger(cfg, bronze, {"availableNow": True}, bounded) == ({"once": True}, StreamOptions())
    every = {"processingTime": "5 minutes"}
    assert source_trigger(cfg, bronze, every, bounded) == (every, StreamOptions())
    assert source_trigger(cfg, silver, {"availableNow": True}, bounded) == ({"availableNow": True}, bounded)
