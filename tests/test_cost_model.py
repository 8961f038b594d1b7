"""Golden cases of the cost model, computed by hand: corrections, price boundaries, missing and negotiated prices."""

from __future__ import annotations

import fnmatch
import re
from datetime import date
from decimal import Decimal as D
from typing import Any

import pytest
from pyspark.sql import DataFrame, Row
from pyspark.sql.types import DecimalType
from pyspark.testing import assertDataFrameEqual

from stm.config import Discount
from stm.transforms.cost_model import MONEY, billing_summary, dq_unpriced_usage, fnmatch_regex
from tests.cost_data import (
    D1,
    JOBS_SKU,
    LIST_PRICES,
    SQL_SKU,
    at,
    price,
    prices_frame,
    usage,
    usage_frame,
)

PRICED = ("record_id", "usage_quantity", "list_price_usd", "estimated_cost_usd", "net_cost_usd", "price_source")


def summarize(
    spark: Any, rows: list[dict[str, Any]], prices: tuple[dict[str, Any], ...] = LIST_PRICES, **kw: Any
) -> DataFrame:
    return billing_summary(usage_frame(spark, rows), prices_frame(spark, prices), **kw)


def test_billing_summary_correction_rows_signed_costs_net_to_restatement(spark):
    out = summarize(
        spark,
        [
            usage("orig", "10", record_type="ORIGINAL"),
            usage("retr", "-10", record_type="RETRACTION"),
            usage("rest", "12", record_type="RESTATEMENT"),
        ],
    )
    assertDataFrameEqual(
        out.select(*PRICED),
        [
            Row("orig", D("10"), D("0.15"), D("1.5"), D("1.5"), "list"),
            Row("retr", D("-10"), D("0.15"), D("-1.5"), D("-1.5"), "list"),
            Row("rest", D("12"), D("0.15"), D("1.8"), D("1.8"), "list"),
        ],
    )
    assert out.groupBy().sum("estimated_cost_usd").first()[0] == D("1.8")


def test_billing_summary_usage_end_at_price_change_takes_new_price(spark):
    # the old price ends and the new one starts at D1 12:00; usage rows are one hour long
    out = summarize(spark, [usage("before", "10", hour=10), usage("at", "10", hour=11), usage("after", "10", hour=12)])
    assertDataFrameEqual(
        out.select("record_id", "usage_end_time", "list_price_usd", "estimated_cost_usd"),
        [
            Row("before", at(D1, 11).replace(tzinfo=None), D("0.15"), D("1.5")),
            Row("at", at(D1, 12).replace(tzinfo=None), D("0.20"), D("2.0")),
            Row("after", at(D1, 13).replace(tzinfo=None), D("0.20"), D("2.0")),
        ],
    )


def test_billing_summary_overlapping_prices_one_row_per_record_latest_start(spark):
    overlapping = (
        price(JOBS_SKU, at(date(2026, 1, 1)), None, "0.30"),
        price(JOBS_SKU, at(date(2026, 2, 1)), None, "0.40"),
        price(JOBS_SKU, at(date(2026, 1, 15)), at(date(2026, 6, 1)), "0.35"),
    )
    rows = [usage(f"r{i}", "1", hour=i) for i in range(5)]
    out = summarize(spark, rows, overlapping)
    assert out.count() == 5
    assertDataFrameEqual(out.select("record_id", "list_price_usd"), [Row(f"r{i}", D("0.40")) for i in range(5)])


def test_billing_summary_missing_price_null_cost_counted_in_dq(spark):
    prices = (
        *LIST_PRICES,
        price("EUR_ONLY_SKU", at(date(2026, 1, 1)), None, "1.00", currency="EUR"),
    )
    out = summarize(
        spark,
        [
            usage("unknown", "3", sku="NO_SUCH_SKU"),
            usage("eur", "2", sku="EUR_ONLY_SKU"),
            usage("azure", "5", sku=SQL_SKU, product="SQL", cloud="AZURE"),
            usage("gpu", "1", unit="GPU_HOUR"),
            usage("ok", "1"),
        ],
        prices,
    )
    assertDataFrameEqual(
        out.select("record_id", "estimated_cost_usd", "net_cost_usd", "price_source", "is_priced"),
        [
            Row("unknown", None, None, None, False),
            Row("eur", None, None, None, False),
            Row("azure", None, None, None, False),
            Row("gpu", None, None, None, False),
            Row("ok", D("0.15"), D("0.15"), "list", True),
        ],
    )
    assertDataFrameEqual(
        dq_unpriced_usage(out).select("sku_name", "cloud", "usage_unit", "rows", "quantity"),
        [
            Row("NO_SUCH_SKU", "AWS", "DBU", 1, D("3")),
            Row("EUR_ONLY_SKU", "AWS", "DBU", 1, D("2")),
            Row(SQL_SKU, "AZURE", "DBU", 1, D("5")),
            Row(JOBS_SKU, "AWS", "GPU_HOUR", 1, D("1")),
        ],
    )


def test_billing_summary_effective_list_preferred_then_default(spark):
    prices = (
        price("PROMO_SKU", at(date(2026, 1, 1)), None, "0.10", effective="0.07"),
        price("OLD_SKU", at(date(2026, 1, 1)), None, "0.50", effective=None),
    )
    out = summarize(spark, [usage("promo", "10", sku="PROMO_SKU"), usage("old", "10", sku="OLD_SKU")], prices)
    assertDataFrameEqual(
        out.select("record_id", "list_price_usd", "estimated_cost_usd"),
        [Row("promo", D("0.07"), D("0.7")), Row("old", D("0.50"), D("5"))],
    )


def test_billing_summary_discounts_first_match_gives_net_keeps_list(spark):
    photon = "PREMIUM_JOBS_COMPUTE_(PHOTON)"
    prices = (
        *LIST_PRICES,
        price("PREMIUM_DLT_ADVANCED_COMPUTE", at(date(2026, 1, 1)), None, "0.36"),
        price(photon, at(date(2026, 1, 1)), None, "0.15"),
    )
    discounts = [
        Discount(percent=20, product="JOBS"),
        Discount(percent=12.5, sku_pattern="*_SQL_*"),
        Discount(percent=10, sku_pattern="*_(PHOTON)"),
        Discount(percent=50, sku_pattern="PREMIUM_*"),
    ]
    rows = [
        usage("jobs", "10"),  # product JOBS: 20 % (also matches PREMIUM_*, a later rule)
        usage("sql", "4", sku=SQL_SKU, product="SQL"),  # 12.5 %
        usage("photon", "10", sku=photon, product="ALL_PURPOSE"),  # parentheses are literal: 10 %
        usage("dlt", "2", sku="PREMIUM_DLT_ADVANCED_COMPUTE", product="DLT"),  # 50 %
        usage("none", "1", sku="NO_SUCH_SKU", product="DLT"),  # no list price: no net either
    ]
    out = summarize(spark, rows, prices, discounts=discounts)
    assertDataFrameEqual(
        out.select("record_id", "estimated_cost_usd", "net_price_usd", "net_cost_usd", "price_source"),
        [
            Row("jobs", D("1.5"), D("0.12"), D("1.2"), "discount"),
            Row("sql", D("2.2"), D("0.48125"), D("1.925"), "discount"),
            Row("photon", D("1.5"), D("0.135"), D("1.35"), "discount"),
            Row("dlt", D("0.72"), D("0.18"), D("0.36"), "discount"),
            Row("none", None, None, None, None),
        ],
    )


def test_billing_summary_account_prices_take_precedence_over_discounts(spark):
    account_prices = prices_frame(
        spark,
        [
            price(JOBS_SKU, at(date(2026, 1, 1)), None, "0.12", effective="0.10", account="acc-1"),
            price(SQL_SKU, at(date(2026, 1, 1)), None, "0.01", account="acc-other"),
        ],
    )
    rows = [
        usage("mine", "10"),
        usage("sql", "4", sku=SQL_SKU, product="SQL"),  # account price of another account: list
        usage("theirs", "10", account="acc-2"),  # no account price: list, configured discounts are not used
    ]
    out = summarize(spark, rows, account_prices=account_prices, discounts=[Discount(percent=20, product="JOBS")])
    assertDataFrameEqual(
        out.select("record_id", "estimated_cost_usd", "net_price_usd", "net_cost_usd", "price_source"),
        [
            Row("mine", D("1.5"), D("0.10"), D("1.0"), "account_prices"),
            Row("sql", D("2.2"), D("0.55"), D("2.2"), "list"),
            Row("theirs", D("1.5"), D("0.15"), D("1.5"), "list"),
        ],
    )


def test_billing_summary_run_as_falls_back_to_owner_then_creator(spark):
    rows = [
        usage("job", "1", identity={"run_as": "svc@x", "owned_by": "o@x"}, meta={"job_id": "7", "job_run_id": "70"}),
        usage("sql", "1", sku=SQL_SKU, product="SQL", identity={"owned_by": "o@x"}, meta={"warehouse_id": "w1"}),
        usage("app", "1", identity={"created_by": "c@x"}),
        usage("none", "1"),
    ]
    out = summarize(spark, rows)
    assertDataFrameEqual(
        out.select("record_id", "run_as", "job_id", "job_run_id", "warehouse_id"),
        [
            Row("job", "svc@x", "7", "70", None),
            Row("sql", "o@x", None, None, "w1"),
            Row("app", "c@x", None, None, None),
            Row("none", None, None, None, None),
        ],
    )


def test_billing_summary_cost_rounds_half_up_to_money_scale(spark):
    out = summarize(spark, [usage("tiny", "0.123456789012345678")])
    # 0.123456789012345678 * 0.15 = 0.0185185183518518517 -> 12 decimals, half up
    assert out.schema["estimated_cost_usd"].dataType == MONEY == DecimalType(38, 12)
    assert out.schema["usage_quantity"].dataType == DecimalType(38, 18)
    first = out.first()
    assert first is not None
    assert first["estimated_cost_usd"] == D("0.018518518352")
    assert first["usage_quantity"] == D("0.123456789012345678")


@pytest.mark.parametrize(
    "pattern", ["*_SQL_*", "PREMIUM_?OBS*", "[EP]*", "[!E]*", "*[*", "a[]]b", "*_(PHOTON)", "x[a-c]y", "a.b", "^$+"]
)
def test_fnmatch_regex_pattern_matches_like_fnmatchcase(pattern):
    names = [
        "PREMIUM_SQL_PRO",
        "PREMIUM_JOBS_COMPUTE",
        "ENTERPRISE_SQL_X",
        "premium_sql_x",
        "x[y",
        "a]b",
        "JOBS_(PHOTON)",
        "xby",
        "xdy",
        "a.b",
        "axb",
        "^$+",
        "",
    ]
    regex = re.compile(fnmatch_regex(pattern))
    assert [bool(regex.search(n)) for n in names] == [fnmatch.fnmatchcase(n, pattern) for n in names]
