"""Rollups: week and month boundaries (UTC), late corrections, success rates with retries, trend threshold,
backfill ranges and reruns that leave identical tables."""

from __future__ import annotations

from dataclasses import replace

import pytest
from pyspark.testing import assertDataFrameEqual

from batch.jobs import cost_monthly_rollup, cost_trend_analysis, cost_weekly_rollup, job_success_rate_weekly
from stm.transforms.rollups import ROLLUP_TABLES
from tests.test_batch_lake import add, ctx, d, make_ctx, money, put, read, snapshot, utc, version

__all__ = ["ctx"]  # the fixture, imported for pytest

BILLING = (
    "account_id string, workspace_id string, record_id string, usage_date date, sku_name string, "
    "billing_origin_product string, usage_unit string, usage_quantity decimal(38,18), record_type string, "
    "estimated_cost_usd decimal(38,18), net_cost_usd decimal(38,18), is_priced boolean"
)


def bill(record_id: str, day: str, qty: float, cost: float | None, product: str = "JOBS", kind: str = "ORIGINAL"):
    net = None if cost is None else cost * 0.8
    return ("acc", "ws1", record_id, d(day), "SKU", product, "DBU", money(qty), kind, money(cost), money(net),
            cost is not None)  # fmt: skip


# Week 2026-02-23 (Mon) .. 2026-03-01 (Sun) crosses from February into March.
USAGE = [
    bill("r1", "2026-02-23", 10, 10),
    bill("r2", "2026-03-01", 5, 5),  # Sunday: last day of the first week, first day of March
    bill("r3", "2026-03-02", 7, 7),  # Monday: the next week
    bill("r4", "2026-03-03", 2, None, product="SQL"),  # unpriced: cost NULL, never 0
    bill("r5", "2026-03-10", 1, 1),
]
WEEKLY_SHOWN = (
    "workspace_id, billing_origin_product, week_start, week_end, total_dbus, total_cost_usd, total_net_cost_usd, "
    "record_count, unpriced_record_count, is_incomplete"
)
WEEKLY_SCHEMA = (
    "workspace_id string, billing_origin_product string, week_start date, week_end date, total_dbus decimal(38,18), "
    "total_cost_usd decimal(38,18), total_net_cost_usd decimal(38,18), record_count bigint, "
    "unpriced_record_count bigint, is_incomplete boolean"
)


def jobs_weeks(ctx) -> dict:
    """The JOBS rows of the weekly rollup by week start."""
    return {r.week_start: r for r in read(ctx, "cost_weekly_rollup").where("billing_origin_product = 'JOBS'").collect()}


def weekly_row(product, week, qty, cost, net, records, unpriced, incomplete):
    end = d(week).toordinal() + 6
    return ("ws1", product, d(week), d(week).fromordinal(end), money(qty), money(cost), money(net), records, unpriced,
            incomplete)  # fmt: skip


def test_cost_weekly_rollup_sunday_and_monday_in_their_weeks_unpriced_stays_null(ctx):
    put(ctx, "billing_summary", USAGE, BILLING)
    assert cost_weekly_rollup(ctx).status == "ok"
    got = read(ctx, "cost_weekly_rollup").selectExpr(*WEEKLY_SHOWN.split(", "))
    expected = [
        weekly_row("JOBS", "2026-02-23", 15, 15, 12, 2, 0, False),
        weekly_row("JOBS", "2026-03-02", 7, 7, 5.6, 1, 0, False),
        weekly_row("SQL", "2026-03-02", 2, None, None, 1, 1, False),
        weekly_row("JOBS", "2026-03-09", 1, 1, 0.8, 1, 0, True),  # the data ends on Tuesday 03-10
    ]
    assertDataFrameEqual(got, read(ctx, "cost_weekly_rollup").sparkSession.createDataFrame(expected, WEEKLY_SCHEMA))
    iso = read(ctx, "cost_weekly_rollup").where("week_start = '2026-03-02'").select("iso_year", "iso_week").first()
    assert tuple(iso) == (2026, 10)


def test_cost_monthly_rollup_month_boundary_and_incomplete_months(ctx):
    put(ctx, "billing_summary", USAGE, BILLING)
    assert cost_monthly_rollup(ctx).status == "ok"
    got = read(ctx, "cost_monthly_rollup").where("billing_origin_product = 'JOBS'")
    rows = sorted(tuple(r) for r in got.select("month_start", "month_end", "total_cost_usd", "is_incomplete").collect())
    # February's data starts on the 23rd and March's ends on the 10th: both incomplete.
    assert rows == [
        (d("2026-02-01"), d("2026-02-28"), money(10), True),
        (d("2026-03-01"), d("2026-03-31"), money(13), True),
    ]


def test_late_correction_moves_last_weeks_total_only(ctx):
    put(ctx, "billing_summary", USAGE, BILLING)
    cost_weekly_rollup(ctx)
    before = {
        r.week_start: r for r in read(ctx, "cost_weekly_rollup").where("billing_origin_product = 'JOBS'").collect()
    }
    late = [bill("r3-x", "2026-03-02", -7, -7, kind="RETRACTION"), bill("r3-y", "2026-03-02", 6, 6, kind="RESTATEMENT")]
    add(ctx, "billing_summary", late, BILLING, ["record_id"])
    assert cost_weekly_rollup(ctx).rows > 0
    after = {
        r.week_start: r for r in read(ctx, "cost_weekly_rollup").where("billing_origin_product = 'JOBS'").collect()
    }
    assert after[d("2026-03-02")].total_cost_usd == money(6)
    assert after[d("2026-03-02")].record_count == 3
    assert after[d("2026-02-23")] == before[d("2026-02-23")]
    assert after[d("2026-03-09")] == before[d("2026-03-09")]


def test_backfill_range_recomputes_only_its_periods(spark, cfg, tmp_path):
    lake = tmp_path / "lake"
    full = make_ctx(spark, cfg, lake)
    put(full, "billing_summary", USAGE, BILLING)
    cost_weekly_rollup(full)
    add(full, "billing_summary", [bill("late", "2026-03-02", 3, 3)], BILLING, ["record_id"])
    first_week = make_ctx(spark, cfg, lake, d("2026-02-23"), d("2026-02-25"))
    assert cost_weekly_rollup(first_week).detail == "unchanged"  # the correction's week is outside the range
    v = version(full, "cost_weekly_rollup")
    second_week = make_ctx(spark, cfg, lake, d("2026-03-04"), d("2026-03-04"))
    assert cost_weekly_rollup(second_week).status == "ok"
    assert version(full, "cost_weekly_rollup") == (v or 0) + 1
    totals = {
        r.week_start: r.total_cost_usd
        for r in read(full, "cost_weekly_rollup").where("billing_origin_product = 'JOBS'").collect()
    }
    assert totals == {d("2026-02-23"): money(15), d("2026-03-02"): money(10), d("2026-03-09"): money(1)}
    assert cost_weekly_rollup(full).detail == "unchanged"  # the range run left what a full run computes


RUNS = (
    "account_id string, workspace_id string, job_id string, run_id string, period_start_time timestamp, "
    "period_end_time timestamp, trigger_type string, result_state string"
)


def run_slice(run_id, start, end, result, trigger="CRON", job_id="j1"):
    return ("acc", "ws1", job_id, run_id, start, end, trigger, result)


SLICES = [
    run_slice("r1", utc(2026, 3, 2, 10), utc(2026, 3, 2, 11), None),  # a run longer than an hour: two slices
    run_slice("r1", utc(2026, 3, 2, 11), utc(2026, 3, 2, 11, 30), "SUCCEEDED"),
    run_slice("r2", utc(2026, 3, 3, 10), utc(2026, 3, 3, 10, 10), "FAILED"),
    run_slice("r3", utc(2026, 3, 3, 10, 20), utc(2026, 3, 3, 10, 30), "SUCCEEDED", trigger="ONETIME_RETRY"),
    run_slice("r4", utc(2026, 3, 4, 10), utc(2026, 3, 4, 10, 10), "FAILED"),  # repaired: the last attempt counts
    run_slice("r4", utc(2026, 3, 4, 12), utc(2026, 3, 4, 12, 10), "SUCCEEDED"),
    run_slice("r5", utc(2026, 3, 4, 13), utc(2026, 3, 4, 14), None),  # still running: not counted yet
    run_slice("r6", utc(2026, 3, 1, 23, 59), utc(2026, 3, 2, 0, 9), "SUCCEEDED"),  # Sunday 23:59 UTC
    run_slice("r7", utc(2026, 3, 2, 0, 0), utc(2026, 3, 2, 0, 10), "TIMED_OUT"),  # Monday 00:00 UTC
]


@pytest.mark.parametrize("session_tz", ["UTC", "America/Los_Angeles"])
def test_job_success_rate_weekly_retries_repairs_and_utc_weeks(ctx, session_tz):
    put(ctx, "job_runs_bronze", SLICES, RUNS)
    conf = ctx.spark.conf
    conf.set("spark.sql.session.timeZone", session_tz)
    try:
        assert job_success_rate_weekly(ctx).status == "ok"
        got = read(ctx, "job_success_rate_weekly").collect()
    finally:
        conf.set("spark.sql.session.timeZone", "UTC")
    by_week = {r.week_start: r for r in got}
    assert set(by_week) == {d("2026-02-23"), d("2026-03-02")}
    sunday = by_week[d("2026-02-23")]
    assert (sunday.runs, sunday.successes, sunday.success_rate, sunday.mean_duration_seconds) == (1, 1, 1.0, 600.0)
    week = by_week[d("2026-03-02")]
    assert (week.runs, week.successes, week.failures, week.retries) == (5, 3, 2, 2)
    assert week.success_rate == pytest.approx(0.6)
    assert week.mean_duration_seconds == pytest.approx((5400 + 600 + 600 + 1200 + 600) / 5)
    assert week.p95_duration_seconds == pytest.approx(1200 + 0.8 * (5400 - 1200))  # exact, interpolated
    assert (week.week_end, week.is_incomplete) == (d("2026-03-08"), True)


def weekly_spend(week: str, cost: float, product: str = "JOBS"):
    return bill(f"{product}-{week}", week, cost, cost, product=product)


def test_cost_trend_threshold_zero_weeks_and_new_spend(ctx):
    ctx = replace(ctx, cfg=replace(ctx.cfg, analytics=replace(ctx.cfg.analytics, trend_threshold_percent=25.0)))
    spend = [
        weekly_spend("2026-03-02", 100),
        weekly_spend("2026-03-09", 125),  # +25 %: reaches the threshold
        weekly_spend("2026-03-16", 95),  # -24 %: below it
        # no JOBS spend in the week of 03-23: a drop to zero (-100 %)
        weekly_spend("2026-03-30", 50),  # from zero: flagged, percent undefined
        weekly_spend("2026-03-16", 30, product="SQL"),  # a product that starts spending
        weekly_spend("2026-04-05", 1, product="SQL"),  # Sunday: the data covers the last week completely
    ]
    put(ctx, "billing_summary", spend, BILLING)
    assert cost_trend_analysis(ctx).status == "ok"
    rows = read(ctx, "cost_trend_analysis").orderBy("billing_origin_product", "week_start").collect()
    got = [
        (r.billing_origin_product, str(r.week_start), r.previous_week_cost_usd, r.change_usd, r.change_percent,
         r.exceeds_threshold) for r in rows
    ]  # fmt: skip
    m = money
    assert got == [
        ("JOBS", "2026-03-02", None, None, None, False),
        ("JOBS", "2026-03-09", m(100), m(25), 25.0, True),
        ("JOBS", "2026-03-16", m(125), m(-30), -24.0, False),
        ("JOBS", "2026-03-23", m(95), m(-95), -100.0, True),
        ("JOBS", "2026-03-30", m(0), m(50), None, True),
        ("SQL", "2026-03-16", m(0), m(30), None, True),
        ("SQL", "2026-03-23", m(30), m(-30), -100.0, True),
        ("SQL", "2026-03-30", m(0), m(1), None, True),
    ]
    assert {r.threshold_percent for r in rows} == {25.0}
    assert not any(r.is_incomplete for r in rows)


def test_every_rollup_rerun_leaves_identical_tables_and_no_commit(ctx):
    put(ctx, "billing_summary", USAGE, BILLING)
    put(ctx, "job_runs_bronze", SLICES, RUNS)
    jobs = [cost_weekly_rollup, cost_monthly_rollup, job_success_rate_weekly, cost_trend_analysis]
    assert [j(ctx).status for j in jobs] == ["ok"] * 4
    first = {t: (version(ctx, t), snapshot(ctx, t)) for t in ROLLUP_TABLES}
    assert [j(ctx).detail for j in jobs] == ["unchanged"] * 4
    assert {t: (version(ctx, t), snapshot(ctx, t)) for t in ROLLUP_TABLES} == first


def test_rollups_without_their_input_are_skipped(ctx):
    assert {j(ctx).status for j in (cost_weekly_rollup, job_success_rate_weekly, cost_trend_analysis)} == {"skipped"}
