"""A cold ``stm stream --all --trigger availableNow`` catching up one simulated day: where the wall time goes.

Simulates one day (``--accounts`` x ``--workspaces``, the simulator's default volumes) in a subprocess, then runs the
catch-up in a fresh Python process (cold: no JVM, nothing compiled yet): it starts the local Spark session (timed
apart), registers a progress listener on it and a handler on the runner's log, then runs the real CLI,
``stm.cli.main(["stream", "--all", "--trigger", "availableNow", ...])``, which joins that session. Prints the CLI's
summary table, the wall time of that process, and where it went, each instant counted once:
  process start   Python imports;
  session start   the local Spark session (JVM start, Delta's extensions);
  batches         some app runs a micro-batch that has rows (Spark's ``triggerExecution``);
  query starts    otherwise, the runner is starting an app (source schema, ``start()``, until the source is
                  initialised; apps start one after another), some query is between ``start()`` and its first
                  trigger, or runs a trigger without rows;
  the rest        nothing of the above: phase switch, stops, the summary, process exit.
Then the sums over apps, which overlap (the apps of a phase run at once): from the runner's start of each app to
its first progress report, and the micro-batches' seconds (with foreachBatch's share), the slowest apps, and the
peak memory of the whole process tree (each child process's JVM included, one at a time).

Run: ``.venv/bin/python bench/bench_catchup.py [--accounts N] [--workspaces N] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness import PeakMemory, ProgressRecorder, bench_main, line, simulate_lake, timed

CHILD = "--child-catch-up"
Intervals = list[tuple[float, float]]


class StartLog(logging.Handler):
    """When the runner logged each app as started (``app %s started ...``: after ``start()`` and source init)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.started: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).startswith("app %s started") and isinstance(record.args, tuple):
            self.started[str(record.args[0])] = record.created


def child(root: Path, out: Path) -> None:
    """In the cold process: start the session, listen to its queries, run the CLI, write the timeline to ``out``."""
    began = time.time()
    from stm.cli import main
    from stm.config import load_config
    from stm.engine import open_engine
    from streaming.apps import BronzeApp, DerivedApp, resolve_apps

    imported = time.time()
    cfg = load_config()
    engine = open_engine(cfg, root, "stm-stream")
    session = time.time()
    recorder = ProgressRecorder()
    engine.spark.streams.addListener(recorder)
    starts = StartLog()
    runner_log = logging.getLogger("streaming.runner")
    runner_log.addHandler(starts)
    runner_log.setLevel(logging.INFO)
    code = main(["stream", "--all", "--trigger", "availableNow", "--lake-root", str(root)])
    ended = time.time()
    recorder.wait_all_terminated(60)
    engine.spark.streams.removeListener(recorder)
    apps = resolve_apps(cfg, [], True)
    phases = [[a.name for a in apps if isinstance(a, BronzeApp)], [a.name for a in apps if isinstance(a, DerivedApp)]]
    figures = {"began": began, "imported": imported, "session": session, "ended": ended, "code": code}
    queries = {name: asdict(timeline) for name, timeline in recorder.queries.items()}
    timeline = {**figures, "phases": phases, "app_started": starts.started, "queries": queries}
    out.write_text(json.dumps(timeline), encoding="utf-8")


def covered(intervals: Intervals, start: float, end: float) -> Intervals:
    """The union of ``intervals`` clipped to ``[start, end]``, as sorted disjoint intervals."""
    merged: Intervals = []
    for lo, hi in sorted((max(lo, start), min(hi, end)) for lo, hi in intervals):
        if hi <= lo:
            continue
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def length(intervals: Intervals) -> float:
    return sum(hi - lo for lo, hi in intervals)


def minus(intervals: Intervals, taken: Intervals) -> Intervals:
    """``intervals`` without the parts in ``taken`` (both sorted and disjoint)."""
    out = []
    for lo, hi in intervals:
        cursor = lo
        for t_lo, t_hi in taken:
            if t_hi <= cursor or t_lo >= hi:
                continue
            if t_lo > cursor:
                out.append((cursor, t_lo))
            cursor = max(cursor, t_hi)
        if cursor < hi:
            out.append((cursor, hi))
    return out


def start_calls(figures: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """Per app, when the runner began starting it and when it logged it started.

    The runner starts the apps of a phase one after another: an app's start begins when the one before it logged
    its start, the first one's when the phase begins (the CLI's start; the end of the bronze phase's last query).
    """
    logged: dict[str, float] = figures["app_started"]
    queries: dict[str, dict[str, Any]] = figures["queries"]
    calls: dict[str, tuple[float, float]] = {}
    begin = figures["session"]
    for phase in figures["phases"]:
        for name in phase:
            if name in logged:
                calls[name] = (begin, logged[name])
                begin = logged[name]
        ends = [queries[n]["terminated"] for n in phase if n in queries and queries[n]["terminated"]]
        begin = max([begin, *ends])
    return calls


def breakdown(figures: dict[str, Any], spawned: float, exited: float) -> None:
    queries: dict[str, dict[str, Any]] = figures["queries"]
    calls = start_calls(figures)
    batches: Intervals = []
    starts: Intervals = list(calls.values())
    per_app: list[tuple[str, float, int, float, float]] = []
    for name, q in queries.items():
        triggers = q["triggers"]
        with_rows = [t for t in triggers if t["rows"] > 0]
        batches += [(t["began"], t["began"] + t["seconds"]) for t in with_rows]
        starts += [(t["began"], t["began"] + t["seconds"]) for t in triggers if t["rows"] == 0]
        first = min(triggers, key=lambda t: t["began"], default=None)
        if q["started"] is not None and first is not None:
            starts.append((q["started"], first["began"]))
        call_begin = calls.get(name, (q["started"], q["started"]))[0]
        to_progress = first["began"] + first["seconds"] - call_begin if first is not None and call_begin else 0.0
        seconds = sum(t["seconds"] for t in with_rows)
        add_batch = sum(t["parts"].get("addBatch", 0.0) for t in with_rows)
        per_app.append((name, to_progress, len(with_rows), seconds, add_batch))
    window = (figures["session"], figures["ended"])
    batch_time = covered(batches, *window)
    start_time = minus(covered(starts, *window), batch_time)
    wall = exited - spawned
    parts = {
        "process start (Python imports)": figures["imported"] - spawned,
        "Spark session start (JVM, Delta's extensions)": figures["session"] - figures["imported"],
        "query starts (starting apps; triggers without rows)": length(start_time),
        "batches (some app runs a micro-batch with rows)": length(batch_time),
    }
    parts["the rest (phase switch, stops, summary, process exit)"] = wall - sum(parts.values())
    print(f"wall time of the cold process: {wall:.2f} s (exit code {figures['code']}); each instant counted once:")
    for label, seconds in parts.items():
        line(label, seconds, f"  {seconds / wall:6.1%}")
    to_progress = sum(a[1] for a in per_app)
    n_batches = sum(a[2] for a in per_app)
    batch_seconds = sum(a[3] for a in per_app)
    add_batch = sum(a[4] for a in per_app)
    print(f"sums over the {len(per_app)} apps (they overlap):")
    line("  the runner's start of each app to its first progress report", to_progress)
    line(f"  {n_batches} micro-batches with rows", batch_seconds, f"   (of which foreachBatch {add_batch:.2f} s)")
    print("slowest apps: start to first progress, micro-batches with rows (count), of which foreachBatch")
    for name, progress, count, seconds, in_sink in sorted(per_app, key=lambda a: -a[1] - a[3])[:8]:
        print(f"  {name:<32} {progress:8.2f} s {seconds:8.2f} s ({count}) {in_sink:8.2f} s")


def run(root: Path, args: argparse.Namespace, memory: PeakMemory) -> None:
    print(f"lake: {root}")
    shape = {"accounts": args.accounts, "workspaces": args.workspaces, "days": 1, "seed": 5}
    label = f"simulate 1 day, {args.accounts} account(s) x {args.workspaces} workspaces (subprocess)"
    _, rows = timed(label, lambda: simulate_lake(root, memory, **shape))
    print(f"    {sum(rows.values()):,} rows in {len(rows)} tables")
    out = root / "catchup-timeline.json"
    log = root / "catchup-stderr.log"
    spawned = time.time()
    with log.open("w", encoding="utf-8") as stderr:
        command = [sys.executable, __file__, CHILD, str(root), str(out)]
        catch_up = subprocess.run(command, stdout=subprocess.PIPE, stderr=stderr, text=True, check=False)
    exited = time.time()
    print(catch_up.stdout.rstrip())
    if catch_up.returncode != 0 or not out.exists():
        print(log.read_text(encoding="utf-8")[-4000:])
        raise SystemExit(f"the catch-up process failed (exit {catch_up.returncode})")
    breakdown(json.loads(out.read_text(encoding="utf-8")), spawned, exited)


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--accounts", type=int, default=2)
    parser.add_argument("--workspaces", type=int, default=5, help="per account")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == CHILD:
        child(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        bench_main(__doc__, "bench-catchup-", run, add_options)
