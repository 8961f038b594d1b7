"""What the simulated lake holds: corrections, duplicates, change commits, schema growth, SCD2 and joins."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from tests.test_simulate_support import commits, operations, read, small_lake

CORRECTION_FIELDS = ("record_id", "usage_quantity", "record_type", "ingestion_date")


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_lake(tmp_path_factory)


@pytest.fixture(scope="module")
def usage(lake: Path) -> list[dict[str, Any]]:
    return read(lake, "billing.usage").to_pylist()


def _identity(row: dict[str, Any]) -> str:
    return repr({k: v for k, v in row.items() if k not in CORRECTION_FIELDS})


def _unique(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["record_id"]: r for r in rows}


def test_corrections_retraction_and_restatement_net_to_restated_quantity(usage: list[dict[str, Any]]) -> None:
    rows = _unique(usage).values()
    originals, restatements = defaultdict(list), {}
    for r in rows:
        if r["record_type"] == "ORIGINAL":
            originals[(_identity(r), r["usage_quantity"])].append(r)
        elif r["record_type"] == "RESTATEMENT":
            restatements[(_identity(r), r["ingestion_date"])] = r
    retractions = [r for r in rows if r["record_type"] == "RETRACTION"]
    assert retractions and restatements
    lone = 0
    for retraction in retractions:
        (original, *_) = originals[(_identity(retraction), -retraction["usage_quantity"])]
        assert retraction["ingestion_date"] > original["ingestion_date"]
        restatement = restatements.get((_identity(retraction), retraction["ingestion_date"]))
        net = original["usage_quantity"] + retraction["usage_quantity"]
        if restatement is None:
            lone += 1
            assert net == 0
        else:
            assert restatement["ingestion_date"] == retraction["ingestion_date"]
            assert net + restatement["usage_quantity"] == restatement["usage_quantity"] > 0
    assert 0 < lone < len(retractions)


def _first_commit_of(lake: Path, table: str, key: str) -> dict[str, int]:
    """key value -> version of the first append commit that wrote it (read from the commit's own files)."""
    schema, name = table.split(".")
    root = lake / "system" / schema / name
    seen: dict[str, int] = {}
    for version, actions in enumerate(commits(lake, table)):
        files = [str(root / a["add"]["path"]) for a in actions if "add" in a and a["add"].get("dataChange", True)]
        if files:
            for value in (
                ds.dataset(files, format="parquet").to_table(columns=[key], use_threads=False)[key].to_pylist()
            ):
                seen.setdefault(value, version)
    return seen


def test_corrections_land_in_a_later_commit_than_their_originals(lake: Path, usage: list[dict[str, Any]]) -> None:
    version = _first_commit_of(lake, "billing.usage", "record_id")
    by_identity = defaultdict(list)
    for r in _unique(usage).values():
        by_identity[_identity(r)].append(r)
    pairs = [
        (version[o["record_id"]], version[c["record_id"]])
        for group in by_identity.values()
        for o in group
        if o["record_type"] == "ORIGINAL"
        for c in group
        if c["record_type"] != "ORIGINAL"
    ]
    assert pairs
    assert all(late > early for early, late in pairs)


@pytest.mark.parametrize(("table", "key"), [("billing.usage", "record_id"), ("access.audit", "event_id")])
def test_redelivered_records_appear_twice_identically(lake: Path, table: str, key: str) -> None:
    rows = read(lake, table).to_pylist()
    counts = Counter(r[key] for r in rows)
    twice = {k for k, n in counts.items() if n == 2}
    assert twice
    copies = defaultdict(list)
    for r in rows:
        if r[key] in twice:
            copies[r[key]].append(r)
    assert all(a == b for a, b in copies.values())


@pytest.mark.parametrize(
    ("table", "operation"),
    [
        ("billing.list_prices", "UPDATE"),
        ("access.workspaces_latest", "UPDATE"),
        ("access.audit", "DELETE"),
        ("mlflow.runs_latest", "MERGE"),
        ("mlflow.experiments_latest", "MERGE"),
        ("billing.usage", "OPTIMIZE"),
        ("access.audit", "OPTIMIZE"),
    ],
)
def test_source_log_has_expected_non_append_commit(lake: Path, table: str, operation: str) -> None:
    assert operation in operations(lake, table)


def test_change_commits_remove_data_and_optimize_does_not(lake: Path) -> None:
    for table, op, data_change in (("billing.list_prices", "UPDATE", True), ("billing.usage", "OPTIMIZE", False)):
        for actions in commits(lake, table):
            if any(a.get("commitInfo", {}).get("operation") == op for a in actions):
                removes = [a["remove"] for a in actions if "remove" in a]
                assert removes and all(r["dataChange"] is data_change for r in removes)


def test_every_table_has_several_append_commits(lake: Path) -> None:
    for table in ("billing.usage", "access.audit", "lakeflow.job_run_timeline", "compute.clusters", "query.history"):
        assert operations(lake, table).count("WRITE") >= 3, table


def test_jobs_new_columns_absent_from_first_file_and_present_later(lake: Path) -> None:
    root = lake / "system" / "lakeflow" / "jobs"
    files = [[a["add"]["path"] for a in c if "add" in a] for c in commits(lake, "lakeflow.jobs")]
    first, last = pq.read_schema(root / files[0][0]).names, pq.read_schema(root / files[-1][0]).names
    assert "trigger" not in first and "create_time" not in first
    assert last[-9:] == ["trigger", "trigger_type", "run_as_user_name", "creator_user_name", "paused",
                         "timeout_seconds", "health_rules", "deployment", "create_time"]  # fmt: skip


@pytest.mark.parametrize(
    ("table", "key", "deleted"),
    [
        ("compute.clusters", "cluster_id", "delete_time"),
        ("compute.warehouses", "warehouse_id", "delete_time"),
        ("lakeflow.jobs", "job_id", "delete_time"),
        ("serving.served_entities", "served_entity_id", "endpoint_delete_time"),
    ],
)
def test_scd2_tables_keep_versions_and_mark_deletes_on_last(lake: Path, table: str, key: str, deleted: str) -> None:
    versions = defaultdict(list)
    for r in read(lake, table).to_pylist():
        versions[(r["workspace_id"], r[key])].append(r)
    assert any(len(v) >= 2 for v in versions.values())
    deletes = 0
    for rows in versions.values():
        rows.sort(key=lambda r: r["change_time"])
        assert all(r[deleted] is None for r in rows[:-1])
        deletes += rows[-1][deleted] is not None
    assert deletes


def test_billing_rows_are_hourly_and_dated_by_start(usage: list[dict[str, Any]]) -> None:
    for r in usage:
        start = r["usage_start_time"]
        assert (start.minute, start.second) == (0, 0)
        assert r["usage_end_time"] - start == dt.timedelta(hours=1)
        assert r["usage_date"] == start.date()


def test_billing_owned_by_only_on_sql_and_job_id_never_on_all_purpose(usage: list[dict[str, Any]]) -> None:
    products = Counter(r["billing_origin_product"] for r in usage)
    assert {"JOBS", "SQL", "ALL_PURPOSE", "MODEL_SERVING", "VECTOR_SEARCH", "FOUNDATION_MODEL_TRAINING"} <= set(
        products
    )
    assert {r["billing_origin_product"] for r in usage if r["identity_metadata"]["owned_by"]} == {"SQL"}
    assert all(r["usage_metadata"]["job_id"] is None for r in usage if r["billing_origin_product"] == "ALL_PURPOSE")
    assert any(not r["custom_tags"] for r in usage) and any(r["custom_tags"] for r in usage)


def _keys(lake: Path, table: str, *columns: str) -> set[tuple[Any, ...]]:
    return {tuple(r[c] for c in columns) for r in read(lake, table).select(list(columns)).to_pylist()}


def test_billing_ids_exist_in_dimension_tables_of_same_workspace(lake: Path, usage: list[dict[str, Any]]) -> None:
    jobs = _keys(lake, "lakeflow.jobs", "workspace_id", "job_id")
    runs = _keys(lake, "lakeflow.job_run_timeline", "workspace_id", "run_id")
    warehouses = _keys(lake, "compute.warehouses", "workspace_id", "warehouse_id")
    clusters = _keys(lake, "compute.clusters", "workspace_id", "cluster_id")
    endpoints = _keys(lake, "serving.served_entities", "workspace_id", "endpoint_id", "endpoint_name")
    checked: Counter[str] = Counter()
    for r in usage:
        ws, meta = r["workspace_id"], r["usage_metadata"]
        if meta["job_id"]:
            assert (ws, meta["job_id"]) in jobs and (ws, meta["job_run_id"]) in runs
            checked["job"] += 1
        if meta["warehouse_id"]:
            assert (ws, meta["warehouse_id"]) in warehouses
            checked["warehouse"] += 1
        if meta["cluster_id"]:
            assert (ws, meta["cluster_id"]) in clusters
            checked["cluster"] += 1
        if r["billing_origin_product"] == "MODEL_SERVING":
            assert (ws, meta["endpoint_id"], meta["endpoint_name"]) in endpoints
            checked["endpoint"] += 1
    assert min(checked[k] for k in ("job", "warehouse", "cluster", "endpoint")) > 0


def test_endpoint_usage_refers_to_served_entities(lake: Path) -> None:
    entities = _keys(lake, "serving.served_entities", "served_entity_id")
    used = _keys(lake, "serving.endpoint_usage", "served_entity_id")
    providers = {r["external_model_config"]["provider"] for r in read(lake, "serving.served_entities").to_pylist()
                 if r["external_model_config"]}  # fmt: skip
    assert used and used <= entities
    assert providers == {"OpenAI", "Anthropic"}


def test_list_prices_cover_used_skus_and_change_mid_period(lake: Path, usage: list[dict[str, Any]]) -> None:
    prices = read(lake, "billing.list_prices").to_pylist()
    assert {(r["cloud"], r["sku_name"]) for r in usage} <= {(p["cloud"], p["sku_name"]) for p in prices}
    ended = [p for p in prices if p["price_end_time"] is not None]
    starts = {(p["cloud"], p["sku_name"], p["price_start_time"]) for p in prices}
    assert ended and all((p["cloud"], p["sku_name"], p["price_end_time"]) in starts for p in ended)


def test_job_runs_longer_than_an_hour_carry_result_only_on_last_slice(lake: Path) -> None:
    slices = defaultdict(list)
    for r in read(lake, "lakeflow.job_run_timeline").to_pylist():
        slices[(r["workspace_id"], r["run_id"])].append(r)
    long_runs = [sorted(v, key=lambda r: r["period_start_time"]) for v in slices.values() if len(v) > 1]
    assert long_runs
    for run in long_runs:
        assert all(s["result_state"] is None for s in run[:-1]) and run[-1]["result_state"] is not None
    states = Counter(v[-1]["result_state"] for v in slices.values())
    triggers = Counter(v[0]["trigger_type"] for v in slices.values())
    assert states["FAILED"] and states["SUCCEEDED"] and triggers["ONETIME_RETRY"]


def test_audit_has_account_level_events_with_workspace_zero(lake: Path) -> None:
    levels = _keys(lake, "access.audit", "workspace_id", "audit_level")
    assert ("0", "ACCOUNT_LEVEL") in levels
    assert all(level == "WORKSPACE_LEVEL" for ws, level in levels if ws != "0")


def test_usage_quantities_are_exact_decimals(usage: list[dict[str, Any]]) -> None:
    assert all(isinstance(r["usage_quantity"], Decimal) for r in usage)
    assert all(r["usage_quantity"] < 0 for r in usage if r["record_type"] == "RETRACTION")
