"""Query cost attribution: each SQL warehouse's billed cost per clock hour, shared among the statements that executed
in that hour by their execution time. Pure transforms; no reads or writes here.

The rules (docs/ATTRIBUTION.md explains them with their limits):

- A warehouse-hour's cost is the sum of its ``billing_summary`` rows (every record type, so corrections net out),
  bucketed by the UTC clock hour of ``usage_start_time``: list (``cost_usd``) and negotiated (``net_cost_usd``).
- A statement executes from ``end_time - execution_duration_ms`` to ``end_time`` (``end_time`` excludes the result
  fetch; queueing and compilation come before execution), clipped to ``start_time``. A statement spanning hours gets
  a piece in each hour, weighted by its microseconds in that hour.
- Each hour's cost is split among its pieces in proportion to their microseconds, exactly: amounts are counted in
  units of 10^-12 USD (the scale of ``MONEY``), each piece gets the floor of its share and the units left over go one
  each to the largest remainders (ties: the smaller statement id), so the pieces add up to the hour's cost exactly.
- An hour with cost and no executing statement stays on the warehouse: an idle row (``statement_id`` NULL,
  ``is_idle_warehouse`` true), never dropped. A statement in an hour with no billing row yet has NULL cost.
- Only warehouses of this workspace's region are attributed (``warehouses_bronze`` holds them; billing is
  account-wide, query history regional), so another region's warehouse is not booked as idle here.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType, StructType

from stm.transforms.cost_model import MONEY
from stm.transforms.gold import SCOPE
from stm.transforms.rollups import utc_date

WAREHOUSE = (*SCOPE, "warehouse_id")
HOUR_US = 3_600_000_000
MONEY_SCALE = 12  # MONEY is DECIMAL(38,12): amounts are allocated in units of 10^-12 USD
QUERY_COST_TABLES = ("query_cost", "query_cost_by_user", "query_cost_by_source")
AMOUNTS = ("cost_usd", "net_cost_usd")
# query_source fields in priority order: the first one set names the statement's source
SOURCES = (
    ("job", "job_info.job_id"),
    ("pipeline", "pipeline_info.pipeline_id"),
    ("alert", "alert_id"),
    ("dashboard", "dashboard_id"),
    ("legacy_dashboard", "legacy_dashboard_id"),
    ("genie", "genie_space_id"),
    ("notebook", "notebook_id"),
    ("sql_query", "sql_query_id"),
)
SQL_EDITOR = "Databricks SQL Editor"
IDLE = "idle_warehouse"


def hour_start(ts: Column) -> Column:
    """The UTC clock hour a timestamp falls in, whatever the session time zone."""
    micros = F.unix_micros(ts)
    return F.timestamp_micros(micros - F.pmod(micros, F.lit(HOUR_US)))


def to_units(amount: Column) -> Column:
    """A ``MONEY`` amount as a whole number of 10^-12 USD (LONG), exact: |amount| < 9.2 million USD per hour."""
    millionths = (amount.cast(DecimalType(26, 12)) * F.lit(10**6).cast(DecimalType(7, 0))).cast(DecimalType(26, 6))
    return (millionths * F.lit(10**6).cast(DecimalType(7, 0))).cast("long")


def from_units(units: Column) -> Column:
    """The inverse of :func:`to_units`: exact, as ``MONEY``."""
    return (units.cast(DecimalType(20, 0)) / F.lit(10**MONEY_SCALE).cast(DecimalType(13, 0))).cast(MONEY)


def warehouse_hours(billing_summary: DataFrame, warehouses: DataFrame) -> DataFrame:
    """Billed list and net cost per warehouse and UTC hour, corrections netted, for this region's warehouses.

    ``unpriced_rows`` counts the hour's rows without a list price (an hour whose rows are all unpriced has NULL
    cost, never 0).
    """
    regional = warehouses.select("workspace_id", "warehouse_id").distinct()
    rows = billing_summary.where(F.col("warehouse_id").isNotNull()).join(
        F.broadcast(regional), ["workspace_id", "warehouse_id"], "left_semi"
    )
    return rows.groupBy(*WAREHOUSE, hour_start(F.col("usage_start_time")).alias("hour_start")).agg(
        F.sum("estimated_cost_usd").cast(MONEY).alias("cost_usd"),
        F.sum("net_cost_usd").cast(MONEY).alias("net_cost_usd"),
        F.count(F.when(~F.col("is_priced"), 1)).alias("unpriced_rows"),
    )


def _field(df: DataFrame, path: str) -> Column:
    """``query_source.<path>`` as a string column, NULL when this snapshot of the schema lacks the field."""
    dtype = df.schema["query_source"].dataType
    for part in path.split("."):
        if not isinstance(dtype, StructType) or part not in dtype.fieldNames():
            return F.lit(None).cast("string")
        dtype = dtype[part].dataType
    return F.col(f"query_source.{path}").cast("string")


def statement_source(history: DataFrame) -> tuple[Column, Column]:
    """``(source_type, source_id)``: the first ``query_source`` entity set (``SOURCES`` order); else the SQL editor
    (``ad_hoc``), another named client application (``client``, its name as id), or ``ad_hoc``."""
    kind: Column | None = None
    ident: Column | None = None
    for name, path in SOURCES:
        value = _field(history, path)
        kind = F.when(value.isNotNull(), F.lit(name)) if kind is None else kind.when(value.isNotNull(), F.lit(name))
        ident = value if ident is None else F.coalesce(ident, value)
    assert kind is not None and ident is not None
    app = F.col("client_application")
    is_client = app.isNotNull() & (app != SQL_EDITOR)
    kind = kind.when(is_client, F.lit("client")).otherwise(F.lit("ad_hoc"))
    return kind, F.coalesce(ident, F.when(is_client, app))


def statement_pieces(history: DataFrame) -> DataFrame:
    """One row per statement and UTC hour it executed in, with ``exec_us``: its execution microseconds in that hour.

    Statements not on a warehouse, still running (no ``end_time``) or with no execution time have no pieces.
    """
    end_us = F.unix_micros("end_time")
    exec_us = F.least(F.col("execution_duration_ms") * 1000, end_us - F.unix_micros("start_time"))
    source_type, source_id = statement_source(history)
    statements = (
        history.where(
            F.col("compute.warehouse_id").isNotNull()
            & F.col("end_time").isNotNull()
            & (F.col("execution_duration_ms") > 0)
        )
        .select(
            *SCOPE,
            F.col("compute.warehouse_id").alias("warehouse_id"),
            "statement_id",
            "executed_by",
            source_type.alias("source_type"),
            source_id.alias("source_id"),
            "client_application",
            "statement_type",
            "execution_status",
            "start_time",
            "end_time",
            (end_us - exec_us).alias("_from_us"),
            end_us.alias("_to_us"),
        )
        .where(F.col("_to_us") > F.col("_from_us"))
    )
    first = F.col("_from_us") - F.pmod(F.col("_from_us"), F.lit(HOUR_US))
    last = (F.col("_to_us") - 1) - F.pmod(F.col("_to_us") - 1, F.lit(HOUR_US))
    hours = F.sequence(first, last, F.lit(HOUR_US))
    pieces = statements.withColumn("_hour_us", F.explode(hours))
    overlap = F.least(F.col("_to_us"), F.col("_hour_us") + HOUR_US) - F.greatest(F.col("_from_us"), F.col("_hour_us"))
    return (
        pieces.withColumn("exec_us", overlap)
        .withColumn("hour_start", F.timestamp_micros(F.col("_hour_us")))
        .drop("_from_us", "_to_us", "_hour_us")
    )


def allocate(pieces: DataFrame, group: list[str], weight: str, amount: str, order: str) -> DataFrame:
    """Add ``<amount>_share``: ``amount`` (a per-group ``MONEY`` total on every row) split over the group's rows in
    proportion to ``weight`` (LONG, > 0), by the largest-remainder rule at 10^-12 USD: the shares add up to the
    total exactly. Ties between equal remainders go to the smaller ``order``. NULL total: NULL shares.

    Whole numbers throughout: ``units * weight`` fits DECIMAL(38,0) and ``div`` is integer division, so no step
    depends on decimal rounding or on ``spark.sql.decimalOperations.allowPrecisionLoss``.
    """
    p = f"_{amount}"
    total_units = to_units(F.col(amount))
    by_group = Window.partitionBy(*group)
    staged = (
        pieces.withColumn(f"{p}_sign", F.when(total_units < 0, F.lit(-1)).otherwise(F.lit(1)).cast("long"))
        .withColumn(f"{p}_units", F.abs(total_units))
        .withColumn(f"{p}_num", (F.col(f"{p}_units").cast(DecimalType(19, 0)) * F.col(weight).cast(DecimalType(19, 0))))
        .withColumn(f"{p}_den", F.sum(weight).over(by_group).cast(DecimalType(19, 0)))
        .withColumn(f"{p}_floor", F.expr(f"`{p}_num` div `{p}_den`").cast("long"))
        .withColumn(f"{p}_rem", F.pmod(F.col(f"{p}_num"), F.col(f"{p}_den")))
    )
    left_over = F.col(f"{p}_units") - F.sum(f"{p}_floor").over(by_group)
    rank = F.row_number().over(by_group.orderBy(F.col(f"{p}_rem").desc(), F.col(order).asc()))
    share = (F.col(f"{p}_floor") + F.when(rank <= left_over, F.lit(1)).otherwise(F.lit(0))) * F.col(f"{p}_sign")
    temporary = [f"{p}_{s}" for s in ("sign", "units", "num", "den", "floor", "rem")]
    return staged.withColumn(f"{amount}_share", from_units(share)).drop(*temporary)


def query_cost_hourly(billing_summary: DataFrame, warehouses: DataFrame, history: DataFrame) -> DataFrame:
    """Statement pieces with their share of the hour's list and net cost, plus one idle row per billed hour with no
    statement executing.

    One full outer join of pieces and billed hours reads query history once: an hour no piece matches comes out as
    a row without a statement (the idle row, which keeps the hour's whole cost); an unbilled piece has NULL cost."""
    key = [*WAREHOUSE, "hour_start"]
    hours = warehouse_hours(billing_summary, warehouses).select(*key, *AMOUNTS)
    joined = statement_pieces(history).join(hours, key, "full_outer")
    for amount in AMOUNTS:
        joined = allocate(joined, key, "exec_us", amount, "statement_id")
    idle = F.col("statement_id").isNull()
    return (
        joined.withColumns({a: F.when(idle, F.col(a)).otherwise(F.col(f"{a}_share")) for a in AMOUNTS})
        .withColumn("source_type", F.when(idle, F.lit(IDLE)).otherwise(F.col("source_type")))
        .withColumn("exec_us", F.coalesce(F.col("exec_us"), F.lit(0).cast("long")))
        .drop(*[f"{a}_share" for a in AMOUNTS])
    )


def query_cost(billing_summary: DataFrame, warehouses: DataFrame, history: DataFrame) -> DataFrame:
    """Cost per statement and UTC date (a statement running over midnight has a row on each date); idle rows per
    warehouse and date. Every row has ``is_idle_warehouse``; costs are ``MONEY``, NULL until the hour is billed."""
    hourly = query_cost_hourly(billing_summary, warehouses, history).withColumn(
        "usage_date", utc_date(F.col("hour_start"))
    )
    described = [
        "executed_by",
        "source_type",
        "source_id",
        "client_application",
        "statement_type",
        "execution_status",
        "start_time",
        "end_time",
    ]
    return (
        hourly.groupBy(*WAREHOUSE, "usage_date", "statement_id")
        .agg(
            *[F.first(c, ignorenulls=True).alias(c) for c in described],
            (F.sum("exec_us") / 1e6).alias("execution_seconds"),
            F.count(F.lit(1)).alias("hours"),
            *[F.sum(a).cast(MONEY).alias(a) for a in AMOUNTS],
        )
        .withColumn("is_idle_warehouse", F.col("statement_id").isNull())
    )


def _rollup(per_statement: DataFrame, *keys: str) -> DataFrame:
    return per_statement.groupBy(*WAREHOUSE, "usage_date", *keys, "is_idle_warehouse").agg(
        F.count("statement_id").alias("statements"),
        F.sum("execution_seconds").alias("execution_seconds"),
        *[F.sum(a).cast(MONEY).alias(a) for a in AMOUNTS],
    )


def query_cost_by_user(per_statement: DataFrame) -> DataFrame:
    """``query_cost`` per warehouse, date and ``executed_by`` (idle rows: ``executed_by`` NULL, flagged idle)."""
    return _rollup(per_statement, "executed_by")


def query_cost_by_source(per_statement: DataFrame) -> DataFrame:
    """``query_cost`` per warehouse, date and source (job, dashboard, Genie space, notebook, saved query, client
    application, ad hoc; ``idle_warehouse`` for idle rows)."""
    return _rollup(per_statement, "source_type", "source_id")
