"""Small hand-written inputs for the cost model and gold tests: bronze rows with the exact system table schemas."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from stm.simulate import schemas

ACCOUNT = "acc-1"
WS = "1001"
JOBS_SKU = "PREMIUM_JOBS_COMPUTE"
SQL_SKU = "PREMIUM_SQL_PRO_COMPUTE_US_EAST"
D1 = date(2026, 3, 1)
D2 = date(2026, 3, 2)


def at(day: date, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=timezone.utc)


def bronze(spark: Any, schema: pa.Schema, rows: Sequence[Mapping[str, Any]]) -> DataFrame:
    """A bronze DataFrame: the system table schema plus the audit columns, missing fields NULL."""
    session: SparkSession = spark
    table = pa.Table.from_pylist([dict(r) for r in rows], schema=schema)
    df = session.createDataFrame(table)
    return df.withColumn("_ingested_at", F.current_timestamp()).withColumn("_batch_id", F.lit(0).cast("long"))


def usage(
    record_id: str,
    quantity: str,
    *,
    day: date = D1,
    hour: int = 10,
    sku: str = JOBS_SKU,
    product: str = "JOBS",
    record_type: str = "ORIGINAL",
    workspace: str = WS,
    account: str = ACCOUNT,
    tags: Mapping[str, str] | None = None,
    meta: Mapping[str, str] | None = None,
    identity: Mapping[str, str] | None = None,
    unit: str = "DBU",
    cloud: str = "AWS",
) -> dict[str, Any]:
    """One ``system.billing.usage`` row of one hour ending at ``hour + 1``."""
    start = at(day, hour)
    return {
        "account_id": account,
        "workspace_id": workspace,
        "record_id": record_id,
        "sku_name": sku,
        "cloud": cloud,
        "usage_start_time": start,
        "usage_end_time": start + timedelta(hours=1),
        "usage_date": day,
        "custom_tags": list((tags or {}).items()),
        "usage_unit": unit,
        "usage_quantity": Decimal(quantity),
        "usage_metadata": dict(meta or {}),
        "identity_metadata": dict(identity or {}),
        "record_type": record_type,
        "ingestion_date": day,
        "billing_origin_product": product,
        "usage_type": "COMPUTE_TIME",
    }


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def price(
    sku: str,
    start: datetime,
    end: datetime | None,
    default: str | None,
    effective: str | None = None,
    *,
    cloud: str = "AWS",
    unit: str = "DBU",
    currency: str = "USD",
    account: str = ACCOUNT,
) -> dict[str, Any]:
    """One ``system.billing.list_prices`` (or ``account_prices``) row."""
    return {
        "account_id": account,
        "price_start_time": start,
        "price_end_time": end,
        "sku_name": sku,
        "cloud": cloud,
        "currency_code": currency,
        "usage_unit": unit,
        "pricing": {"default": _dec(default), "effective_list": {"default": _dec(effective)}},
    }


def prices_frame(spark: Any, rows: Sequence[Mapping[str, Any]]) -> DataFrame:
    return bronze(spark, schemas.LIST_PRICES, rows)


def usage_frame(spark: Any, rows: Sequence[Mapping[str, Any]]) -> DataFrame:
    return bronze(spark, schemas.BILLING_USAGE, rows)


# The list prices of the golden cases: JOBS changes from 0.15 to 0.20 at D1 12:00; SQL is 0.55 throughout.
PRICE_CHANGE = at(D1, 12)
LIST_PRICES = (
    price(JOBS_SKU, at(date(2026, 1, 1)), PRICE_CHANGE, "0.15"),
    price(JOBS_SKU, PRICE_CHANGE, None, "0.20"),
    price(SQL_SKU, at(date(2026, 1, 1)), None, "0.55"),
)
