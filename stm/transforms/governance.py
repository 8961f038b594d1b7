"""Tag governance, serverless attribution and right-sizing. Pure transforms.

- ``untagged_resources`` (the last ``analytics.lookback_days`` days): jobs, clusters, warehouses, serving
  endpoints, pipelines and serverless notebooks whose latest billing record lacks one or more of
  ``analytics.tag_keys``, with their cost in the window, most expensive first.
- ``serverless_cost``: serverless usage (jobs, notebooks, SQL, ...) per date, budget policy and required tag value.
- ``compute_rightsizing`` (the same window): clusters whose CPU and memory stay under
  ``analytics.underused_percent`` (or whose CPU is under ``analytics.idle_cpu_percent``: idle) with the saving if
  right-sized to ``analytics.target_utilization_percent``; SQL warehouses whose idle share of cost (``query_cost``)
  reaches ``analytics.warehouse_idle_share_percent``, with that idle cost as the saving. docs/ATTRIBUTION.md says
  how the estimates are made and where they stop being right.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from stm.transforms.cost_model import MONEY
from stm.transforms.gold import SCOPE, tag_pairs

# usage_metadata ids that name the resource a record is billed to, in order, with the resource type
RESOURCE_IDS = (
    ("warehouse_id", "warehouse"),
    ("endpoint_id", "serving_endpoint"),
    ("dlt_pipeline_id", "pipeline"),
    ("job_id", "job"),
    ("cluster_id", "cluster"),
    ("notebook_id", "notebook"),
)


def window_bounds(newest: date, days: int) -> tuple[date, date]:
    """The ``days`` days ending on ``newest``."""
    return newest - timedelta(days=days - 1), newest


def resource_columns(billing: DataFrame) -> tuple[Column, Column]:
    """``(resource_type, resource_id)`` of a billing record: the first id of ``RESOURCE_IDS`` that is set."""
    present = [(c, kind) for c, kind in RESOURCE_IDS if c in billing.columns]
    kind: Column = F.lit(None).cast("string")
    for c, name in reversed(present):
        kind = F.when(F.col(c).isNotNull(), F.lit(name)).otherwise(kind)
    ident = F.coalesce(*[F.col(c) for c, _ in present]) if present else F.lit(None).cast("string")
    return kind, ident


def untagged_resources(billing: DataFrame, tag_keys: Sequence[str], lo: date, hi: date) -> DataFrame:
    """Resources billed in ``[lo, hi]`` whose latest record lacks a required tag key, most expensive first.

    ``missing_tag_keys`` comes from the resource's latest record (tags added during the window count as present);
    the cost sums every record of the window, corrections included. ``top_identity`` (the identity with most
    records) suggests whom to ask for the tags. Records naming no resource (storage, networking) are not listed.
    """
    kind, ident = resource_columns(billing)
    rows = billing.where(F.col("usage_date").between(F.lit(lo), F.lit(hi))).select(
        *SCOPE,
        kind.alias("resource_type"),
        ident.alias("resource_id"),
        "usage_date",
        "usage_end_time",
        "record_id",
        "custom_tags",
        "run_as",
        "estimated_cost_usd",
        "net_cost_usd",
        "is_priced",
    )
    rows = rows.where(F.col("resource_id").isNotNull())
    latest_tags = F.max_by(F.coalesce(F.col("custom_tags"), F.create_map()), F.struct("usage_end_time", "record_id"))
    keys = ["account_id", "workspace_id", "resource_type", "resource_id"]
    per_resource = rows.groupBy(*keys).agg(
        latest_tags.alias("_tags"),
        F.sum("estimated_cost_usd").cast(MONEY).alias("cost_usd"),
        F.sum("net_cost_usd").cast(MONEY).alias("net_cost_usd"),
        F.count(F.when(~F.col("is_priced"), 1)).alias("unpriced_rows"),
        F.max("usage_date").alias("last_usage_date"),
    )
    identities = rows.where(F.col("run_as").isNotNull()).groupBy(*keys, "run_as").agg(F.count(F.lit(1)).alias("_n"))
    best = Window.partitionBy(*keys).orderBy(F.col("_n").desc(), F.col("run_as"))
    top = identities.withColumn("_rank", F.row_number().over(best)).where("_rank = 1")
    top = top.select(*keys, F.col("run_as").alias("top_identity"))
    required = F.array(*[F.lit(k) for k in tag_keys]) if tag_keys else F.array().cast("array<string>")
    missing = F.filter(required, lambda k: ~F.map_contains_key(F.col("_tags"), k))
    ranked = Window.orderBy(F.col("cost_usd").desc_nulls_last(), *[F.col(k) for k in keys])
    return (
        per_resource.withColumn("missing_tag_keys", missing)
        .where(F.size("missing_tag_keys") > 0)
        .join(top, keys, "left")
        .withColumn("window_start", F.lit(lo))
        .withColumn("window_end", F.lit(hi))
        .withColumn("cost_rank", F.row_number().over(ranked))
        .drop("_tags")
    )


def _saving_share(used_percent: Column, target_percent: float) -> Column:
    """``1 - used / target``, at least 0: the share of the compute a right-sized one would not need."""
    fraction = F.least(F.lit(1.0), used_percent / F.lit(float(target_percent)))
    return F.greatest(F.lit(0.0), F.lit(1.0) - fraction).cast("decimal(20,18)")


def cluster_rightsizing(
    node_timeline: DataFrame,
    billing: DataFrame,
    lo: date,
    hi: date,
    *,
    idle_cpu_percent: float,
    underused_percent: float,
    target_utilization_percent: float,
) -> DataFrame:
    """Clusters whose average CPU is under ``idle_cpu_percent`` (idle), or whose average CPU and memory are both
    under ``underused_percent`` (oversized), over ``[lo, hi]``, with their cost and estimated saving."""
    cpu = F.col("cpu_user_percent") + F.col("cpu_system_percent")
    minutes = node_timeline.where(F.to_date("start_time").between(F.lit(lo), F.lit(hi)))
    usage = minutes.groupBy(*SCOPE, "cluster_id").agg(
        F.avg(cpu).alias("avg_cpu_percent"),
        F.max(cpu).alias("peak_cpu_percent"),
        F.avg("mem_used_percent").alias("avg_memory_percent"),
        F.max("mem_used_percent").alias("peak_memory_percent"),
        F.countDistinct("instance_id").alias("nodes"),
        F.count(F.lit(1)).alias("node_minutes"),
    )
    costs = (
        billing.where(F.col("cluster_id").isNotNull() & F.col("usage_date").between(F.lit(lo), F.lit(hi)))
        .groupBy(*SCOPE, "cluster_id")
        .agg(
            F.sum("estimated_cost_usd").cast(MONEY).alias("cost_usd"),
            F.sum("net_cost_usd").cast(MONEY).alias("net_cost_usd"),
        )
    )
    idle = F.col("avg_cpu_percent") < F.lit(float(idle_cpu_percent))
    under = (F.col("avg_cpu_percent") < F.lit(float(underused_percent))) & (
        F.col("avg_memory_percent") < F.lit(float(underused_percent))
    )
    used = F.greatest(F.col("avg_cpu_percent"), F.col("avg_memory_percent"))
    share = _saving_share(used, target_utilization_percent)
    return (
        usage.join(costs, [*SCOPE, "cluster_id"], "left")
        .where(idle | under)
        .select(
            *SCOPE,
            F.lit("cluster").alias("compute_type"),
            F.col("cluster_id").alias("compute_id"),
            F.when(idle, F.lit("idle")).otherwise(F.lit("oversized")).alias("finding"),
            "avg_cpu_percent",
            "peak_cpu_percent",
            "avg_memory_percent",
            "peak_memory_percent",
            "nodes",
            "node_minutes",
            F.lit(None).cast("double").alias("idle_cost_share"),
            "cost_usd",
            "net_cost_usd",
            F.round(F.col("cost_usd") * share, 2).cast(MONEY).alias("estimated_saving_usd"),  # an estimate: cents
            F.round(F.col("net_cost_usd") * share, 2).cast(MONEY).alias("estimated_net_saving_usd"),
        )
    )


def warehouse_rightsizing(query_cost: DataFrame, lo: date, hi: date, *, idle_share_percent: float) -> DataFrame:
    """Warehouses whose idle hours (``query_cost`` rows without a statement) reach ``idle_share_percent`` of their
    cost over ``[lo, hi]``; the saving is that idle cost (what a shorter auto-stop would have avoided)."""
    rows = query_cost.where(F.col("usage_date").between(F.lit(lo), F.lit(hi)))
    per = rows.groupBy(*SCOPE, "warehouse_id").agg(
        F.sum("cost_usd").cast(MONEY).alias("cost_usd"),
        F.sum("net_cost_usd").cast(MONEY).alias("net_cost_usd"),
        F.sum(F.when(F.col("is_idle_warehouse"), F.col("cost_usd"))).cast(MONEY).alias("_idle"),
        F.sum(F.when(F.col("is_idle_warehouse"), F.col("net_cost_usd"))).cast(MONEY).alias("_idle_net"),
    )
    share = F.when(F.col("cost_usd") > 0, F.col("_idle").cast("double") / F.col("cost_usd").cast("double"))
    none = F.lit(None).cast("double")
    return (
        per.withColumn("idle_cost_share", share)
        .where(F.col("idle_cost_share") >= F.lit(float(idle_share_percent) / 100))
        .select(
            *SCOPE,
            F.lit("warehouse").alias("compute_type"),
            F.col("warehouse_id").alias("compute_id"),
            F.lit("idle").alias("finding"),
            none.alias("avg_cpu_percent"),
            none.alias("peak_cpu_percent"),
            none.alias("avg_memory_percent"),
            none.alias("peak_memory_percent"),
            F.lit(None).cast("long").alias("nodes"),
            F.lit(None).cast("long").alias("node_minutes"),
            "idle_cost_share",
            "cost_usd",
            "net_cost_usd",
            F.col("_idle").alias("estimated_saving_usd"),
            F.col("_idle_net").alias("estimated_net_saving_usd"),
        )
    )


def compute_rightsizing(clusters: DataFrame, warehouses: DataFrame | None, lo: date, hi: date) -> DataFrame:
    """Both kinds of finding in one table, largest saving first."""
    out = clusters if warehouses is None else clusters.unionByName(warehouses)
    order = Window.orderBy(F.col("estimated_saving_usd").desc_nulls_last(), "compute_type", "compute_id")
    return (
        out.withColumn("window_start", F.lit(lo))
        .withColumn("window_end", F.lit(hi))
        .withColumn("saving_rank", F.row_number().over(order))
    )


NO_POLICY = "no_policy"


def serverless_records(bronze: DataFrame) -> DataFrame:
    """``(account_id, record_id, budget_policy_id)`` of the serverless records of ``billing_usage_bronze``
    (``product_features.is_serverless``; a schema without the field has none)."""

    def fields(column: str) -> list[str]:
        dtype = bronze.schema[column].dataType
        return dtype.fieldNames() if isinstance(dtype, StructType) else []

    if "is_serverless" not in fields("product_features"):
        return bronze.limit(0).select("account_id", "record_id", F.lit(None).cast("string").alias("budget_policy_id"))
    policy = (
        F.col("usage_metadata.budget_policy_id")
        if "budget_policy_id" in fields("usage_metadata")
        else F.lit(None).cast("string")
    )
    return bronze.where(F.coalesce(F.col("product_features.is_serverless"), F.lit(False))).select(
        "account_id", "record_id", policy.alias("budget_policy_id")
    )


def serverless_cost(billing: DataFrame, serverless: DataFrame, tag_keys: Sequence[str]) -> DataFrame:
    """Serverless cost per date, product (jobs, notebooks, SQL, ...), budget policy and required tag value.

    Each record counts once per tag key of ``tag_keys`` (``tag_value = 'untagged'`` when it lacks the key), so the
    totals of one ``tag_key`` are the serverless totals; a record without a budget policy is in ``no_policy``.
    Corrections are netted; a group whose records are all unpriced has NULL cost (``unpriced_rows`` counts them).
    """
    rows = billing.join(serverless, ["account_id", "record_id"], "inner")  # one bronze row per record
    none = F.lit(None).cast("string")
    # no required keys: one group per policy
    tags = tag_pairs(tag_keys) if tag_keys else F.array(F.struct(none.alias("tag_key"), none.alias("tag_value")))
    return (
        rows.withColumn("_tag", F.explode(tags))
        .groupBy(
            *SCOPE,
            "usage_date",
            "billing_origin_product",
            F.coalesce(F.col("budget_policy_id"), F.lit(NO_POLICY)).alias("budget_policy_id"),
            F.col("_tag.tag_key").alias("tag_key"),
            F.col("_tag.tag_value").alias("tag_value"),
        )
        .agg(
            F.sum("usage_quantity").alias("total_quantity"),
            F.sum("estimated_cost_usd").cast(MONEY).alias("cost_usd"),
            F.sum("net_cost_usd").cast(MONEY).alias("net_cost_usd"),
            F.count(F.lit(1)).alias("record_count"),
            F.count(F.when(~F.col("is_priced"), 1)).alias("unpriced_rows"),
        )
    )
