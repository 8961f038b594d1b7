"""Every generated Asset Bundle validates against the Databricks CLI's bundle JSON schema.

``data/databricks_bundle_schema.json.gz`` is the CLI's ``bundle/schema/jsonschema.json`` (the schema
``databricks bundle validate`` and IDEs use), compressed. Its interpolation patterns use ``\\p{L}``/``\\p{N}``
(Unicode letter and number classes), which Python's ``re`` lacks: they are rewritten to the equivalent ``re``
classes (``[^\\W\\d_]`` letters, ``[^\\W_]`` letters or digits) before validating.
"""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from deploy.bundle import bundle_files
from deploy.hub_dashboard import wanted_dashboard
from stm.config import load_config

SCHEMA = Path(__file__).resolve().parent / "data" / "databricks_bundle_schema.json.gz"
TARGETS = sorted(load_config().targets)


@pytest.fixture(scope="module")
def validator() -> Any:
    text = gzip.decompress(SCHEMA.read_bytes()).decode("utf-8")
    text = text.replace(r"[\\p{L}\\p{N}]", r"[^\\W_]").replace(r"\\p{L}", r"[^\\W\\d_]")
    assert r"\\p{" not in text, "a Unicode class the rewrite does not cover"
    schema = json.loads(text)
    return jsonschema.validators.validator_for(schema)(schema)


def bundle(target: str) -> dict[str, Any]:
    """databricks.yml as the CLI reads it: the generated YAML text, parsed."""
    tree: dict[str, Any] = yaml.safe_load(bundle_files(load_config(), target)["databricks.yml"])
    return tree


@pytest.mark.parametrize("target", TARGETS)
def test_generated_bundle_validates_against_the_cli_schema(validator: Any, target: str) -> None:
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in validator.iter_errors(bundle(target))
    ]
    assert errors == []


def test_the_schema_rejects_a_wrongly_typed_job_field(validator: Any) -> None:
    tree = copy.deepcopy(bundle(TARGETS[0]))
    job = next(iter(tree["resources"]["jobs"].values()))
    job["max_concurrent_runs"] = {"not": "a number"}
    assert not validator.is_valid(tree)
    tree = copy.deepcopy(bundle(TARGETS[0]))
    tree["resources"]["jobs"]["x"] = {"tasks": "not a list"}
    assert not validator.is_valid(tree)


def test_a_hub_bundle_carries_the_dashboard_and_the_alerts_and_no_jobs(validator: Any) -> None:
    cfg = load_config(extra={"budgets": {"acme": {"account": "acme_prod", "amount": 100}}})
    files = bundle_files(cfg, "central_hub")
    tree = yaml.safe_load(files["databricks.yml"])
    assert set(tree["resources"]) == {"dashboards", "alerts"} and "artifacts" not in tree
    dashboard = tree["resources"]["dashboards"]["cost_and_usage"]
    body = json.loads(files[dashboard["file_path"].removeprefix("./")])
    want = wanted_dashboard(
        "central_hub", "monitoring_hub", "consolidated", cfg.targets["central_hub"].warehouse_id or ""
    )
    assert body == json.loads(want.dashboard.serialized_dashboard or "")  # the body apply publishes
    assert (dashboard["dataset_catalog"], dashboard["dataset_schema"]) == ("monitoring_hub", "consolidated")
    per_budget = {f"{rule}-acme" if rule.startswith("budget_") else rule for rule in cfg.alerts.rules}
    assert set(tree["resources"]["alerts"]) == per_budget
    assert validator.is_valid(tree)
    broken = copy.deepcopy(tree)
    broken["resources"]["dashboards"]["cost_and_usage"]["embed_credentials"] = {"not": "a bool"}
    assert not validator.is_valid(broken)
    broken = copy.deepcopy(tree)
    del broken["resources"]["alerts"]["budget_over-acme"]["query_text"]  # required by the CLI
    assert not validator.is_valid(broken)


def test_without_budgets_the_hub_bundle_leaves_the_budget_alerts_and_dataset_out() -> None:
    files = bundle_files(load_config(), "central_hub")
    tree = yaml.safe_load(files["databricks.yml"])
    assert not any(name.startswith("budget_") for name in tree["resources"]["alerts"])
    body = json.loads(files["dashboards/central_hub.lvdash.json"])
    assert "budget_status" not in {d["name"] for d in body["datasets"]}
