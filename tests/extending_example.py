"""Transforms a test adds by following docs/EXTENDING.md: a gold table over billing and one over a new bronze table."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from stm.transforms.gold import daily_costs


def cost_by_cluster(billing_summary: DataFrame) -> DataFrame:
    """Cost per date and cluster."""
    return daily_costs(billing_summary, "cluster_id")


def warehouse_changes_per_day(warehouse_changes_bronze: DataFrame) -> DataFrame:
    """How many warehouse configuration changes each workspace made per day."""
    day = F.to_date("change_time").alias("change_date")
    return warehouse_changes_bronze.groupBy("account_id", "workspace_id", day).agg(F.count(F.lit(1)).alias("changes"))
