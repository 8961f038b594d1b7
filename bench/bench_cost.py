"""Incremental cost refresh against a full recompute, on a ~1M-row billing table, measured in one run.

Builds bronze (billing, jobs), list_prices, silver billing_summary and the billing gold tables from a simulated
catalog (2 accounts x 10 workspaces x 30 days), then, three rounds in a row, appends 10,000 new usage records (new
record ids) on the latest full day, lets the billing_usage_bronze app ingest them (timed and printed apart), and runs
the billing_summary app (availableNow):
(a) the incremental refresh: the median over the rounds of that app's micro-batch as Spark times it (source
    planning, foreachBatch: the billing_summary upsert and the gold dates it touches, offset log): what each trigger
    of the long-lived app costs. The app's whole run (query start and stop included) is printed too, and where the
    micro-batch went: before gold (batch dates, pricing, the silver MERGE), the gold models (first start to last
    end; they run ``streaming.gold_writers`` at once) with the slowest, and Spark's parts outside foreachBatch;
(b) a full recompute of the same tables: billing_summary rebuilt from all of bronze, then every gold model the
    billing app maintains (what the ``gold`` job does for them), written to a second output schema; each step timed.
Prints the seconds of each, the ratio a/b (goal <= 0.15), whether every table is identical in both schemas, and the
peak memory of the whole process tree (JVM included).

Run: ``.venv/bin/python bench/bench_cost.py [--billing-rows-per-day N] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable
from harness import (
    SHAPE,
    PeakMemory,
    ProgressRecorder,
    append_to_source,
    bench_main,
    line,
    median,
    simulate_lake,
    timed,
    verdict,
    with_new_record_ids,
)
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, MapType

from stm.config import Config, load_config
from stm.engine import Engine, open_engine
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
GOAL = 0.15
CHILD = "--child-append"  # runs one append in a process of its own


class ModelSeconds(logging.Handler):
    """Each gold model's refresh (seconds, end time), from ``streaming.derived``'s line ``%s: %d rows in %.2f s``."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.models: dict[str, tuple[float, float]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "%s: %d rows in %.2f s" and isinstance(record.args, tuple):
            name, _, seconds = record.args
            if isinstance(seconds, float):
                self.models[str(name)] = (seconds, record.created)

    def span(self) -> float:
        """From the first model's start to the last one's end (they run ``streaming.gold_writers`` at once)."""
        if not self.models:
            return 0.0
        return max(end for _, end in self.models.values()) - min(end - s for s, end in self.models.values())

    def summary(self, n: int = 4) -> str:
        top = sorted(self.models.items(), key=lambda kv: -kv[1][0])[:n]
        total = sum(s for s, _ in self.models.values())
        slowest = ", ".join(f"{name} {s:.2f} s" for name, (s, _) in top)
        return f"{len(self.models)} gold models in {self.span():.2f} s (sum {total:.2f} s); slowest: {slowest}"


@contextmanager
def gold_model_seconds() -> Iterator[ModelSeconds]:
    """Collect ``streaming.derived``'s per-model debug lines (kept off the console) while the block runs."""
    handler = ModelSeconds()
    logger = logging.getLogger("streaming.derived")
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


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


def stream(cfg: Config, engine: Engine, apps: list[str]) -> dict[str, AppStats]:
    options = StreamOptions(
        cfg.streaming.skip_change_commits, max_files_per_trigger=cfg.streaming.max_files_per_trigger
    )
    runner = StreamRunner(
        cfg, engine.spark, engine.store, Checkpoints(engine.checkpoint_root), options, {"availableNow": True}
    )
    result = runner.run(resolve_apps(cfg, apps, False))
    for name, stats in result.items():
        assert stats.status == "ok", f"{name}: {stats.status} {stats.detail}"
    return result


def append_records(source: Path) -> str:
    """Run ``append`` in a process of its own (the source is one big row group: reading a day of it decodes the whole
    file, memory that is the stand-in for Databricks', not the app's); the day it appended to."""
    done = subprocess.run([sys.executable, __file__, CHILD, str(source)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"append failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    return done.stdout.strip().splitlines()[-1]


def append(source: Path) -> str:
    """``APPEND_ROWS`` copies of records of one day (the latest that has that many), new record ids, one commit."""
    dataset = DeltaTable(str(source)).to_pyarrow_dataset()
    counts = dataset.to_table(columns=["usage_date"], use_threads=False).column("usage_date").value_counts().to_pylist()
    full_days = [c["values"] for c in counts if c["counts"] >= APPEND_ROWS]
    day = max(full_days) if full_days else max(counts, key=lambda c: c["counts"])["values"]
    rows = dataset.to_table(filter=pc.field("usage_date") == day, use_threads=False)
    rows = pa.concat_tables([rows] * -(-APPEND_ROWS // rows.num_rows)).slice(0, APPEND_ROWS)  # small runs: repeat
    append_to_source(source, with_new_record_ids(rows))
    return str(day)


def full_recompute(cfg: Config, full_cfg: Config, store: TableStore) -> tuple[float, float]:
    """billing_summary rebuilt from all of bronze, then the billing gold models, into the full schema; the seconds
    of each step."""
    started = time.perf_counter()
    inputs = Inputs(cfg, store)
    bronze = inputs.get("billing_usage_bronze")
    assert bronze is not None
    store.replace(full_cfg.output_name(SILVER), price_billing(cfg, inputs, bronze))
    silver = time.perf_counter() - started
    refresh(full_cfg, store, billing_models(full_cfg), None)
    return silver, time.perf_counter() - started - silver


def run(root: Path, args: argparse.Namespace, memory: PeakMemory) -> None:
    from batch.command import available_jobs
    from batch.registry import BatchContext, run_jobs

    print(f"lake: {root}")
    label = "simulate 2 accounts x 10 workspaces x 30 days (subprocess, not counted)"
    timed(label, lambda: simulate_lake(root, memory, **SHAPE, billing_rows_per_day=args.billing_rows_per_day))
    cfg = load_config()
    _, engine = timed("Spark session start (not counted below)", lambda: open_engine(cfg, root, "stm-bench-cost"))
    source = root / "system" / "billing" / "usage"
    print(f"source system.billing.usage: {DeltaTable(str(source)).count():,} rows")
    store = engine.store

    def build() -> None:
        results = run_jobs(BatchContext(cfg, engine.spark, store), [available_jobs(cfg)["list_prices"]])
        assert results["list_prices"].status == "ok", results["list_prices"].detail
        stream(cfg, engine, ["billing_usage_bronze", "jobs_bronze"])
        stream(cfg, engine, ["billing_summary"])

    timed("initial build: list_prices, bronze, billing_summary, gold (not compared)", build)

    recorder = ProgressRecorder()
    engine.spark.streams.addListener(recorder)
    batches, runs, sinks, golds = [], [], [], []
    for round_no in range(1, ROUNDS + 1):
        day = append_records(source)
        label = f"round {round_no}: {APPEND_ROWS:,} new records on {day}, billing_usage_bronze app"
        timed(label, lambda: stream(cfg, engine, ["billing_usage_bronze"]))
        with gold_model_seconds() as models:
            started = time.perf_counter()
            stats = stream(cfg, engine, ["billing_summary"])["billing_summary"]
            runs.append(time.perf_counter() - started)
        batches.append(stats.trigger_seconds)
        sinks.append(stats.seconds)
        golds.append(models.span())
        extra = f"   (foreachBatch {sinks[-1]:.2f} s; whole app run {runs[-1]:.2f} s)"
        line(f"round {round_no}: billing_summary micro-batch (silver + gold)", batches[-1], extra)
        print(f"    before gold (batch dates, pricing, silver MERGE): {sinks[-1] - golds[-1]:.2f} s", flush=True)
        print(f"    gold: {models.summary()}", flush=True)
    engine.spark.streams.removeListener(recorder)
    incremental, app_run = median(batches), median(runs)
    parts = [t.parts for t in recorder.batches("billing_summary")]
    others = ("latestOffset", "queryPlanning", "walCommit", "commitOffsets")
    rest = ", ".join(f"{k} {median([p.get(k, 0.0) for p in parts]):.2f} s" for k in others)
    line("(a) incremental: median micro-batch of the billing_summary app", incremental)
    print(f"    medians: foreachBatch {median(sinks):.2f} s, of which gold {median(golds):.2f} s; outside it: {rest}")

    full_cfg = dataclasses.replace(cfg, output=dataclasses.replace(cfg.output, schema=FULL_SCHEMA))
    full_dir = root / cfg.output.catalog / FULL_SCHEMA
    full_dir.mkdir(parents=True)
    for name in BRONZE_INPUTS:  # the full recompute reads the same bronze tables
        (full_dir / name).symlink_to(root / cfg.output.catalog / cfg.output.schema / name)
    with gold_model_seconds() as models:
        label = "(b) full recompute: billing_summary from all bronze, then gold"
        full, (silver, gold) = timed(label, lambda: full_recompute(cfg, full_cfg, store))
    print(f"    billing_summary replaced from all of bronze: {silver:.2f} s; gold: {gold:.2f} s")
    print(f"    gold: {models.summary()}")

    names = [SILVER, *(m.name for m in billing_models(cfg))]
    differing = [n for n in names if not identical(store, cfg.output_name(n), full_cfg.output_name(n))]
    rows = store.read(cfg.output_name(SILVER)).count()
    print(f"billing_summary: {rows:,} rows; tables compared: {len(names)} ({', '.join(names)})")
    print(f"identical after (a) and (b): {'yes' if not differing else 'NO: ' + ', '.join(differing)}")
    print(f"(a) incremental {incremental:8.2f} s   (b) full {full:8.2f} s")
    print(f"ratio a/b = {incremental / full:.3f} ({verdict(incremental / full, GOAL)})")
    print(f"with the whole availableNow run of the app instead (query start and stop included): {app_run / full:.3f}")
    assert not differing, differing


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--billing-rows-per-day", type=int, default=1700, help="per workspace and day (2x10x30)")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == CHILD:
        print(append(Path(sys.argv[2])))
    else:
        bench_main(__doc__, "bench-cost-", run, add_options)
