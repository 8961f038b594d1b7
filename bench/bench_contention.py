"""A catch-up of every streaming app while CPU hogs hold every core: does each app finish, with no rerun?

Simulates ``--days`` days (subprocess), copies the lake, then runs ``stm stream --all --trigger availableNow`` as a
user does (its own process, cold JVM) twice: on a quiet machine, then while ``--hogs`` busy-looping processes
(default: three per core, a load of about 6 on two cores) compete for the CPU; the hogs are stopped when the run
ends (and after ``--max-seconds`` at the latest). Prints each run's wall time and the apps that did not end ``ok``,
then the slowdown ratio (contended / quiet wall time, one run each). Goal: every app ``ok`` in the contended run,
exit 0, no retry.

Run: ``.venv/bin/python bench/bench_contention.py [--days N] [--hogs N] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from harness import PeakMemory, bench_main, run_catch_up, simulate_lake

HOG = "import time\nend = time.time() + float(__import__('sys').argv[1])\nwhile time.time() < end:\n    pass\n"


def catch_up(lake: Path, timeout: float) -> tuple[float, int, dict[str, str]]:
    """Wall seconds, exit code and each app's status of one ``stm stream --all`` run."""
    seconds, done = run_catch_up(lake, timeout=timeout)
    statuses: dict[str, str] = {}
    lines = done.stdout.splitlines()
    header = next((i for i, row in enumerate(lines) if row.split()[:2] == ["app", "status"]), len(lines))
    for row in lines[header + 1 :]:
        parts = row.split()
        if len(parts) >= 2:
            statuses[parts[0]] = parts[1]
    if not statuses:
        print(done.stderr[-3000:])
    return seconds, done.returncode, statuses


def report(label: str, seconds: float, code: int, statuses: dict[str, str]) -> None:
    bad = {app: s for app, s in statuses.items() if s != "ok"}
    print(f"{label:<28} {seconds:7.1f} s  exit {code}  apps ok {len(statuses) - len(bad)}/{len(statuses)}")
    for app, status in sorted(bad.items()):
        print(f"    {app}: {status}")


def run(root: Path, args: argparse.Namespace, memory: PeakMemory) -> None:
    source = root / "source"
    rows = simulate_lake(source, memory, accounts=1, workspaces=2, days=args.days, seed=7)
    print(f"simulated {sum(rows.values())} rows in {len(rows)} system tables")
    quiet_lake, busy_lake = root / "quiet", root / "busy"
    shutil.copytree(source, quiet_lake)
    shutil.copytree(source, busy_lake)
    quiet = catch_up(quiet_lake, args.max_seconds)
    report("quiet machine", *quiet)
    hogs = [
        subprocess.Popen([sys.executable, "-c", HOG, str(args.max_seconds)], stdout=subprocess.DEVNULL)
        for _ in range(args.hogs)
    ]
    try:
        busy = catch_up(busy_lake, args.max_seconds)
        load = os.getloadavg()[0]
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    report(f"{args.hogs} CPU hogs (load {load:.1f})", *busy)
    every_ok = busy[1] == 0 and all(s == "ok" for s in busy[2].values()) and len(busy[2]) == len(quiet[2])
    print(f"slowdown under contention: {busy[0] / quiet[0]:.2f}x; every app finished first time: {every_ok}")


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=int, default=2, help="simulated days (default 2)")
    parser.add_argument("--hogs", type=int, default=3 * (os.cpu_count() or 2), help="busy-looping processes")
    parser.add_argument("--max-seconds", type=float, default=1800, help="bound on each run and on the hogs")


if __name__ == "__main__":
    bench_main(__doc__, "stm-contention-", run, options)
