"""``focus_costs``: billing records in the FinOps Open Cost and Usage Specification (FOCUS) 1.2 column set. Pure.

One row per priced ``billing_summary`` record (corrections included, flagged ``ChargeClass = 'Correction'``). The
mapping, column by column, is in docs/FOCUS.md; the columns below follow it in the specification's (alphabetical)
order, then the ``x_`` columns the specification allows a provider to add.

FOCUS requires ``BilledCost`` and the other cost columns to be non-null, so a record without a list price is left
out (it is counted in ``dq_unpriced_usage``, never exported as 0); :func:`unpriced_records` counts them.
"""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from stm.transforms.governance import resource_columns

FOCUS_TABLE = "focus_costs"
FOCUS_VERSION = "1.2"
PROVIDER = "Databricks"
CURRENCY = "USD"
CORRECTIONS = ("RETRACTION", "RESTATEMENT")
# billing_origin_product -> (ServiceCategory, ServiceSubcategory), values from FOCUS 1.2's allowed lists
SERVICE_CATEGORIES: dict[str, tuple[str, str]] = {
    "JOBS": ("Analytics", "Data Processing"),
    "ALL_PURPOSE": ("Analytics", "Data Processing"),
    "INTERACTIVE": ("Analytics", "Data Processing"),
    "DLT": ("Analytics", "Data Processing"),
    "LAKEFLOW_CONNECT": ("Analytics", "Data Processing"),
    "BASE_ENVIRONMENTS": ("Analytics", "Data Processing"),
    "SQL": ("Databases", "Data Warehouses"),
    "DATABASE": ("Databases", "Relational Databases"),
    "ONLINE_TABLES": ("Databases", "Relational Databases"),
    "MODEL_SERVING": ("AI and Machine Learning", "AI Platforms"),
    "AI_RUNTIME": ("AI and Machine Learning", "AI Platforms"),
    "FOUNDATION_MODEL_TRAINING": ("AI and Machine Learning", "Machine Learning"),
    "AI_GATEWAY": ("AI and Machine Learning", "Generative AI"),
    "AI_FUNCTIONS": ("AI and Machine Learning", "Generative AI"),
    "AGENT_BRICKS": ("AI and Machine Learning", "Generative AI"),
    "VECTOR_SEARCH": ("Analytics", "Search"),
    "DATA_SHARING": ("Analytics", "Analytics Platforms"),
    "CLEAN_ROOM": ("Analytics", "Analytics Platforms"),
    "DEFAULT_STORAGE": ("Storage", "Object Storage"),
    "NETWORKING": ("Networking", "Network Connectivity"),
    "APPS": ("Web", "Application Platforms"),
    "LAKEHOUSE_MONITORING": ("Management and Governance", "Observability"),
    "DATA_QUALITY_MONITORING": ("Management and Governance", "Observability"),
    "DATA_CLASSIFICATION": ("Management and Governance", "Data Governance"),
    "FINE_GRAINED_ACCESS_CONTROL": ("Management and Governance", "Data Governance"),
    "PREDICTIVE_OPTIMIZATION": ("Management and Governance", "Other (Management and Governance)"),
}
OTHER_SERVICE = ("Other", "Other (Other)")
CATEGORY = {product: pair[0] for product, pair in SERVICE_CATEGORIES.items()}
SUBCATEGORY = {product: pair[1] for product, pair in SERVICE_CATEGORIES.items()}
# the resource types of stm.transforms.governance.RESOURCE_IDS as FOCUS ResourceType values
RESOURCE_TYPES = {
    "warehouse": "SQL Warehouse",
    "serving_endpoint": "Serving Endpoint",
    "pipeline": "Pipeline",
    "job": "Job",
    "cluster": "Cluster",
    "notebook": "Notebook",
}
FOCUS_COLUMNS = (
    "AvailabilityZone", "BilledCost", "BillingAccountId", "BillingAccountName", "BillingAccountType",
    "BillingCurrency", "BillingPeriodEnd", "BillingPeriodStart", "CapacityReservationId", "CapacityReservationStatus",
    "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargeFrequency", "ChargePeriodEnd", "ChargePeriodStart",
    "CommitmentDiscountCategory", "CommitmentDiscountId", "CommitmentDiscountName", "CommitmentDiscountQuantity",
    "CommitmentDiscountStatus", "CommitmentDiscountType", "CommitmentDiscountUnit", "ConsumedQuantity",
    "ConsumedUnit", "ContractedCost", "ContractedUnitPrice", "EffectiveCost", "InvoiceId", "InvoiceIssuerName",
    "ListCost", "ListUnitPrice", "PricingCategory", "PricingCurrency", "PricingCurrencyContractedUnitPrice",
    "PricingCurrencyEffectiveCost", "PricingCurrencyListUnitPrice", "PricingQuantity", "PricingUnit",
    "ProviderName", "PublisherName", "RegionId", "RegionName", "ResourceId", "ResourceName", "ResourceType",
    "ServiceCategory", "ServiceName", "ServiceSubcategory", "SkuId", "SkuMeter", "SkuPriceDetails", "SkuPriceId",
    "SubAccountId", "SubAccountName", "SubAccountType", "Tags",
)  # fmt: skip
EXTRA_COLUMNS = ("x_RecordId", "x_RecordType", "x_UsageDate", "x_UsageType", "x_PriceSource", "x_FocusVersion")
DATE = "x_UsageDate"


def _midnight(day: Column) -> Column:
    """00:00 UTC of a DATE, whatever the session time zone."""
    return F.timestamp_seconds(F.unix_date(day).cast("long") * 86400)


def _lookup(mapping: Mapping[str, str], key: Column) -> Column:
    """``mapping[key]`` as a column: NULL for a key it lacks (or a NULL key)."""
    return F.create_map(*[F.lit(v) for pair in mapping.items() for v in pair])[key]


def unpriced_records(billing_summary: DataFrame) -> int:
    return billing_summary.where(~F.col("is_priced")).count()


def focus_costs(billing_summary: DataFrame, workspaces: DataFrame | None = None) -> DataFrame:
    """Every priced billing record as a FOCUS 1.2 row (``workspaces``: names for ``SubAccountName``)."""
    rows = billing_summary.where(F.col("is_priced"))
    if workspaces is not None:
        names = workspaces.groupBy("workspace_id").agg(F.max("workspace_name").alias("_workspace_name"))
        rows = rows.join(F.broadcast(names), ["workspace_id"], "left")
    else:
        rows = rows.withColumn("_workspace_name", F.lit(None).cast("string"))
    product = F.col("billing_origin_product")
    month = F.trunc("usage_date", "month")
    kind, resource_id = resource_columns(rows)
    resource_type = _lookup(RESOURCE_TYPES, kind)
    endpoint_name = F.col("endpoint_name") if "endpoint_name" in rows.columns else F.lit(None).cast("string")
    tags = F.when(F.size(F.col("custom_tags")) > 0, F.to_json("custom_tags"))
    none = F.lit(None).cast("string")
    values: dict[str, Column] = {
        "AvailabilityZone": none,
        "BilledCost": F.col("net_cost_usd"),
        "BillingAccountId": F.col("account_id"),
        "BillingAccountName": none,
        "BillingAccountType": F.lit("Account"),
        "BillingCurrency": F.lit(CURRENCY),
        "BillingPeriodEnd": _midnight(F.add_months(month, 1)),
        "BillingPeriodStart": _midnight(month),
        "CapacityReservationId": none,
        "CapacityReservationStatus": none,
        "ChargeCategory": F.lit("Usage"),
        "ChargeClass": F.when(F.col("record_type").isin(*CORRECTIONS), F.lit("Correction")),
        "ChargeDescription": F.concat_ws(" ", F.col("sku_name"), F.lit("usage in"), F.col("usage_unit")),
        "ChargeFrequency": F.lit("Usage-Based"),
        "ChargePeriodEnd": F.col("usage_end_time"),
        "ChargePeriodStart": F.col("usage_start_time"),
        "CommitmentDiscountCategory": none,
        "CommitmentDiscountId": none,
        "CommitmentDiscountName": none,
        "CommitmentDiscountQuantity": F.lit(None).cast("decimal(38,18)"),
        "CommitmentDiscountStatus": none,
        "CommitmentDiscountType": none,
        "CommitmentDiscountUnit": none,
        "ConsumedQuantity": F.col("usage_quantity"),
        "ConsumedUnit": F.col("usage_unit"),
        "ContractedCost": F.col("net_cost_usd"),
        "ContractedUnitPrice": F.col("net_price_usd"),
        "EffectiveCost": F.col("net_cost_usd"),
        "InvoiceId": none,
        "InvoiceIssuerName": F.lit(PROVIDER),
        "ListCost": F.col("estimated_cost_usd"),
        "ListUnitPrice": F.col("list_price_usd"),
        "PricingCategory": F.lit("Standard"),
        "PricingCurrency": F.lit(CURRENCY),
        "PricingCurrencyContractedUnitPrice": F.col("net_price_usd"),
        "PricingCurrencyEffectiveCost": F.col("net_cost_usd"),
        "PricingCurrencyListUnitPrice": F.col("list_price_usd"),
        "PricingQuantity": F.col("usage_quantity"),
        "PricingUnit": F.col("usage_unit"),
        "ProviderName": F.lit(PROVIDER),
        "PublisherName": F.lit(PROVIDER),
        "RegionId": none,
        "RegionName": none,
        "ResourceId": resource_id,
        "ResourceName": F.when(resource_type == "Serving Endpoint", endpoint_name),
        "ResourceType": resource_type,
        "ServiceCategory": F.coalesce(_lookup(CATEGORY, product), F.lit(OTHER_SERVICE[0])),
        "ServiceName": product,
        "ServiceSubcategory": F.coalesce(_lookup(SUBCATEGORY, product), F.lit(OTHER_SERVICE[1])),
        "SkuId": F.col("sku_name"),
        "SkuMeter": F.col("usage_unit"),
        "SkuPriceDetails": none,
        "SkuPriceId": F.concat_ws("|", F.col("sku_name"), F.col("cloud"), F.col("usage_unit")),
        "SubAccountId": F.col("workspace_id"),
        "SubAccountName": F.col("_workspace_name"),
        "SubAccountType": F.lit("Workspace"),
        "Tags": tags,
        "x_RecordId": F.col("record_id"),
        "x_RecordType": F.col("record_type"),
        "x_UsageDate": F.col("usage_date"),
        "x_UsageType": F.col("usage_type"),
        "x_PriceSource": F.col("price_source"),
        "x_FocusVersion": F.lit(FOCUS_VERSION),
    }
    assert tuple(values) == (*FOCUS_COLUMNS, *EXTRA_COLUMNS)
    return rows.select(*[column.alias(name) for name, column in values.items()])
