"""AI/ML gold tables: model serving, foundation and external models, MLflow and vector search. Pure transforms.

Date-grouped tables are date-local like ``stm.transforms.gold``. Request-level tables are keyed by ``served_entity_id``
(what ``endpoint_usage`` carries); endpoint and entity attributes come from the latest version of the entity in
``served_entities_bronze`` by a left join, so a request is never dropped when that dimension is missing or late.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, LongType, StringType

from stm.transforms.bronze import latest_per_key
from stm.transforms.cost_model import MONEY
from stm.transforms.gold import SCOPE, cost_where, daily_costs, seconds_between

MODEL_SERVING = "MODEL_SERVING"
VECTOR_SEARCH = "VECTOR_SEARCH"
FOUNDATION_MODEL_TRAINING = "FOUNDATION_MODEL_TRAINING"
# billing_origin_product values counted as AI/ML spend in aiml_executive_summary.total_aiml_cost
AIML_PRODUCTS = (
    MODEL_SERVING,
    VECTOR_SEARCH,
    FOUNDATION_MODEL_TRAINING,
    "AI_GATEWAY",
    "AI_FUNCTIONS",
    "AI_RUNTIME",
    "AGENT_EVALUATION",
    "AGENT_BRICKS",
    "SUPERVISOR_AGENT",
)
ENDPOINT = ("endpoint_name", "endpoint_id")
INVENTORY_DAYS = 30


def _latest_entities(served_entities_bronze: DataFrame) -> DataFrame:
    return latest_per_key(served_entities_bronze, ["served_entity_id"], "change_time")


def _sum_or_null(a: Column, b: Column) -> Column:
    return F.when(a.isNull() & b.isNull(), F.lit(None)).otherwise(F.coalesce(a, F.lit(0)) + F.coalesce(b, F.lit(0)))


def endpoint_usage_summary(endpoint_usage_bronze: DataFrame, served_entities_bronze: DataFrame) -> DataFrame:
    """Requests, tokens and errors (status outside 2xx) per date (of ``request_time``) and served entity."""
    ok = F.col("status_code").between(200, 299)
    usage = (
        endpoint_usage_bronze.withColumn("usage_date", F.to_date("request_time"))
        .groupBy(*SCOPE, "usage_date", "served_entity_id")
        .agg(
            F.count(F.lit(1)).alias("total_requests"),
            F.sum("input_token_count").alias("total_input_tokens"),
            F.sum("output_token_count").alias("total_output_tokens"),
            F.count(F.when(~ok | F.col("status_code").isNull(), 1)).alias("error_count"),
            F.countDistinct("requester").alias("distinct_requesters"),
        )
        .withColumn("total_tokens", _sum_or_null(F.col("total_input_tokens"), F.col("total_output_tokens")))
    )
    entities = _latest_entities(served_entities_bronze).select(
        "served_entity_id",
        *ENDPOINT,
        "served_entity_name",
        "entity_type",
        "entity_name",
        "entity_version",
        F.col("external_model_config.provider").alias("provider"),
    )
    return usage.join(entities, "served_entity_id", "left")


def _usage_of(summary: DataFrame, entity_type: str, *extra: str) -> DataFrame:
    return summary.where(F.col("entity_type") == entity_type).select(
        *SCOPE,
        "usage_date",
        "served_entity_id",
        *ENDPOINT,
        "entity_name",
        *extra,
        "total_requests",
        "total_input_tokens",
        "total_output_tokens",
        "total_tokens",
        "error_count",
    )


def foundation_model_usage(endpoint_usage_bronze: DataFrame, served_entities_bronze: DataFrame) -> DataFrame:
    """``endpoint_usage_summary`` rows of entities of type ``FOUNDATION_MODEL``."""
    summary = endpoint_usage_summary(endpoint_usage_bronze, served_entities_bronze)
    return _usage_of(summary, "FOUNDATION_MODEL", "entity_version")


def external_model_usage(endpoint_usage_bronze: DataFrame, served_entities_bronze: DataFrame) -> DataFrame:
    """``endpoint_usage_summary`` rows of entities of type ``EXTERNAL_MODEL``, with their ``provider``."""
    return _usage_of(
        endpoint_usage_summary(endpoint_usage_bronze, served_entities_bronze), "EXTERNAL_MODEL", "provider"
    )


def _endpoint_costs(billing_summary: DataFrame, product: str) -> DataFrame:
    return daily_costs(billing_summary.where(F.col("billing_origin_product") == product), *ENDPOINT)


def model_serving_costs(billing_summary: DataFrame) -> DataFrame:
    """Cost of ``MODEL_SERVING`` usage per date and endpoint (``usage_metadata.endpoint_name`` / ``endpoint_id``)."""
    return _endpoint_costs(billing_summary, MODEL_SERVING)


def vector_search_costs(billing_summary: DataFrame) -> DataFrame:
    """Cost of ``VECTOR_SEARCH`` usage per date and endpoint."""
    return _endpoint_costs(billing_summary, VECTOR_SEARCH)


def vector_search_summary(billing_summary: DataFrame) -> DataFrame:
    """Daily vector search usage per endpoint, from billing.

    ``index_name``, ``query_count`` and ``avg_latency_ms`` are NULL: no system table records vector search indexes,
    queries or latencies (billing is per endpoint and hour). They are kept so the brief's columns exist.
    """
    return _endpoint_costs(billing_summary, VECTOR_SEARCH).select(
        *SCOPE,
        "usage_date",
        *ENDPOINT,
        "total_dbus",
        "record_count",
        F.lit(None).cast(StringType()).alias("index_name"),
        F.lit(None).cast(LongType()).alias("query_count"),
        F.lit(None).cast(DoubleType()).alias("avg_latency_ms"),
    )


def aiml_executive_summary(billing_summary: DataFrame, endpoint_usage_bronze: DataFrame) -> DataFrame:
    """AI/ML spend per date (``AIML_PRODUCTS``) and serving requests. Date-local in both inputs.

    A cost is 0 when the date has no usage of that product and NULL when none of that usage is priced.
    """
    product = F.col("billing_origin_product")
    costs = (
        billing_summary.where(product.isin(*AIML_PRODUCTS))
        .groupBy(*SCOPE, F.col("usage_date").alias("summary_date"))
        .agg(
            cost_where(product == MODEL_SERVING).alias("model_serving_cost"),
            cost_where(product == VECTOR_SEARCH).alias("vector_search_cost"),
            cost_where(product == FOUNDATION_MODEL_TRAINING).alias("foundation_model_training_cost"),
            cost_where(F.lit(True)).alias("total_aiml_cost"),
            cost_where(F.lit(True), "net_cost_usd").alias("total_aiml_net_cost"),
            F.count(F.when(~F.col("is_priced"), 1)).alias("unpriced_rows"),
            F.lit(True).alias("_billed"),
        )
    )
    requests = (
        endpoint_usage_bronze.groupBy(*SCOPE, F.to_date("request_time").alias("summary_date"))
        .agg(F.count(F.lit(1)).alias("total_requests"))
        .withColumn("_requested", F.lit(True))
    )
    joined = costs.join(requests, [*SCOPE, "summary_date"], "full")
    money = ("model_serving_cost", "vector_search_cost", "foundation_model_training_cost", "total_aiml_cost")
    for c in (*money, "total_aiml_net_cost"):
        joined = joined.withColumn(c, F.when(F.col("_billed").isNull(), F.lit(0).cast(MONEY)).otherwise(F.col(c)))
    return (
        joined.withColumn("unpriced_rows", F.coalesce("unpriced_rows", F.lit(0).cast(LongType())))
        .withColumn("total_requests", F.coalesce("total_requests", F.lit(0).cast(LongType())))
        .drop("_billed", "_requested")
    )


def mlflow_runs_summary(mlflow_runs_bronze: DataFrame) -> DataFrame:
    """Runs per ``run_date`` (of ``start_time``; runs not started yet are left out), experiment and status."""
    return (
        mlflow_runs_bronze.where(F.col("start_time").isNotNull())
        .withColumn("run_date", F.to_date("start_time"))
        .groupBy(*SCOPE, "run_date", "experiment_id", "status")
        .agg(
            F.count(F.lit(1)).alias("run_count"),
            F.avg(seconds_between("start_time", "end_time")).alias("avg_duration_seconds"),
            F.countDistinct("created_by").alias("distinct_users"),
            F.count(F.when(F.col("delete_time").isNotNull(), 1)).alias("deleted_runs"),
        )
    )


def mlflow_experiments_summary(mlflow_experiments_bronze: DataFrame, mlflow_runs_bronze: DataFrame) -> DataFrame:
    """One row per experiment (full table), also for experiments known only from their runs (``name`` NULL)."""
    status = F.col("status")
    runs = mlflow_runs_bronze.groupBy(*SCOPE, "experiment_id").agg(
        F.count(F.lit(1)).alias("total_runs"),
        F.count(F.when(status == "FINISHED", 1)).alias("successful_runs"),
        F.count(F.when(status == "FAILED", 1)).alias("failed_runs"),
        F.countDistinct("created_by").alias("distinct_users"),
        F.max("start_time").alias("last_run"),
    )
    experiments = mlflow_experiments_bronze.select(*SCOPE, "experiment_id", "name", "create_time", "delete_time")
    joined = experiments.join(runs, [*SCOPE, "experiment_id"], "full")
    zero = F.lit(0).cast(LongType())
    for c in ("total_runs", "successful_runs", "failed_runs", "distinct_users"):
        joined = joined.withColumn(c, F.coalesce(F.col(c), zero))
    return joined


def endpoint_inventory(
    served_entities_bronze: DataFrame, billing_summary: DataFrame, *, as_of: date | None = None
) -> DataFrame:
    """One row per serving endpoint (full table), from its current config, with its cost over 30 days to ``as_of``.

    The current config is the greatest ``endpoint_config_version`` among the latest versions of the endpoint's
    served entities; its first entity by name describes the endpoint and ``served_entity_count`` says how many it
    serves. ``total_cost_usd_30d`` sums billing rows with the endpoint's id dated ``(as_of - 30 days, as_of]``
    (``as_of`` defaults to today in the session time zone): 0 with no usage, NULL when none of it is priced.
    """
    endpoint = ["workspace_id", "endpoint_id"]
    entities = _latest_entities(served_entities_bronze)
    by_endpoint = Window.partitionBy(*endpoint)
    current = entities.withColumn("_current", F.max("endpoint_config_version").over(by_endpoint)).where(
        F.col("endpoint_config_version") == F.col("_current")
    )
    ranked = current.withColumn(
        "_rn", F.row_number().over(by_endpoint.orderBy("served_entity_name", "served_entity_id"))
    ).withColumn("served_entity_count", F.count(F.lit(1)).over(by_endpoint))
    first = ranked.where(F.col("_rn") == 1).select(
        *SCOPE,
        "endpoint_id",
        "endpoint_name",
        "entity_type",
        "entity_name",
        "entity_version",
        "served_entity_name",
        "task",
        "created_by",
        F.col("external_model_config.provider").alias("provider"),
        "endpoint_config_version",
        F.col("change_time").alias("last_change_time"),
        "endpoint_delete_time",
        F.col("endpoint_delete_time").isNotNull().alias("is_deleted"),
        "served_entity_count",
    )
    end = F.lit(as_of) if as_of is not None else F.current_date()
    in_window = (F.col("usage_date") <= end) & (F.col("usage_date") > F.date_sub(end, INVENTORY_DAYS))
    costs = (
        billing_summary.where(in_window & F.col("endpoint_id").isNotNull())
        .groupBy(*endpoint)
        .agg(
            F.sum("estimated_cost_usd").alias("total_cost_usd_30d"),
            F.sum("net_cost_usd").alias("total_net_cost_usd_30d"),
            F.count(F.lit(1)).alias("record_count_30d"),
        )
    )
    out = first.join(costs, endpoint, "left")
    for c in ("total_cost_usd_30d", "total_net_cost_usd_30d"):
        out = out.withColumn(c, F.when(F.col("record_count_30d").isNull(), F.lit(0).cast(MONEY)).otherwise(F.col(c)))
    return out.withColumn("record_count_30d", F.coalesce("record_count_30d", F.lit(0).cast(LongType()))).withColumn(
        "as_of_date", end
    )
