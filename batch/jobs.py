"""Batch jobs for SCD2 current state and rollups: read inputs through the table store, write only what changed.

Current-state tables are MERGE-upserted by entity with only the rows whose content digest changed, so a rerun
over the same history writes nothing. Rollups recompute every period (or those overlapping ``--from``/``--to``),
keep the other periods' rows, and replace the table only when its contents differ, so reruns are no-ops too.
"""

from __future__ import annotations

import functools
import logging
from datetime import date, timedelta

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from batch.ingest import changed_rows
from batch.registry import BatchContext, BatchJob, JobFn, JobResult, job
from stm.config import Config
from stm.errors import TableNotFound
from stm.store.delta import TableStore
from stm.store.retry import retry_on_conflict
from stm.transforms.current_state import CurrentSpec, current_specs, current_state
from stm.transforms.models import transform
from stm.transforms.rollups import (
    MONTH,
    WEEK,
    Period,
    between,
    cost_rollup,
    cost_trend,
    coverage,
    job_success_weekly,
    replace_periods,
    utc_date,
    with_incomplete_flag,
)

log = logging.getLogger(__name__)

ORDER_CURRENT = 20
ORDER_ROLLUP = 40  # after the cost model (billing_summary) at 30


class MissingInput(TableNotFound):
    """An input table of a job does not exist yet: the job is skipped."""

    def __init__(self, table: str) -> None:
        super().__init__(f"input {table} does not exist yet")
        self.table = table


def _read(ctx: BatchContext, table: str) -> DataFrame:
    name = ctx.cfg.output_name(table)
    if not ctx.store.exists(name):
        raise MissingInput(name)
    return ctx.store.read(name)


def _skipping_missing_inputs(fn: functools.partial[JobResult]) -> JobResult:
    try:
        return fn()
    except MissingInput as missing:
        return JobResult(status="skipped", detail=str(missing))


def upsert_changed(store: TableStore, target: str, fresh: DataFrame, keys: list[str]) -> JobResult:
    """MERGE the rows of ``fresh`` (with ``_row_hash``) that are new or differ from ``target``; none: no commit."""
    existing = store.read(target) if store.exists(target) else None
    changed = changed_rows(fresh, existing, keys).withColumn("_updated_at", F.current_timestamp())
    if existing is not None and changed.isEmpty():
        return JobResult(detail="unchanged")
    merge = functools.partial(store.merge, target, changed, keys, insert_only=False)
    result = retry_on_conflict(f"merge {target}", merge)
    return JobResult(rows=result.inserted + result.updated, detail=f"{result.inserted} new, {result.updated} changed")


def same_contents(left: DataFrame, right: DataFrame) -> bool:
    """Equal column names and types and equal multisets of rows."""
    left_types = sorted((f.name, f.dataType.simpleString()) for f in left.schema.fields)
    right_types = sorted((f.name, f.dataType.simpleString()) for f in right.schema.fields)
    if left_types != right_types:
        return False
    right = right.select(*left.columns)
    return left.exceptAll(right).isEmpty() and right.exceptAll(left).isEmpty()


def replace_if_changed(
    store: TableStore,
    target: str,
    table: DataFrame,
    order: list[str],
    *,
    column: str | None = None,
    values: list[date] | None = None,
) -> JobResult:
    """Overwrite ``target`` with ``table`` (rows sorted by ``order``) unless its contents are already equal; with
    ``values``, only the rows whose ``column`` is one of them are compared and replaced (a new table is
    partitioned by ``column``)."""
    if store.exists(target):
        existing = store.read(target)
        if column is not None and values is not None:
            existing = existing.where(F.col(column).isin(values))
        if same_contents(existing, table):
            return JobResult(detail="unchanged")
    replace = functools.partial(store.replace, target, table.orderBy(*order), column=column, values=values)
    rows = retry_on_conflict(f"replace {target}", replace)
    return JobResult(rows=rows, detail=f"{rows} rows written")


def recompute_periods(
    ctx: BatchContext,
    table: str,
    period: Period,
    window: tuple[date | None, date | None],
    fresh: DataFrame,
    covered: DataFrame,
) -> JobResult:
    """Replace the rows of the periods in ``window`` by ``fresh``, refresh every row's incomplete flag, write."""
    target = ctx.cfg.output_name(table)
    existing = ctx.store.read(target) if ctx.store.exists(target) else None
    lo, hi = window
    merged = replace_periods(existing, fresh, period, lo, hi)
    full = with_incomplete_flag(merged, period, covered)
    keys = [c for c in ("account_id", "workspace_id", "billing_origin_product", "job_id") if c in full.columns]
    return replace_if_changed(ctx.store, target, full, [period.start_col, *keys])


def refresh_current(ctx: BatchContext, table: str, spec: CurrentSpec) -> JobResult:
    """Build ``table`` from its bronze history and upsert the rows that changed."""
    fresh = current_state(_read(ctx, spec.source), spec)
    if spec.finish is not None:
        fresh = transform(spec.finish, f"outputs.{table}.current.finish")(cfg=ctx.cfg, current=fresh)
    return upsert_changed(ctx.store, ctx.cfg.output_name(table), fresh, list(spec.keys))


def current_state_jobs(cfg: Config) -> dict[str, BatchJob]:
    """One job per current-state table of the catalog, named after it (its help is the table's ``why``)."""

    def job_for(table: str, spec: CurrentSpec) -> JobFn:
        def run(ctx: BatchContext) -> JobResult:
            return _skipping_missing_inputs(functools.partial(refresh_current, ctx, table, spec))

        run.__name__ = run.__qualname__ = table
        return run

    specs = current_specs(cfg.outputs)
    return {name: BatchJob(name, job_for(name, spec), ORDER_CURRENT, spec.doc) for name, spec in specs.items()}


def cost_rollup_job(ctx: BatchContext, table: str, period: Period) -> JobResult:
    """Recompute the cost rollup ``table`` for the periods overlapping the backfill range (all by default)."""
    billing = _read(ctx, "billing_summary")
    window = period.window(ctx.date_from, ctx.date_to)
    fresh = cost_rollup(billing.where(between(F.col("usage_date"), *window)), period)
    return recompute_periods(ctx, table, period, window, fresh, coverage(billing, F.col("usage_date")))


@job("cost_weekly_rollup", ORDER_ROLLUP)
def cost_weekly_rollup(ctx: BatchContext) -> JobResult:
    """List and net cost per account, workspace, product and ISO week (UTC), corrections netted."""
    return _skipping_missing_inputs(functools.partial(cost_rollup_job, ctx, "cost_weekly_rollup", WEEK))


@job("cost_monthly_rollup", ORDER_ROLLUP)
def cost_monthly_rollup(ctx: BatchContext) -> JobResult:
    """List and net cost per account, workspace, product and calendar month (UTC), corrections netted."""
    return _skipping_missing_inputs(functools.partial(cost_rollup_job, ctx, "cost_monthly_rollup", MONTH))


def success_rate_job(ctx: BatchContext) -> JobResult:
    slices = _read(ctx, "job_runs_bronze")
    covered = coverage(slices, utc_date(F.col("period_start_time")))
    window = WEEK.window(ctx.date_from, ctx.date_to)
    return recompute_periods(ctx, "job_success_rate_weekly", WEEK, window, job_success_weekly(slices), covered)


@job("job_success_rate_weekly", ORDER_ROLLUP)
def job_success_rate_weekly(ctx: BatchContext) -> JobResult:
    """Runs, successes, failures, success rate, retries and mean/p95 duration per job and ISO week."""
    return _skipping_missing_inputs(functools.partial(success_rate_job, ctx))


def trend_job(ctx: BatchContext) -> JobResult:
    billing = _read(ctx, "billing_summary")
    lo, hi = WEEK.window(ctx.date_from, ctx.date_to)
    hi = hi + timedelta(days=7) if hi else None  # the week after the range compares against a recomputed week
    inputs = billing.where(between(F.col("usage_date"), lo - timedelta(days=7) if lo else None, hi))
    fresh = cost_trend(cost_rollup(inputs, WEEK), ctx.cfg.analytics.trend_threshold_percent)
    covered = coverage(billing, F.col("usage_date"))
    return recompute_periods(ctx, "cost_trend_analysis", WEEK, (lo, hi), fresh, covered)


@job("cost_trend_analysis", ORDER_ROLLUP)
def cost_trend_analysis(ctx: BatchContext) -> JobResult:
    """Week-over-week list cost change per workspace and product, flagged past the configured threshold."""
    return _skipping_missing_inputs(functools.partial(trend_job, ctx))
