"""The golden scenario of the gold and AI/ML tests: a few rows per input over two or three dates.

Expected values in the tests are computed by hand from these rows (prices: ``tests.cost_data.LIST_PRICES`` plus the
AI/ML SKUs below).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from pyspark.sql import DataFrame

from stm.simulate import schemas
from stm.transforms.cost_model import billing_summary
from tests.cost_data import (
    ACCOUNT,
    D1,
    D2,
    LIST_PRICES,
    SQL_SKU,
    WS,
    at,
    bronze,
    price,
    prices_frame,
    usage,
    usage_frame,
)

D3 = date(2026, 3, 3)
SERVING_SKU = "PREMIUM_SERVERLESS_REAL_TIME_INFERENCE_US_EAST"
VS_SKU = "PREMIUM_VECTOR_SEARCH_ENDPOINT_US_EAST"
GPU_SKU = "PREMIUM_GPU_SERVERLESS_COMPUTE_US_EAST"
AIML_PRICES = (
    price(SERVING_SKU, at(date(2026, 1, 1)), None, "0.07"),
    price(VS_SKU, at(date(2026, 1, 1)), None, "0.28"),
    price(GPU_SKU, at(date(2026, 1, 1)), None, "0.65"),
)
JOB7 = {"job_id": "7"}
ALICE = {"run_as": "alice@x"}
DATA = {"team": "data"}

# o1 is corrected by r1 + s1 (which arrive late in the late-correction test); u1 and u2 have no list price.
BASE_BILLING = [
    usage("o1", "10", hour=10, meta={**JOB7, "job_run_id": "70"}, identity=ALICE, tags=DATA),
    usage("o2", "5", hour=14, meta={"job_id": "8", "job_run_id": "80"}, identity={"run_as": "bob@x"}),
    usage("q1", "4", hour=9, sku=SQL_SKU, product="SQL", meta={"warehouse_id": "w1"},
          identity={"owned_by": "alice@x"}, tags={"team": "bi", "env": "prod"}),
    usage("u1", "3", hour=9, sku="NO_SUCH_SKU", meta={**JOB7, "job_run_id": "71"}, identity=ALICE),
    usage("o3", "2", day=D2, hour=1, meta={**JOB7, "job_run_id": "72"}, identity=ALICE, tags=DATA),
    usage("q2", "1", day=D2, hour=2, sku=SQL_SKU, product="SQL", meta={"warehouse_id": "w1"},
          identity={"owned_by": "alice@x"}),
    usage("u2", "1", day=D2, hour=3, sku="NO_APPS_SKU", product="APPS", identity={"created_by": "carol@x"}),
]  # fmt: skip
LATE_CORRECTION = [
    usage("r1", "-10", hour=10, record_type="RETRACTION", meta={**JOB7, "job_run_id": "70"}, identity=ALICE, tags=DATA),
    usage("s1", "12", hour=10, record_type="RESTATEMENT", meta={**JOB7, "job_run_id": "70"}, identity=ALICE, tags=DATA),
]
AIML_BILLING = [
    usage("m1", "100", sku=SERVING_SKU, product="MODEL_SERVING", meta={"endpoint_name": "chat", "endpoint_id": "ep1"}),
    usage("m2", "50", sku=SERVING_SKU, product="MODEL_SERVING", meta={"endpoint_name": "gpt", "endpoint_id": "ep2"}),
    usage("m3", "10", day=D2, sku=SERVING_SKU, product="MODEL_SERVING",
          meta={"endpoint_name": "chat", "endpoint_id": "ep1"}),
    usage("v1", "10", sku=VS_SKU, product="VECTOR_SEARCH", meta={"endpoint_name": "vs1", "endpoint_id": "vep1"}),
    usage("v2", "5", sku="NO_VS_SKU", product="VECTOR_SEARCH", meta={"endpoint_name": "vs1", "endpoint_id": "vep1"}),
    usage("f1", "2", sku=GPU_SKU, product="FOUNDATION_MODEL_TRAINING"),
    usage("j1", "10", hour=3),
]  # fmt: skip


def scoped(**fields: Any) -> dict[str, Any]:
    """A row of the scenario's one account and workspace."""
    return {"account_id": ACCOUNT, "workspace_id": WS, **fields}


JOBS = [
    scoped(job_id="7", name="etl-old", change_time=at(date(2026, 1, 1))),
    scoped(job_id="7", name="etl", change_time=at(date(2026, 2, 1))),
]


def _slice(run: str, job: str, start: Any, minutes: int, state: str | None = None, **final: Any) -> dict[str, Any]:
    end = start + timedelta(minutes=minutes)
    return scoped(job_id=job, run_id=run, period_start_time=start, period_end_time=end, result_state=state, **final)


JOB_RUNS = [
    _slice("100", "7", at(D1, 8), 60),
    _slice("100", "7", at(D1, 9), 60),
    _slice("100", "7", at(D1, 10), 30, "SUCCEEDED", run_duration_seconds=9000),
    _slice("101", "7", at(D1, 11), 20, "FAILED"),  # older rows: no run_duration_seconds
    _slice("101", "7", at(D1, 13), 10, "SUCCEEDED"),  # repaired the same day
    _slice("102", "7", at(D1, 22), 60),
    _slice("102", "7", at(D1, 23), 60),
    _slice("102", "7", at(D2, 0), 45, "FAILED", run_duration_seconds=9900),
    _slice("103", "8", at(D1, 15), 5, "CANCELLED", run_duration_seconds=300),
    _slice("104", "8", at(D2, 5), 60),  # still running
]


def _node(cluster: str, instance: str, start: Any, user: float, system: float, mem: float) -> dict[str, Any]:
    return scoped(
        cluster_id=cluster,
        instance_id=instance,
        start_time=start,
        end_time=start + timedelta(minutes=1),
        cpu_user_percent=user,
        cpu_system_percent=system,
        mem_used_percent=mem,
        network_sent_bytes=100,
        network_received_bytes=50,
    )


NODES = [
    _node("c1", "i1", at(D1, 10), 10, 5, 40),
    _node("c1", "i1", at(D1, 10, 1), 20, 10, 60),
    _node("c1", "i2", at(D1, 10), 1, 1, 20),
    _node("c1", "i2", at(D1, 10, 1), 2, 1, 30),
    _node("c2", "i3", at(D1, 12), 3, 2, 10),
    _node("c1", "i1", at(D2, 1), 50, 10, 70),
]


def _event(event_id: str, day: date, user: str, service: str, action: str, status: int = 200, **params: str) -> dict:
    return scoped(
        event_time=at(day, 9),
        event_date=day,
        user_identity={"email": user},
        service_name=service,
        action_name=action,
        request_params=list(params.items()),
        response={"status_code": status},
        event_id=event_id,
    )


ORDERS = "main.sales.orders"
AUDIT = [
    _event("e1", D1, "alice@x", "unityCatalog", "getTable", full_name_arg=ORDERS),
    _event("e2", D1, "alice@x", "unityCatalog", "getTable", full_name_arg=ORDERS),
    _event("e3", D1, "bob@x", "unityCatalog", "getTable", full_name_arg=ORDERS),
    _event("e4", D1, "bob@x", "unityCatalog", "generateTemporaryTableCredential", table_full_name=ORDERS),
    _event("e5", D1, "bob@x", "unityCatalog", "getTable", 403, full_name_arg="main.hr.salaries"),
    _event("e6", D1, "alice@x", "clusters", "start", cluster_id="c1"),
    _event("e7", D1, "alice@x", "unityCatalog", "getSchema", full_name_arg="main.sales"),
    _event("e8", D2, "alice@x", "unityCatalog", "getTable", full_name_arg=ORDERS),
]


def _entity(entity_id: str, endpoint: str, endpoint_id: str, kind: str, name: str, config: int, changed: date,
            **extra: Any) -> dict[str, Any]:  # fmt: skip
    return scoped(
        served_entity_id=entity_id,
        created_by="alice@x",
        endpoint_name=endpoint,
        endpoint_id=endpoint_id,
        served_entity_name=f"{name}-{config}",
        entity_type=kind,
        entity_name=name,
        endpoint_config_version=config,
        change_time=at(changed),
        **extra,
    )


SERVED_ENTITIES = [
    _entity("se-fm", "chat", "ep1", "FOUNDATION_MODEL", "databricks-llama", 1, date(2026, 1, 1), entity_version="1"),
    _entity("se-fm", "chat", "ep1", "FOUNDATION_MODEL", "databricks-llama", 2, date(2026, 2, 1), entity_version="2"),
    _entity("se-ext", "gpt", "ep2", "EXTERNAL_MODEL", "gpt-4o", 1, date(2026, 1, 1),
            external_model_config={"provider": "OpenAI"}),
    _entity("se-cust-old", "churn", "ep3", "CUSTOM_MODEL", "main.ml.churn", 1, date(2026, 1, 1), entity_version="2"),
    _entity("se-cust", "churn", "ep3", "CUSTOM_MODEL", "main.ml.churn", 2, date(2026, 2, 1), entity_version="3"),
]  # fmt: skip


def _request(rid: str, entity: str, day: date, tokens_in: int | None, tokens_out: int | None, status: int = 200,
             requester: str = "alice@x") -> dict[str, Any]:  # fmt: skip
    return scoped(
        databricks_request_id=rid,
        requester=requester,
        status_code=status,
        request_time=at(day, 10),
        input_token_count=tokens_in,
        output_token_count=tokens_out,
        served_entity_id=entity,
    )


ENDPOINT_USAGE = [
    _request("q1", "se-fm", D1, 10, 20),
    _request("q2", "se-fm", D1, 5, 5, requester="bob@x"),
    _request("q3", "se-fm", D1, 1, None, status=429),
    _request("q4", "se-ext", D1, 100, 50),
    _request("q5", "se-missing", D1, 1, 1),
    _request("q6", "se-fm", D2, 2, 3),
    _request("q7", "se-ext", D3, 7, 7),
]


def _run(run_id: str, exp: str, user: str, status: str, start: Any, end: Any) -> dict[str, Any]:
    return scoped(
        run_id=run_id,
        experiment_id=exp,
        created_by=user,
        status=status,
        start_time=start,
        end_time=end,
        update_time=at(D2, 12),
    )


EXPERIMENTS = [
    scoped(experiment_id="exp1", name="/Users/a/exp", create_time=at(D1)),
    scoped(experiment_id="exp2", name="/Users/b/exp", create_time=at(D1)),
]
MLFLOW_RUNS = [
    _run("run1", "exp1", "alice@x", "FINISHED", at(D1, 10), at(D1, 10, 30)),
    _run("run2", "exp1", "bob@x", "FAILED", at(D1, 11), at(D1, 11, 10)),
    _run("run3", "exp1", "alice@x", "FINISHED", at(D1, 12), at(D1, 13)),
    _run("run4", "exp3", "carol@x", "RUNNING", at(D2, 9), None),
    _run("run5", "exp1", "alice@x", "SCHEDULED", None, None),
]


def summary(spark: Any, rows: list[dict[str, Any]]) -> DataFrame:
    """``billing_summary`` of ``rows`` at the list prices of the scenario."""
    return billing_summary(usage_frame(spark, rows), prices_frame(spark, (*LIST_PRICES, *AIML_PRICES)))


def frames(spark: Any) -> dict[str, DataFrame]:
    """Every input of the gold and AI/ML models, for the registry tests."""
    return {
        "billing_summary": summary(spark, [*BASE_BILLING, *LATE_CORRECTION, *AIML_BILLING]),
        "jobs_bronze": bronze(spark, schemas.JOBS, JOBS),
        "job_runs_bronze": bronze(spark, schemas.JOB_RUN_TIMELINE, JOB_RUNS),
        "node_timeline_bronze": bronze(spark, schemas.NODE_TIMELINE, NODES),
        "audit_logs_bronze": bronze(spark, schemas.AUDIT, AUDIT),
        "served_entities_bronze": bronze(spark, schemas.SERVED_ENTITIES, SERVED_ENTITIES),
        "endpoint_usage_bronze": bronze(spark, schemas.ENDPOINT_USAGE, ENDPOINT_USAGE),
        "mlflow_experiments_bronze": bronze(spark, schemas.EXPERIMENTS_LATEST, EXPERIMENTS),
        "mlflow_runs_bronze": bronze(spark, schemas.RUNS_LATEST, MLFLOW_RUNS),
    }
