"""docs/EXTENDING.md, followed: a new bronze table and two gold tables, declared in the catalog (an overlay here)
with their transforms, run end to end by the same apps as every other table."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import functions as F

from stm.config import load_config
from stm.errors import ConfigError
from stm.simulate.simulator import simulate
from stm.transforms.models import models
from streaming.apps import all_apps
from tests.cost_lake import run_jobs_named, store_of, stream

NEW_TABLES = {
    "warehouse_changes_bronze": {
        "source": "compute.warehouses",
        "mode": "stream",
        "keys": ["workspace_id", "warehouse_id", "change_time"],
        "merge": "insert_only",
        "order_by": "change_time",
        "why": "Every warehouse configuration change, kept once.",
    }
}
NEW_MODELS = {
    "cost_by_cluster": {
        "inputs": ["billing_summary"],
        "build": "tests.extending_example.cost_by_cluster",
        "keys": ["account_id", "workspace_id", "usage_date", "cluster_id"],
        "date_column": "usage_date",
        "driver": {"input": "billing_summary", "column": "usage_date"},
    },
    "warehouse_changes_per_day": {
        "inputs": ["warehouse_changes_bronze"],
        "build": "tests.extending_example.warehouse_changes_per_day",
        "keys": ["account_id", "workspace_id", "change_date"],
        "date_column": "change_date",
        "driver": {"input": "warehouse_changes_bronze", "column": "change_time", "timestamp": True},
    },
}


def _one(frame: Any) -> Any:
    row = frame.first()
    assert row is not None
    return row[0]


def test_a_bronze_table_and_gold_tables_declared_in_the_catalog_run_end_to_end(spark: Any, tmp_path: Path):
    cfg = load_config(extra={"tables": NEW_TABLES, "models": NEW_MODELS})
    apps = {a.name for a in all_apps(cfg)}
    assert {"warehouse_changes_bronze", "gold_warehouse_changes"} <= apps  # nothing else was edited
    lake = tmp_path / "lake"
    simulate(lake, accounts=1, workspaces=1, days=2, seed=3, billing_rows_per_day=20, audit_events_per_day=2)
    run_jobs_named(spark, cfg, lake, ["list_prices"])
    stream(spark, cfg, lake, ["billing_usage_bronze", "billing_summary", "warehouse_changes_bronze",
                              "gold_warehouse_changes"])  # fmt: skip
    store = store_of(spark, lake)

    billing = store.read(cfg.output_name("billing_summary"))
    by_cluster = store.read(cfg.output_name("cost_by_cluster"))
    total = _one(billing.agg(F.sum("estimated_cost_usd")))
    assert total and _one(by_cluster.agg(F.sum("total_cost_usd"))) == total
    assert by_cluster.where(F.col("cluster_id").isNotNull()).count() > 0

    changes = store.read(cfg.output_name("warehouse_changes_bronze"))
    per_day = store.read(cfg.output_name("warehouse_changes_per_day"))
    assert changes.count() > 0 and _one(per_day.agg(F.sum("changes"))) == changes.count()


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"inputs": ["billing_summary", "no_such_table"]}, "models.cost_by_cluster.inputs[1]"),
        ({"build": "not a path"}, "models.cost_by_cluster.build"),
        ({"keys": []}, "models.cost_by_cluster.keys"),
        ({"driver": {"input": "jobs_bronze", "column": "change_time"}}, "models.cost_by_cluster.driver.input"),
        ({"color": "blue"}, "models.cost_by_cluster.color"),
    ],
)
def test_a_wrong_model_entry_is_rejected_at_load_with_its_field_path(change: dict[str, Any], path: str):
    entry = {**NEW_MODELS["cost_by_cluster"], **change}
    with pytest.raises(ConfigError) as err:
        load_config(extra={"models": {"cost_by_cluster": entry}})
    assert err.value.path == path, str(err.value)


def test_a_build_naming_no_function_is_a_config_error_when_the_models_are_made():
    cfg = load_config(extra={"models": {"cost_by_cluster": {**NEW_MODELS["cost_by_cluster"], "build": "tests.nope.f"}}})
    with pytest.raises(ConfigError, match=re.escape("models.cost_by_cluster.build: no function 'tests.nope.f'")):
        models(cfg)
