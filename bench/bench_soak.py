"""A long-lived bronze app over hundreds of small source commits: does a micro-batch cost more as history grows?

Simulates a small ``system.billing.usage`` (1 account x 2 workspaces x 1 day), then runs the real
billing_usage_bronze app with a ``processingTime`` trigger (StreamRunner in a thread, stopped through its
``stop_event``) while the benchmark appends to the source in lock step: one commit of a few new records (delta-rs,
as the simulator writes), wait until the app's micro-batch for it has ended, the next commit. So micro-batch N holds
exactly commit N, and both the source and bronze gain one commit (bronze one data file) per batch. The first
``--warm-up`` appends are not counted: the session's first micro-batches load classes and compile code.
Prints the micro-batch time as Spark's progress reports it (``triggerExecution``, with ``addBatch``: the
foreachBatch MERGE, and the rest: source offsets, planning, offset and commit logs) at counted batches 10, 100, 250
and 500, or the last one reached (the single batch and the median of the ten batches ending there), the ratio
last/first of those medians (goal <= 1.2: the cost of a batch must not grow with history), the table sizes reached,
and the peak memory of the whole process tree (JVM included). The run stops by itself after ``--warm-up`` +
``--appends`` commits or ``--max-minutes`` (warm-up included), whichever comes first.

Run: ``.venv/bin/python bench/bench_soak.py [--appends N] [--rows-per-append N] [--warm-up N] [--max-minutes M]
[--keep DIR]``.
"""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path

from deltalake import DeltaTable
from harness import (
    PeakMemory,
    ProgressRecorder,
    Trigger,
    append_to_source,
    bench_main,
    line,
    median,
    simulate_lake,
    timed,
    verdict,
    with_new_record_ids,
)

from stm.config import load_config
from stm.engine import open_engine
from stm.store.base import StreamOptions
from streaming.apps import AppStats, resolve_apps
from streaming.checkpoints import Checkpoints
from streaming.runner import StreamRunner

APP = "billing_usage_bronze"
POINTS = (10, 100, 250, 500)
WINDOW = 10
GOAL = 1.2
BATCH_TIMEOUT = 300.0  # seconds to wait for the micro-batch of one commit before giving up


def wait_for_batches(recorder: ProgressRecorder, count: int, timeout: float) -> bool:
    """Wait until the app has reported ``count`` micro-batches with rows; False on timeout."""
    deadline = time.monotonic() + timeout
    with recorder.progressed:
        while len(recorder.batches(APP)) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            recorder.progressed.wait(min(left, 1.0))
    return True


def report(batches: list[Trigger]) -> None:
    """The batch times at the chosen points, and the ratio last/first of the window medians."""
    n = len(batches)
    points = [p for p in POINTS if p <= n]
    if n not in points:  # a run bounded by time, or a small one: its last batch is the last point
        points.append(n)
    print("   batch  seconds  addBatch   rest   median of batches   seconds  addBatch   rest")
    medians = []
    for p in points:
        one = batches[p - 1]
        window = batches[max(0, p - WINDOW) : p]
        med = median([t.seconds for t in window])
        med_add = median([t.parts.get("addBatch", 0.0) for t in window])
        med_rest = median([t.seconds - t.parts.get("addBatch", 0.0) for t in window])
        medians.append(med)
        add = one.parts.get("addBatch", 0.0)
        label = f"{max(1, p - WINDOW + 1)}-{p}"
        single = f"{p:>8} {one.seconds:8.2f} {add:9.2f} {one.seconds - add:6.2f}"
        print(f"{single}   {label:>17}  {med:8.2f} {med_add:9.2f} {med_rest:6.2f}")
    if len(medians) > 1:
        ratio = medians[-1] / medians[0]
        print(f"ratio last/first (medians of the windows ending at {points[-1]} and {points[0]}) = {ratio:.2f}", end="")
        print(f" ({verdict(ratio, GOAL)})")
        one_ratio = batches[points[-1] - 1].seconds / batches[points[0] - 1].seconds
        print(f"  single batches instead: {one_ratio:.2f}")


def run(root: Path, args: argparse.Namespace, memory: PeakMemory) -> None:
    print(f"lake: {root}")
    shape = {
        "accounts": 1,
        "workspaces": 2,
        "days": 1,
        "seed": 7,
        "billing_rows_per_day": 50,
        "audit_events_per_day": 10,
    }
    timed("simulate 1 account x 2 workspaces x 1 day (subprocess)", lambda: simulate_lake(root, memory, **shape))
    cfg = load_config()
    _, engine = timed("Spark session start", lambda: open_engine(cfg, root, "stm-bench-soak"))
    src = root / "system" / "billing" / "usage"
    template = DeltaTable(str(src)).to_pyarrow_dataset().head(args.rows_per_append)
    initial = DeltaTable(str(src))
    print(f"source system.billing.usage: {initial.count():,} rows at version {initial.version()}")

    (app,) = resolve_apps(cfg, [APP], False)
    options = StreamOptions(
        cfg.streaming.skip_change_commits, max_files_per_trigger=cfg.streaming.max_files_per_trigger
    )
    trigger = {"processingTime": f"{args.trigger_seconds} seconds"}
    runner = StreamRunner(cfg, engine.spark, engine.store, Checkpoints(engine.checkpoint_root), options, trigger)
    recorder = ProgressRecorder()
    engine.spark.streams.addListener(recorder)
    results: dict[str, AppStats] = {}
    thread = threading.Thread(target=lambda: results.update(runner.run([app])), name="soak-app", daemon=True)
    started = appending = time.monotonic()
    thread.start()
    appended, why = 0, f"{args.appends} appends done"
    try:
        if not wait_for_batches(recorder, 1, BATCH_TIMEOUT):  # the initial snapshot, before any append
            raise SystemExit("the app did not process the initial snapshot in time")
        line("app started, initial snapshot ingested", time.monotonic() - started)
        appending = time.monotonic()
        deadline = appending + args.max_minutes * 60
        while appended < args.warm_up + args.appends:
            if time.monotonic() >= deadline:
                why = f"--max-minutes {args.max_minutes} reached"
                break
            append_to_source(src, with_new_record_ids(template))
            appended += 1
            if not wait_for_batches(recorder, appended + 1, BATCH_TIMEOUT) or not thread.is_alive():
                why = "the app stopped or fell behind"
                break
            counted = appended - args.warm_up
            if counted == 0:
                line(f"{args.warm_up} warm-up appends (not counted)", time.monotonic() - appending)
            elif counted in POINTS or counted % 50 == 0:
                print(f"  {counted} counted appends, {time.monotonic() - started:.0f} s", flush=True)
    finally:
        runner.stop_event.set()
        thread.join(timeout=300)
        engine.spark.streams.removeListener(recorder)
    stats = results.get(APP)
    cycle = (time.monotonic() - appending) / max(appended, 1)
    line(f"soak: {appended} appends ({why}), app stopped", time.monotonic() - started, f"   ({cycle:.2f} s per append)")
    print(f"app status: {stats.status if stats else 'unknown'}; rows in {stats.rows_in if stats else 0:,}")
    batches = recorder.batches(APP)[1 + args.warm_up :]  # without the initial snapshot and the warm-up
    print(
        f"micro-batches counted: {len(batches)} (one per append; batch N read source version {initial.version()}",
        end="",
    )
    print(f" + {args.warm_up} + N)")
    bronze = DeltaTable(str(engine.store.location(app.target)))
    rows = engine.store.read(app.target).count()
    print(f"source: version {DeltaTable(str(src)).version()}; bronze: version {bronze.version()}, ", end="")
    print(f"{len(bronze.file_uris())} data files, {rows:,} rows")
    if batches:
        report(batches)


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--appends", type=int, default=500, help="source commits to append (each one micro-batch)")
    parser.add_argument("--rows-per-append", type=int, default=20, help="new records per commit")
    parser.add_argument("--warm-up", type=int, default=20, help="appends before the counted ones (JIT, code cache)")
    parser.add_argument("--max-minutes", type=float, default=15.0, help="stop appending after this many minutes")
    parser.add_argument("--trigger-seconds", type=int, default=1, help="the app's processingTime interval")


if __name__ == "__main__":
    bench_main(__doc__, "bench-soak-", run, add_options)
