"""Bronze sources read through Delta's own streaming source: snapshot, appends, change commits (UPDATE, DELETE,
deletion vectors), OPTIMIZE, schema evolution and the start options a checkpoint reset uses."""

from __future__ import annotations

from datetime import timezone
from pathlib import Path
from typing import Any

import pytest
from delta.tables import DeltaTable
from pyspark.errors import StreamingQueryException

from stm.store.base import StreamOptions
from stm.store.local import LocalTableStore
from streaming.runner import error_line
from tests.lakes import append, events

SRC = "system.access.events"


def _collect(spark: Any, lake: Path, ckpt: Path, options: StreamOptions | None = None) -> list[list[str]]:
    """Run the source once with availableNow; the event ids of each non-empty micro-batch."""
    store = LocalTableStore(spark, lake)
    batches: list[list[str]] = []

    def sink(batch: Any, batch_id: int) -> None:
        ids = sorted(r.event_id for r in batch.select("event_id").collect())
        if ids:
            batches.append(ids)

    query = (
        store.read_stream(SRC, options or StreamOptions())
        .writeStream.foreachBatch(sink)
        .option("checkpointLocation", str(ckpt))
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()
    return batches


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return tmp_path / "lake"


def _src(lake: Path) -> Path:
    return lake / "system" / "access" / "events"


def _table(spark: Any, lake: Path) -> DeltaTable:
    return DeltaTable.forPath(spark, str(_src(lake)))


def test_source_first_run_reads_snapshot_then_only_new_appends(spark, lake, tmp_path):
    append(_src(lake), events(["a", "b"]))
    append(_src(lake), events(["c"]))
    assert _collect(spark, lake, tmp_path / "ck") == [["a", "b", "c"]]
    append(_src(lake), events(["d", "e"]))
    assert _collect(spark, lake, tmp_path / "ck") == [["d", "e"]]
    assert _collect(spark, lake, tmp_path / "ck") == []


def test_source_update_commit_skipped_with_skip_change_commits(spark, lake, tmp_path):
    append(_src(lake), events(["a", "b"]))
    _collect(spark, lake, tmp_path / "ck")
    _table(spark, lake).update("event_id = 'a'", {"workspace_id": "'2002'"})
    append(_src(lake), events(["c"]))
    assert _collect(spark, lake, tmp_path / "ck") == [["c"]]


def _spark_append(spark: Any, lake: Path, ids: list[str], **options: str) -> None:
    schema = "event_id string, workspace_id string, event_time timestamp, amount decimal(38,18)"
    frame = spark.createDataFrame(events(ids).to_pylist(), schema)
    frame.write.format("delta").mode("append").options(**options).save(str(_src(lake)))


def test_source_deletion_vector_commit_skipped_and_later_appends_read(spark, lake, tmp_path):
    _spark_append(spark, lake, ["a", "b", "c"], **{"delta.enableDeletionVectors": "true"})
    assert _collect(spark, lake, tmp_path / "ck") == [["a", "b", "c"]]
    _table(spark, lake).delete("event_id = 'b'")
    metrics = _table(spark, lake).history(1).collect()[0]["operationMetrics"]
    assert int(metrics["numDeletionVectorsAdded"]) == 1  # a deletion vector, not a rewritten file
    _spark_append(spark, lake, ["d"])
    assert _collect(spark, lake, tmp_path / "ck") == [["d"]]


def test_source_change_commit_without_skip_fails_query_with_one_clear_line(spark, lake, tmp_path):
    append(_src(lake), events(["a"]))
    options = StreamOptions(skip_change_commits=False)
    _collect(spark, lake, tmp_path / "ck", options)
    _table(spark, lake).delete("event_id = 'a'")
    with pytest.raises(StreamingQueryException, match="DELTA_SOURCE_IGNORE_DELETE") as failure:
        _collect(spark, lake, tmp_path / "ck", options)
    line = error_line(failure.value)
    assert line.startswith("the source has a commit at version 1 that updated or deleted rows")
    assert "streaming.skip_change_commits: true" in line


def test_source_optimize_commit_emits_nothing(spark, lake, tmp_path):
    append(_src(lake), events(["a"]))
    append(_src(lake), events(["b"]))
    _collect(spark, lake, tmp_path / "ck")
    _table(spark, lake).optimize().executeCompaction()
    last = _table(spark, lake).history(1).collect()[0]
    assert last["operation"] == "OPTIMIZE"
    assert _collect(spark, lake, tmp_path / "ck") == []
    append(_src(lake), events(["c"]))
    assert _collect(spark, lake, tmp_path / "ck") == [["c"]]


def test_source_added_column_reads_null_for_older_files(spark, lake, tmp_path):
    append(_src(lake), events(["a"]))
    append(_src(lake), events(["b"]).append_column("region", [["eu-west-1"]]), schema_mode="merge")
    rows: list[Any] = []
    query = (
        LocalTableStore(spark, lake)
        .read_stream(SRC, StreamOptions())
        .writeStream.foreachBatch(lambda df, _bid: rows.extend(df.collect()))
        .option("checkpointLocation", str(tmp_path / "ck"))
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()
    assert sorted((r.event_id, r.region) for r in rows) == [("a", None), ("b", "eu-west-1")]


def test_source_starting_version_reads_only_from_that_version(spark, lake, tmp_path):
    for ids in (["a"], ["b"], ["c", "d"]):
        append(_src(lake), events(ids))
    got = _collect(spark, lake, tmp_path / "ck", StreamOptions(starting_version=1))
    assert sorted(i for batch in got for i in batch) == ["b", "c", "d"]


def test_source_starting_timestamp_after_all_commits_reads_only_new_data(spark, lake, tmp_path):
    append(_src(lake), events(["a"]))
    first = _table(spark, lake).history(1).collect()[0]["timestamp"]
    append(_src(lake), events(["b"]))
    later = _table(spark, lake).history(1).collect()[0]["timestamp"]
    assert later > first
    at = later.astimezone(timezone.utc)  # history gives local naive times; the session's zone is UTC
    options = StreamOptions(starting_timestamp=at.strftime("%Y-%m-%d %H:%M:%S.%f"))
    assert _collect(spark, lake, tmp_path / "ck", options) == [["b"]]


def test_source_max_files_per_trigger_splits_batches(spark, lake, tmp_path):
    for ids in (["a"], ["b"], ["c"]):
        append(_src(lake), events(ids))
    got = _collect(spark, lake, tmp_path / "ck", StreamOptions(max_files_per_trigger=2))
    assert len(got) == 2 and sorted(i for batch in got for i in batch) == ["a", "b", "c"]
