"""Whole runs of ``simulate``: determinism, ``--append``, and the CLI's exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stm.cli import main
from stm.simulate.schemas import SYSTEM_TABLES
from stm.simulate.simulator import simulate
from tests.test_simulate_support import commits, read


def _tiny(lake: Path, seed: int) -> None:
    simulate(lake, accounts=1, workspaces=2, days=2, seed=seed)


def _contents(lake: Path, table: str) -> list[str]:
    return sorted(repr(r) for r in read(lake, table).to_pylist())


def test_simulate_same_seed_twice_writes_identical_tables(tmp_path: Path) -> None:
    _tiny(tmp_path / "a", 11)
    _tiny(tmp_path / "b", 11)
    for table in SYSTEM_TABLES:
        assert _contents(tmp_path / "a", table) == _contents(tmp_path / "b", table), table


def test_simulate_different_seed_writes_different_ids(tmp_path: Path) -> None:
    _tiny(tmp_path / "a", 1)
    _tiny(tmp_path / "b", 2)
    ids = [set(read(tmp_path / d, "access.workspaces_latest").column("workspace_id").to_pylist()) for d in "ab"]
    assert ids[0].isdisjoint(ids[1])
    assert _contents(tmp_path / "a", "billing.usage") != _contents(tmp_path / "b", "billing.usage")


def test_simulate_append_adds_newer_days_with_consistent_ids(tmp_path: Path) -> None:
    _tiny(tmp_path, 5)
    before = {t: len(commits(tmp_path, t)) for t in SYSTEM_TABLES}
    first_dates = set(read(tmp_path, "billing.usage").column("usage_date").to_pylist())
    rows = simulate(tmp_path, days=2, append=True)
    state = json.loads((tmp_path / "system" / "_simulation.json").read_text())
    assert state["end_date"] == "2026-11-03" and len(state["runs"]) == 2
    assert all(len(commits(tmp_path, t)) > before[t] for t in SYSTEM_TABLES)
    assert rows["billing.usage"] > 0
    new_dates = set(read(tmp_path, "billing.usage").column("usage_date").to_pylist()) - first_dates
    assert min(new_dates) > max(first_dates)
    jobs = {(r["workspace_id"], r["job_id"]) for r in read(tmp_path, "lakeflow.jobs").to_pylist()}
    runs = {(r["workspace_id"], r["job_id"]) for r in read(tmp_path, "lakeflow.job_run_timeline").to_pylist()}
    assert runs <= jobs
    assert len({ws for ws, _ in jobs}) == 2


def test_simulate_append_without_state_exits_2(tmp_path: Path) -> None:
    assert main(["simulate", "--lake-root", str(tmp_path), "--days", "1", "--append"]) == 2


def test_simulate_into_non_empty_lake_without_append_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "system" / "billing").mkdir(parents=True)
    assert main(["simulate", "--lake-root", str(tmp_path), "--days", "1"]) == 2
    assert "--append" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "value"),
    [("--accounts", "0"), ("--workspaces", "51"), ("--days", "0"), ("--days", "400"), ("--seed", "-1"),
     ("--billing-rows-per-day", "0")],
)  # fmt: skip
def test_simulate_bad_option_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str
) -> None:
    args = ["simulate", "--lake-root", str(tmp_path), "--days", "1", option, value]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert option in err and "between" in err and len(err.strip().splitlines()) == 1


def test_simulate_without_lake_root_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STM_LAKE_ROOT", raising=False)
    assert main(["simulate", "--days", "1"]) == 2


def test_simulate_cli_in_subprocess_exits_cleanly(tmp_path: Path) -> None:
    code = "import sys; from stm.cli import main; sys.exit(main(sys.argv[1:]))"
    args = ["simulate", "--lake-root", str(tmp_path), "--days", "1", "--accounts", "1", "--workspaces", "1"]
    # the run starts local Spark for its deletion-vector commit: allow for a JVM on a busy machine
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "system.billing.usage" in done.stdout
