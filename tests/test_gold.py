"""Golden cases of the core gold tables, computed by hand from ``tests.gold_data``."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from pyspark.sql import DataFrame, Row
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from stm.simulate import schemas
from stm.transforms import gold
from tests.cost_data import D1, D2, SQL_SKU, bronze
from tests.gold_data import AUDIT, BASE_BILLING, JOB_RUNS, JOBS, LATE_CORRECTION, NODES, summary

COSTS = ("total_dbus", "total_cost_usd", "total_net_cost_usd", "record_count", "unpriced_rows")


@pytest.fixture(scope="module")
def billing(spark) -> DataFrame:
    return summary(spark, [*BASE_BILLING, *LATE_CORRECTION]).cache()


@pytest.fixture(scope="module")
def audit(spark) -> DataFrame:
    return bronze(spark, schemas.AUDIT, AUDIT)


def on(df: DataFrame, day, *cols: str) -> DataFrame:
    """The rows of one date (whichever date column the table has), projected on ``cols``."""
    date_column = next(c for c in ("usage_date", "summary_date", "run_date", "event_date", "date") if c in df.columns)
    return df.where(F.col(date_column) == day).select(*cols)


def test_cost_by_product_corrections_net_unpriced_counted_not_zero(billing):
    # D1 JOBS: 10 - 10 + 12 (corrected o1, 0.15) + 5 (o2, 0.20) priced = 1.8 + 1.0; u1 (3 DBU) unpriced.
    # D2 APPS: only u2, unpriced: the cost is NULL, not 0.
    out = gold.cost_by_product(billing)
    assertDataFrameEqual(
        out.select("account_id", "workspace_id", "usage_date", "billing_origin_product", *COSTS),
        [
            Row("acc-1", "1001", D1, "JOBS", D("20"), D("2.8"), D("2.8"), 5, 1),
            Row("acc-1", "1001", D1, "SQL", D("4"), D("2.2"), D("2.2"), 1, 0),
            Row("acc-1", "1001", D2, "JOBS", D("2"), D("0.4"), D("0.4"), 1, 0),
            Row("acc-1", "1001", D2, "SQL", D("1"), D("0.55"), D("0.55"), 1, 0),
            Row("acc-1", "1001", D2, "APPS", D("1"), None, None, 1, 1),
        ],
    )


def test_cost_by_product_late_correction_changes_only_its_date(spark):
    before = gold.cost_by_product(summary(spark, BASE_BILLING))
    after_all = summary(spark, [*BASE_BILLING, *LATE_CORRECTION])
    after = gold.cost_by_product(after_all)
    # D2 is untouched; D1 JOBS goes from 1.5 + 1.0 (18 DBU, 3 rows) to 1.8 + 1.0 (20 DBU, 5 rows)
    assertDataFrameEqual(after.where(F.col("usage_date") == D2), before.where(F.col("usage_date") == D2))
    assertDataFrameEqual(
        on(before, D1, "billing_origin_product", *COSTS).where("billing_origin_product = 'JOBS'"),
        [Row("JOBS", D("18"), D("2.5"), D("2.5"), 3, 1)],
    )
    assertDataFrameEqual(
        on(after, D1, "billing_origin_product", *COSTS).where("billing_origin_product = 'JOBS'"),
        [Row("JOBS", D("20"), D("2.8"), D("2.8"), 5, 1)],
    )
    recomputed = gold.cost_by_product(after_all.where(F.col("usage_date") == D1))
    assertDataFrameEqual(recomputed, after.where(F.col("usage_date") == D1))


def test_cost_by_sku_groups_by_sku_cloud_unit(billing):
    assertDataFrameEqual(
        on(gold.cost_by_sku(billing), D1, "sku_name", "cloud", "usage_unit", "total_cost_usd", "unpriced_rows"),
        [
            Row("PREMIUM_JOBS_COMPUTE", "AWS", "DBU", D("2.8"), 0),
            Row("NO_SUCH_SKU", "AWS", "DBU", None, 1),
            Row(SQL_SKU, "AWS", "DBU", D("2.2"), 0),
        ],
    )


def test_cost_by_job_latest_scd2_name_and_missing_dimension_keeps_cost(spark, billing):
    jobs = bronze(spark, schemas.JOBS, JOBS)  # job 7 has two versions, job 8 none
    out = gold.cost_by_job(billing, jobs).select("usage_date", "job_id", "job_name", *COSTS, "run_count")
    # D1 job 7: o1 + r1 + s1 (run 70) and u1 (run 71, unpriced)
    assertDataFrameEqual(
        out,
        [
            Row(D1, "7", "etl", D("15"), D("1.8"), D("1.8"), 4, 1, 2),
            Row(D1, "8", None, D("5"), D("1.0"), D("1.0"), 1, 0, 1),
            Row(D2, "7", "etl", D("2"), D("0.4"), D("0.4"), 1, 0, 1),
        ],
    )


def test_cost_by_job_name_is_the_latest_version_with_ties_and_null_times_decided_the_same_way(spark, billing):
    from datetime import date

    from tests.cost_data import at
    from tests.gold_data import scoped

    versions = [
        scoped(job_id="7", name="etl-b", change_time=at(date(2026, 3, 1))),
        scoped(job_id="7", name="etl-c", change_time=at(date(2026, 3, 1))),  # tie: the greatest name is kept
        scoped(job_id="7", name="etl-a", change_time=None),  # no time: older than any dated version
        scoped(job_id="8", name="only-undated", change_time=None),
    ]
    for rows in (versions, versions[::-1]):
        out = gold.cost_by_job(billing, bronze(spark, schemas.JOBS, rows))
        names = {(r.job_id, r.job_name) for r in out.select("job_id", "job_name").distinct().collect()}
        assert names == {("7", "etl-c"), ("8", "only-undated")}


def test_cost_by_job_no_jobs_rows_keeps_cost_null_name(spark, billing):
    no_jobs = bronze(spark, schemas.JOBS, [])
    out = gold.cost_by_job(billing, no_jobs)
    assert out.where(F.col("job_name").isNotNull()).count() == 0
    assertDataFrameEqual(
        out.groupBy("usage_date").agg(F.sum("total_cost_usd"), F.sum("record_count")),
        [Row(D1, D("2.8"), 5), Row(D2, D("0.4"), 1)],
    )


def test_cost_by_user_run_as_then_warehouse_owner(billing):
    assertDataFrameEqual(
        gold.cost_by_user(billing).select("usage_date", "user_identity", *COSTS),
        [
            Row(D1, "alice@x", D("19"), D("4.0"), D("4.0"), 5, 1),
            Row(D1, "bob@x", D("5"), D("1.0"), D("1.0"), 1, 0),
            Row(D2, "alice@x", D("3"), D("0.95"), D("0.95"), 2, 0),
            Row(D2, "carol@x", D("1"), None, None, 1, 1),
        ],
    )


def test_cost_by_tag_untagged_bucket_and_share_of_day(billing):
    out = gold.cost_by_tag(billing, tag_keys=["team", "env"])
    # D1 cost 5.0: team data 1.8, bi 2.2, untagged 1.0 (o2; u1 unpriced); env prod 2.2, untagged 2.8
    assertDataFrameEqual(
        on(out, D1, "tag_key", "tag_value", "total_cost_usd", "record_count", "unpriced_rows", "share_of_day_cost"),
        [
            Row("team", "data", D("1.8"), 3, 0, 0.36),
            Row("team", "bi", D("2.2"), 1, 0, 0.44),
            Row("team", "untagged", D("1.0"), 2, 1, 0.2),
            Row("env", "prod", D("2.2"), 1, 0, 0.44),
            Row("env", "untagged", D("2.8"), 5, 1, 0.56),
        ],
    )


def test_job_runs_summary_final_slice_state_repairs_once_in_progress_skipped(spark):
    runs = bronze(spark, schemas.JOB_RUN_TIMELINE, JOB_RUNS)
    cols = ("run_date", "job_id", "total_runs", "successful_runs", "failed_runs", "cancelled_runs", "repaired_runs")
    # D1 job 7: run 100 (9000 s) and run 101 (failed, repaired: slices 1200 + 600 s); run 102 ends on D2
    assertDataFrameEqual(
        gold.job_runs_summary(runs).select(*cols, "avg_duration_seconds"),
        [
            Row(D1, "7", 2, 2, 0, 0, 1, 5400.0),
            Row(D1, "8", 1, 0, 0, 1, 0, 300.0),
            Row(D2, "7", 1, 0, 1, 0, 0, 9900.0),
        ],
    )


def test_cluster_utilization_avg_peak_and_idle_flag(spark):
    nodes = bronze(spark, schemas.NODE_TIMELINE, NODES)
    out = gold.cluster_utilization(nodes, idle_cpu_percent=10)
    cols = ("cluster_id", "avg_cpu_percent", "peak_cpu_percent", "avg_memory_percent", "peak_memory_percent")
    # c1: cpu 15, 30, 2, 3 -> avg 12.5, peak 30; memory 40, 60, 20, 30 -> avg 37.5; c2: cpu 5 < 10 -> idle
    assertDataFrameEqual(
        on(out, D1, *cols, "node_count", "node_minutes", "network_sent_bytes", "is_idle"),
        [
            Row("c1", 12.5, 30.0, 37.5, 60.0, 2, 4, 400, False),
            Row("c2", 5.0, 5.0, 10.0, 10.0, 1, 1, 100, True),
        ],
    )


def test_user_activity_summary_events_and_distinct_actions(audit):
    assertDataFrameEqual(
        gold.user_activity_summary(audit).select(
            "event_date", "user_email", "service_name", "event_count", "distinct_actions", "failed_events"
        ),
        [
            Row(D1, "alice@x", "unityCatalog", 3, 2, 0),
            Row(D1, "alice@x", "clusters", 1, 1, 0),
            Row(D1, "bob@x", "unityCatalog", 3, 2, 1),
            Row(D2, "alice@x", "unityCatalog", 1, 1, 0),
        ],
    )


def test_data_access_summary_table_actions_only(audit):
    assertDataFrameEqual(
        gold.data_access_summary(audit).select(
            "event_date", "table_name", "access_type", "user_count", "access_count", "denied_count"
        ),
        [
            Row(D1, "main.sales.orders", "getTable", 2, 3, 0),
            Row(D1, "main.sales.orders", "generateTemporaryTableCredential", 1, 1, 0),
            Row(D1, "main.hr.salaries", "getTable", 1, 1, 1),
            Row(D2, "main.sales.orders", "getTable", 1, 1, 0),
        ],
    )


def test_executive_summary_daily_kpis_from_billing(billing):
    cols = ("summary_date", "total_cost_usd", "total_net_cost_usd", "total_dbus", "unpriced_rows")
    assertDataFrameEqual(
        gold.executive_summary(billing).select(
            *cols, "active_jobs", "active_clusters", "active_warehouses", "active_users"
        ),
        [
            Row(D1, D("5.0"), D("5.0"), D("24"), 1, 2, 0, 1, 2),
            Row(D2, D("0.95"), D("0.95"), D("4"), 1, 1, 0, 1, 2),
        ],
    )
