"""How fast ``stm simulate`` writes about one million billing rows (2 accounts x 10 workspaces x 30 days).

Reports the whole run and, within it, the start of the local Spark session that writes the deletion-vector commit
(the only part that does not grow with the data). Run:
``.venv/bin/python bench/bench_simulate.py [--billing-rows-per-day N] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from stm.simulate.lake import local_spark
from stm.simulate.simulator import simulate

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=2)
    parser.add_argument("--workspaces", type=int, default=10)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--billing-rows-per-day", type=int, default=1800, help="per workspace and day")
    parser.add_argument("--keep", type=Path, default=None, help="write here and keep the lake (must be empty)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-simulate-"))
    session_seconds = 0.0

    def session() -> SparkSession:
        nonlocal session_seconds
        asked = time.perf_counter()
        spark = local_spark()
        session_seconds += time.perf_counter() - asked
        return spark

    try:
        started = time.perf_counter()
        rows = simulate(
            root,
            accounts=args.accounts,
            workspaces=args.workspaces,
            days=args.days,
            seed=1,
            billing_rows_per_day=args.billing_rows_per_day,
            session=session,
        )
        seconds = time.perf_counter() - started
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    total = sum(rows.values())
    billing = rows["billing.usage"]
    print(f"shape: {args.accounts} accounts x {args.workspaces} workspaces x {args.days} days")
    print(f"billing.usage rows: {billing:,}   all tables: {total:,} rows")
    print(f"seconds: {seconds:.1f}   billing rows/s: {billing / seconds:,.0f}   all rows/s: {total / seconds:,.0f}")
    print(f"of which starting local Spark (for the deletion-vector commit): {session_seconds:.1f} s")


if __name__ == "__main__":
    main()
