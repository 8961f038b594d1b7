"""Pure rollup transforms: weekly and monthly cost, weekly job success rates, week-over-week cost trends.

Weeks are ISO weeks (Monday to Sunday) and months calendar months, both of UTC dates. Cost sums run over every
record type (corrections included, DESIGN rule 1). A period is flagged ``is_incomplete`` when the data does not
cover all of it: its first day is before the oldest date in the data, or its last day after the newest one (so the
period still running is incomplete). No reads or writes here.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

ROLLUP_TABLES = ("cost_weekly_rollup", "cost_monthly_rollup", "job_success_rate_weekly", "cost_trend_analysis")
COST_KEYS = ("account_id", "workspace_id", "billing_origin_product")
JOB_KEYS = ("account_id", "workspace_id", "job_id")
SUCCESS_STATES = ("SUCCEEDED", "SUCCESS")
FAILURE_STATES = ("FAILED", "ERROR", "TIMED_OUT", "TIMEDOUT", "INTERNAL_ERROR")
RETRY_TRIGGERS = ("ONETIME_RETRY",)
QUANTITY = "decimal(38,18)"
FLAG_COLUMNS = ("is_incomplete",)


@dataclass(frozen=True)
class Period:
    """A calendar period of UTC dates: ``week`` (ISO, Monday start) or ``month``."""

    name: str

    @property
    def start_col(self) -> str:
        return f"{self.name}_start"

    @property
    def end_col(self) -> str:
        return f"{self.name}_end"

    def start(self, day: Column) -> Column:
        if self.name == "week":
            return F.date_sub(day, (F.dayofweek(day) + 5) % 7)  # dayofweek: Sunday 1 .. Saturday 7
        return F.trunc(day, "month")

    def end(self, start: Column) -> Column:
        return F.date_add(start, 6) if self.name == "week" else F.last_day(start)

    def first_day(self, day: date) -> date:
        return day - timedelta(days=day.weekday()) if self.name == "week" else day.replace(day=1)

    def last_day(self, day: date) -> date:
        if self.name == "week":
            return self.first_day(day) + timedelta(days=6)
        return day.replace(day=calendar.monthrange(day.year, day.month)[1])

    def window(self, date_from: date | None, date_to: date | None) -> tuple[date | None, date | None]:
        """The first and last day of the periods overlapping ``[date_from, date_to]`` (``None``: open end)."""
        return (
            self.first_day(date_from) if date_from else None,
            self.last_day(date_to) if date_to else None,
        )

    def with_bounds(self, df: DataFrame) -> DataFrame:
        """Add the period's last day (and for weeks the ISO year and week number) from its first day."""
        start = F.col(self.start_col)
        out = df.withColumn(self.end_col, self.end(start))
        if self.name == "week":
            out = out.withColumn("iso_year", F.year(F.date_add(start, 3))).withColumn("iso_week", F.weekofyear(start))
        period = [self.start_col, self.end_col, *(["iso_year", "iso_week"] if self.name == "week" else [])]
        keys = [c for c in dict.fromkeys((*COST_KEYS, *JOB_KEYS)) if c in out.columns]
        return out.select(*keys, *period, *[c for c in out.columns if c not in keys and c not in period])


WEEK = Period("week")
MONTH = Period("month")


def utc_date(ts: Column) -> Column:
    """The UTC calendar date of a timestamp, whatever the session time zone."""
    return F.date_from_unix_date(F.floor(F.unix_seconds(ts) / 86400).cast("int"))


def days_between(lo: date, hi: date) -> list[date]:
    """Every date from ``lo`` to ``hi``, both included."""
    return [lo + timedelta(days=i) for i in range((hi - lo).days + 1)]


def between(col: Column, lo: date | None, hi: date | None) -> Column:
    """``lo <= col <= hi`` with ``None`` as an open end."""
    cond = F.lit(True)
    if lo is not None:
        cond = cond & (col >= F.lit(lo))
    if hi is not None:
        cond = cond & (col <= F.lit(hi))
    return cond


def coverage(df: DataFrame, day: Column) -> DataFrame:
    """One row: the oldest and newest date in the data (``_first_date``, ``_last_date``)."""
    return df.agg(F.min(day).alias("_first_date"), F.max(day).alias("_last_date"))


def with_incomplete_flag(df: DataFrame, period: Period, covered: DataFrame) -> DataFrame:
    """Flag periods the data does not fully cover (``covered`` from :func:`coverage`)."""
    start, end = F.col(period.start_col), F.col(period.end_col)
    return (
        df.drop(*FLAG_COLUMNS)
        .crossJoin(F.broadcast(covered))
        .withColumn(
            "is_incomplete", F.coalesce((start < F.col("_first_date")) | (end > F.col("_last_date")), F.lit(True))
        )
        .drop("_first_date", "_last_date")
    )


def replace_periods(
    existing: DataFrame | None, fresh: DataFrame, period: Period, lo: date | None, hi: date | None
) -> DataFrame:
    """The table after recomputing the periods starting in ``[lo, hi]``: other periods' rows kept, those replaced."""
    recomputed = fresh.where(between(F.col(period.start_col), lo, hi))
    if existing is None or (lo is None and hi is None):
        return recomputed
    kept = existing.drop(*FLAG_COLUMNS).where(~between(F.col(period.start_col), lo, hi))
    return kept.unionByName(recomputed.drop(*FLAG_COLUMNS), allowMissingColumns=True)


def cost_rollup(billing: DataFrame, period: Period) -> DataFrame:
    """List and net cost per account, workspace, product and period, summed over every record type."""
    qty = F.col("usage_quantity")
    rolled = (
        billing.withColumn(period.start_col, period.start(F.col("usage_date")))
        .groupBy(*COST_KEYS, period.start_col)
        .agg(
            F.sum(qty).cast(QUANTITY).alias("total_usage_quantity"),
            F.coalesce(F.sum(F.when(F.col("usage_unit") == "DBU", qty)), F.lit(0)).cast(QUANTITY).alias("total_dbus"),
            F.sum("estimated_cost_usd").alias("total_cost_usd"),
            F.sum("net_cost_usd").alias("total_net_cost_usd"),
            F.count(F.lit(1)).alias("record_count"),
            F.count(F.when(~F.col("is_priced"), 1)).alias("unpriced_record_count"),
            F.countDistinct("usage_date").alias("days_with_usage"),
        )
    )
    return period.with_bounds(rolled)


def run_outcomes(slices: DataFrame) -> DataFrame:
    """One row per job run from its timeline slices: start, duration, attempts, final result, retry trigger.

    ``result_state`` is set only on the slice that ends an attempt; a repaired run has several such slices and
    the latest one decides the run's outcome.
    """
    has_result = F.col("result_state").isNotNull()
    final = F.struct(F.col("period_end_time"), F.col("period_start_time"), F.col("result_state"))
    return slices.groupBy(*JOB_KEYS, "run_id").agg(
        F.min("period_start_time").alias("run_start_time"),
        (F.sum(F.unix_micros("period_end_time") - F.unix_micros("period_start_time")) / 1e6).alias("duration_seconds"),
        F.count(F.when(has_result, 1)).alias("attempts"),
        F.max(F.when(has_result, final)).getField("result_state").alias("result_state"),
        F.max(F.when(F.col("trigger_type").isin(*RETRY_TRIGGERS), 1).otherwise(0)).alias("is_retry_run"),
    )


def job_success_weekly(slices: DataFrame) -> DataFrame:
    """Finished runs per job and week of their start: successes, failures, success rate, retries, durations.

    A run retried as a new run (trigger ``ONETIME_RETRY``) counts as a run of its own and as a retry; every extra
    attempt of a repaired run counts as a retry, and the run's last attempt decides whether it succeeded.
    """
    runs = run_outcomes(slices).where(F.col("attempts") > 0)
    result = F.col("result_state")
    weekly = (
        runs.withColumn(WEEK.start_col, WEEK.start(utc_date(F.col("run_start_time"))))
        .groupBy(*JOB_KEYS, WEEK.start_col)
        .agg(
            F.count(F.lit(1)).alias("runs"),
            F.count(F.when(result.isin(*SUCCESS_STATES), 1)).alias("successes"),
            F.count(F.when(result.isin(*FAILURE_STATES), 1)).alias("failures"),
            F.sum(F.col("attempts") - 1 + F.col("is_retry_run")).cast("long").alias("retries"),
            F.avg("duration_seconds").alias("mean_duration_seconds"),
            F.percentile("duration_seconds", 0.95).alias("p95_duration_seconds"),
        )
        .withColumn("success_rate", F.col("successes") / F.col("runs"))
    )
    return WEEK.with_bounds(weekly)


def cost_trend(weekly: DataFrame, threshold_percent: float) -> DataFrame:
    """Week-over-week list cost change per account, workspace and product.

    Weeks without spend between a group's first week and the newest week count as zero, so a drop to nothing
    shows. ``previous_week_cost_usd`` is NULL only before the data starts. ``change_percent`` is relative to the
    previous week (NULL when that was zero); ``exceeds_threshold`` is set when ``|change_percent|`` reaches the
    threshold, or when spend starts from zero.
    """
    cost_type = weekly.schema["total_cost_usd"].dataType
    costs = weekly.select(*COST_KEYS, WEEK.start_col, "total_cost_usd", F.lit(True).alias("_has_rows"))
    span = costs.agg(F.min(WEEK.start_col).alias("_first_week"), F.max(WEEK.start_col).alias("_last_week"))
    weeks = F.sequence(F.col("_group_first_week"), F.col("_last_week"), F.expr("INTERVAL 7 DAYS"))
    grid = (
        costs.groupBy(*COST_KEYS)
        .agg(F.min(WEEK.start_col).alias("_group_first_week"))
        .crossJoin(F.broadcast(span))
        .select(*COST_KEYS, "_first_week", F.explode(weeks).alias(WEEK.start_col))
    )
    by_group = Window.partitionBy(*COST_KEYS).orderBy(WEEK.start_col)
    cost, previous = F.col("total_cost_usd"), F.col("previous_week_cost_usd")
    first_of_group = F.row_number().over(by_group) == 1
    change_percent = (cost - previous).cast("double") / F.abs(previous).cast("double") * 100
    trend = (
        grid.join(costs, [*COST_KEYS, WEEK.start_col], "left")
        .withColumn("total_cost_usd", F.when(F.col("_has_rows"), cost).otherwise(F.lit(0)).cast(cost_type))
        .withColumn(
            "previous_week_cost_usd",
            F.when(first_of_group, F.when(F.col(WEEK.start_col) > F.col("_first_week"), F.lit(0)))
            .otherwise(F.lag("total_cost_usd").over(by_group))
            .cast(cost_type),
        )
        .withColumn("change_usd", (cost - previous).cast(cost_type))
        .withColumn("change_percent", F.when(previous != 0, change_percent))
        .withColumn("threshold_percent", F.lit(float(threshold_percent)))
        .withColumn(
            "exceeds_threshold",
            F.when(cost.isNull() | previous.isNull(), F.lit(False))
            .when(previous == 0, cost != 0)
            .otherwise(F.abs(F.col("change_percent")) >= F.col("threshold_percent")),
        )
        .drop("_has_rows", "_first_week")
    )
    return WEEK.with_bounds(trend)
