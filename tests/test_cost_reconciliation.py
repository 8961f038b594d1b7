"""Costs tie out: billing_summary, every cost_by_* table and a plain-pandas pricing of the raw system tables agree
to the cent per account, workspace and date, over a whole simulated catalog run through the local pipeline."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from deltalake import DeltaTable
from pyspark.sql import functions as F

from stm.config import Config
from tests.cost_lake import UNLISTED_SKU, base_lake, cents, store_of

Group = tuple[str, str, date]


@dataclass
class Totals:
    """Sums of one (account, workspace, date): costs over priced records (None when none is priced)."""

    cost: Decimal | None = None
    quantity: Decimal = Decimal(0)
    records: int = 0
    unpriced: int = 0

    def add(self, quantity: Decimal, cost: Decimal | None) -> None:
        self.quantity += quantity
        self.records += 1
        if cost is None:
            self.unpriced += 1
        else:
            self.cost = cost if self.cost is None else self.cost + cost


@dataclass
class Independent:
    all_records: dict[Group, Totals] = field(default_factory=lambda: defaultdict(Totals))
    job_records: dict[Group, Totals] = field(default_factory=lambda: defaultdict(Totals))


def _pandas(path: Path) -> pd.DataFrame:
    return DeltaTable(str(path)).to_pyarrow_dataset().to_table(use_threads=False).to_pandas()


def _price(pricing: dict[str, Any]) -> Decimal | None:
    effective = pricing.get("effective_list") or {}
    value = effective.get("default")
    return value if value is not None else pricing.get("default")


def price_index(prices: pd.DataFrame) -> dict[tuple[str, str, str], list[tuple[Any, Any, Decimal | None]]]:
    index: dict[tuple[str, str, str], list[tuple[Any, Any, Decimal | None]]] = defaultdict(list)
    for p in prices[prices["currency_code"] == "USD"].itertuples(index=False):
        end = None if pd.isna(p.price_end_time) else p.price_end_time
        index[(p.sku_name, p.cloud, p.usage_unit)].append((p.price_start_time, end, _price(p.pricing)))
    return index


def independent_costs(lake: Path) -> Independent:
    """The documented price rule applied record by record with Python decimals, from the raw system tables."""
    usage = _pandas(lake / "system" / "billing" / "usage").drop_duplicates("record_id")
    prices = price_index(_pandas(lake / "system" / "billing" / "list_prices"))
    out = Independent()
    for r in usage.itertuples(index=False):
        candidates = {
            price
            for start, end, price in prices.get((r.sku_name, r.cloud, r.usage_unit), [])
            if start <= r.usage_end_time and (end is None or r.usage_end_time < end) and price is not None
        }
        assert len(candidates) <= 1, f"record {r.record_id}: overlapping prices {candidates}"
        cost = r.usage_quantity * candidates.pop() if candidates else None
        group = (r.account_id, r.workspace_id, r.usage_date)
        out.all_records[group].add(r.usage_quantity, cost)
        if (r.usage_metadata or {}).get("job_id") is not None:
            out.job_records[group].add(r.usage_quantity, cost)
    return out


@pytest.fixture(scope="module")
def lake(tmp_path_factory: Any, spark: Any, cfg: Config) -> Path:
    assert not cfg.pricing.discounts  # so the net cost is the list cost, as computed below
    lake = base_lake(tmp_path_factory, spark, cfg)
    assert not (lake / "system" / "billing" / "account_prices").exists()
    return lake


@pytest.fixture(scope="module")
def expected(lake: Path) -> Independent:
    return independent_costs(lake)


def group_sums(df: Any, columns: dict[str, str]) -> dict[Group, dict[str, Any]]:
    """Per (account, workspace, date): the sum of each ``columns`` value (output name -> column of ``df``)."""
    rows = df.groupBy("account_id", "workspace_id", "usage_date").agg(
        *[F.sum(c).alias(name) for name, c in columns.items()]
    )
    return {(r.account_id, r.workspace_id, r.usage_date): r.asDict() for r in rows.collect()}


def read(spark: Any, cfg: Config, lake: Path, table: str) -> Any:
    return store_of(spark, lake).read(cfg.output_name(table))


def assert_totals_match(actual: dict, expected: dict[Group, Totals], what: str) -> None:
    assert actual.keys() == expected.keys(), what
    for group, want in expected.items():
        got = actual[group]
        assert cents(got["cost"]) == cents(want.cost), f"{what} {group}: list cost"
        assert cents(got["net"]) == cents(want.cost), f"{what} {group}: net cost"
        assert got["quantity"] == want.quantity, f"{what} {group}: quantity"
        assert got["records"] == want.records, f"{what} {group}: records"
        assert got["unpriced"] == want.unpriced, f"{what} {group}: unpriced rows"


GOLD_MEASURES = {
    "cost": "total_cost_usd",
    "net": "total_net_cost_usd",
    "quantity": "total_quantity",
    "records": "record_count",
    "unpriced": "unpriced_rows",
}


def test_billing_summary_simulated_catalog_matches_independent_pricing_to_the_cent(spark, cfg, lake, expected):
    summary = read(spark, cfg, lake, "billing_summary")
    counted = summary.withColumn("one", F.lit(1)).withColumn("no_price", F.when(~F.col("is_priced"), 1).otherwise(0))
    columns = {"cost": "estimated_cost_usd", "net": "net_cost_usd", "quantity": "usage_quantity"}
    actual = group_sums(counted, columns | {"records": "one", "unpriced": "no_price"})
    assert len(expected.all_records) >= 40  # 2 accounts x 2 workspaces x 11 days
    assert_totals_match(actual, expected.all_records, "billing_summary")


@pytest.mark.parametrize("table", ["cost_by_product", "cost_by_sku", "cost_by_user", "executive_summary"])
def test_cost_table_totals_simulated_catalog_match_independent_pricing_to_the_cent(spark, cfg, lake, expected, table):
    date_column = "summary_date" if table == "executive_summary" else "usage_date"
    df = read(spark, cfg, lake, table).withColumnRenamed(date_column, "usage_date")
    actual = group_sums(df, GOLD_MEASURES)
    assert_totals_match(actual, expected.all_records, table)


def test_cost_by_job_simulated_catalog_matches_independent_pricing_of_job_records(spark, cfg, lake, expected):
    actual = group_sums(read(spark, cfg, lake, "cost_by_job"), GOLD_MEASURES)
    assert len(expected.job_records) >= 40
    assert_totals_match(actual, expected.job_records, "cost_by_job")


def test_cost_by_tag_every_key_with_untagged_matches_independent_pricing_to_the_cent(spark, cfg, lake, expected):
    df = read(spark, cfg, lake, "cost_by_tag")
    keys = sorted(r[0] for r in df.select("tag_key").distinct().collect())
    assert keys == sorted(cfg.analytics.tag_keys)
    assert df.where(F.col("tag_value") == "untagged").count() > 0
    for key in keys:
        actual = group_sums(df.where(F.col("tag_key") == key), GOLD_MEASURES)
        assert_totals_match(actual, expected.all_records, f"cost_by_tag[{key}]")


def test_dq_unpriced_usage_simulated_catalog_counts_every_unpriced_record(spark, cfg, lake, expected):
    dq = read(spark, cfg, lake, "dq_unpriced_usage")
    actual = group_sums(dq, {"rows": "rows"})
    want = {g: t.unpriced for g, t in expected.all_records.items() if t.unpriced}
    assert sum(want.values()) >= 3  # the unlisted-SKU records appended to the simulated catalog
    assert {g: r["rows"] for g, r in actual.items()} == want
    skus = dq.select("sku_name").distinct().collect()
    assert [r[0] for r in skus] == [UNLISTED_SKU]
