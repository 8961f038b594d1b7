"""Shared benchmark plumbing: a scratch lake, peak memory of the whole process tree, the command line."""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import psutil


class PeakMemory:
    """Samples the resident memory of this process and all its descendants (the JVM, Python workers)."""

    def __init__(self, interval: float = 0.1) -> None:
        self.peak = 0
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    continue
            self.peak = max(self.peak, total)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def bench_main(doc: str | None, prefix: str, run: Callable[[Path, int], None], memory_target: str = "") -> None:
    """Parse ``--billing-rows-per-day`` and ``--keep``, run ``run(root, rows)`` and print the peak memory."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--billing-rows-per-day", type=int, default=1700, help="per workspace and day (2x10x30)")
    parser.add_argument("--keep", type=Path, default=None, help="work here and keep the lake (must be empty)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    root = args.keep or Path(tempfile.mkdtemp(prefix=prefix))
    try:
        with PeakMemory() as memory:
            run(root, args.billing_rows_per_day)
        print(f"peak memory of the process tree (JVM included): {memory.peak / 2**30:.2f} GiB{memory_target}")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
