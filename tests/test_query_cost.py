"""Query cost attribution: golden hand-computed cases (a statement spanning two hours, one over midnight, an idle
hour, an unbilled hour, a third of a dollar split to the 10^-12, a late correction), the job's date-range reruns,
and the reconciliation to billed warehouse cost over a whole simulated lake."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from pyspark.sql import functions as F

from batch.finops_jobs import query_cost_job
from stm.config import Config
from stm.transforms.attribution import QUERY_COST_TABLES, query_cost
from tests.cost_lake import base_lake, store_of
from tests.test_batch_lake import add, ctx, make_ctx, put, read, utc, version

__all__ = ["ctx"]  # the fixture, imported for pytest

D = date(2026, 11, 2)
D2 = date(2026, 11, 3)
BILLING = (
    "account_id string, workspace_id string, record_id string, usage_date date, usage_start_time timestamp, "
    "usage_end_time timestamp, warehouse_id string, record_type string, estimated_cost_usd decimal(38,12), "
    "net_cost_usd decimal(38,12), is_priced boolean"
)
WAREHOUSES = "account_id string, workspace_id string, warehouse_id string, change_time timestamp"
HISTORY = (
    "account_id string, workspace_id string, statement_id string, executed_by string, execution_status string, "
    "compute struct<type:string,cluster_id:string,warehouse_id:string>, client_application string, "
    "statement_type string, execution_duration_ms bigint, start_time timestamp, end_time timestamp, "
    "update_time timestamp, query_source struct<job_info:struct<job_id:string,job_run_id:string>,"
    "dashboard_id:string,genie_space_id:string,notebook_id:string,sql_query_id:string>"
)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return utc(day.year, day.month, day.day, hour, minute)


def bill(record_id: str, day: date, hour: int, cost: str, kind: str = "ORIGINAL", warehouse: str = "w1") -> tuple:
    """One warehouse-hour billing row; the negotiated cost is 80 % of the list cost."""
    start = at(day, hour)
    list_cost = Decimal(cost)
    return ("acc", "ws1", record_id, day, start, start + timedelta(hours=1), warehouse, kind, list_cost,
            list_cost * Decimal("0.8"), True)  # fmt: skip


def statement(
    sid: str,
    user: str,
    start: datetime,
    end: datetime | None,
    exec_minutes: float,
    *,
    source: dict | None = None,
    client: str | None = None,
    warehouse: str | None = "w1",
) -> tuple:
    src = source or {}
    query_source = ((src["job"], None) if "job" in src else None, src.get("dashboard"), src.get("genie"),
                    src.get("notebook"), src.get("sql_query"))  # fmt: skip
    return ("acc", "ws1", sid, user, "FINISHED", ("WAREHOUSE", None, warehouse), client, "SELECT",
            int(exec_minutes * 60_000), start, end, end or start, query_source)  # fmt: skip


BASE_BILLING = [
    bill("b10", D, 10, "6.00"),
    bill("b11", D, 11, "3.00"),
    bill("b12", D, 12, "1.00"),  # no statement executes: stays on the warehouse
    bill("b14", D, 14, "1.00"),  # three equal statements: a third each, to the 10^-12
    bill("b23", D, 23, "2.00"),
    bill("b00", D2, 0, "4.00"),
    bill("x10", D, 10, "100.00", warehouse="w9"),  # a warehouse of another region: not attributed here
]
LATE_CORRECTION = [bill("r10", D, 10, "-6.00", "RETRACTION"), bill("s10", D, 10, "9.00", "RESTATEMENT")]
HISTORY_ROWS = [
    # queued a minute, then executes 10:00-10:20
    statement("s1", "alice@x", at(D, 9, 59), at(D, 10, 20), 20, source={"job": "j7"}),
    # executes 10:40-11:20: twenty minutes in each of two hours
    statement("s2", "alice@x", at(D, 10, 40), at(D, 11, 20), 40, source={"dashboard": "dash1"}),
    statement("s3", "alice@x", at(D, 13, 0), at(D, 13, 10), 10, source={"sql_query": "q1"}),  # hour 13 unbilled
    statement("a1", "bob@x", at(D, 14, 0), at(D, 14, 10), 10, source={"genie": "g1"}),
    statement("a2", "bob@x", at(D, 14, 10), at(D, 14, 20), 10, client="Tableau"),
    statement("a3", "bob@x", at(D, 14, 20), at(D, 14, 30), 10, client="Databricks SQL Editor"),
    # executes 23:50-00:10: ten minutes on each date
    statement("m1", "carol@x", at(D, 23, 50), at(D2, 0, 10), 20, source={"notebook": "nb1"}),
    statement("n1", "dave@x", at(D, 10, 0), at(D, 10, 30), 30, warehouse=None),  # serverless notebook: no warehouse
    statement("r1", "dave@x", at(D, 10, 0), None, 5),  # still running: no end_time yet
]
WAREHOUSE_ROWS = [("acc", "ws1", "w1", at(D, 0))]


def frames(spark, billing):
    return (
        spark.createDataFrame(billing, BILLING),
        spark.createDataFrame(WAREHOUSE_ROWS, WAREHOUSES),
        spark.createDataFrame(HISTORY_ROWS, HISTORY),
    )


def by_statement(df) -> dict:
    cols = ["usage_date", "statement_id", "source_type", "source_id", "execution_seconds", "hours", "cost_usd",
            "net_cost_usd", "is_idle_warehouse"]  # fmt: skip
    return {(r.usage_date, r.statement_id): tuple(r)[2:] for r in df.select(*cols).collect()}


def m(value: str) -> Decimal:
    return Decimal(value).quantize(Decimal("1e-12"))


def expected(s1: str, s2: str) -> dict:
    """Each statement's row: source, execution seconds, hours, list and net cost (s1 and s2 share hour 10)."""
    return {
        (D, "s1"): ("job", "j7", 1200.0, 1, m(s1), m(s1) * Decimal("0.8"), False),
        (D, "s2"): ("dashboard", "dash1", 2400.0, 2, m(s2), m(s2) * Decimal("0.8"), False),
        (D, None): ("idle_warehouse", None, 0.0, 1, m("1.00"), m("0.80"), True),
        (D, "s3"): ("sql_query", "q1", 600.0, 1, None, None, False),
        (D, "a1"): ("genie", "g1", 600.0, 1, m("0.333333333334"), m("0.266666666667"), False),
        (D, "a2"): ("client", "Tableau", 600.0, 1, m("0.333333333333"), m("0.266666666667"), False),
        (D, "a3"): ("ad_hoc", None, 600.0, 1, m("0.333333333333"), m("0.266666666666"), False),
        (D, "m1"): ("notebook", "nb1", 600.0, 1, m("2.00"), m("1.60"), False),
        (D2, "m1"): ("notebook", "nb1", 600.0, 1, m("4.00"), m("3.20"), False),
    }


def test_golden_statements_hours_idle_unbilled_and_exact_thirds(spark):
    got = by_statement(query_cost(*frames(spark, BASE_BILLING)))
    # hour 10 (6.00) splits 1200 s / 1200 s; s2 adds all of hour 11 (3.00)
    assert got == expected("3.00", "6.00")


def test_golden_late_correction_nets_in_its_hour(spark):
    got = by_statement(query_cost(*frames(spark, BASE_BILLING + LATE_CORRECTION)))
    # hour 10 nets to 6.00 - 6.00 + 9.00 = 9.00: 4.50 each for s1 and s2
    assert got == expected("4.50", "7.50")


def test_attribution_adds_up_to_billed_cost_exactly(spark):
    per_statement = query_cost(*frames(spark, BASE_BILLING + LATE_CORRECTION))
    totals = {r.usage_date: (r.cost, r.net) for r in per_statement.groupBy("usage_date").agg(
        F.sum("cost_usd").alias("cost"), F.sum("net_cost_usd").alias("net")).collect()}  # fmt: skip
    # w1 billed 16.00 on D (6 - 6 + 9 + 3 + 1 + 1 + 2) and 4.00 on D2; w9 belongs to another region
    assert totals == {D: (m("16.00"), m("12.80")), D2: (m("4.00"), m("3.20"))}


def test_idle_hour_is_kept_when_no_statement_exists_at_all(spark):
    billing, warehouses, history = frames(spark, BASE_BILLING)
    rows = query_cost(billing, warehouses, history.limit(0)).collect()
    assert {(r.usage_date, r.statement_id, r.cost_usd, r.hours) for r in rows} == {
        (D, None, m("13.00"), 5),
        (D2, None, m("4.00"), 1),
    }


def test_negative_hour_after_a_lone_retraction_is_split_too(spark):
    billing = [bill("b14", D, 14, "1.00"), bill("r14", D, 14, "-3.00", "RETRACTION")]
    rows = query_cost(*frames(spark, billing)).where("usage_date = '2026-11-02' AND statement_id LIKE 'a%'")
    shares = sorted((r.statement_id, r.cost_usd) for r in rows.collect())
    assert shares == [("a1", m("-0.666666666667")), ("a2", m("-0.666666666667")), ("a3", m("-0.666666666666"))]


def load(ctx, billing) -> None:
    add(ctx, "billing_summary", billing, BILLING, ["account_id", "record_id"])


@pytest.fixture
def lake_ctx(ctx):
    load(ctx, BASE_BILLING)
    put(ctx, "warehouses_bronze", WAREHOUSE_ROWS, WAREHOUSES)
    put(ctx, "query_history_bronze", HISTORY_ROWS, HISTORY)
    return ctx


def test_job_writes_three_tables_then_a_late_correction_changes_its_date_only(lake_ctx):
    ctx = lake_ctx
    first = query_cost_job(ctx)
    assert first.status == "ok", first.detail
    assert by_statement(read(ctx, "query_cost")) == expected("3.00", "6.00")
    by_user = read(ctx, "query_cost_by_user").collect()
    users = {(r.usage_date, r.executed_by): (r.statements, r.cost_usd) for r in by_user}
    assert users == {
        (D, "alice@x"): (3, m("9.00")),  # s3's NULL (unbilled) is left out of the sum, not counted as 0
        (D, "bob@x"): (3, m("1.00")),
        (D, "carol@x"): (1, m("2.00")),
        (D, None): (0, m("1.00")),
        (D2, "carol@x"): (1, m("4.00")),
    }
    sources = {(r.source_type, r.source_id): r.cost_usd for r in read(ctx, "query_cost_by_source").where(
        F.col("usage_date") == D).collect()}  # fmt: skip
    assert sources[("idle_warehouse", None)] == m("1.00") and sources[("client", "Tableau")] == m("0.333333333333")
    versions = {t: version(ctx, t) for t in QUERY_COST_TABLES}
    assert query_cost_job(ctx).detail.count("unchanged") == 3
    assert {t: version(ctx, t) for t in QUERY_COST_TABLES} == versions  # a rerun writes nothing

    load(ctx, LATE_CORRECTION)
    d2_before = read(ctx, "query_cost").where(F.col("usage_date") == D2).collect()
    assert query_cost_job(make_ctx(ctx.spark, ctx.cfg, ctx.store.lake_root, D, D)).status == "ok"
    assert by_statement(read(ctx, "query_cost")) == expected("4.50", "7.50")
    assert read(ctx, "query_cost").where(F.col("usage_date") == D2).collect() == d2_before


def test_job_is_skipped_without_query_history(ctx):
    load(ctx, BASE_BILLING)
    put(ctx, "warehouses_bronze", WAREHOUSE_ROWS, WAREHOUSES)
    result = query_cost_job(ctx)
    assert result.status == "skipped" and "query_history_bronze" in result.detail
    assert not any(ctx.store.exists(ctx.cfg.output_name(t)) for t in QUERY_COST_TABLES)


def test_simulated_lake_attribution_reconciles_to_billed_warehouse_cost(tmp_path_factory, spark, cfg: Config):
    """Per warehouse and date, attributed list and net cost equal the billed cost of this region's warehouses."""
    lake = base_lake(tmp_path_factory, spark, cfg)
    store = store_of(spark, lake)
    billing = store.read(cfg.output_name("billing_summary"))
    warehouses = store.read(cfg.output_name("warehouses_bronze"))
    history = store.read(cfg.output_name("query_history_bronze"))
    attributed = query_cost(billing, warehouses, history)
    billed: dict[tuple, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    regional = {(r.workspace_id, r.warehouse_id) for r in warehouses.select("workspace_id", "warehouse_id").collect()}
    rows = billing.where("warehouse_id IS NOT NULL AND is_priced").withColumn("us", F.unix_micros("usage_start_time"))
    for r in rows.collect():
        if (r.workspace_id, r.warehouse_id) in regional:
            key = (r.workspace_id, r.warehouse_id, date(1970, 1, 1) + timedelta(microseconds=r.us))
            billed[key][0] += r.estimated_cost_usd
            billed[key][1] += r.net_cost_usd
    sums = attributed.groupBy("workspace_id", "warehouse_id", "usage_date").agg(
        F.sum("cost_usd").alias("cost"), F.sum("net_cost_usd").alias("net")
    )
    got = {(r.workspace_id, r.warehouse_id, r.usage_date): [r.cost, r.net] for r in sums.collect()}
    # dates with statements but no billing row for their hours yet carry NULL cost, never 0
    unbilled = {k for k, (cost, _) in got.items() if cost is None}
    assert billed and {k: v for k, v in got.items() if k not in unbilled} == dict(billed)
    assert not unbilled & set(billed)
    # statements were attributed, not only idle hours
    assert attributed.where("statement_id IS NOT NULL AND cost_usd IS NOT NULL").count() > 0
