"""Incremental equals full: streamed silver/gold after runs over new days and late corrections match a full
recompute and a one-go run over the same data; a late correction or a price change touches only its own rows.

The simulator cannot give the same data appended as in one go (each run makes its own mid-period price change and
audit retention delete), so the one-go lake is a fresh lake over a copy of the incremental lake's system catalog.

Two documented exceptions are compared apart: labels joined from a dimension at its latest version (job names,
served entity versions) are as of the run that computed the date (``stm.transforms.models``: a dimension change dirties
no date); and a retention DELETE in ``access.audit`` is skipped by the streams (bronze keeps the rows), so a fresh
lake reading the source after it lacks them.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable, write_deltalake
from pyspark.sql import functions as F

from stm.config import Config
from tests.cost_lake import (
    BILLING_APPS,
    LATE_DATES,
    UNLISTED_SKU,
    base_lake,
    by_key,
    copy_lake,
    derived_tables,
    new_records,
    newest_date,
    read_source,
    run_jobs_named,
    run_pipeline,
    snapshot,
    store_of,
    stream,
    usage_path,
)

COST_TABLES = {"billing_summary", "cost_by_product", "cost_by_sku", "cost_by_job", "cost_by_user", "cost_by_tag"}
SUMMARY_KEYS = ("account_id", "workspace_id", "usage_date", "record_id")
PRODUCT_KEYS = ("account_id", "workspace_id", "usage_date", "billing_origin_product")
_ENTITY = ("endpoint_name", "endpoint_id", "entity_name")
DIMENSION_LABELS: dict[str, tuple[str, ...]] = {
    "cost_by_job": ("job_name", "job_delete_time"),
    "endpoint_usage_summary": (*_ENTITY, "served_entity_name", "entity_type", "entity_version", "provider"),
    "foundation_model_usage": (*_ENTITY, "entity_version"),
    "external_model_usage": (*_ENTITY, "provider"),
}
AUDIT_TABLES = ("user_activity_summary", "data_access_summary")


def measures(rows: list[tuple[Any, ...]], table: str) -> list[tuple[Any, ...]]:
    """``rows`` without the columns ``table`` joins from a dimension (every measure and key column stays)."""
    labels = DIMENSION_LABELS.get(table, ())
    return sorted((tuple((c, v) for c, v in row if c not in labels) for row in rows), key=repr)


@pytest.fixture
def base(tmp_path_factory: Any, spark: Any, cfg: Config) -> Path:
    return base_lake(tmp_path_factory, spark, cfg)


@pytest.fixture
def lake(base: Path, tmp_path: Path) -> Path:
    """A private copy of the shared lake, for tests that change it."""
    return copy_lake(base, tmp_path / "lake")


def test_full_recompute_after_incremental_runs_changes_no_row(spark, cfg, lake):
    store = store_of(spark, lake)
    assert LATE_DATES  # the second run brought corrections of dates the first run had already summed
    names = derived_tables(cfg, store)
    assert set(names) >= COST_TABLES
    before = snapshot(cfg, store, names)
    results = run_jobs_named(spark, cfg, lake, ["billing_summary", "gold"])
    assert results["billing_summary"].rows == 0  # a rebuild of billing_summary from bronze changes no record
    after = snapshot(cfg, store, names)
    for name in names:
        assert measures(after[name], name) == measures(before[name], name), name
    for name in (n for n in names if n not in DIMENSION_LABELS):
        assert after[name] == before[name], name


def test_pipeline_one_run_over_same_source_matches_incremental_lake(spark, cfg, base, tmp_path):
    fresh = copy_lake(base, tmp_path / "fresh", system_only=True)
    run_pipeline(spark, cfg, fresh)
    names = derived_tables(cfg, store_of(spark, base))
    assert derived_tables(cfg, store_of(spark, fresh)) == names
    incremental = snapshot(cfg, store_of(spark, base), names)
    one_go = snapshot(cfg, store_of(spark, fresh), names)
    compared = [n for n in names if n not in AUDIT_TABLES]
    assert set(compared) >= COST_TABLES
    for name in compared:
        assert measures(one_go[name], name) == measures(incremental[name], name), name
        if name not in DIMENSION_LABELS:
            assert one_go[name] == incremental[name], name


def test_late_retraction_changes_only_its_cost_by_product_row_by_minus_its_cost(spark, cfg, lake):
    store = store_of(spark, lake)
    newest = newest_date(lake)
    day = newest - timedelta(days=10)
    usage = read_source(usage_path(lake))
    original = usage.filter(
        pc.and_(
            pc.and_(pc.equal(usage.column("usage_date"), day), pc.equal(usage.column("record_type"), "ORIGINAL")),
            pc.not_equal(usage.column("sku_name"), UNLISTED_SKU),
        )
    ).slice(0, 1)
    record = original.to_pylist()[0]
    summary = by_key(store, cfg.output_name("billing_summary"), SUMMARY_KEYS)
    priced = summary[(record["account_id"], record["workspace_id"], day, record["record_id"])]
    cost = priced["estimated_cost_usd"]
    assert cost > 0 and cost == priced["usage_quantity"] * priced["list_price_usd"]
    before = by_key(store, cfg.output_name("cost_by_product"), PRODUCT_KEYS)
    retraction = new_records(
        original,
        record_type=pa.array(["RETRACTION"]),
        usage_quantity=pc.negate(original.column("usage_quantity")).combine_chunks(),
        ingestion_date=pa.array([newest], pa.date32()),
    )
    write_deltalake(str(usage_path(lake)), retraction, mode="append")
    stream(spark, cfg, lake, BILLING_APPS)
    after = by_key(store, cfg.output_name("cost_by_product"), PRODUCT_KEYS)
    key = (record["account_id"], record["workspace_id"], day, record["billing_origin_product"])
    assert after.keys() == before.keys()
    assert {k for k in after if after[k] != before[k]} == {key}
    old, new = before[key], after[key]
    assert new["total_cost_usd"] - old["total_cost_usd"] == -cost
    assert new["total_net_cost_usd"] - old["total_net_cost_usd"] == -cost
    assert new["total_quantity"] - old["total_quantity"] == -record["usage_quantity"]
    assert new["record_count"] == old["record_count"] + 1


def _end_price(prices_path: Path, sku: str, cloud: str, at: datetime) -> None:
    """End the SKU's open list price at ``at`` in place (an UPDATE commit) and append a doubled price from ``at``."""
    prices = read_source(prices_path)
    open_rows = prices.filter(
        pc.and_(
            pc.and_(pc.equal(prices.column("sku_name"), sku), pc.equal(prices.column("cloud"), cloud)),
            pc.is_null(prices.column("price_end_time")),
        )
    )
    assert open_rows.num_rows == 1
    when = at.strftime("%Y-%m-%d %H:%M:%S")
    DeltaTable(str(prices_path)).update(
        predicate=f"sku_name = '{sku}' AND cloud = '{cloud}' AND price_end_time IS NULL",
        updates={"price_end_time": f"CAST('{when}' AS TIMESTAMP)"},
    )
    row = open_rows.to_pylist()[0]

    def doubled(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: doubled(v) for k, v in value.items()}
        return None if value is None else value * 2

    row |= {"price_start_time": at, "pricing": doubled(row["pricing"])}
    write_deltalake(str(prices_path), pa.Table.from_pylist([row], schema=open_rows.schema), mode="append")


def test_price_change_reprices_only_records_after_it_and_their_cost_by_product_rows(spark, cfg, lake):
    store = store_of(spark, lake)
    at = datetime.combine(newest_date(lake), datetime.min.time()) + timedelta(hours=12)
    summary_df = store.read(cfg.output_name("billing_summary"))
    after_change = F.col("usage_end_time") >= F.lit(at.isoformat(sep=" ")).cast("timestamp")  # session zone: UTC
    top = (
        summary_df.where(after_change & F.col("is_priced"))
        .groupBy("sku_name", "cloud")
        .count()
        .orderBy(F.desc("count"), "sku_name", "cloud")
        .first()
    )
    assert top is not None
    sku, cloud = top["sku_name"], top["cloud"]
    is_affected = (F.col("sku_name") == sku) & (F.col("cloud") == cloud) & after_change
    affected = {tuple(r) for r in summary_df.where(is_affected).select(*SUMMARY_KEYS).collect()}
    assert affected
    before = by_key(store, cfg.output_name("billing_summary"), SUMMARY_KEYS)
    before_product = by_key(store, cfg.output_name("cost_by_product"), PRODUCT_KEYS)
    _end_price(lake / "system" / "billing" / "list_prices", sku, cloud, at)
    results = run_jobs_named(spark, cfg, lake, ["list_prices", "billing_summary"])
    assert results["billing_summary"].rows == len(affected)
    after = by_key(store, cfg.output_name("billing_summary"), SUMMARY_KEYS)
    assert after.keys() == before.keys()
    assert {k for k in after if after[k] != before[k]} == affected
    delta: dict[tuple[Any, ...], Decimal] = defaultdict(Decimal)
    for k in affected:
        old, new = before[k], after[k]
        assert new["list_price_usd"] == 2 * old["list_price_usd"]
        assert new["estimated_cost_usd"] == new["net_cost_usd"] == 2 * old["estimated_cost_usd"]
        delta[tuple(old[c] for c in PRODUCT_KEYS)] += old["estimated_cost_usd"]
    after_product = by_key(store, cfg.output_name("cost_by_product"), PRODUCT_KEYS)
    assert after_product.keys() == before_product.keys()
    assert {k for k in after_product if after_product[k] != before_product[k]} == set(delta)
    for k, more in delta.items():
        assert after_product[k]["total_cost_usd"] - before_product[k]["total_cost_usd"] == more
        assert after_product[k]["total_net_cost_usd"] - before_product[k]["total_net_cost_usd"] == more
