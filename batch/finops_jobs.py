"""FinOps batch jobs: query cost attribution (``query_cost`` and its two rollups), the FOCUS table, serverless
cost, untagged resources and compute right-sizing.

The dated tables recompute every date (or the dates between ``--from`` and ``--to``), so a billing correction or a
late statement changes its own dates on the next run; the last two cover ``analytics.lookback_days``. A table whose
recomputed rows are the same is not written.
"""

from __future__ import annotations

import functools
from datetime import date, timedelta

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from batch.jobs import ORDER_ROLLUP, _read, _skipping_missing_inputs, replace_if_changed
from batch.registry import BatchContext, JobResult, job
from stm.transforms.attribution import WAREHOUSE, query_cost, query_cost_by_source, query_cost_by_user
from stm.transforms.focus import DATE as FOCUS_DATE
from stm.transforms.focus import FOCUS_TABLE, focus_costs, unpriced_records
from stm.transforms.gold import SCOPE
from stm.transforms.governance import (
    cluster_rightsizing,
    compute_rightsizing,
    serverless_cost,
    serverless_records,
    untagged_resources,
    warehouse_rightsizing,
    window_bounds,
)
from stm.transforms.rollups import between, days_between

DATE = "usage_date"


def backfill_dates(ctx: BatchContext, billing: DataFrame) -> list[date] | None:
    """The dates of ``--from``/``--to`` (an open end: billing's first or last date; empty when the range holds no
    date), or None for every date."""
    lo, hi = ctx.date_from, ctx.date_to
    if lo is None and hi is None:
        return None
    if lo is None or hi is None:
        bounds = billing.agg(F.min(DATE), F.max(DATE)).first()
        lo, hi = lo or (bounds[0] if bounds else None), hi or (bounds[1] if bounds else None)
    if lo is None or hi is None or lo > hi:
        return []
    return days_between(lo, hi)


def query_cost_tables(ctx: BatchContext) -> JobResult:
    billing = _read(ctx, "billing_summary")
    warehouses = _read(ctx, "warehouses_bronze")
    history = _read(ctx, "query_history_bronze")
    dates = backfill_dates(ctx, billing)
    if dates == []:
        return JobResult(detail="no billing dates in the range")
    if dates is not None:
        lo, hi = dates[0], dates[-1]
        # a day's hours come from billing rows of that day and statements that ran into it
        billing = billing.where(between(F.col(DATE), lo, hi))
        day_after = hi + timedelta(days=1)
        history = history.where((F.col("end_time") >= F.lit(lo)) & (F.col("start_time") < F.lit(day_after)))
    per_statement = query_cost(billing, warehouses, history)
    if dates is not None:
        per_statement = per_statement.where(F.col(DATE).isin(dates))
    results: dict[str, JobResult] = {}
    target = ctx.cfg.output_name("query_cost")
    results["query_cost"] = replace_if_changed(
        ctx.store, target, per_statement, [DATE, *WAREHOUSE, "statement_id"], column=DATE, values=dates
    )
    # the rollups read the table just written: the attribution is computed once
    written = ctx.store.read(target)
    if dates is not None:
        written = written.where(F.col(DATE).isin(dates))
    for name, build, keys in (
        ("query_cost_by_user", query_cost_by_user, ["executed_by"]),
        ("query_cost_by_source", query_cost_by_source, ["source_type", "source_id"]),
    ):
        fresh = build(written)
        results[name] = replace_if_changed(
            ctx.store, ctx.cfg.output_name(name), fresh, [DATE, *WAREHOUSE, *keys], column=DATE, values=dates
        )
    return JobResult(
        rows=sum(r.rows for r in results.values()),
        detail="; ".join(f"{name}: {r.detail}" for name, r in results.items()),
    )


@job("query_cost", ORDER_ROLLUP)
def query_cost_job(ctx: BatchContext) -> JobResult:
    """SQL warehouse cost per hour shared among its statements by execution time (per statement, user and source)."""
    return _skipping_missing_inputs(functools.partial(query_cost_tables, ctx))


def focus_table(ctx: BatchContext) -> JobResult:
    billing = _read(ctx, "billing_summary")
    dates = backfill_dates(ctx, billing)
    if dates == []:
        return JobResult(detail="no billing dates in the range")
    if dates is not None:
        billing = billing.where(F.col(DATE).isin(dates))
    names = ctx.cfg.output_name("workspaces_bronze")
    workspaces = ctx.store.read(names) if ctx.store.exists(names) else None
    fresh = focus_costs(billing, workspaces)
    target = ctx.cfg.output_name(FOCUS_TABLE)
    order = [FOCUS_DATE, "SubAccountId", "x_RecordId"]
    result = replace_if_changed(ctx.store, target, fresh, order, column=FOCUS_DATE, values=dates)
    unpriced = unpriced_records(billing)
    if unpriced:
        result.detail += f"; {unpriced} unpriced records left out (see dq_unpriced_usage)"
    return result


@job(FOCUS_TABLE, ORDER_ROLLUP)
def focus_costs_job(ctx: BatchContext) -> JobResult:
    """Every priced billing record in the FOCUS 1.2 column set (`stm export focus` writes it as Parquet or CSV)."""
    return _skipping_missing_inputs(functools.partial(focus_table, ctx))


def lookback(ctx: BatchContext, billing: DataFrame) -> tuple[date, date] | None:
    """The ``analytics.lookback_days`` days ending on ``--to`` or on billing's newest date (None: no billing)."""
    newest = ctx.date_to
    if newest is None:
        row = billing.agg(F.max(DATE)).first()
        newest = row[0] if row else None
    return window_bounds(newest, ctx.cfg.analytics.lookback_days) if newest else None


def untagged_table(ctx: BatchContext) -> JobResult:
    billing = _read(ctx, "billing_summary")
    bounds = lookback(ctx, billing)
    if bounds is None:
        return JobResult(detail="no billing rows yet")
    fresh = untagged_resources(billing, ctx.cfg.analytics.tag_keys, *bounds)
    return replace_if_changed(ctx.store, ctx.cfg.output_name("untagged_resources"), fresh, ["cost_rank"])


@job("untagged_resources", ORDER_ROLLUP)
def untagged_resources_job(ctx: BatchContext) -> JobResult:
    """Jobs, clusters, warehouses and endpoints lacking a required tag key, with their cost, most expensive first."""
    return _skipping_missing_inputs(functools.partial(untagged_table, ctx))


def rightsizing_table(ctx: BatchContext) -> JobResult:
    billing = _read(ctx, "billing_summary")
    timeline = _read(ctx, "node_timeline_bronze")
    bounds = lookback(ctx, billing)
    if bounds is None:
        return JobResult(detail="no billing rows yet")
    a = ctx.cfg.analytics
    clusters = cluster_rightsizing(
        timeline,
        billing,
        *bounds,
        idle_cpu_percent=a.idle_cpu_percent,
        underused_percent=a.underused_percent,
        target_utilization_percent=a.target_utilization_percent,
    )
    attributed = ctx.cfg.output_name("query_cost")
    warehouses = None
    if ctx.store.exists(attributed):
        warehouses = warehouse_rightsizing(
            ctx.store.read(attributed), *bounds, idle_share_percent=a.warehouse_idle_share_percent
        )
    fresh = compute_rightsizing(clusters, warehouses, *bounds)
    result = replace_if_changed(ctx.store, ctx.cfg.output_name("compute_rightsizing"), fresh, ["saving_rank"])
    if warehouses is None:
        result.detail += "; no query_cost yet: warehouses not assessed"
    return result


@job("compute_rightsizing", ORDER_ROLLUP + 1)  # after query_cost, whose idle hours it reads
def compute_rightsizing_job(ctx: BatchContext) -> JobResult:
    """Idle and oversized clusters and idle-heavy warehouses with their cost and the saving if right-sized."""
    return _skipping_missing_inputs(functools.partial(rightsizing_table, ctx))


def serverless_table(ctx: BatchContext) -> JobResult:
    billing = _read(ctx, "billing_summary")
    bronze = _read(ctx, "billing_usage_bronze")
    dates = backfill_dates(ctx, billing)
    if dates == []:
        return JobResult(detail="no billing dates in the range")
    if dates is not None:
        billing = billing.where(F.col(DATE).isin(dates))
        bronze = bronze.where(F.col(DATE).isin(dates))
    fresh = serverless_cost(billing, serverless_records(bronze), ctx.cfg.analytics.tag_keys)
    order = [DATE, *SCOPE, "billing_origin_product", "budget_policy_id", "tag_key", "tag_value"]
    target = ctx.cfg.output_name("serverless_cost")
    return replace_if_changed(ctx.store, target, fresh, order, column=DATE, values=dates)


@job("serverless_cost", ORDER_ROLLUP)
def serverless_cost_job(ctx: BatchContext) -> JobResult:
    """Serverless jobs, notebooks and SQL cost per date, budget policy and required tag value (untagged kept)."""
    return _skipping_missing_inputs(functools.partial(serverless_table, ctx))
