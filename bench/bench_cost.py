"""Incremental cost refresh against a full recompute, on a ~1M-row billing table, measured in one run.

Builds bronze (billing, jobs), list_prices, silver billing_summary and the billing gold tables from a simulated
catalog (2 accounts x 10 workspaces x 30 days), then, three rounds in a row, appends 10,000 new usage records (new
record ids) on the latest full day, lets the billing_usage_bronze app ingest them (timed and printed apart), and runs
the billing_summary app (availableNow):
(a) the incremental refresh: the median over the rounds of that app's micro-batch as Spark times it (source
    planning, foreachBatch: the billing_summary upsert and the gold dates it touches, offset log): what each trigger
    of the long-lived app costs. The app's whole run (query start and stop included) is printed too, and where the
    micro-batch went (foreachBatch vs the rest; the slowest gold models);
(b) a full recompute of the same tables: billing_summary rebuilt from all of bronze, then every gold model the
    billing app maintains (what the ``gold`` job does for them), written to a second output schema.
Prints the seconds of each, the ratio a/b (goal <= 0.15), whether every table is identical in both schemas, and the
peak memory of the whole process tree (JVM included).

Run: ``.venv/bin/python bench/bench_cost.py [--billing-rows-per-day N] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable
from harness import (
    ProgressRecorder,
    append_to_source,
    bench_main,
    line,
    median,
    simulate_billing,
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


class ModelSeconds(logging.Handler):
    """Seconds of each gold model's last refresh, from the debug line ``%s: %d rows in %.2f s``."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seconds: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "%s: %d rows in %.2f s" and isinstance(record.args, tuple):
            name, _, seconds = record.args
            if isinstance(seconds, float):
                self.seconds[str(name)] = seconds

    def slowest(self, n: int = 4) -> str:
        top = sorted(self.seconds.items(), key=lambda kv: -kv[1])[:n]
        return ", ".join(f"{name} {s:.2f} s" for name, s in top)


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
    """``APPEND_ROWS`` copies of records of one day (the latest that has that many), new record ids, one commit."""
    dataset = DeltaTable(str(source)).to_pyarrow_dataset()
    counts = dataset.to_table(columns=["usage_date"], use_threads=False).column("usage_date").value_counts().to_pylist()
    full_days = [c["values"] for c in counts if c["counts"] >= APPEND_ROWS]
    day = max(full_days) if full_days else max(counts, key=lambda c: c["counts"])["values"]
    rows = dataset.to_table(filter=pc.field("usage_date") == day, use_threads=False)
    rows = pa.concat_tables([rows] * -(-APPEND_ROWS // rows.num_rows)).slice(0, APPEND_ROWS)  # small runs: repeat
    append_to_source(source, with_new_record_ids(rows))
    return str(day)


def full_recompute(cfg: Config, full_cfg: Config, store: TableStore) -> None:
    """billing_summary rebuilt from all of bronze, then the billing gold models, into the full schema."""
    inputs = Inputs(cfg, store)
    bronze = inputs.get("billing_usage_bronze")
    assert bronze is not None
    store.replace(full_cfg.output_name(SILVER), price_billing(cfg, inputs, bronze))
    refresh(full_cfg, store, billing_models(), None)


def run(root: Path, args: argparse.Namespace) -> None:
    from batch.command import available_jobs
    from batch.registry import BatchContext, run_jobs

    print(f"lake: {root}")
    cfg = load_config()
    _, engine = timed("Spark session start (not counted below)", lambda: open_engine(cfg, root, "stm-bench-cost"))
    label = "simulate 2 accounts x 10 workspaces x 30 days (not counted)"
    timed(label, lambda: simulate_billing(root, engine.spark, args.billing_rows_per_day))
    source = root / "system" / "billing" / "usage"
    print(f"source system.billing.usage: {DeltaTable(str(source)).count():,} rows")
    store = engine.store

    def build() -> None:
        results = run_jobs(BatchContext(cfg, engine.spark, store), [available_jobs(cfg)["list_prices"]])
        assert results["list_prices"].status == "ok", results["list_prices"].detail
        stream(cfg, engine, ["billing_usage_bronze", "jobs_bronze"])
        stream(cfg, engine, ["billing_summary"])

    timed("initial build: list_prices, bronze, billing_summary, gold (not compared)", build)

    models = ModelSeconds()
    derived_log = logging.getLogger("streaming.derived")
    derived_log.addHandler(models)
    derived_level = derived_log.level
    derived_log.setLevel(logging.DEBUG)
    derived_log.propagate = False  # its debug lines are for the handler, not the console
    recorder = ProgressRecorder()
    engine.spark.streams.addListener(recorder)
    batches, runs, sinks = [], [], []
    for round_no in range(1, ROUNDS + 1):
        day = append_records(source)
        label = f"round {round_no}: {APPEND_ROWS:,} new records on {day}, billing_usage_bronze app"
        timed(label, lambda: stream(cfg, engine, ["billing_usage_bronze"]))
        models.seconds.clear()
        started = time.perf_counter()
        stats = stream(cfg, engine, ["billing_summary"])["billing_summary"]
        runs.append(time.perf_counter() - started)
        batches.append(stats.trigger_seconds)
        sinks.append(stats.seconds)
        extra = f"   (foreachBatch {sinks[-1]:.2f} s; whole app run {runs[-1]:.2f} s)"
        line(f"round {round_no}: billing_summary micro-batch (silver + gold)", batches[-1], extra)
        print(f"    slowest gold models: {models.slowest()}", flush=True)
    engine.spark.streams.removeListener(recorder)
    derived_log.removeHandler(models)
    derived_log.propagate = True
    derived_log.setLevel(derived_level)
    incremental, app_run = median(batches), median(runs)
    parts = [t.parts for t in recorder.batches("billing_summary")]
    others = ("latestOffset", "queryPlanning", "walCommit", "commitOffsets")
    rest = ", ".join(f"{k} {median([p.get(k, 0.0) for p in parts]):.2f} s" for k in others)
    line("(a) incremental: median micro-batch of the billing_summary app", incremental)
    print(f"    of which foreachBatch (silver MERGE + gold replaces) {median(sinks):.2f} s; the rest, medians: {rest}")

    full_cfg = dataclasses.replace(cfg, output=dataclasses.replace(cfg.output, schema=FULL_SCHEMA))
    full_dir = root / cfg.output.catalog / FULL_SCHEMA
    full_dir.mkdir(parents=True)
    for name in BRONZE_INPUTS:  # the full recompute reads the same bronze tables
        (full_dir / name).symlink_to(root / cfg.output.catalog / cfg.output.schema / name)
    label = "(b) full recompute: billing_summary from all bronze, then gold"
    full, _ = timed(label, lambda: full_recompute(cfg, full_cfg, store))

    names = [SILVER, *(m.name for m in billing_models())]
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
    bench_main(__doc__, "bench-cost-", run, add_options)
