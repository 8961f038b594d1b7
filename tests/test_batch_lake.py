"""Batch test lake: helpers other batch tests import, and the write helpers' own tests (write only what changed)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from batch.jobs import replace_if_changed, same_contents, upsert_changed
from batch.registry import BatchContext
from stm.config import Config
from stm.store.local import LocalTableStore


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)


def make_ctx(
    spark: SparkSession,
    cfg: Config,
    lake: Path,
    date_from: date | None = None,
    date_to: date | None = None,
    allow_short_retention: bool = False,
) -> BatchContext:
    return BatchContext(cfg, spark, LocalTableStore(spark, lake), date_from, date_to, allow_short_retention)


def put(ctx: BatchContext, table: str, rows: list[tuple[Any, ...]], schema: str) -> None:
    """Replace the output table ``table`` with ``rows`` (a DDL schema string)."""
    ctx.store.overwrite(ctx.cfg.output_name(table), ctx.spark.createDataFrame(rows, schema))


def add(ctx: BatchContext, table: str, rows: list[tuple[Any, ...]], schema: str, keys: list[str]) -> None:
    """Insert ``rows`` (new ``keys``) into ``table`` in one commit, as a bronze app or the cost model does."""
    ctx.store.merge(ctx.cfg.output_name(table), ctx.spark.createDataFrame(rows, schema), keys, insert_only=True)


def read(ctx: BatchContext, table: str) -> DataFrame:
    return ctx.store.read(ctx.cfg.output_name(table))


def version(ctx: BatchContext, table: str) -> int | None:
    return ctx.store.version(ctx.cfg.output_name(table))


def snapshot(ctx: BatchContext, table: str) -> list[tuple[Any, ...]]:
    """The table's rows, every column but ``_updated_at``, sorted: for comparing contents across runs."""
    df = read(ctx, table)
    cols = sorted(c for c in df.columns if c != "_updated_at")
    return sorted((tuple(r) for r in df.select(*cols).collect()), key=repr)


def d(text: str) -> date:
    return date.fromisoformat(text)


def money(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))


@pytest.fixture
def ctx(spark: SparkSession, cfg: Config, tmp_path: Path) -> BatchContext:
    return make_ctx(spark, cfg, tmp_path / "lake")


ITEMS = "k string, v bigint, _row_hash string"


def test_upsert_changed_rerun_writes_no_commit_and_changed_row_only(ctx):
    target = ctx.cfg.output_name("items")
    rows = [("a", 1, "h1"), ("b", 2, "h2")]
    assert upsert_changed(ctx.store, target, ctx.spark.createDataFrame(rows, ITEMS), ["k"]).rows == 2
    first = version(ctx, "items")
    again = upsert_changed(ctx.store, target, ctx.spark.createDataFrame(rows, ITEMS), ["k"])
    assert (again.rows, again.detail, version(ctx, "items")) == (0, "unchanged", first)
    newer = ctx.spark.createDataFrame([("a", 1, "h1"), ("b", 3, "h3")], ITEMS)
    changed = upsert_changed(ctx.store, target, newer, ["k"])
    assert changed.detail == "0 new, 1 changed"
    assert sorted(read(ctx, "items").select("k", "v").collect()) == [("a", 1), ("b", 3)]


def test_replace_if_changed_same_rows_any_order_no_commit(ctx):
    target = ctx.cfg.output_name("totals")
    table = ctx.spark.createDataFrame([("x", 1), ("y", 2)], "k string, v bigint")
    replace_if_changed(ctx.store, target, table, ["k"])
    first = version(ctx, "totals")
    reordered = ctx.spark.createDataFrame([(2, "y"), (1, "x")], "v bigint, k string")
    assert replace_if_changed(ctx.store, target, reordered, ["k"]).detail == "unchanged"
    assert version(ctx, "totals") == first
    assert replace_if_changed(ctx.store, target, table.withColumn("v", F.col("v") + 1), ["k"]).rows == 2
    assert version(ctx, "totals") == (first or 0) + 1


def test_same_contents_duplicates_and_types_matter(spark):
    one = spark.createDataFrame([("x", 1)], "k string, v bigint")
    two = spark.createDataFrame([("x", 1), ("x", 1)], "k string, v bigint")
    as_int = spark.createDataFrame([("x", 1)], "k string, v int")
    assert same_contents(one, one.select("v", "k"))
    assert not same_contents(one, two)
    assert not same_contents(one, as_int)
