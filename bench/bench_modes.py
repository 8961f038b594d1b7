"""The same catch-up in both execution modes: ``stm stream --all --trigger availableNow`` over one simulated day,
classic (one local Spark process) against Spark Connect (a local Connect server; every foreachBatch function pickled
and run in a worker process of its own, as on serverless).

Simulates one day (``--accounts`` x ``--workspaces``, the simulator's default volumes) once, copies its system
catalog into one lake per mode, and runs the CLI in a cold process per mode (``--rounds`` times, alternating, each on
a fresh copy). Prints each run's wall time, the medians, and the ratio connect / classic (goal <= 1.5), and the peak
memory of each mode's process tree.

Run: ``.venv/bin/python bench/bench_modes.py [--accounts N] [--workspaces N] [--rounds N] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from harness import PeakMemory, bench_main, line, median, run_catch_up, simulate_lake, verdict

MODES = ("classic", "connect")
GOAL = 1.5


def catch_up(lake: Path, mode: str) -> float:
    """Wall seconds of a cold ``stm stream --all --trigger availableNow`` in ``mode``; stops on a failed run."""
    seconds, done = run_catch_up(lake, "--spark-mode", mode)
    if done.returncode != 0:
        raise SystemExit(f"{mode} catch-up failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    return seconds


def run(root: Path, args: argparse.Namespace, memory: PeakMemory) -> None:
    rows = simulate_lake(root / "sim", memory, accounts=args.accounts, workspaces=args.workspaces, days=1, seed=3)
    print(f"simulated one day: {sum(rows.values()):,} source rows in {len(rows)} tables")
    walls: dict[str, list[float]] = {m: [] for m in MODES}
    for i in range(args.rounds):
        for mode in MODES:
            lake = root / f"{mode}-{i}"
            shutil.copytree(root / "sim" / "system", lake / "system")
            seconds = catch_up(lake, mode)
            memory.split(f"{mode} round {i + 1}")
            walls[mode].append(seconds)
            line(f"{mode} round {i + 1}", seconds)
            shutil.rmtree(lake)
    classic, connect = median(walls["classic"]), median(walls["connect"])
    ratio = connect / classic
    line("classic (median)", classic)
    line("connect (median)", connect)
    print(f"connect / classic = {ratio:.2f} (goal <= {GOAL}): {verdict(ratio, GOAL)}")


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--accounts", type=int, default=1)
    parser.add_argument("--workspaces", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2, help="runs per mode, alternating (default 2)")


if __name__ == "__main__":
    bench_main(__doc__, "stm-bench-modes-", run, options)
