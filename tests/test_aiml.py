"""Golden cases of the AI/ML tables, computed by hand from ``tests.gold_data``."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
from pyspark.sql import DataFrame, Row
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from stm.simulate import schemas
from stm.transforms import aiml
from tests.cost_data import D1, D2, at, bronze
from tests.gold_data import (
    AIML_BILLING,
    D3,
    ENDPOINT_USAGE,
    EXPERIMENTS,
    MLFLOW_RUNS,
    SERVED_ENTITIES,
    summary,
)

TOKENS = ("total_requests", "total_input_tokens", "total_output_tokens", "total_tokens", "error_count")


@pytest.fixture(scope="module")
def billing(spark) -> DataFrame:
    return summary(spark, AIML_BILLING).cache()


@pytest.fixture(scope="module")
def requests(spark) -> DataFrame:
    return bronze(spark, schemas.ENDPOINT_USAGE, ENDPOINT_USAGE)


@pytest.fixture(scope="module")
def entities(spark) -> DataFrame:
    return bronze(spark, schemas.SERVED_ENTITIES, SERVED_ENTITIES)


def test_endpoint_usage_summary_latest_entity_and_missing_dimension_kept(requests, entities):
    out = aiml.endpoint_usage_summary(requests, entities).where(F.col("usage_date") == D1)
    # se-fm: tokens in 10 + 5 + 1, out 20 + 5 (+ NULL), one 429; se-missing has no served entity row
    assertDataFrameEqual(
        out.select("served_entity_id", "endpoint_name", "entity_type", "entity_version", *TOKENS),
        [
            Row("se-fm", "chat", "FOUNDATION_MODEL", "2", 3, 16, 25, 41, 1),
            Row("se-ext", "gpt", "EXTERNAL_MODEL", None, 1, 100, 50, 150, 0),
            Row("se-missing", None, None, None, 1, 1, 1, 2, 0),
        ],
    )


def test_foundation_and_external_model_usage_split_by_entity_type(requests, entities):
    foundation = aiml.foundation_model_usage(requests, entities)
    assertDataFrameEqual(
        foundation.select("usage_date", "endpoint_name", "entity_name", "total_requests", "total_tokens"),
        [Row(D1, "chat", "databricks-llama", 3, 41), Row(D2, "chat", "databricks-llama", 1, 5)],
    )
    external = aiml.external_model_usage(requests, entities)
    assertDataFrameEqual(
        external.select("usage_date", "endpoint_name", "entity_name", "provider", "total_requests", "total_tokens"),
        [Row(D1, "gpt", "gpt-4o", "OpenAI", 1, 150), Row(D3, "gpt", "gpt-4o", "OpenAI", 1, 14)],
    )


def test_model_serving_costs_by_endpoint_and_date(billing):
    assertDataFrameEqual(
        aiml.model_serving_costs(billing).select(
            "usage_date", "endpoint_name", "endpoint_id", "total_dbus", "total_cost_usd", "record_count"
        ),
        [
            Row(D1, "chat", "ep1", D("100"), D("7.0"), 1),
            Row(D1, "gpt", "ep2", D("50"), D("3.5"), 1),
            Row(D2, "chat", "ep1", D("10"), D("0.7"), 1),
        ],
    )


def test_vector_search_costs_and_summary_unpriced_and_null_metrics(billing):
    assertDataFrameEqual(
        aiml.vector_search_costs(billing).select(
            "usage_date", "endpoint_name", "total_dbus", "total_cost_usd", "record_count", "unpriced_rows"
        ),
        [Row(D1, "vs1", D("15"), D("2.8"), 2, 1)],
    )
    out = aiml.vector_search_summary(billing)
    assertDataFrameEqual(
        out.select("usage_date", "endpoint_name", "total_dbus", "record_count", "index_name", "query_count"),
        [Row(D1, "vs1", D("15"), 2, None, None)],
    )
    assert out.schema["avg_latency_ms"].dataType.simpleString() == "double"


def test_aiml_executive_summary_zero_cost_days_and_request_only_days(billing, requests):
    cols = ("summary_date", "model_serving_cost", "vector_search_cost", "foundation_model_training_cost")
    # D1: serving 7.0 + 3.5, vector search 2.8 (v2 unpriced), training 1.3; the JOBS row j1 is not AI/ML
    assertDataFrameEqual(
        aiml.aiml_executive_summary(billing, requests).select(
            *cols, "total_aiml_cost", "unpriced_rows", "total_requests"
        ),
        [
            Row(D1, D("10.5"), D("2.8"), D("1.3"), D("14.6"), 1, 5),
            Row(D2, D("0.7"), D("0"), D("0"), D("0.7"), 0, 1),
            Row(D3, D("0"), D("0"), D("0"), D("0"), 0, 1),
        ],
    )


def test_mlflow_runs_summary_by_start_date_and_status(spark):
    runs = bronze(spark, schemas.RUNS_LATEST, MLFLOW_RUNS)
    assertDataFrameEqual(
        aiml.mlflow_runs_summary(runs).select(
            "run_date", "experiment_id", "status", "run_count", "avg_duration_seconds", "distinct_users"
        ),
        [
            Row(D1, "exp1", "FINISHED", 2, 2700.0, 1),
            Row(D1, "exp1", "FAILED", 1, 600.0, 1),
            Row(D2, "exp3", "RUNNING", 1, None, 1),
        ],
    )


def test_mlflow_experiments_summary_includes_unknown_and_idle_experiments(spark):
    experiments = bronze(spark, schemas.EXPERIMENTS_LATEST, EXPERIMENTS)
    runs = bronze(spark, schemas.RUNS_LATEST, MLFLOW_RUNS)
    assertDataFrameEqual(
        aiml.mlflow_experiments_summary(experiments, runs).select(
            "experiment_id", "name", "total_runs", "successful_runs", "distinct_users", "last_run"
        ),
        [
            Row("exp1", "/Users/a/exp", 4, 2, 2, at(D1, 12).replace(tzinfo=None)),
            Row("exp2", "/Users/b/exp", 0, 0, 0, None),
            Row("exp3", None, 1, 0, 1, at(D2, 9).replace(tzinfo=None)),
        ],
    )


def test_endpoint_inventory_current_config_and_30_day_cost(billing, entities):
    cols = ("endpoint_id", "endpoint_name", "entity_type", "entity_version", "served_entity_count")
    # ep3's current config (2) serves se-cust only; ep1's cost is m1 + m3, ep3 has no usage: 0
    assertDataFrameEqual(
        aiml.endpoint_inventory(entities, billing, as_of=D2).select(*cols, "total_cost_usd_30d", "record_count_30d"),
        [
            Row("ep1", "chat", "FOUNDATION_MODEL", "2", 1, D("7.7"), 2),
            Row("ep2", "gpt", "EXTERNAL_MODEL", None, 1, D("3.5"), 1),
            Row("ep3", "churn", "CUSTOM_MODEL", "3", 1, D("0"), 0),
        ],
    )
    later = aiml.endpoint_inventory(entities, billing, as_of=D1 + timedelta(days=30))
    # the window (D1, D1 + 30] leaves D1 out
    assertDataFrameEqual(
        later.select("endpoint_id", "total_cost_usd_30d"),
        [Row("ep1", D("0.7")), Row("ep2", D("0")), Row("ep3", D("0"))],
    )
