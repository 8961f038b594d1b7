"""The cost model: every billing record priced at list and at the negotiated rate. Pure DataFrame transforms.

Money is ``MONEY = DECIMAL(38,12)``: 26 integer digits, 12 decimals (a millionth of a cent), never a float.
``usage_quantity`` and list prices are ``DECIMAL(38,18)``; Spark types their product ``DECIMAL(77,36)``, which does
not fit, so depending on ``spark.sql.decimalOperations.allowPrecisionLoss`` it would be rounded to 6 decimals or
overflow. Instead the factors are cast to ``DECIMAL(24,12)`` (|quantity| < 10^12 units per record) and
``DECIMAL(13,10)`` (price < 1000 USD per unit, 10 decimals): their product is ``DECIMAL(38,22)``, exact under either
setting, then rounded half-up to ``MONEY``. A value outside those ranges fails loudly under ANSI mode; without ANSI
the cost becomes NULL and the row counts as unpriced, so it is never silently wrong.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType, StructType

from stm.config import Discount

MONEY = DecimalType(38, 12)
PRICE = DecimalType(38, 18)
QUANTITY = DecimalType(38, 18)
_QUANTITY_FACTOR = DecimalType(24, 12)
_PRICE_FACTOR = DecimalType(13, 10)
_DISCOUNT_FACTOR = DecimalType(20, 18)
CURRENCY = "USD"

# usage_metadata fields carried to the silver table as top-level columns.
METADATA_COLUMNS = (
    "job_id",
    "job_run_id",
    "warehouse_id",
    "cluster_id",
    "endpoint_name",
    "endpoint_id",
    "dlt_pipeline_id",
    "notebook_id",
)
_RECORD = ("account_id", "record_id")


def cost(quantity: Column, price: Column) -> Column:
    """``quantity * price`` as exact decimal arithmetic, rounded half-up to ``MONEY`` (see the module docstring)."""
    return (quantity.cast(_QUANTITY_FACTOR) * price.cast(_PRICE_FACTOR)).cast(MONEY)


def fnmatch_regex(pattern: str) -> str:
    """An anchored regex (valid in Java and Python) matching exactly what ``fnmatch.fnmatchcase`` matches.

    ``*`` any run, ``?`` one character, ``[seq]`` / ``[!seq]`` a class; everything else literal. Case-sensitive, like
    SKU names. A ``[`` with no closing ``]`` is a literal ``[``, as in ``fnmatch``.
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        i += 1
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            j = i + 1 if i < n and pattern[i] == "!" else i
            j = j + 1 if j < n and pattern[j] == "]" else j
            while j < n and pattern[j] != "]":
                j += 1
            if j >= n:
                out.append(re.escape(c))
                continue
            body, i = pattern[i:j], j + 1
            negate = body.startswith("!")
            body = body[1:] if negate else body
            # inside a class Java treats [ ] & ^ \ specially: escape them, keep '-' ranges
            escaped = "".join("\\" + ch if ch in "[]&^\\" else ch for ch in body)
            out.append("[" + ("^" if negate else "") + escaped + "]")
        else:
            out.append(re.escape(c))
    return "^(?s:" + "".join(out) + ")$"


def _price_rows(prices: DataFrame, prefix: str, *, by_account: bool) -> DataFrame:
    """USD price rows with the price to use: ``pricing.effective_list.default``, else ``pricing.default``."""
    pricing = prices.schema["pricing"].dataType
    fields = pricing.fieldNames() if isinstance(pricing, StructType) else []
    price = F.col("pricing.default")
    if "effective_list" in fields:
        price = F.coalesce(F.col("pricing.effective_list.default"), price)
    cols = [
        F.col("sku_name").alias(f"{prefix}sku"),
        F.col("cloud").alias(f"{prefix}cloud"),
        F.col("usage_unit").alias(f"{prefix}unit"),
        F.col("price_start_time").alias(f"{prefix}start"),
        F.col("price_end_time").alias(f"{prefix}end"),
        price.cast(PRICE).alias(f"{prefix}price"),
    ]
    if by_account:
        cols.append(F.col("account_id").alias(f"{prefix}account"))
    return prices.where(F.col("currency_code") == CURRENCY).select(*cols).where(F.col(f"{prefix}price").isNotNull())


def _with_price(usage: DataFrame, prices: DataFrame, name: str, *, by_account: bool) -> DataFrame:
    """Add column ``name``: the price of the one price row in force at ``usage_end_time`` (DESIGN rule 2).

    Rows whose ``[price_start_time, price_end_time)`` overlap are resolved per record: the latest
    ``price_start_time`` wins (then the later end, then the higher price), so a record is never duplicated.
    """
    p = f"_{name}_"
    rows = _price_rows(prices, p, by_account=by_account)
    end = F.col("usage_end_time")
    match = (
        (F.col("sku_name") == F.col(f"{p}sku"))
        & (F.col("cloud") == F.col(f"{p}cloud"))
        & (F.col("usage_unit") == F.col(f"{p}unit"))
        & (F.col(f"{p}start") <= end)
        & (F.col(f"{p}end").isNull() | (end < F.col(f"{p}end")))
    )
    if by_account:
        match = match & (F.col("account_id") == F.col(f"{p}account"))
    order = [F.col(f"{p}start").desc_nulls_last(), F.col(f"{p}end").desc_nulls_first(), F.col(f"{p}price").desc()]
    window = Window.partitionBy(*_RECORD).orderBy(*order)
    return (
        usage.join(F.broadcast(rows), match, "left")
        .withColumn(f"{p}rn", F.row_number().over(window))
        .where(F.col(f"{p}rn") == 1)
        .withColumn(name, F.col(f"{p}price"))
        .drop(*rows.columns, f"{p}rn")
    )


def _discount_factor(discounts: Sequence[Discount]) -> Column:
    """``1 - percent/100`` of the first discount matching the row (product, else SKU pattern); NULL if none."""
    factor: Column | None = None
    for d in discounts:
        if d.product is not None:
            cond = F.col("billing_origin_product") == d.product
        else:
            cond = F.col("sku_name").rlike(fnmatch_regex(d.sku_pattern or ""))
        value = F.lit(Decimal(1) - Decimal(str(d.percent)) / Decimal(100)).cast(_DISCOUNT_FACTOR)
        factor = F.when(cond, value) if factor is None else factor.when(cond, value)
    return factor if factor is not None else F.lit(None).cast(_DISCOUNT_FACTOR)


def billing_summary(
    usage: DataFrame,
    list_prices: DataFrame,
    *,
    account_prices: DataFrame | None = None,
    discounts: Sequence[Discount] = (),
) -> DataFrame:
    """One row per billing record, with its list cost and its net (negotiated) cost.

    Corrections are kept: a RETRACTION has a negative quantity and so a negative cost. A record with no list price
    has NULL costs and ``is_priced = false`` (never 0). The net price comes from ``account_prices`` (matched on the
    account too) when that table is given, and then configured discounts are not used (as ``conf/defaults.yml``
    says); otherwise from the first matching discount; otherwise it is the list price. ``run_as`` is
    ``identity_metadata.run_as``, else ``owned_by`` (SQL warehouses), else ``created_by`` (Apps, Agent Bricks).
    """
    meta = [F.col(f"usage_metadata.{c}").alias(c) for c in METADATA_COLUMNS]
    ident = "identity_metadata"
    base = usage.select(
        "account_id",
        "workspace_id",
        "record_id",
        "usage_date",
        "usage_start_time",
        "usage_end_time",
        "sku_name",
        "cloud",
        "usage_unit",
        F.col("usage_quantity").cast(QUANTITY).alias("usage_quantity"),
        "record_type",
        "ingestion_date",
        "billing_origin_product",
        "usage_type",
        *meta,
        F.coalesce(F.col(f"{ident}.run_as"), F.col(f"{ident}.owned_by"), F.col(f"{ident}.created_by")).alias("run_as"),
        "custom_tags",
    )
    priced = _with_price(base, list_prices, "list_price_usd", by_account=False)
    list_price = F.col("list_price_usd")
    if account_prices is not None:
        priced = _with_price(priced, account_prices, "_account_price", by_account=True)
        negotiated = F.col("_account_price")
        source = F.when(negotiated.isNotNull(), F.lit("account_prices"))
    else:
        factor = _discount_factor(discounts)
        negotiated = (list_price.cast(_PRICE_FACTOR) * factor).cast(PRICE)
        source = F.when(factor.isNotNull() & list_price.isNotNull(), F.lit("discount"))
    quantity = F.col("usage_quantity")
    out = (
        priced.withColumn("estimated_cost_usd", cost(quantity, list_price))
        .withColumn("net_price_usd", F.coalesce(negotiated, list_price))
        .withColumn("net_cost_usd", cost(quantity, F.col("net_price_usd")))
        .withColumn("price_source", source.when(list_price.isNotNull(), F.lit("list")))
        .withColumn("is_priced", F.col("estimated_cost_usd").isNotNull())
    )
    return out.drop("_account_price")


def dq_unpriced_usage(billing_summary: DataFrame) -> DataFrame:
    """Data quality: billing rows with no list price, per workspace, date and SKU (their cost is NULL, never 0)."""
    return (
        billing_summary.where(~F.col("is_priced"))
        .groupBy("account_id", "workspace_id", "usage_date", "sku_name", "cloud", "usage_unit")
        .agg(F.count(F.lit(1)).alias("rows"), F.sum("usage_quantity").alias("quantity"))
    )
