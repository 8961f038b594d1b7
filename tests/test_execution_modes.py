"""The provider pipeline in both execution modes gives the same tables.

Classic (one local Spark process) and Spark Connect (a local Connect server: every ``foreachBatch`` function pickled
and run in a worker process of its own, no ``sparkContext``, only the session properties serverless allows) each run,
through the command line, the ingest jobs, every streaming app and every batch job on the same simulated system
catalog, then again after a day is appended to it. Every table they write must hold the same rows. The classic run
joins this test session's Spark; the Connect run is a process of its own (a Connect client cannot share a process
with a classic session) and also runs the weekly OPTIMIZE and VACUUM of every table, which change no rows.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stm.store.local import is_delta_table

MODES = ("classic", "connect")
OUTPUT = ("monitoring", "workspace_usage")
# stream_progress records each run itself (its id, timings): it differs between any two runs by design
PER_RUN_TABLES = {"stream_progress"}
# columns that hold when a job ran, not what it found
RUN_TIME_COLUMNS = {"computed_at", "snapshot_time", "refreshed_at", "generated_at", "written_at"}


def _rows(spark: Any, path: Path) -> list[tuple[Any, ...]]:
    """Every row without audit columns (``_``-prefixed) or run times, canonical and sorted."""
    from tests.cost_lake import plain

    df = spark.read.format("delta").load(str(path))
    columns = sorted(c for c in df.columns if not c.startswith("_") and c not in RUN_TIME_COLUMNS)
    rows = [tuple((c, plain(r[c])) for c in columns) for r in df.select(*columns).collect()]
    return sorted(rows, key=repr)


@pytest.fixture(scope="module")
def catalogs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A simulated system catalog (two days) and the same catalog with a third day appended."""
    from stm.simulate.simulator import simulate

    root = tmp_path_factory.mktemp("modes")
    simulate(root / "sim", accounts=1, workspaces=2, days=2, seed=7, billing_rows_per_day=15, audit_events_per_day=4)
    shutil.copytree(root / "sim" / "system", root / "first")
    simulate(root / "sim", days=1, append=True)
    return root / "first", root / "sim" / "system"


def _classic(lake: Path, first: Path, second: Path) -> Path:
    from tests.pipeline_modes import run

    shutil.copytree(first, lake / "system")
    assert run("classic", lake, second) == 0
    return lake.joinpath(*OUTPUT)


def _connect(lake: Path, first: Path, second: Path) -> Path:
    shutil.copytree(first, lake / "system")
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    env.pop("STM_SPARK_MODE", None)
    done = subprocess.run(
        [sys.executable, "-m", "tests.pipeline_modes", "connect", str(lake), str(second), "--maintenance"],
        capture_output=True,
        text=True,
        env=env,
        timeout=2400,
        check=False,
        cwd=Path(__file__).parent.parent,
    )
    steps = [line for line in done.stdout.splitlines() if line.startswith("round ")]
    assert done.returncode == 0, "\n".join([*steps, done.stderr[-3000:]])
    assert len(steps) == 7, steps  # three commands a round, two rounds, then maintenance
    return lake.joinpath(*OUTPUT)


def test_provider_pipeline_classic_and_connect_write_the_same_tables(spark, catalogs, tmp_path):
    first, second = catalogs
    outputs = {"classic": _classic(tmp_path / "classic", first, second)}
    outputs["connect"] = _connect(tmp_path / "connect", first, second)
    tables = {mode: sorted(p.name for p in out.iterdir() if is_delta_table(p)) for mode, out in outputs.items()}
    assert tables["classic"] == tables["connect"]
    compared = [t for t in tables["classic"] if t not in PER_RUN_TABLES]
    # the pipeline reached every layer: bronze, silver, gold, the daily batch jobs
    assert {"billing_usage_bronze", "billing_summary", "cost_by_product", "cost_weekly_rollup"} <= set(compared)
    rows = {t: [_rows(spark, outputs[m] / t) for m in MODES] for t in compared}
    different = [t for t, (classic, connect) in rows.items() if classic != connect]
    assert different == [], f"tables that differ between the modes: {different}"
    filled = [t for t, (classic, _) in rows.items() if classic]
    assert len(filled) >= 20, filled
    # both runs reported their micro-batches: the Connect mode's ran in worker processes
    for mode, out in outputs.items():
        apps = {r["app"] for r in spark.read.format("delta").load(str(out / "stream_progress")).collect()}
        assert {"billing_usage_bronze", "billing_summary"} <= apps, mode
