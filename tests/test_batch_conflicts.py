"""The daily batch shares billing_summary and the gold tables with the streams: a write whose commit loses to a
concurrent one is retried alone (bounded backoff), never the whole job."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from batch.models_jobs import recompute_gold, reprice_billing
from batch.registry import BatchContext
from stm.config import Config
from stm.errors import JobFailed
from stm.store.local import LocalTableStore
from stm.store.retry import is_commit_conflict
from tests.cost_data import D1, D2, LIST_PRICES, SQL_SKU, prices_frame, usage, usage_frame

# The text Delta gives a commit that lost to a concurrent append (https://docs.delta.io/latest/concurrency-control.html,
# ConcurrentAppendException), as PySpark surfaces it.
CONFLICT = (
    "[DELTA_CONCURRENT_APPEND.WITH_PARTITION_HINT] ConcurrentAppendException: Files were added to partition "
    "[usage_date=2026-03-01] by a concurrent update. Please try the operation again."
)


class ConflictingStore(LocalTableStore):
    """A lake whose first write to each table of ``conflicting`` loses to a concurrent commit; counts every write."""

    def __init__(self, spark: Any, lake: Path, conflicting: set[str]) -> None:
        super().__init__(spark, lake)
        self.conflicting = set(conflicting)
        self.writes: Counter[str] = Counter()
        self._count = threading.Lock()  # gold tables are written by several threads at once

    def _count_write(self, name: str) -> None:
        table = name.rsplit(".", 1)[-1]
        with self._count:
            self.writes[table] += 1
            lose = table in self.conflicting
            self.conflicting.discard(table)
        if lose:
            raise RuntimeError(CONFLICT)

    def merge(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self._count_write(name)
        return super().merge(name, *args, **kwargs)

    def replace(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self._count_write(name)
        return super().replace(name, *args, **kwargs)


@pytest.fixture
def billing_ctx(spark: Any, cfg: Config, tmp_path: Path) -> BatchContext:
    """billing_usage_bronze (three records on two days) and list_prices, nothing derived yet."""
    store = ConflictingStore(spark, tmp_path / "lake", set())
    rows = [usage("r1", "10"), usage("r2", "4", day=D2), usage("r3", "2", day=D2, sku=SQL_SKU, product="SQL")]
    store.overwrite(cfg.output_name("billing_usage_bronze"), usage_frame(spark, rows))
    store.overwrite(cfg.output_name("list_prices"), prices_frame(spark, LIST_PRICES))
    store.writes.clear()
    return BatchContext(cfg, spark, store)


def test_reprice_billing_with_conflicting_silver_and_gold_commits_retries_each_write_once(billing_ctx):
    store = billing_ctx.store
    store.conflicting = {"billing_summary", "cost_by_product"}
    result = reprice_billing(billing_ctx)
    assert result.status == "ok"
    assert result.rows == 3
    assert store.writes["billing_summary"] == 2 and store.writes["cost_by_product"] == 2
    others = {t: n for t, n in store.writes.items() if t not in ("billing_summary", "cost_by_product")}
    assert others and set(others.values()) == {1}  # no other write was redone
    summary = store.read(billing_ctx.cfg.output_name("billing_summary"))
    assert sorted(r.record_id for r in summary.collect()) == ["r1", "r2", "r3"]
    products = store.read(billing_ctx.cfg.output_name("cost_by_product")).collect()
    assert sorted((r.usage_date, r.billing_origin_product) for r in products) == [
        (D1, "JOBS"),
        (D2, "JOBS"),
        (D2, "SQL"),
    ]


def test_recompute_gold_with_a_conflicting_commit_retries_that_table_alone(billing_ctx):
    store = billing_ctx.store
    reprice_billing(billing_ctx)
    first = dict(store.writes)
    store.conflicting = {"cost_by_sku"}
    result = recompute_gold(billing_ctx)
    assert result.status == "ok"
    redone = {t: n - first.get(t, 0) for t, n in store.writes.items()}
    assert redone["cost_by_sku"] == 2
    assert {n for t, n in redone.items() if t != "cost_by_sku" and n} == {1}


def test_a_conflict_retried_to_its_bound_is_not_retried_again_by_an_enclosing_retry():
    assert is_commit_conflict(RuntimeError(CONFLICT))
    given_up = JobFailed(f"replace cost_by_sku: commit still conflicting after 6 attempts: {CONFLICT}")
    assert not is_commit_conflict(given_up)
