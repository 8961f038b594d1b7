"""SCD2 current state: golden cases (several versions, a delete, ties on change_time), reruns that write nothing."""

from __future__ import annotations

from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from batch.jobs import current_state_jobs
from stm.config import load_config
from stm.transforms.current_state import current_specs, current_state
from tests.test_batch_lake import add, ctx, put, read, snapshot, utc, version

__all__ = ["ctx"]  # the fixture, imported for pytest
CURRENT_JOBS = current_state_jobs(load_config())
CURRENT_TABLES = current_specs(load_config().outputs)
jobs_current = CURRENT_JOBS["jobs_current"].fn
served_entities_current = CURRENT_JOBS["served_entities_current"].fn
workspace_info_job = CURRENT_JOBS["workspace_info"].fn

JOBS = (
    "account_id string, workspace_id string, job_id string, name string, tags map<string,string>, "
    "change_time timestamp, delete_time timestamp, _ingested_at timestamp, _batch_id bigint"
)
T9, T10, T11, T12 = utc(2026, 3, 2, 9), utc(2026, 3, 2, 10), utc(2026, 3, 2, 11), utc(2026, 3, 2, 12)
HISTORY = [
    # job 1: three versions, the last one wins
    ("acc", "ws1", "1", "etl", {"team": "a"}, T10, None, T10, 1),
    ("acc", "ws1", "1", "etl-v2", {"team": "a"}, T11, None, T11, 2),
    ("acc", "ws1", "1", "etl-v3", {"team": "b"}, T12, None, T12, 3),
    # job 2: created, then deleted: kept with its delete_time
    ("acc", "ws1", "2", "old", None, T10, None, T10, 1),
    ("acc", "ws1", "2", "old", None, T11, T11, T11, 2),
    # job 3: two versions with the same change_time: the later ingested one wins
    ("acc", "ws1", "3", "first", None, T10, None, T10, 1),
    ("acc", "ws1", "3", "second", None, T10, None, T11, 2),
    # job 4: same change_time, one of them the delete: the delete wins
    ("acc", "ws1", "4", "live", None, T10, None, T10, 1),
    ("acc", "ws1", "4", "live", None, T10, T10, T10, 1),
    # the same job id in another workspace is another job
    ("acc", "ws2", "1", "other", None, T9, None, T9, 1),
]
EXPECTED = [
    ("ws1", "1", "etl-v3", None, False, 3, T10),
    ("ws1", "2", "old", T11, True, 2, T10),
    ("ws1", "3", "second", None, False, 2, T10),
    ("ws1", "4", "live", T10, True, 2, T10),
    ("ws2", "1", "other", None, False, 1, T9),
]
SHOWN = ["workspace_id", "job_id", "name", "delete_time", "is_deleted", "version_count", "first_change_time"]
SHOWN_SCHEMA = (
    "workspace_id string, job_id string, name string, delete_time timestamp, is_deleted boolean, "
    "version_count bigint, first_change_time timestamp"
)


def test_current_state_golden_versions_delete_and_ties(spark):
    history = spark.createDataFrame(HISTORY, JOBS)
    got = current_state(history, CURRENT_TABLES["jobs_current"]).select(*SHOWN)
    assertDataFrameEqual(got, spark.createDataFrame(EXPECTED, SHOWN_SCHEMA))


def test_current_state_full_tie_same_result_whatever_the_input_order(spark):
    tie = [
        ("acc", "ws1", "5", name, None, T10, None, T10, 7) for name in ("b-name", "a-name", "c-name")
    ]  # same change_time, ingestion and batch: the content digest decides
    spec = CURRENT_TABLES["jobs_current"]
    forward = current_state(spark.createDataFrame(tie, JOBS).repartition(3), spec).select("name", "_row_hash")
    backward = current_state(spark.createDataFrame(tie[::-1], JOBS).coalesce(1), spec).select("name", "_row_hash")
    assert forward.collect() == backward.collect()
    assert forward.count() == 1


def test_jobs_current_rerun_writes_nothing_and_new_version_updates_one_row(ctx):
    put(ctx, "jobs_bronze", HISTORY, JOBS)
    first = jobs_current(ctx)
    assert (first.status, first.rows) == ("ok", 5)
    v1, rows1 = version(ctx, "jobs_current"), snapshot(ctx, "jobs_current")
    again = jobs_current(ctx)
    assert (again.rows, again.detail) == (0, "unchanged")
    assert (version(ctx, "jobs_current"), snapshot(ctx, "jobs_current")) == (v1, rows1)
    newer = [("acc", "ws1", "1", "etl-v4", None, utc(2026, 3, 3), None, utc(2026, 3, 3), 4)]
    add(ctx, "jobs_bronze", newer, JOBS, ["workspace_id", "job_id", "change_time"])
    later = jobs_current(ctx)
    assert later.detail == "0 new, 1 changed"
    current = read(ctx, "jobs_current")
    assert current.where("job_id = '1' AND workspace_id = 'ws1'").select("name", "version_count").collect() == [
        ("etl-v4", 4)
    ]
    assert current.count() == 5


SERVED = (
    "served_entity_id string, account_id string, workspace_id string, endpoint_name string, "
    "endpoint_config_version int, change_time timestamp, endpoint_delete_time timestamp, "
    "_ingested_at timestamp, _batch_id bigint"
)


def test_served_entities_current_endpoint_delete_flagged(ctx):
    put(
        ctx,
        "served_entities_bronze",
        [
            ("se1", "acc", "ws1", "chat", 1, T10, None, T10, 1),
            ("se1", "acc", "ws1", "chat", 2, T11, T11, T11, 2),
            ("se2", "acc", "ws1", "embed", 1, T10, None, T10, 1),
        ],
        SERVED,
    )
    assert served_entities_current(ctx).status == "ok"
    got = read(ctx, "served_entities_current").select(
        "served_entity_id", "endpoint_config_version", "endpoint_delete_time", "is_deleted"
    )
    assert sorted(got.collect()) == [("se1", 2, T11.replace(tzinfo=None), True), ("se2", 1, None, False)]


def test_workspace_info_identifiers_and_missing_input_skipped(ctx):
    assert workspace_info_job(ctx).status == "skipped"
    schema = "account_id string, workspace_id string, workspace_name string, status string, _row_hash string"
    put(ctx, "workspaces_bronze", [("acc", "11", "prod", "RUNNING", "h"), ("acc", "12", None, "RUNNING", "h")], schema)
    assert workspace_info_job(ctx).rows == 2
    got = read(ctx, "workspace_info").select("workspace_id", "workspace_identifier", "account_identifier")
    assert sorted(got.collect()) == [("11", "prod", "acc"), ("12", "12", "acc")]
    assert read(ctx, "workspace_info").where(F.col("_row_hash") == "h").count() == 0  # digest recomputed
