"""Fixtures for the deploy tests: the shipped configuration, one built wheel, an in-memory workspace."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from databricks.sdk.service.catalog import ColumnInfo, TableInfo

from deploy.wheel import Wheel, build_wheel
from stm.config import Config, load_config
from tests.deploy.fake_workspace import FakeWorkspace

PROVIDER, CATCH_UP_PROVIDER, HUB = "acme_prod_eu", "globex_dev_us", "central_hub"
# the hub's cross-provider views over all_billing_summary and all_job_runs_summary, named as the local hub's tables
# the columns every table made by run_jobs has (Spark JSON struct fields, as Unity Catalog's type_json shows them)
COLUMNS: list[dict[str, Any]] = [
    {"name": "account_id", "type": "string", "nullable": True, "metadata": {}},
    {"name": "run_as", "type": "string", "nullable": True, "metadata": {}},
    {"name": "amount", "type": "decimal(38,18)", "nullable": True, "metadata": {}},
]
HUB_DERIVED = {
    "all_workspaces_billing",
    "all_workspaces_costs",
    "cross_account_dashboard",
    "cost_anomalies",
    "cost_forecast",
}


@pytest.fixture(scope="session")
def cfg() -> Config:
    return load_config()


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Wheel:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture
def fake() -> FakeWorkspace:
    states = {"billing": "ENABLE_COMPLETED", "compute": "MANAGED", "access": "AVAILABLE", "query": "AVAILABLE"}
    return FakeWorkspace(system_schemas=states)


def run_jobs(cfg: Config, fake: FakeWorkspace, target: str) -> list[str]:
    """What the provider's jobs leave behind on their first runs: every shared table, in the target's schema."""
    t = cfg.targets[target]
    catalog, schema = t.catalog or cfg.output.catalog, t.schema or cfg.output.schema
    share = cfg.shares[t.share or ""]
    for table in share.tables:
        columns = [ColumnInfo(name=f["name"], type_json=json.dumps(f), position=i) for i, f in enumerate(COLUMNS)]
        info = TableInfo(name=table, catalog_name=catalog, schema_name=schema, columns=columns)
        fake.tables[f"{catalog}.{schema}.{table}"] = info
    return [f"{schema}.{table}" for table in share.tables]


def hub_workspace(cfg: Config, share: str = "stm_monitoring") -> FakeWorkspace:
    """A hub that sees both providers' shares, each holding every declared table (their jobs ran)."""
    tables = [f"workspace_usage.{t}" for t in cfg.shares[share].tables]
    return FakeWorkspace(
        providers={
            "acme": ("aws:eu-west-1:6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", [share]),
            "globex": ("aws:us-east-1:0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", [share]),
        },
        provider_tables={("acme", share): tables, ("globex", share): tables},
    )


@pytest.fixture
def no_sleep() -> list[float]:
    """Collects the delays the code asked to sleep, without sleeping."""
    return []


def write_overlay(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "overlay.yml"
    path.write_text(text, encoding="utf-8")
    return path
