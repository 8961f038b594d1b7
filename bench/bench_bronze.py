"""Bronze ingestion against the engine's floor, and append cost against target size, measured in one run.

On a simulated ``system.billing.usage`` of ~1M rows (2 accounts x 10 workspaces x 30 days at the default size):
(a) the engine's floor: a plain Spark read of the source and a Delta write of it (``spark.read.format("delta")
    .load(src).write.format("delta").save(dst)``) in the benchmark's session;
(b) the real billing_usage_bronze app (StreamRunner, ``availableNow``, the CLI's stream options) ingesting the
    same table into an empty target (no table yet): its whole run (query start, micro-batches, stop).
    Each is run twice, a then b then a then b (the second b: the same app code under another name, into another
    new target): the first pair pays the session's warm-up (class loading, code generation, JIT), the second runs
    warm, as a long-lived process sees it. The goal is on the warm pair; the cold pair is printed too;
(r) for reference only, a delta-rs copy without Spark (read to Arrow, ``write_deltalake``) in a process of its own,
    run first, before the Spark session starts;
(c) a 10,000-row append to the source streamed by the real app into the 1M-row bronze, and by a second app into an
    *empty* bronze (what that means is printed with the result), three rounds after one warm-up round. The append
    is what a system table receives: the newest records (the latest usage dates) under new record ids; with bronze
    partitioned by usage date, the MERGE reads only those dates' files (an append spread over every date would read
    them all); both apps resume their checkpoints, so both go through the same Delta MERGE.
Prints the seconds of each step, the ratios b/a (goal <= 3), b/r, and c(1M)/c(empty) of the medians of the three
rounds (goal <= 1.3; the micro-batch as Spark times it, the whole app run printed too), then the peak memory of the
whole process tree (JVM included): of (c), and before it of (r), of (a) with (b), apart.

Run: ``.venv/bin/python bench/bench_bronze.py [--billing-rows-per-day N] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable
from harness import (
    SHAPE,
    PeakMemory,
    append_to_source,
    bench_main,
    line,
    median,
    simulate_lake,
    timed,
    verdict,
    with_new_record_ids,
)

from stm.config import Config, load_config
from stm.engine import Engine, open_engine
from stm.store.base import StreamOptions
from streaming.apps import App, BronzeApp, resolve_apps
from streaming.runner import StreamRunner

APP = "billing_usage_bronze"
APPEND_ROWS = 10_000
ROUNDS = 3
INGEST_GOAL = 3.0
APPEND_GOAL = 1.3
EMPTY_TARGET = "bench.bronze.empty"


@dataclass(frozen=True)
class Run:
    """One availableNow run of an app: wall seconds, its micro-batches as Spark times them, foreachBatch seconds."""

    wall: float
    batch: float
    sink: float
    batches: int
    rows: int


def stream(engine: Engine, cfg: Config, app: App, options: StreamOptions) -> Run:
    from streaming.checkpoints import Checkpoints

    checkpoints = Checkpoints(engine.checkpoint_root)
    runner = StreamRunner(cfg, engine.spark, engine.store, checkpoints, options, {"availableNow": True})
    started = time.perf_counter()
    stats = runner.run([app])[app.name]
    wall = time.perf_counter() - started
    assert stats.status == "ok", f"{app.name}: {stats.status} {stats.detail}"
    return Run(wall, stats.trigger_seconds, stats.seconds, stats.batches, stats.rows_written)


def spark_copy(engine: Engine, src: Path, dst: Path) -> None:
    shutil.rmtree(dst, ignore_errors=True)
    engine.spark.read.format("delta").load(str(src)).write.format("delta").save(str(dst))


DELTA_RS_COPY = (
    "import sys; from deltalake import DeltaTable, write_deltalake; "
    "t = DeltaTable(sys.argv[1]).to_pyarrow_dataset().to_table(use_threads=False).combine_chunks(); "
    "write_deltalake(sys.argv[2], t, mode='overwrite')"
)


def delta_rs_copy(src: Path, dst: Path, memory: PeakMemory) -> None:
    """The reference copy in a process of its own, before the Spark session starts: a memory segment apart."""
    subprocess.run([sys.executable, "-c", DELTA_RS_COPY, str(src), str(dst)], check=True)
    memory.split("(r) the delta-rs reference copy (subprocess, ~the whole table in Arrow; no Spark yet)")


def ingest_ratio(
    engine: Engine, cfg: Config, app: App, options: StreamOptions, src: Path, root: Path, reference: float
) -> Run:
    """(a) and (b), cold then warm; prints the ratios and returns the cold (b) run (the real app's)."""
    runs: list[tuple[float, Run]] = []
    for when, which in (
        ("cold", app),
        ("warm", dataclasses.replace(app, name=f"{APP}_warm", target="bench.bronze.warm")),
    ):
        floor, _ = timed(
            f"(a) floor, {when}: Spark read + Delta write", lambda: spark_copy(engine, src, root / "floor")
        )
        ingest = stream(engine, cfg, which, options)
        extra = f"   ({ingest.batches} micro-batch(es) {ingest.batch:.2f} s, foreachBatch {ingest.sink:.2f} s)"
        line(f"(b) {which.name} app into a new target, {when}, whole run", ingest.wall, extra)
        runs.append((floor, ingest))
    (cold_floor, cold), (warm_floor, warm) = runs
    rows = warm.rows
    print(f"(a) floor        {rows / warm_floor:12,.0f} rows/s warm   {rows / cold_floor:12,.0f} rows/s cold")
    print(f"(b) bronze app   {rows / warm.wall:12,.0f} rows/s warm   {rows / cold.wall:12,.0f} rows/s cold")
    print(f"(r) delta-rs     {rows / reference:12,.0f} rows/s")
    ratio = warm.wall / warm_floor
    print(f"ratio b/a = {ratio:.2f} warm ({verdict(ratio, INGEST_GOAL)}); cold {cold.wall / cold_floor:.2f}")
    print(f"ratio b/r = {warm.wall / reference:.2f} warm, {cold.wall / reference:.2f} cold (reference only)")
    return cold


def newest_rows(src: Path) -> tuple[pa.Table, int]:
    """The ``APPEND_ROWS`` rows of the latest usage dates (a system table's appends carry the newest dates), and how
    many usage dates the source has: only the dates are read whole, then the rows from the cutoff date on."""
    dataset = DeltaTable(str(src)).to_pyarrow_dataset()
    dates = dataset.to_table(columns=["usage_date"])["usage_date"].sort("descending")
    cutoff = dates[min(APPEND_ROWS, len(dates)) - 1]
    rows = dataset.to_table(filter=pc.field("usage_date") >= cutoff).sort_by([("usage_date", "descending")])
    return rows[:APPEND_ROWS], len(pc.unique(dates))


def describe_empty(engine: Engine) -> str:
    table = DeltaTable(engine.store.location(EMPTY_TARGET))
    files = table.file_uris()
    rows = engine.store.read(EMPTY_TARGET).count()
    return (
        f"empty bronze = the existing Delta table {EMPTY_TARGET} with bronze's schema, overwritten to zero rows just "
        f"before each round (before the last: {rows} rows, {len(files)} data file(s), version {table.version()}), fed "
        "by a second app whose checkpoint resumes like the real app's"
    )


def run(root: Path, args: argparse.Namespace, memory: PeakMemory) -> None:
    print(f"lake: {root}")
    label = "simulate 2 accounts x 10 workspaces x 30 days (subprocess, not counted)"
    timed(label, lambda: simulate_lake(root, memory, **SHAPE, billing_rows_per_day=args.billing_rows_per_day))
    src = root / "system" / "billing" / "usage"
    label = "(r) delta-rs copy (read to Arrow, write_deltalake; process start included)"
    reference, _ = timed(label, lambda: delta_rs_copy(src, root / "rs", memory))
    cfg = load_config()
    _, engine = timed("Spark session start (not counted below)", lambda: open_engine(cfg, root, "stm-bench"))
    source = DeltaTable(str(src))
    records = pc.count_distinct(source.to_pyarrow_dataset().to_table(columns=["record_id"])["record_id"]).as_py()
    print(
        f"source system.billing.usage: {source.count():,} rows ({records:,} records), {len(source.file_uris())} files"
    )
    options = StreamOptions(
        cfg.streaming.skip_change_commits, max_files_per_trigger=cfg.streaming.max_files_per_trigger
    )
    (app,) = resolve_apps(cfg, [APP], False)

    ingest = ingest_ratio(engine, cfg, app, options, src, root, reference)
    assert ingest.rows == records == engine.store.read(app.target).count(), (ingest, records)
    memory.split("(a) and (b): the floor and the bronze app, cold and warm")

    head, source_days = newest_rows(src)
    dates = pc.unique(head["usage_date"])
    newest = f"each append: the {APPEND_ROWS:,} newest source rows under new record ids, {len(dates)} usage date(s)"
    print(newest, end=" ")
    print(f"({pc.min(dates)} to {pc.max(dates)}) of the bronze's {source_days}")
    assert isinstance(app, BronzeApp)
    empty_app = BronzeApp(f"{APP}_empty", app.source, EMPTY_TARGET, app.spec)
    runs: dict[str, list[Run]] = {"full": [], "empty": []}
    for round_no in range(ROUNDS + 1):  # round 0 warms up and starts the empty app's checkpoint; not counted
        version = append_to_source(src, with_new_record_ids(head))
        engine.store.replace(EMPTY_TARGET, engine.store.read(app.target).limit(0))  # zero rows, bronze's schema
        empty_state = describe_empty(engine)
        empty_options = dataclasses.replace(options, starting_version=version)  # used by round 0's fresh start only
        order = [("full", app, options), ("empty", empty_app, empty_options)]
        # alternate which goes first, so neither always finds the appended files in the OS cache
        for kind, which, opts in order if round_no % 2 else reversed(order):
            result = stream(engine, cfg, which, opts)
            assert result.rows == APPEND_ROWS, (kind, result)
            if round_no:
                runs[kind].append(result)
            into = f"the {ingest.rows / 1e6:.2f}M-row bronze" if kind == "full" else "the empty bronze"
            name = f"round {round_no}" if round_no else "warm-up"
            extra = f"   (foreachBatch {result.sink:.2f} s, whole run {result.wall:.2f} s)"
            line(f"(c) {name}: 10,000-row append into {into}, micro-batch", result.batch, extra)

    print(f"rows: bronze after the appends {engine.store.read(app.target).count():,}")
    print(empty_state)
    full, empty = runs["full"], runs["empty"]
    c_full, c_empty = median([r.batch for r in full]), median([r.batch for r in empty])
    ratio = c_full / c_empty
    print(f"ratio c(1M)/c(empty) = {ratio:.2f} ({verdict(ratio, APPEND_GOAL)}), micro-batch medians", end="")
    print(f" {c_full:.2f} s / {c_empty:.2f} s")
    s_full, s_empty = median([r.sink for r in full]), median([r.sink for r in empty])
    print(f"  foreachBatch (the MERGE) alone: {s_full / s_empty:.2f} ({s_full:.2f} s / {s_empty:.2f} s)")
    w_full, w_empty = median([r.wall for r in full]), median([r.wall for r in empty])
    print(
        f"  whole app runs (query start and stop included): {w_full / w_empty:.2f} ({w_full:.2f} s / {w_empty:.2f} s)"
    )


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--billing-rows-per-day", type=int, default=1700, help="per workspace and day (2x10x30)")


if __name__ == "__main__":
    bench_main(__doc__, "bench-bronze-", run, add_options)
