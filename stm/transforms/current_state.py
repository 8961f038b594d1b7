"""Pure current-state transforms: the latest version of every entity of an SCD2 history. No reads or writes here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from stm.catalog import OutputSpec
from stm.transforms.bronze import AUDIT_COLUMNS, row_hash


@dataclass(frozen=True)
class CurrentSpec:
    """A ``*_current`` table: the bronze SCD2 history it is built from, the entity key and the delete column."""

    source: str
    keys: tuple[str, ...]
    doc: str
    delete_column: str | None = "delete_time"
    order_by: str | None = "change_time"
    finish: str | None = None  # module.function applied to the current rows last


def current_specs(outputs: Mapping[str, OutputSpec]) -> dict[str, CurrentSpec]:
    """The current-state tables the catalog declares (``outputs`` with ``current``), by name."""
    return {
        name: CurrentSpec(c.history, tuple(c.keys), spec.why, c.delete_column, c.order_by, c.finish)
        for name, spec in outputs.items()
        if (c := spec.current) is not None
    }


def _tie_breakers(df: DataFrame, spec: CurrentSpec) -> list[Column]:
    """Newest change first; on a tie the delete, then the later ingestion, then the greater content digest wins."""
    order: list[Column] = []
    for name in (spec.order_by, spec.delete_column, *reversed(AUDIT_COLUMNS)):
        if name is not None and name in df.columns:
            order.append(F.col(name).desc_nulls_last())
    order.append(F.col("_row_hash").desc())
    return order


def current_state(history: DataFrame, spec: CurrentSpec) -> DataFrame:
    """One row per entity: its latest version, ``is_deleted``, ``first_change_time``, ``version_count``, ``_row_hash``.

    Deleted entities stay, with their delete time and ``is_deleted = true``. The result is deterministic whatever the
    order of the input rows, so a rerun over the same history yields the same rows.
    """
    hashed = row_hash(history)  # digest of the source columns only: bronze audit columns excluded
    by_entity = Window.partitionBy(*[F.col(k) for k in spec.keys])
    ranked = hashed.withColumn("_rn", F.row_number().over(by_entity.orderBy(*_tie_breakers(hashed, spec))))
    if spec.order_by is not None:
        ranked = ranked.withColumn("first_change_time", F.min(spec.order_by).over(by_entity)).withColumn(
            "version_count", F.count(F.lit(1)).over(by_entity)
        )
    latest = ranked.where(F.col("_rn") == 1).drop("_rn", "_row_hash", *AUDIT_COLUMNS)
    if spec.delete_column is not None:
        latest = latest.withColumn("is_deleted", F.col(spec.delete_column).isNotNull())
    return row_hash(latest)


def workspace_info(current: DataFrame) -> DataFrame:
    """Workspace metadata for joins, with the brief's ``workspace_identifier`` and ``account_identifier``."""
    return row_hash(
        current.drop("_row_hash")
        .withColumn("workspace_identifier", F.coalesce(F.col("workspace_name"), F.col("workspace_id")))
        .withColumn("account_identifier", F.col("account_id"))
    )
