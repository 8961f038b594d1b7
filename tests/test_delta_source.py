"""The local Delta streaming source behaves like Delta's: snapshot, appends, change commits, OPTIMIZE, evolution."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from stm.errors import UnsupportedTableFeature
from stm.store import delta_log
from stm.store.base import StreamOptions
from stm.store.local import LocalTableStore
from tests.lakes import append, events

SRC = "system.access.events"


def _collect(spark: Any, lake: Path, ckpt: Path, options: StreamOptions | None = None) -> list[list[dict]]:
    """Run the source once with availableNow; return the rows of each micro-batch."""
    store = LocalTableStore(spark, lake)
    batches: list[list[dict]] = []

    def sink(batch: Any, batch_id: int) -> None:
        rows = store.batch_rows(SRC, batch).collect()
        batches.append(sorted((r.asDict() for r in rows), key=lambda r: r["event_id"]))

    query = (
        store.read_stream(SRC, options or StreamOptions())
        .writeStream.foreachBatch(sink)
        .option("checkpointLocation", str(ckpt))
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()
    return [b for b in batches if b]


def _ids(batches: list[list[dict]]) -> list[list[str]]:
    return [[r["event_id"] for r in b] for b in batches]


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return tmp_path / "lake"


def _src(lake: Path) -> Path:
    return lake / "system" / "access" / "events"


def test_source_first_run_reads_snapshot_then_only_new_appends(spark, lake, tmp_path):
    append(_src(lake), events(["a", "b"]))
    append(_src(lake), events(["c"]))
    assert _ids(_collect(spark, lake, tmp_path / "ck")) == [["a", "b", "c"]]
    append(_src(lake), events(["d", "e"]))
    assert _ids(_collect(spark, lake, tmp_path / "ck")) == [["d", "e"]]
    assert _collect(spark, lake, tmp_path / "ck") == []


def test_source_change_commit_skipped_with_skip_change_commits(spark, lake, tmp_path):
    append(_src(lake), events(["a", "b"]))
    _collect(spark, lake, tmp_path / "ck")
    DeltaTable(str(_src(lake))).update(updates={"workspace_id": "'2002'"}, predicate="event_id = 'a'")
    append(_src(lake), events(["c"]))
    assert _ids(_collect(spark, lake, tmp_path / "ck")) == [["c"]]


def test_source_change_commit_without_skip_fails_query_with_clear_message(spark, lake, tmp_path):
    append(_src(lake), events(["a"]))
    _collect(spark, lake, tmp_path / "ck", StreamOptions(skip_change_commits=False))
    DeltaTable(str(_src(lake))).delete("event_id = 'a'")
    with pytest.raises(Exception, match="updated or deleted existing rows; set skipChangeCommits=true"):
        _collect(spark, lake, tmp_path / "ck", StreamOptions(skip_change_commits=False))


def test_source_optimize_commit_emits_nothing(spark, lake, tmp_path):
    append(_src(lake), events(["a"]))
    append(_src(lake), events(["b"]))
    _collect(spark, lake, tmp_path / "ck")
    DeltaTable(str(_src(lake))).optimize.compact()
    commit = delta_log.read_commit(_src(lake), delta_log.latest_version(_src(lake)))
    assert commit.operation == "OPTIMIZE" and not commit.is_change_commit
    assert _collect(spark, lake, tmp_path / "ck") == []
    append(_src(lake), events(["c"]))
    assert _ids(_collect(spark, lake, tmp_path / "ck")) == [["c"]]


def test_source_added_column_reads_null_for_older_files(spark, lake, tmp_path):
    append(_src(lake), events(["a"]))
    newer = events(["b"]).append_column("region", [["eu-west-1"]])
    append(_src(lake), newer, schema_mode="merge")
    (batch,) = _collect(spark, lake, tmp_path / "ck")
    assert [(r["event_id"], r["region"]) for r in batch] == [("a", None), ("b", "eu-west-1")]


def test_source_starting_version_reads_only_from_that_version(spark, lake, tmp_path):
    for ids in (["a"], ["b"], ["c", "d"]):
        append(_src(lake), events(ids))
    assert _ids(_collect(spark, lake, tmp_path / "ck", StreamOptions(starting_version=1))) == [["b", "c", "d"]]


def test_source_starting_timestamp_after_all_commits_reads_nothing_until_new_data(spark, lake, tmp_path):
    append(_src(lake), events(["a"]))
    options = StreamOptions(starting_timestamp="2999-01-01T00:00:00Z")
    assert _collect(spark, lake, tmp_path / "ck", options) == []
    append(_src(lake), events(["b"]))
    assert _ids(_collect(spark, lake, tmp_path / "ck", options)) == [["b"]]


def test_source_max_files_per_trigger_splits_batches(spark, lake, tmp_path):
    for ids in (["a"], ["b"], ["c"]):
        append(_src(lake), events(ids))
    got = _collect(spark, lake, tmp_path / "ck", StreamOptions(max_files_per_trigger=2))
    assert _ids(got) == [["a", "b"], ["c"]]


def test_source_rows_mode_yields_rows_with_the_table_schema(spark, lake, tmp_path):
    append(_src(lake), events(["a", "b"]))
    rows: list[Any] = []
    query = (
        spark.readStream.format("stm_delta")
        .option("path", str(_src(lake)))
        .load()
        .writeStream.foreachBatch(lambda df, _bid: rows.extend(df.collect()))
        .option("checkpointLocation", str(tmp_path / "ck"))
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()
    assert sorted(r.event_id for r in rows) == ["a", "b"]
    assert str(rows[0].amount) == "1.000000000000000000"


def test_delta_log_deletion_vector_is_refused_clearly(tmp_path):
    table = tmp_path / "t"
    (table / "_delta_log").mkdir(parents=True)
    add = {"path": "part-0.parquet", "size": 1, "dataChange": True, "deletionVector": {"storageType": "u"}}
    (table / "_delta_log" / f"{0:020d}.json").write_text(json.dumps({"add": add}) + "\n")
    with pytest.raises(UnsupportedTableFeature, match="deletion vector"):
        delta_log.read_commit(table, 0)
