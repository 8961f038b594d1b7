"""Pure bronze transforms: DataFrame in, DataFrame out. No reads or writes here."""

from __future__ import annotations

from datetime import datetime, timezone

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StructField, TimestampType

AUDIT_COLUMNS = ("_ingested_at", "_batch_id")


def audit_values(batch_id: int) -> list[tuple[StructField, object]]:
    """The audit columns and their values for one micro-batch (or batch run): when it was ingested, and which."""
    return [
        (StructField("_ingested_at", TimestampType()), datetime.now(timezone.utc)),
        (StructField("_batch_id", LongType()), batch_id),
    ]


def with_audit_columns(df: DataFrame, batch_id: int) -> DataFrame:
    """Stamp rows with when they were ingested and by which micro-batch (or batch run)."""
    for field, value in audit_values(batch_id):
        df = df.withColumn(field.name, F.lit(value).cast(field.dataType))
    return df


def duplicated_keys(df: DataFrame, keys: list[str]) -> DataFrame:
    """The keys that occur more than once in ``df`` (only the key columns are shuffled)."""
    return df.groupBy(*keys).count().where(F.col("count") > 1).select(*keys)


def key_census(df: DataFrame, keys: list[str], bound: str | None = None) -> DataFrame:
    """One row: ``rows`` (how many rows ``df`` has) and ``duplicated`` (the keys it holds more than once, as
    structs), from one aggregation over the key columns alone. With ``bound`` (a column a key never changes), also
    ``low`` and ``high`` (its least and greatest value) and ``nulls`` (whether some row has none)."""
    extra: list[Column] = []
    if bound is not None:
        value = F.col(bound)
        extra = [F.min(value).alias("low"), F.max(value).alias("high"), F.max(value.isNull()).alias("nulls")]
    counts = df.groupBy(*keys).agg(F.count(F.lit(1)).alias("count"), *extra)
    summary = [F.min("low").alias("low"), F.max("high").alias("high"), F.max("nulls").alias("nulls")]
    return counts.agg(
        F.coalesce(F.sum("count"), F.lit(0)).alias("rows"),
        F.collect_list(F.when(F.col("count") > 1, F.struct(*[F.col(k) for k in keys]))).alias("duplicated"),
        *(summary if bound is not None else []),
    )


def latest_per_key(
    df: DataFrame, keys: list[str], order_by: str | None, duplicated: DataFrame | None = None
) -> DataFrame:
    """One row per key: the one with the greatest ``order_by`` (ties and ``None``: any one of equal rows).

    Duplicates are rare (a record delivered twice), so only the keys are shuffled to find them; rows of unique
    keys pass through untouched and only the duplicated ones are ranked. ``duplicated``: those keys, if known.
    """
    duplicated = duplicated_keys(df, keys) if duplicated is None else duplicated
    unique_rows = df.join(F.broadcast(duplicated), on=keys, how="left_anti")
    ranked = _ranked_copies(df, keys, order_by, duplicated).where(F.col("_rn") == 1).drop("_rn")
    return unique_rows.unionByName(ranked).select(*df.columns)


def _ranked_copies(df: DataFrame, keys: list[str], order_by: str | None, duplicated: DataFrame) -> DataFrame:
    """The rows of ``duplicated`` keys, numbered per key from 1 (greatest ``order_by``) in ``_rn``."""
    order: list[Column] = [F.col(order_by).desc_nulls_last()] if order_by else [F.lit(0)]
    window = Window.partitionBy(*[F.col(k) for k in keys]).orderBy(*order)
    return df.join(F.broadcast(duplicated), on=keys, how="left_semi").withColumn("_rn", F.row_number().over(window))


def row_hash(df: DataFrame, exclude: tuple[str, ...] = AUDIT_COLUMNS) -> DataFrame:
    """Add ``_row_hash``: a digest of every source column, to write only rows that changed."""
    cols = [c for c in df.columns if c not in exclude and c != "_row_hash"]
    return df.withColumn("_row_hash", F.sha2(F.to_json(F.struct(*[F.col(c) for c in cols])), 256))


PROGRESS_SCHEMA = (
    "run_id string, app string, batch_id long, rows_in long, rows_out long, seconds double, written_at timestamp"
)


def progress_row(
    spark: SparkSession, run_id: str, app: str, batch_id: int, rows_in: int, rows_out: int, seconds: float
) -> DataFrame:
    """stream_progress's row for one micro-batch."""
    written_at = datetime.now(timezone.utc).replace(tzinfo=None)
    return spark.createDataFrame(
        [(run_id, app, batch_id, rows_in, rows_out, round(seconds, 3), written_at)], PROGRESS_SCHEMA
    )
