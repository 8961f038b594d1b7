"""Core gold tables: pure, date-local DataFrame transforms over silver ``billing_summary`` and bronze tables.

Every row carries ``account_id`` and ``workspace_id``. A table grouped by a date is date-local: its rows for date D
depend only on input rows of date D (plus dimension tables such as ``jobs_bronze``), so recomputing D from those
rows gives the same result as a full recompute. Costs are sums over every record type (corrections net out); a
group's cost sums its priced rows, is NULL when none is priced, and ``unpriced_rows`` says how many were left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from stm.transforms.cost_model import MONEY, QUANTITY

if TYPE_CHECKING:
    from stm.config import Config

SCOPE = ("account_id", "workspace_id")
UNTAGGED = "untagged"
FAILED_STATES = ("FAILED", "TIMED_OUT", "ERROR")
CANCELLED_STATES = ("CANCELLED", "CANCELED")
_US_PER_SECOND = 1_000_000


def cost_metrics() -> list[Column]:
    """The cost aggregates shared by every ``cost_by_*`` table (over ``billing_summary`` rows)."""
    dbu = F.col("usage_unit") == "DBU"
    return [
        F.sum(F.when(dbu, F.col("usage_quantity")).otherwise(F.lit(0).cast(QUANTITY))).alias("total_dbus"),
        F.sum("usage_quantity").alias("total_quantity"),
        F.sum("estimated_cost_usd").alias("total_cost_usd"),
        F.sum("net_cost_usd").alias("total_net_cost_usd"),
        F.count(F.lit(1)).alias("record_count"),
        F.count(F.when(~F.col("is_priced"), 1)).alias("unpriced_rows"),
    ]


def cost_where(condition: Column, column: str = "estimated_cost_usd") -> Column:
    """Sum of ``column`` over rows meeting ``condition``: 0 when there are none, NULL when none of them is priced."""
    matching = F.count(F.when(condition, 1))
    return F.when(matching == 0, F.lit(0).cast(MONEY)).otherwise(F.sum(F.when(condition, F.col(column))))


def daily_costs(billing_summary: DataFrame, *keys: str | Column) -> DataFrame:
    """``cost_metrics`` per account, workspace, ``usage_date`` and ``keys``."""
    return billing_summary.groupBy(*SCOPE, "usage_date", *keys).agg(*cost_metrics())


def seconds_between(start: str, end: str) -> Column:
    """Seconds from timestamp column ``start`` to ``end`` (double, microsecond exact)."""
    return (F.unix_micros(F.col(end)) - F.unix_micros(F.col(start))) / _US_PER_SECOND


def cost_by_product(billing_summary: DataFrame) -> DataFrame:
    """Cost per date and ``billing_origin_product``."""
    return daily_costs(billing_summary, "billing_origin_product")


def cost_by_sku(billing_summary: DataFrame) -> DataFrame:
    """Cost per date, SKU, cloud and unit (a SKU's unit is part of its price key)."""
    return daily_costs(billing_summary, "sku_name", "cloud", "usage_unit")


def cost_by_user(billing_summary: DataFrame) -> DataFrame:
    """Cost per ``user_identity`` (the billing ``run_as``; NULL where the usage names no identity)."""
    return daily_costs(billing_summary, F.col("run_as").alias("user_identity"))


def cost_by_job(billing_summary: DataFrame, jobs_bronze: DataFrame) -> DataFrame:
    """Cost per job and date, named from the latest version of the job in the SCD2 history.

    Aggregated first, then left-joined to one row per ``(workspace_id, job_id)``, so a billing row is never dropped
    or counted twice when the job dimension is missing, late or has many versions (``job_name`` is then NULL).
    """
    costs = billing_summary.where(F.col("job_id").isNotNull()).groupBy(*SCOPE, "usage_date", "job_id")
    costs_df = costs.agg(*cost_metrics(), F.countDistinct("job_run_id").alias("run_count"))
    # the latest version per job in one aggregation (ties on change_time: the greatest name, then delete time)
    version = F.struct(F.col("name").alias("job_name"), F.col("delete_time").alias("job_delete_time"))
    latest = F.max_by(version, F.struct("change_time", "name", "delete_time")).alias("_latest")
    names = jobs_bronze.groupBy("workspace_id", "job_id").agg(latest).select("workspace_id", "job_id", "_latest.*")
    return costs_df.join(names, ["workspace_id", "job_id"], "left")


def tag_pairs(tag_keys: Sequence[str]) -> Column:
    """An array of ``(tag_key, tag_value)`` structs, one per key of ``tag_keys``: the row's ``custom_tags`` value,
    or ``'untagged'`` when it lacks the key."""
    return F.array(
        *[
            F.struct(F.lit(k).alias("tag_key"), F.coalesce(F.col("custom_tags")[k], F.lit(UNTAGGED)).alias("tag_value"))
            for k in tag_keys
        ]
    )


def cost_by_tag(billing_summary: DataFrame, *, tag_keys: Sequence[str]) -> DataFrame:
    """Cost per date, tag key (each of ``tag_keys``) and value; rows lacking the key go to ``'untagged'``.

    ``share_of_day_cost`` divides by the workspace's cost of the same date over all values of the key (untagged
    included), a window within the date, so it stays date-local. It is a ratio (double), not money.
    """
    exploded = billing_summary.withColumn("_tag", F.explode(tag_pairs(tag_keys)))
    costs = daily_costs(exploded, F.col("_tag.tag_key").alias("tag_key"), F.col("_tag.tag_value").alias("tag_value"))
    day_total = F.sum("total_cost_usd").over(Window.partitionBy(*SCOPE, "usage_date", "tag_key")).cast("double")
    share = F.when(day_total != 0, F.col("total_cost_usd").cast("double") / day_total)
    return costs.withColumn("share_of_day_cost", share)


def job_runs_summary(job_runs_bronze: DataFrame) -> DataFrame:
    """Runs per job and ``run_date``: the date of the slice carrying the run's result (when it finished).

    Runs are cut into clock-hour slices with ``result_state`` only on the final one, so a run counts once, on the
    date it finished, with the state of its latest result row (a repaired run has several; ``repaired_runs`` counts
    them). Duration is ``run_duration_seconds`` of that row, or, on older rows without it, the run's slices of that
    date (exact unless the run crossed midnight). Runs still in progress are not counted yet.
    """
    slices = job_runs_bronze.withColumn("run_date", F.to_date("period_start_time"))
    has_result = F.col("result_state").isNotNull()
    runs = (
        slices.groupBy(*SCOPE, "run_date", "job_id", "run_id")
        .agg(
            F.max_by(
                F.struct("result_state", "run_duration_seconds"), F.when(has_result, F.col("period_end_time"))
            ).alias("final"),
            F.count(F.when(has_result, 1)).alias("result_rows"),
            F.sum(seconds_between("period_start_time", "period_end_time")).alias("slice_seconds"),
        )
        .where(F.col("result_rows") > 0)
    )
    state = F.col("final.result_state")
    duration = F.coalesce(F.col("final.run_duration_seconds").cast("double"), F.col("slice_seconds"))
    return runs.groupBy(*SCOPE, "run_date", "job_id").agg(
        F.count(F.lit(1)).alias("total_runs"),
        F.count(F.when(state == "SUCCEEDED", 1)).alias("successful_runs"),
        F.count(F.when(state.isin(*FAILED_STATES), 1)).alias("failed_runs"),
        F.count(F.when(state.isin(*CANCELLED_STATES), 1)).alias("cancelled_runs"),
        F.count(F.when(F.col("result_rows") > 1, 1)).alias("repaired_runs"),
        F.avg(duration).alias("avg_duration_seconds"),
    )


def cluster_utilization(node_timeline_bronze: DataFrame, *, idle_cpu_percent: float) -> DataFrame:
    """CPU (user + system), memory and network per cluster and ``date`` (of the minute), over all its nodes.

    ``is_idle``: the day's average CPU is below ``idle_cpu_percent`` (``analytics.idle_cpu_percent``).
    """
    cpu = F.col("cpu_user_percent") + F.col("cpu_system_percent")
    return (
        node_timeline_bronze.withColumn("date", F.to_date("start_time"))
        .groupBy(*SCOPE, "cluster_id", "date")
        .agg(
            F.avg(cpu).alias("avg_cpu_percent"),
            F.max(cpu).alias("peak_cpu_percent"),
            F.avg("mem_used_percent").alias("avg_memory_percent"),
            F.max("mem_used_percent").alias("peak_memory_percent"),
            F.sum("network_sent_bytes").alias("network_sent_bytes"),
            F.sum("network_received_bytes").alias("network_received_bytes"),
            F.countDistinct("instance_id").alias("node_count"),
            F.count(F.lit(1)).alias("node_minutes"),
        )
        .withColumn("is_idle", F.col("avg_cpu_percent") < F.lit(float(idle_cpu_percent)))
    )


def user_activity_summary(audit_logs_bronze: DataFrame) -> DataFrame:
    """Audit events per date, user email and service; ``failed_events`` are responses with status >= 400."""
    return (
        audit_logs_bronze.withColumn("user_email", F.col("user_identity.email"))
        .groupBy(*SCOPE, "event_date", "user_email", "service_name")
        .agg(
            F.count(F.lit(1)).alias("event_count"),
            F.countDistinct("action_name").alias("distinct_actions"),
            F.count(F.when(F.col("response.status_code") >= 400, 1)).alias("failed_events"),
        )
    )


def data_access_summary(audit_logs_bronze: DataFrame) -> DataFrame:
    """Unity Catalog table actions per date, table and action (``access_type``).

    The table is ``request_params.full_name_arg``, or ``table_full_name`` (credential vending actions); only actions
    whose name mentions a table (``getTable``, ``generateTemporaryTableCredential``, ...) are kept.
    """
    params = F.col("request_params")
    table = F.coalesce(params["full_name_arg"], params["table_full_name"])
    return (
        audit_logs_bronze.where(
            (F.col("service_name") == "unityCatalog") & F.col("action_name").rlike("(?i)table") & table.isNotNull()
        )
        .withColumn("table_name", table)
        .withColumn("access_type", F.col("action_name"))
        .groupBy(*SCOPE, "event_date", "table_name", "access_type")
        .agg(
            F.countDistinct("user_identity.email").alias("user_count"),
            F.count(F.lit(1)).alias("access_count"),
            F.count(F.when(F.col("response.status_code") >= 400, 1)).alias("denied_count"),
        )
    )


def executive_summary(billing_summary: DataFrame) -> DataFrame:
    """Daily KPIs from billing alone (one driver, so date-local): jobs, clusters and users that incurred usage.

    The distinct counts are the sizes of per-day sets (NULL ignored, as ``countDistinct`` does): four
    ``countDistinct`` would copy every row once per counted column before aggregating.
    """

    def distinct(column: str) -> Column:
        return F.size(F.collect_set(column)).cast("long")

    return billing_summary.groupBy(*SCOPE, F.col("usage_date").alias("summary_date")).agg(
        *cost_metrics(),
        distinct("job_id").alias("active_jobs"),
        distinct("cluster_id").alias("active_clusters"),
        distinct("warehouse_id").alias("active_warehouses"),
        distinct("run_as").alias("active_users"),
    )


def cost_by_configured_tags(billing_summary: DataFrame, *, cfg: Config) -> DataFrame:
    """``cost_by_tag`` over the tag keys of ``analytics.tag_keys``."""
    return cost_by_tag(billing_summary, tag_keys=cfg.analytics.tag_keys)


def cluster_utilization_configured(node_timeline_bronze: DataFrame, *, cfg: Config) -> DataFrame:
    """``cluster_utilization`` with ``analytics.idle_cpu_percent``."""
    return cluster_utilization(node_timeline_bronze, idle_cpu_percent=cfg.analytics.idle_cpu_percent)
