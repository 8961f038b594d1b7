"""Shared benchmark plumbing: a scratch lake, peak memory of the whole process tree, stream progress, appends."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import psutil
import pyarrow as pa
from pyspark.sql.streaming import StreamingQueryListener

T = TypeVar("T")
LABEL_WIDTH = 64
# the billing benchmarks' catalog: ~1M billing rows at the default 1,700 rows per workspace and day; few audit events
SHAPE = {"accounts": 2, "workspaces": 10, "days": 30, "seed": 11, "audit_events_per_day": 10}


def _kind(proc: psutil.Process, me: psutil.Process) -> str | None:
    """What ``proc`` is; None for a JVM's child between its fork and its exec (the JVM runs ``posix_spawn`` for the
    commands Hadoop's local file system calls and for Spark's Python daemon, through ``jspawnhelper``): until the
    exec it shares the JVM's memory, so its RSS is the JVM's once more, under the name of the thread that forked it
    or of the helper."""
    if proc.pid == me.pid:
        return "this process"
    if os.path.basename(proc.exe()) == "java":
        return "JVM" if proc.name() == "java" else None
    if proc.name() == "jspawnhelper":  # the JVM's spawn helper: vforked, it shows the JVM's RSS until it execs
        return None
    command = " ".join(proc.cmdline())
    if "pyspark.daemon" in command or "pyspark.worker" in command:
        return "Spark's Python workers"
    return f"other ({proc.name()})"


class PeakMemory:
    """Samples the resident memory of this process and all its descendants (the JVM, Python workers).

    The sum of each process's RSS (pages that forked processes share are counted once per process). ``split``
    closes a segment (e.g. the simulator's subprocess) so the rest of the run is reported on its own.
    """

    def __init__(self, interval: float = 0.1) -> None:
        self.peak = 0
        self.at_peak: dict[str, tuple[int, int]] = {}  # process kind -> (processes, bytes) in the peak sample
        self.segments: dict[str, str] = {}
        self.interval = interval
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            kinds: dict[str, tuple[int, int]] = {}
            for proc in [me, *me.children(recursive=True)]:
                try:
                    rss = proc.memory_info().rss
                    kind = _kind(proc, me)
                except psutil.Error:
                    continue
                if kind is None:
                    continue
                total += rss
                count, size = kinds.get(kind, (0, 0))
                kinds[kind] = (count + 1, size + rss)
            with self._lock:
                if total > self.peak:
                    self.peak, self.at_peak = total, kinds
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def split(self, label: str) -> None:
        """Close the segment so far under ``label``; the peak starts again from the next sample."""
        with self._lock:
            self.segments[label] = self.describe()
            self.peak, self.at_peak = 0, {}

    def describe(self) -> str:
        parts = ", ".join(f"{kind} {size / 2**30:.2f} GiB in {n}" for kind, (n, size) in sorted(self.at_peak.items()))
        return f"{self.peak / 2**30:.2f} GiB ({parts} process(es))"


def line(label: str, seconds: float, extra: str = "") -> None:
    print(f"  {label:<{LABEL_WIDTH}} {seconds:8.2f} s{extra}", flush=True)


def timed(label: str, fn: Callable[[], T]) -> tuple[float, T]:
    """Run ``fn``, print ``label`` with its wall seconds, return both."""
    started = time.perf_counter()
    value = fn()
    seconds = time.perf_counter() - started
    line(label, seconds)
    return seconds, value


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def verdict(ratio: float, goal: float, lower_is_better: bool = True) -> str:
    met = ratio <= goal if lower_is_better else ratio >= goal
    return f"goal {'<=' if lower_is_better else '>='} {goal:g}: {'met' if met else 'MISSED'}"


# -- source appends ---------------------------------------------------------------------------------------------
def with_new_record_ids(rows: pa.Table) -> pa.Table:
    """``rows`` as new billing records: the same values under fresh ``record_id``s."""
    ids = pa.array([str(uuid.uuid4()) for _ in range(rows.num_rows)])
    # combine_chunks: delta-rs 1.6.6 panics writing the dataset's sliced chunks of nested columns as they are
    return rows.set_column(rows.schema.get_field_index("record_id"), "record_id", ids).combine_chunks()


def append_to_source(path: Path, rows: pa.Table) -> int:
    """Append ``rows`` to the system table at ``path`` in one commit; returns the new version.

    delta-rs, as the simulator does: the benchmark stands in for Databricks writing a system table, apart from the
    Spark session under test (Spark-free, and cheap enough to commit hundreds of times).
    """
    from deltalake import DeltaTable, write_deltalake

    write_deltalake(str(path), rows, mode="append")
    return DeltaTable(str(path)).version()


# -- stream progress --------------------------------------------------------------------------------------------
def _epoch(timestamp: str) -> float:
    """A Spark progress timestamp (``2026-12-01T22:31:08.463Z``) as epoch seconds."""
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


@dataclass
class Trigger:
    """One progress report: when the trigger began (epoch s), how long it took, its rows and duration parts."""

    batch_id: int
    began: float
    seconds: float
    rows: int
    parts: dict[str, float]

    @property
    def ended(self) -> float:
        return self.began + self.seconds


@dataclass
class QueryTimeline:
    started: float | None = None  # epoch s of the QueryStartedEvent (right after ``start()``)
    terminated: float | None = None  # epoch s when the driver heard the query had ended
    triggers: list[Trigger] = field(default_factory=list)


class ProgressRecorder(StreamingQueryListener):
    """Every query's start, progress reports and end, by query name (the app name), from Spark's listener bus."""

    def __init__(self) -> None:
        self.queries: dict[str, QueryTimeline] = {}
        self._names: dict[str, str] = {}  # query id -> name (the end event carries only the id)
        self._lock = threading.RLock()
        self.progressed = threading.Condition(self._lock)

    def _timeline(self, name: str | None) -> QueryTimeline:
        return self.queries.setdefault(name or "?", QueryTimeline())

    def onQueryStarted(self, event: Any) -> None:
        with self._lock:
            self._names[str(event.id)] = event.name or "?"
            self._timeline(event.name).started = _epoch(event.timestamp)

    def onQueryProgress(self, event: Any) -> None:
        report = json.loads(event.progress.json)
        durations = {k: v / 1000 for k, v in (report.get("durationMs") or {}).items()}
        trigger = Trigger(
            int(report["batchId"]),
            _epoch(report["timestamp"]),
            durations.pop("triggerExecution", 0.0),
            int(report.get("numInputRows") or 0),
            durations,
        )
        with self.progressed:
            self._timeline(report.get("name")).triggers.append(trigger)
            self.progressed.notify_all()

    def onQueryIdle(self, event: Any) -> None:
        pass

    def onQueryTerminated(self, event: Any) -> None:
        ended = time.time()
        with self._lock:
            name = self._names.get(str(event.id))
            if name is not None:
                self._timeline(name).terminated = ended
            self.progressed.notify_all()

    def wait_all_terminated(self, timeout: float) -> bool:
        """Wait until every query that started has been reported ended (the bus delivers events late)."""
        deadline = time.monotonic() + timeout
        with self.progressed:
            while any(q.started is not None and q.terminated is None for q in self.queries.values()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.progressed.wait(min(left, 1.0))
        return True

    def batches(self, name: str) -> list[Trigger]:
        """The app's triggers that processed rows, in order."""
        with self._lock:
            return [t for t in self.queries.get(name, QueryTimeline()).triggers if t.rows > 0]


# -- the command line -------------------------------------------------------------------------------------------
def bench_main(
    doc: str | None,
    prefix: str,
    run: Callable[[Path, argparse.Namespace, PeakMemory], None],
    add_options: Callable[[argparse.ArgumentParser], None] | None = None,
) -> None:
    """Parse the options (``--keep`` and the benchmark's own), run ``run(root, args, memory)``, print peak memory."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", type=Path, default=None, help="work here and keep the lake (must be empty)")
    if add_options is not None:
        add_options(parser)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    root = args.keep or Path(tempfile.mkdtemp(prefix=prefix))
    started = time.perf_counter()
    try:
        with PeakMemory() as memory:
            run(root, args, memory)
        print(f"peak memory of the process tree (JVM included): {memory.describe()}")
        for label, peak in memory.segments.items():
            print(f"  before that, {label}: {peak}")
        print(f"benchmark wall time: {time.perf_counter() - started:.0f} s")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


def run_catch_up(
    lake: Path, *extra: str, timeout: float | None = None
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """A cold ``stm stream --all --trigger availableNow`` over ``lake`` (``extra`` appended): its wall seconds."""
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    command = [sys.executable, "-c", "from stm.cli import entry; entry()", "stream", "--all", "--trigger"]
    started = time.perf_counter()
    done = subprocess.run(
        [*command, "availableNow", "--lake-root", str(lake), *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    return time.perf_counter() - started, done


def simulate_lake(root: Path, memory: PeakMemory, **options: int) -> dict[str, int]:
    """Run ``stm.simulate.simulator.simulate(root, **options)`` in a subprocess; the rows written per table.

    Its own process (and its own Spark session for its one Spark commit), so neither its memory nor its JVM stays
    in the process under test; ``memory`` gets a segment of its own.
    """
    code = (
        "import json, sys; from pathlib import Path; from stm.simulate.simulator import simulate; "
        "print(json.dumps(simulate(Path(sys.argv[1]), **json.loads(sys.argv[2]))))"
    )
    command = [sys.executable, "-c", code, str(root), json.dumps(options)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"simulate failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    memory.split("simulate (subprocess)")
    rows: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    return rows
