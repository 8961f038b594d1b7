"""The provider pipeline in both execution modes gives the same tables.

Classic (one local Spark process) and Spark Connect (a local Connect server: every ``foreachBatch`` function pickled
and run in a worker process of its own, no ``sparkContext``, only the session properties serverless allows) each run,
through the command line, the ingest jobs, every streaming app and every batch job on the same simulated system
catalog, then again after a day is appended to it. Every table they write must hold the same rows.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from stm.store.local import is_delta_table

MODES = ("classic", "connect")
OUTPUT = ("monitoring", "workspace_usage")
# stream_progress records each run itself (its id, timings): it differs between any two runs by design
PER_RUN_TABLES = {"stream_progress"}
# columns that hold when a job ran, not what it found
RUN_TIME_COLUMNS = {"computed_at", "snapshot_time", "refreshed_at", "generated_at", "written_at"}


def _rows(path: Path) -> list[tuple[Any, ...]]:
    """Every row without audit columns (``_``-prefixed) or run times, canonical and sorted."""
    data = DeltaTable(str(path)).to_pyarrow_dataset().to_table(use_threads=False)
    columns = sorted(c for c in data.column_names if not c.startswith("_") and c not in RUN_TIME_COLUMNS)
    rows = data.select(columns).to_pylist()
    return sorted((tuple((c, _plain(r[c])) for c in columns) for r in rows), key=repr)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _plain(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_plain(v) for v in value)
    if isinstance(value, float):
        return float(f"{value:.12g}")  # doubles summed in partition order: 12 digits
    if isinstance(value, (Decimal, date, datetime, str, int, bool)) or value is None:
        return value
    return repr(value)


@pytest.fixture(scope="module")
def catalogs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A simulated system catalog (two days) and the same catalog with a third day appended."""
    from stm.simulate.simulator import simulate

    root = tmp_path_factory.mktemp("modes")
    simulate(root / "sim", accounts=1, workspaces=2, days=2, seed=7, billing_rows_per_day=15, audit_events_per_day=4)
    shutil.copytree(root / "sim" / "system", root / "first")
    simulate(root / "sim", days=1, append=True)
    return root / "first", root / "sim" / "system"


def _pipeline(mode: str, lake: Path, first: Path, second: Path) -> Path:
    shutil.copytree(first, lake / "system")
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    env.pop("STM_SPARK_MODE", None)
    done = subprocess.run(
        [sys.executable, "-m", "tests.pipeline_modes", mode, str(lake), str(second)],
        capture_output=True,
        text=True,
        env=env,
        timeout=1500,
        check=False,
        cwd=Path(__file__).parent.parent,
    )
    steps = [line for line in done.stdout.splitlines() if line.startswith("round ")]
    assert done.returncode == 0, "\n".join([*steps, done.stderr[-3000:]])
    assert len(steps) == 6, steps  # three commands, two rounds
    return lake.joinpath(*OUTPUT)


def test_provider_pipeline_classic_and_connect_write_the_same_tables(catalogs, tmp_path):
    first, second = catalogs
    outputs = {mode: _pipeline(mode, tmp_path / mode, first, second) for mode in MODES}
    tables = {mode: sorted(p.name for p in out.iterdir() if is_delta_table(p)) for mode, out in outputs.items()}
    assert tables["classic"] == tables["connect"]
    compared = [t for t in tables["classic"] if t not in PER_RUN_TABLES]
    # the pipeline reached every layer: bronze, silver, gold, the daily batch jobs
    assert {"billing_usage_bronze", "billing_summary", "cost_by_product", "cost_weekly_rollup"} <= set(compared)
    different = [t for t in compared if _rows(outputs["classic"] / t) != _rows(outputs["connect"] / t)]
    assert different == [], f"tables that differ between the modes: {different}"
    filled = [t for t in compared if _rows(outputs["classic"] / t)]
    assert len(filled) >= 20, filled
    # both runs reported every micro-batch: the Connect mode's batches ran in worker processes
    for mode, out in outputs.items():
        progress = DeltaTable(str(out / "stream_progress")).to_pyarrow_dataset().to_table(use_threads=False)
        apps = set(progress.column("app").to_pylist())
        assert {"billing_usage_bronze", "billing_summary"} <= apps, mode
