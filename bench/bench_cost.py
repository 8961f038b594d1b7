"""Incremental cost refresh against a full recompute, on a ~1M-row billing table, measured in one run.

Builds bronze (billing, jobs), silver billing_summary and the billing gold tables from a simulated catalog, then
appends 10,000 new usage records on the latest full day and times:
(a) the incremental refresh, three times in a row: once the billing_usage_bronze stream has ingested the new records
    (timed and printed apart), the billing_summary app (availableNow) upserts them into billing_summary and
    recomputes the gold dates they touch. (a) is the median time of that micro-batch as Spark reports it (source,
    foreachBatch, offset log): what each trigger of the long-lived app costs. The app's whole run, query start and
    stop included, is printed too;
(b) a full recompute of the same tables: billing_summary rebuilt from all of bronze, then every gold model the billing
    app maintains (what the ``gold`` job does for them), written to a second output schema.
Prints the seconds of each, the ratio a/b (target <= 0.2), whether every table is identical in both schemas, and
the peak memory of the whole process tree.

Run: ``.venv/bin/python bench/bench_cost.py [--billing-rows-per-day N] [--keep DIR]``.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, write_deltalake
from harness import bench_main
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, MapType

from stm.config import Config, load_config
from stm.simulate.simulator import simulate
from stm.store.base import StreamOptions
from stm.store.delta import TableStore
from streaming.apps import AppStats, resolve_apps
from streaming.checkpoints import Checkpoints
from streaming.derived import SILVER, Inputs, billing_models, price_billing, refresh
from streaming.runner import StreamRunner

APPEND_ROWS = 10_000
ROUNDS = 3  # successive appends, each streamed through bronze and then the billing_summary app
BRONZE_INPUTS = ("billing_usage_bronze", "jobs_bronze", "list_prices")
FULL_SCHEMA = "workspace_usage_full"


def comparable(df: DataFrame) -> DataFrame:
    """``df`` without audit columns, maps as sorted entry arrays and doubles rounded, so set operations apply."""
    cols = []
    for f in df.schema.fields:
        if f.name.startswith("_"):
            continue
        if isinstance(f.dataType, MapType):
            cols.append(F.array_sort(F.map_entries(F.col(f.name))).alias(f.name))
        elif isinstance(f.dataType, DoubleType):
            cols.append(F.round(F.col(f.name), 9).alias(f.name))
        else:
            cols.append(F.col(f.name))
    return df.select(*sorted(cols, key=str))


def identical(store: TableStore, left: str, right: str) -> bool:
    a, b = comparable(store.read(left)), comparable(store.read(right))
    return a.count() == b.count() and a.exceptAll(b).isEmpty() and b.exceptAll(a).isEmpty()


def stream(cfg: Config, store: TableStore, root: Path, apps: list[str]) -> dict[str, AppStats]:
    runner = StreamRunner(
        cfg, store.spark, store, Checkpoints(root / "_checkpoints"), StreamOptions(), {"availableNow": True}
    )
    result = runner.run(resolve_apps(cfg, apps, False))
    for name, stats in result.items():
        assert stats.status == "ok", f"{name}: {stats.status} {stats.detail}"
    return result


def append_records(source: Path) -> int:
    """``APPEND_ROWS`` copies of records of the latest day that has that many, with new record ids, in one commit."""
    dataset = DeltaTable(str(source)).to_pyarrow_dataset()
    counts = dataset.to_table(columns=["usage_date"], use_threads=False).column("usage_date").value_counts()
    day = max(c["values"] for c in counts.to_pylist() if c["counts"] >= APPEND_ROWS)
    rows = dataset.to_table(filter=pc.field("usage_date") == day, use_threads=False).slice(0, APPEND_ROWS)
    rows = rows.combine_chunks()  # delta-rs panics writing sliced chunks of nested columns (see bench_bronze)
    ids = pa.array([str(uuid.uuid4()) for _ in range(rows.num_rows)])
    write_deltalake(str(source), rows.set_column(rows.schema.get_field_index("record_id"), "record_id", ids),
                    mode="append")  # fmt: skip
    print(f"appended {rows.num_rows:,} records on {day}")
    return rows.num_rows


def full_recompute(cfg: Config, full_cfg: Config, store: TableStore) -> None:
    """billing_summary rebuilt from all of bronze, then the billing gold models, into the full schema."""
    inputs = Inputs(cfg, store)
    bronze = inputs.get("billing_usage_bronze")
    assert bronze is not None
    store.replace(full_cfg.output_name(SILVER), price_billing(cfg, inputs, bronze))
    refresh(full_cfg, store, billing_models(), None)


def _timed(label: str, started: float) -> float:
    seconds = time.perf_counter() - started
    print(f"  {label:<62} {seconds:8.2f} s", flush=True)
    return seconds


def run(root: Path, rows_per_day: int) -> None:
    from batch.command import available_jobs
    from batch.registry import BatchContext, run_jobs
    from stm.engine import open_engine

    print(f"lake: {root}")
    started = time.perf_counter()
    simulate(root, accounts=2, workspaces=10, days=30, seed=11, billing_rows_per_day=rows_per_day)
    source = root / "system" / "billing" / "usage"
    print(f"source system.billing.usage: {DeltaTable(str(source)).count():,} rows")
    _timed("simulate 2 accounts x 10 workspaces x 30 days", started)
    cfg = load_config()
    engine = open_engine(cfg, root, "stm-bench-cost")
    store = engine.store
    started = time.perf_counter()
    results = run_jobs(BatchContext(cfg, engine.spark, store), [available_jobs(cfg)["list_prices"]])
    assert results["list_prices"].status == "ok", results["list_prices"].detail
    stream(cfg, store, root, ["billing_usage_bronze", "jobs_bronze"])
    stream(cfg, store, root, ["billing_summary"])
    _timed("initial build: bronze, billing_summary, gold (not compared)", started)

    batches, runs = [], []
    for round_no in range(1, ROUNDS + 1):
        appended = append_records(source)
        started = time.perf_counter()
        stream(cfg, store, root, ["billing_usage_bronze"])
        bronze = time.perf_counter() - started
        started = time.perf_counter()
        stats = stream(cfg, store, root, ["billing_summary"])
        runs.append(time.perf_counter() - started)
        batches.append(stats["billing_summary"].trigger_seconds)
        print(
            f"  round {round_no}: {appended:,} new records; bronze stream {bronze:.2f} s; billing_summary app "
            f"{runs[-1]:.2f} s, of which its micro-batch (silver + gold) {batches[-1]:.2f} s",
            flush=True,
        )
    incremental, app_run = statistics.median(batches), statistics.median(runs)
    print(f"  {'(a) incremental: median micro-batch of the billing_summary app':<62} {incremental:8.2f} s")

    full_cfg = dataclasses.replace(cfg, output=dataclasses.replace(cfg.output, schema=FULL_SCHEMA))
    full_dir = root / cfg.output.catalog / FULL_SCHEMA
    full_dir.mkdir(parents=True)
    for name in BRONZE_INPUTS:  # the full recompute reads the same bronze tables
        (full_dir / name).symlink_to(root / cfg.output.catalog / cfg.output.schema / name)
    started = time.perf_counter()
    full_recompute(cfg, full_cfg, store)
    full = _timed("(b) full recompute: billing_summary from all bronze, then gold", started)

    names = [SILVER, *(m.name for m in billing_models())]
    differing = [n for n in names if not identical(store, cfg.output_name(n), full_cfg.output_name(n))]
    rows = store.read(cfg.output_name(SILVER)).count()
    print(f"billing_summary: {rows:,} rows; tables compared: {len(names)} ({', '.join(names)})")
    print(f"identical after (a) and (b): {'yes' if not differing else 'NO: ' + ', '.join(differing)}")
    print(f"(a) incremental {incremental:8.2f} s   (b) full {full:8.2f} s")
    print(f"ratio a/b = {incremental / full:.2f} (target <= 0.2)")
    print(f"with the whole availableNow run of the app instead (query start and stop included): {app_run / full:.2f}")
    engine.spark.stop()


if __name__ == "__main__":
    bench_main(__doc__, "bench-cost-", run)
