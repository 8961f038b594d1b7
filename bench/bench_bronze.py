"""Bronze ingestion speed and memory against a plain delta-rs copy, measured in one run.

(a) plain delta-rs copy of a ~1M-row billing table (read to Arrow, write), no Spark;
(b) the billing_usage_bronze stream ingesting the same table into an empty target (cold: first run of a fresh
    session; warm: the same again in that session, as a long-lived app sees it);
(c) a 10,000-row append streamed into the 1M-row bronze versus into an empty bronze (median of three rounds).
Prints rows/s, the ratios b/a and c(1M)/c(empty), and the peak memory of the whole process tree (JVM included).

Run: ``.venv/bin/python bench/bench_bronze.py [--billing-rows-per-day N] [--keep DIR]``.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
from harness import bench_main

from stm.config import load_config
from stm.simulate.simulator import simulate
from stm.store.base import StreamOptions
from streaming.apps import App
from streaming.checkpoints import Checkpoints
from streaming.runner import StreamRunner

SOURCE = "system.billing.usage"
ROUNDS = 3


def _timed(label: str, fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    seconds = time.perf_counter() - started
    print(f"  {label:<58} {seconds:8.2f} s", flush=True)
    return seconds


def run(root: Path, rows_per_day: int) -> None:
    print(f"lake: {root}")
    simulate(root, accounts=2, workspaces=10, days=30, seed=11, billing_rows_per_day=rows_per_day)
    src = root / "system" / "billing" / "usage"
    n = DeltaTable(str(src)).count()
    print(f"source {SOURCE}: {n:,} rows")

    def plain_copy() -> None:
        # combine_chunks: delta-rs 1.6.6 panics writing the dataset's sliced chunks of nested columns as they are
        table = DeltaTable(str(src)).to_pyarrow_dataset().to_table().combine_chunks()
        write_deltalake(str(root / "copy"), table, mode="overwrite")

    a = _timed("(a) plain delta-rs copy (read to Arrow, write)", plain_copy)

    from stm.engine import open_engine

    cfg = load_config()
    started = time.perf_counter()
    engine = open_engine(cfg, root, "stm-bench")
    print(f"  {'Spark session start (not counted below)':<58} {time.perf_counter() - started:8.2f} s")
    spec = cfg.table("billing_usage_bronze")
    checkpoints = Checkpoints(root / "_checkpoints")

    def app(name: str) -> App:
        return App(name, SOURCE, f"bench.bronze.{name}", spec)

    def stream(name: str, options: StreamOptions | None = None) -> int:
        runner = StreamRunner(
            cfg, engine.spark, engine.store, checkpoints, options or StreamOptions(), {"availableNow": True}
        )
        stats = runner.run([app(name)])[name]
        assert stats.status == "ok", stats.detail
        return stats.rows_written

    b_cold = _timed("(b) stream into empty bronze, cold session", lambda: stream("cold"))
    b = _timed("(b) stream into empty bronze, warm session", lambda: stream("full"))
    assert engine.store.read("bench.bronze.full").count() == engine.store.read("bench.bronze.cold").count()

    # (c) 10,000 new records appended to the source, streamed into the 1M bronze and into an empty one; three
    # rounds (each a new append and a new empty target), the medians compared
    head = DeltaTable(str(src)).to_pyarrow_dataset().head(10_000).combine_chunks()
    c_fulls, c_empties = [], []
    for round_ in range(1, ROUNDS + 1):
        fresh = head.set_column(
            head.schema.get_field_index("record_id"), "record_id", pa.array([str(uuid.uuid4()) for _ in range(10_000)])
        )
        write_deltalake(str(src), fresh, mode="append")
        version = DeltaTable(str(src)).version()
        c_fulls.append(_timed(f"(c) round {round_}: 10,000-row append into the 1M-row bronze", lambda: stream("full")))
        empty = f"empty{round_}"
        c_empties.append(
            _timed(
                f"(c) round {round_}: 10,000-row append into an empty bronze",
                lambda: stream(empty, StreamOptions(starting_version=version)),  # noqa: B023 (called at once)
            )
        )
    c_full, c_empty = statistics.median(c_fulls), statistics.median(c_empties)
    full_rows = engine.store.read("bench.bronze.full").count()
    empty_rows = engine.store.read(f"bench.bronze.empty{ROUNDS}").count()
    print(f"rows: source {n:,}; bronze after the appends {full_rows:,}; an empty-target bronze {empty_rows:,}")
    print(f"(a) plain copy      {n / a:12,.0f} rows/s")
    print(f"(b) stream, warm    {n / b:12,.0f} rows/s   (cold {n / b_cold:,.0f} rows/s)")
    print(f"(c) append into 1M  {10_000 / c_full:12,.0f} rows/s   into empty {10_000 / c_empty:,.0f} rows/s (medians)")
    print(f"ratio b/a = {b / a:.2f} (target <= 4; cold session {b_cold / a:.2f})")
    print(f"ratio c(1M)/c(empty) = {c_full / c_empty:.2f} (target <= 1.5)")
    engine.spark.stop()


if __name__ == "__main__":
    bench_main(__doc__, "bench-bronze-", run, " (target <= 4)")
