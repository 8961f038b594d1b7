"""Faults: a stream, a batch job and a hub sync killed with SIGKILL at a random (seeded, bounded) point, then run
again. Each must end exactly as a run that was never killed: every record once, nothing lost, and no data file
left behind that the table does not reference once VACUUM has run.

The kill points come from ``STM_FAULT_SEED`` (default 17), printed in every assertion message, so a failing point
can be replayed; set it to explore other points. Each kill costs one subprocess (a JVM for the Spark commands)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from stm.sharing.hub import Hub
from stm.simulate.simulator import simulate
from stm.store.local import LocalTableStore
from tests.cost_lake import run_jobs_named, stream
from tests.sharing_fixtures import billing_rows, runs_rows, write
from tests.test_sharing_hub import Providers, providers

__all__ = ["providers"]  # the fixture, imported for pytest

SEED = int(os.environ.get("STM_FAULT_SEED", "17"))
STM = [sys.executable, "-c", "from stm.cli import entry; entry()"]
POLL = 0.02  # seconds between looks at a subprocess's progress
LIMIT = 300  # seconds a subprocess may take to reach its kill point


def _env(lake: Path) -> dict[str, str]:
    return {**os.environ, "STM_LAKE_ROOT": str(lake), "PYSPARK_PYTHON": sys.executable}


def _wait(ready: Callable[[], bool], proc: subprocess.Popen[str], what: str) -> None:
    """Poll until ``ready()`` or the process ends (then the kill point passed: it is killed after it ends)."""
    deadline = time.monotonic() + LIMIT
    while not ready() and proc.poll() is None:
        assert time.monotonic() < deadline, f"seed {SEED}: {what} not reached in {LIMIT} s"
        time.sleep(POLL)


def _kill(proc: subprocess.Popen[str], delay: float) -> bool:
    """SIGKILL ``proc`` ``delay`` seconds from now and reap it; False when it had ended before."""
    deadline = time.monotonic() + delay
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(POLL)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    return proc.returncode == -signal.SIGKILL


def _after_line(proc: subprocess.Popen[str], marker: str, nth: int) -> None:
    """Read ``proc``'s stderr until the ``nth`` line holding ``marker`` (or its end)."""
    assert proc.stderr is not None
    seen = 0
    for line in proc.stderr:
        seen += marker in line
        if seen >= nth:
            return


def _unreferenced(table: Path) -> set[str]:
    """Parquet files under ``table`` (relative paths) that its current snapshot does not reference."""
    base = str(table.resolve()) + "/"
    referenced = {unquote(uri).split(base, 1)[-1] for uri in DeltaTable(str(table)).file_uris()}
    on_disk = {p.relative_to(table).as_posix() for p in table.rglob("*.parquet") if "_delta_log" not in p.parts}
    return on_disk - referenced


def _vacuum_now(spark, cfg, lake: Path, table: str) -> None:
    """VACUUM ``table`` keeping no history: every file its current version does not reference is deleted."""
    LocalTableStore(spark, lake).vacuum(cfg.output_name(table), 0, allow_short_retention=True)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One simulated lake for the stream and the batch test: they write different tables."""
    root = tmp_path_factory.mktemp("faults") / "lake"
    simulate(root, accounts=2, workspaces=1, days=3, seed=5)
    return root


def test_stream_killed_at_a_random_point_then_rerun_keeps_every_record_once(spark, cfg, lake: Path) -> None:
    rng = random.Random(SEED)
    delay = rng.uniform(0.0, 1.0)  # within the micro-batch's MERGE, its commit, or the checkpoint's commit after it
    bronze = lake / cfg.output.catalog / cfg.output.schema / "billing_usage_bronze"
    args = [*STM, "stream", "billing_usage_bronze", "--trigger", "availableNow"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(lake))
    _wait(lambda: bronze.is_dir() and any(bronze.rglob("*.parquet")), proc, "the first bronze data file")
    point = f"seed {SEED}: killed {delay:.2f} s after the first bronze data file"
    assert _kill(proc, delay), f"{point}: the stream had already finished"

    stream(spark, cfg, lake, ["billing_usage_bronze"])  # the same app, the same checkpoint, to the end
    store = LocalTableStore(spark, lake)
    source = store.read(cfg.source_name(cfg.table("billing_usage_bronze"))).select("record_id").distinct()
    target = store.read(cfg.output_name("billing_usage_bronze"))
    assert target.count() == target.select("record_id").distinct().count(), f"{point}: a record is stored twice"
    missing = source.subtract(target.select("record_id")).count()
    assert missing == 0 and target.count() == source.count(), f"{point}: {missing} records lost"
    _vacuum_now(spark, cfg, lake, "billing_usage_bronze")
    assert not _unreferenced(bronze), f"{point}: files the table does not reference are left after VACUUM"


def test_batch_job_killed_while_writing_then_rerun_equals_a_clean_run(spark, cfg, lake: Path) -> None:
    rng = random.Random(SEED + 1)
    delay = rng.uniform(0.0, 0.5)
    target = lake / cfg.output.catalog / cfg.output.schema / "query_history_bronze"
    args = [*STM, "batch", "query_history_bronze"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(lake))
    _wait(lambda: target.is_dir() and any(target.rglob("*.parquet")), proc, "the first data file")
    point = f"seed {SEED}: killed {delay:.2f} s after its first data file"
    assert _kill(proc, delay), f"{point}: the job had already finished"

    run_jobs_named(spark, cfg, lake, ["query_history_bronze"])
    store = LocalTableStore(spark, lake)
    source = store.read(cfg.source_name(cfg.table("query_history_bronze")))
    bronze = store.read(cfg.output_name("query_history_bronze"))
    assert bronze.count() == bronze.select("statement_id").distinct().count(), f"{point}: a statement twice"
    assert bronze.count() == source.select("statement_id").distinct().count(), f"{point}: statements lost"
    again = run_jobs_named(spark, cfg, lake, ["query_history_bronze"])
    assert again["query_history_bronze"].rows == 0, f"{point}: a rerun still finds changes"
    _vacuum_now(spark, cfg, lake, "query_history_bronze")
    assert not _unreferenced(target), f"{point}: files the table does not reference are left after VACUUM"


class Crash(Exception):
    """Stands for the process dying at that point."""


def test_hub_sync_dying_before_its_state_is_saved_applies_no_change_twice(providers: Providers, monkeypatch) -> None:
    """The copies of a sync that died after applying a provider's changes but before saving its state: the next
    sync must not apply those changes again (the copy carries the provider version it holds)."""
    Hub(providers.hub_root, providers.cfg(), retries=0).sync()
    write(providers.roots["beta"], "billing_summary", billing_rows("acc2", "2001", ["r4", "r5"], day=3))
    write(providers.roots["beta"], "job_runs_summary", runs_rows("acc2", "2001", failed=2))  # no dedup key

    def die(self: Hub, state: dict) -> None:
        raise Crash

    with monkeypatch.context() as patched:
        patched.setattr(Hub, "save_state", die)
        with pytest.raises(Crash):
            Hub(providers.hub_root, providers.cfg(), retries=0).sync()
    statuses = Hub(providers.hub_root, providers.cfg(), retries=0).sync()
    assert not [s for s in statuses if s.status == "failed"]
    billing = providers.read("all_billing_summary").to_pylist()
    acc2 = sorted(r["record_id"] for r in billing if r["account_id"] == "acc2")
    assert acc2 == ["r1", "r2", "r3", "r4", "r5"]  # r4 and r5 once each
    copy = Hub(providers.hub_root, providers.cfg()).source_path("beta", "billing_summary")
    copied = sorted(r["record_id"] for r in (Hub.read(copy) or pa.table({"record_id": []})).to_pylist())
    assert copied == ["r1", "r2", "r3", "r4", "r5"], "the hub's copy of the provider table holds a record twice"
    runs = [r["failed_runs"] for r in providers.read("all_job_runs_summary").to_pylist() if r["account_id"] == "acc2"]
    assert sorted(runs) == [1, 2]  # a workspace-scoped table is not deduplicated: the feed must apply once


def _hub_tables(root: Path) -> dict[str, list[str]]:
    """Every table of a hub lake (provider copies and consolidated tables) as sorted rows; not ``sync_status``,
    whose times differ from run to run."""
    out = {}
    for table in sorted(p.parent for p in root.glob("*/*/*/_delta_log")):
        if table.name == "sync_status":
            continue
        data: pa.Table = DeltaTable(str(table)).to_pyarrow_dataset().to_table(use_threads=False)
        out[f"{table.parent.name}.{table.name}"] = sorted(repr(sorted(row.items())) for row in data.to_pylist())
    return out


def test_hub_sync_killed_at_random_points_then_rerun_equals_a_clean_sync(providers: Providers, tmp_path: Path) -> None:
    """Hubs synced once; a provider adds rows; one hub syncs them cleanly (timed), the others are killed at random
    points of that sync and run again: every table must equal the clean hub's."""
    conf = tmp_path / "hub.json"
    conf.write_text(json.dumps(providers.overlay))
    hubs = [tmp_path / name for name in ("clean", "killed-0", "killed-1", "killed-2")]
    for root in hubs:
        Hub(root, providers.cfg(), retries=0).sync()
    write(providers.roots["beta"], "billing_summary", billing_rows("acc2", "2001", ["r4", "r5"], day=3))
    write(providers.roots["acme_eu"], "job_runs_summary", runs_rows("acc1", "1001", failed=2))

    def sync(root: Path) -> subprocess.Popen[str]:
        cmd = [*STM, "hub", "sync", "--retries", "0", "--lake-root", str(root), "--config", str(conf)]
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    started = time.monotonic()
    clean = sync(hubs[0])
    _, err = clean.communicate(timeout=LIMIT)
    assert clean.returncode == 0, err[-2000:]
    duration = time.monotonic() - started
    expected = _hub_tables(hubs[0])
    assert any(name.startswith("consolidated.") for name in expected), "the clean sync wrote no table"

    rng = random.Random(SEED + 2)
    kills = 0
    for attempt, root in enumerate(hubs[1:]):
        proc = sync(root)
        if attempt == 0:  # anywhere in the sync
            delay = rng.uniform(0.0, duration)
            point = f"seed {SEED}: sync killed {delay:.2f} s in (a clean sync takes {duration:.2f} s)"
        else:  # just after a copy took a provider's changes: before the sync state is saved, most likely
            nth, delay = rng.randint(1, 2), rng.uniform(0.0, 0.2)
            _after_line(proc, "status=changes", nth)
            point = f"seed {SEED}: sync killed {delay:.2f} s after applying changes feed {nth}"
        kills += _kill(proc, delay)
        statuses = Hub(root, providers.cfg(), retries=0).sync()
        assert not [s for s in statuses if s.status == "failed"], point
        assert _hub_tables(root) == expected, f"{point}: the hub differs from a clean sync"
    assert kills >= 2, f"seed {SEED}: only {kills} of 3 syncs were still running when killed"
