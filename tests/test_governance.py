"""Tag governance and right-sizing: hand-computed untagged resources (latest tags decide, window cost, most expensive
first), idle and oversized clusters with their saving, idle-heavy warehouses, and the config bounds."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from batch.finops_jobs import compute_rightsizing_job, serverless_cost_job, untagged_resources_job
from stm.config import load_config
from stm.errors import ConfigError
from stm.transforms.governance import (
    cluster_rightsizing,
    serverless_cost,
    serverless_records,
    untagged_resources,
    warehouse_rightsizing,
)
from tests.test_batch_lake import add, ctx, put, read

__all__ = ["ctx"]  # the fixture, imported for pytest

D = date(2026, 11, 20)
BILLING = (
    "account_id string, workspace_id string, record_id string, usage_date date, usage_end_time timestamp, "
    "job_id string, warehouse_id string, cluster_id string, endpoint_id string, dlt_pipeline_id string, "
    "notebook_id string, custom_tags map<string,string>, run_as string, estimated_cost_usd decimal(38,12), "
    "net_cost_usd decimal(38,12), is_priced boolean"
)
ALL_TAGS = {"team": "bi", "env": "prod", "cost_center": "42"}


def bill(rid, cost, *, day=D, hour=1, tags=None, who="alice@x", **ids):
    end = datetime(day.year, day.month, day.day, hour, tzinfo=timezone.utc)
    value = Decimal(cost)
    return ("acc", "ws1", rid, day, end, ids.get("job"), ids.get("warehouse"), ids.get("cluster"),
            ids.get("endpoint"), None, None, tags or {}, who, value, value * Decimal("0.9"), True)  # fmt: skip


BILLING_ROWS = [
    bill("j1", "4.00", hour=1, job="7", cluster="c1"),  # untagged at first ...
    bill("j2", "6.00", hour=5, job="7", cluster="c1", tags={"team": "data"}, who="bob@x"),  # ... then team set
    bill("j3", "1.00", day=D - timedelta(days=40), job="7", cluster="c1"),  # outside the 30-day window
    bill("w1", "9.00", warehouse="w1", tags=ALL_TAGS),  # fully tagged: not listed
    bill("e1", "2.50", endpoint="ep1", who="carol@x"),
    bill("s1", "0.50"),  # names no resource (storage): not listed
    bill("a1", "12.00", cluster="c2", tags=ALL_TAGS),
    bill("a2", "3.00", cluster="c3", tags=ALL_TAGS),
]


def test_untagged_resources_latest_tags_window_cost_and_rank(spark):
    lo, hi = D - timedelta(days=29), D
    rows = untagged_resources(spark.createDataFrame(BILLING_ROWS, BILLING), ["team", "env", "cost_center"], lo, hi)
    got = [(r.cost_rank, r.resource_type, r.resource_id, r.missing_tag_keys, r.cost_usd, r.top_identity)
           for r in rows.orderBy("cost_rank").collect()]  # fmt: skip
    assert got == [
        (1, "job", "7", ["env", "cost_center"], Decimal("10.000000000000"), "alice@x"),  # j3 is outside the window
        (2, "serving_endpoint", "ep1", ["team", "env", "cost_center"], Decimal("2.500000000000"), "carol@x"),
    ]


NODES = "account_id string, workspace_id string, cluster_id string, instance_id string, start_time timestamp, " \
        "cpu_user_percent double, cpu_system_percent double, mem_used_percent double"  # fmt: skip


def minute(cluster, node, i, cpu, mem):
    start = datetime(D.year, D.month, D.day, 3, i, tzinfo=timezone.utc)
    return ("acc", "ws1", cluster, node, start, cpu * 0.8, cpu * 0.2, mem)


NODE_ROWS = [
    *[minute("c1", "n1", i, 5.0, 40.0) for i in range(4)],  # idle: CPU 5 % < 10 %
    *[minute("c2", n, i, cpu, 25.0) for n in ("n1", "n2") for i, cpu in enumerate((10.0, 30.0))],  # oversized
    *[minute("c3", "n1", i, 50.0, 20.0) for i in range(2)],  # busy enough: not listed
]


def test_cluster_rightsizing_idle_and_oversized_with_saving(spark):
    lo, hi = D - timedelta(days=29), D
    out = cluster_rightsizing(
        spark.createDataFrame(NODE_ROWS, NODES), spark.createDataFrame(BILLING_ROWS, BILLING), lo, hi,
        idle_cpu_percent=10, underused_percent=30, target_utilization_percent=60,
    )  # fmt: skip
    got = {r.compute_id: r for r in out.collect()}
    assert set(got) == {"c1", "c2"}
    c1, c2 = got["c1"], got["c2"]
    assert (c1.finding, c1.avg_cpu_percent, c1.nodes, c1.node_minutes) == ("idle", pytest.approx(5.0), 1, 4)
    # c1 costs j1 + j2 (the job runs on it; j3 is outside the window): 10.00; it needs 40 % of 60 %: saves a third
    assert c1.cost_usd == Decimal("10.000000000000") and c1.estimated_saving_usd == Decimal("3.330000000000")
    # c2: CPU 20 %, memory 25 %: it needs 25/60 of its size, so 35/60 of 12.00 = 7.00 is saved
    assert (c2.finding, c2.avg_cpu_percent, c2.peak_cpu_percent) == (
        "oversized",
        pytest.approx(20.0),
        pytest.approx(30.0),
    )
    assert c2.estimated_saving_usd == Decimal("7.000000000000")
    assert c2.estimated_net_saving_usd == Decimal("6.300000000000")


QUERY_COST = "account_id string, workspace_id string, warehouse_id string, usage_date date, statement_id string, " \
             "is_idle_warehouse boolean, cost_usd decimal(38,12), net_cost_usd decimal(38,12)"  # fmt: skip
QUERY_ROWS = [
    ("acc", "ws1", "w1", D, "s1", False, Decimal("7.00"), Decimal("6.30")),
    ("acc", "ws1", "w1", D, None, True, Decimal("3.00"), Decimal("2.70")),  # 30 % idle: listed
    ("acc", "ws1", "w2", D, "s2", False, Decimal("9.00"), Decimal("8.10")),
    ("acc", "ws1", "w2", D, None, True, Decimal("1.00"), Decimal("0.90")),  # 10 % idle: not listed
]


def test_warehouse_rightsizing_lists_idle_heavy_warehouses_with_idle_cost_as_saving(spark):
    out = warehouse_rightsizing(spark.createDataFrame(QUERY_ROWS, QUERY_COST), D, D, idle_share_percent=25)
    rows = [(r.compute_id, r.finding, r.idle_cost_share, r.estimated_saving_usd) for r in out.collect()]
    assert rows == [("w1", "idle", pytest.approx(0.3), Decimal("3.000000000000"))]


def test_jobs_write_both_tables_ranked_and_rerun_writes_nothing(ctx):
    add(ctx, "billing_summary", BILLING_ROWS, BILLING, ["account_id", "record_id"])
    put(ctx, "node_timeline_bronze", NODE_ROWS, NODES)
    put(ctx, "query_cost", QUERY_ROWS, QUERY_COST)
    assert untagged_resources_job(ctx).rows == 2
    assert compute_rightsizing_job(ctx).rows == 3
    ranked = [(r.saving_rank, r.compute_id) for r in read(ctx, "compute_rightsizing").orderBy("saving_rank").collect()]
    assert ranked == [(1, "c2"), (2, "c1"), (3, "w1")]  # 7.00, 3.33, 3.00
    assert untagged_resources_job(ctx).detail == compute_rightsizing_job(ctx).detail == "unchanged"


@pytest.mark.parametrize(
    ("field", "value"),
    [("lookback_days", 0), ("lookback_days", 400), ("underused_percent", 101), ("target_utilization_percent", 0),
     ("warehouse_idle_share_percent", -1)],
)  # fmt: skip
def test_analytics_bounds_are_checked(field, value):
    with pytest.raises(ConfigError, match=f"analytics.{field}"):
        load_config(extra={"analytics": {field: value}})


SERVERLESS_BILLING = (
    "account_id string, workspace_id string, record_id string, usage_date date, billing_origin_product string, "
    "usage_quantity decimal(38,18), custom_tags map<string,string>, estimated_cost_usd decimal(38,12), "
    "net_cost_usd decimal(38,12), is_priced boolean"
)
BRONZE = (
    "account_id string, record_id string, usage_date date, product_features struct<is_serverless:boolean>, "
    "usage_metadata struct<budget_policy_id:string>"
)


def serverless_row(rid, product, cost, tags=None, policy=None, serverless=True):
    value = None if cost is None else Decimal(cost)
    billing = ("acc", "ws1", rid, D, product, Decimal(1), tags or {}, value, None if value is None else value,
               value is not None)  # fmt: skip
    return billing, ("acc", rid, D, (serverless,), (policy,))


SERVERLESS = [
    serverless_row("sj1", "JOBS", "3.00", {"team": "data"}, "bp1"),
    serverless_row("rj1", "JOBS", "-3.00", {"team": "data"}, "bp1"),  # the retraction of sj1 ...
    serverless_row("tj1", "JOBS", "5.00", {"team": "data"}, "bp1"),  # ... and its restatement
    serverless_row("sn1", "INTERACTIVE", "2.00"),  # a serverless notebook with no policy and no tags
    serverless_row("ss1", "SQL", "4.00", {"team": "bi"}, "bp2"),
    serverless_row("su1", "SQL", None, {"team": "bi"}, "bp2"),  # unpriced: counted, never 0
    serverless_row("c1", "JOBS", "10.00", {"team": "data"}, None, serverless=False),  # classic: not listed
]


def money(value: str) -> Decimal:
    return Decimal(value).quantize(Decimal("1e-12"))


def test_serverless_cost_by_policy_and_tag_nets_corrections_and_keeps_untagged(spark):
    billing = spark.createDataFrame([b for b, _ in SERVERLESS], SERVERLESS_BILLING)
    bronze = spark.createDataFrame([r for _, r in SERVERLESS], BRONZE)
    out = serverless_cost(billing, serverless_records(bronze), ["team", "env"])
    got = {(r.billing_origin_product, r.budget_policy_id, r.tag_key, r.tag_value): (r.cost_usd, r.record_count,
           r.unpriced_rows) for r in out.collect()}  # fmt: skip
    assert got == {
        ("JOBS", "bp1", "team", "data"): (money("5.00"), 3, 0),
        ("INTERACTIVE", "no_policy", "team", "untagged"): (money("2.00"), 1, 0),
        ("SQL", "bp2", "team", "bi"): (money("4.00"), 2, 1),
        ("JOBS", "bp1", "env", "untagged"): (money("5.00"), 3, 0),
        ("INTERACTIVE", "no_policy", "env", "untagged"): (money("2.00"), 1, 0),
        ("SQL", "bp2", "env", "untagged"): (money("4.00"), 2, 1),
    }


def test_serverless_records_of_a_schema_without_the_flag_are_none(spark):
    bronze = spark.createDataFrame([("acc", "r1", D, ("CLASSIC",))], "account_id string, record_id string, "
                                   "usage_date date, product_features struct<jobs_tier:string>")  # fmt: skip
    assert serverless_records(bronze).count() == 0


def test_serverless_job_writes_dates_and_rerun_writes_nothing(ctx):
    add(ctx, "billing_summary", [b for b, _ in SERVERLESS], SERVERLESS_BILLING, ["account_id", "record_id"])
    add(ctx, "billing_usage_bronze", [r for _, r in SERVERLESS], BRONZE, ["account_id", "record_id"])
    keys = len(ctx.cfg.analytics.tag_keys)
    assert serverless_cost_job(ctx).rows == 3 * keys  # JOBS/bp1, INTERACTIVE/no_policy, SQL/bp2 per tag key
    assert serverless_cost_job(ctx).detail == "unchanged"
