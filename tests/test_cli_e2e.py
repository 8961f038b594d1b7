"""The CLI end to end in a subprocess, as a user runs it: exit codes are 0, nothing aborts at exit.

The source lake is simulated in this process (on the session's Spark, for its deletion-vector commit): the
``simulate`` command has its own subprocess test; each command here pays for a JVM of its own, so one flow holds
them all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from stm.simulate.simulator import simulate
from stm.store.local import LocalTableStore

STM = [sys.executable, "-c", "from stm.cli import entry; entry()"]


def _stm(*args: str, lake: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STM_LAKE_ROOT": str(lake), "PYSPARK_PYTHON": sys.executable}
    return subprocess.run([*STM, *args], capture_output=True, text=True, env=env, timeout=600, check=False)


def test_cli_long_lived_stream_sigterm_reset_restream_loses_and_duplicates_nothing(spark, cfg, tmp_path):
    """One flow, two JVMs: a processingTime stream stopped by SIGTERM, a checkpoint reset to version 0 by hand, and
    a restream that re-reads every source record and finds each one already in bronze."""
    lake = tmp_path / "lake"
    assert simulate(lake, accounts=2, workspaces=1, days=1, seed=5)["billing.usage"] > 0
    env = {**os.environ, "STM_LAKE_ROOT": str(lake), "PYSPARK_PYTHON": sys.executable}
    args = [*STM, "stream", "billing_usage_bronze", "billing_summary", "--trigger", "processingTime=2 seconds"]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    seen: list[str] = []
    for line in proc.stderr:  # blocks until the apps log their first micro-batches
        seen.append(line)
        if "app=billing_summary batch=0" in line:
            break
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=300)
    log = "".join(seen) + err
    assert proc.returncode == 0, log[-2000:]
    assert "app=billing_usage_bronze batch=0" in log
    assert "stop requested" in err
    assert "billing_usage_bronze" in out and "stopped" in out

    reset = _stm("checkpoint", "reset", "billing_usage_bronze", "--starting-version", "0", lake=lake)
    assert reset.returncode == 0, reset.stderr
    assert "backup:" in reset.stdout
    again = _stm("stream", "billing_usage_bronze", "--trigger", "availableNow", lake=lake)
    assert again.returncode == 0, again.stderr[-2000:]
    assert " ok " in again.stdout
    (row,) = [line.split() for line in again.stdout.splitlines() if line.startswith("billing_usage_bronze")]
    rows_in, rows_out = int(row[3]), int(row[4])
    # every record re-read from version 0 is already in bronze: nothing was lost at the stop, nothing is written twice
    assert rows_in > 0 and rows_out == 0
    store = LocalTableStore(spark, lake)
    source = store.read(cfg.source_name(cfg.table("billing_usage_bronze")))
    bronze = store.read(cfg.output_name("billing_usage_bronze"))
    source_keys = source.select("record_id").distinct().count()  # the source repeats some records, as billing does
    assert bronze.count() == bronze.select("record_id").distinct().count() == source_keys
