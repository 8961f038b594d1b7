"""``stm report`` on small Delta lakes: reading provider and hub tables, the CLI in a subprocess, headless Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from stm.cli import main
from stm.report.data import load_report_data
from stm.store.local import LocalTableStore
from tests.test_report import ESCAPED, HOSTILE, sample_frames

STM = [sys.executable, "-c", "from stm.cli import entry; entry()"]
OUTPUT = ("monitoring", "workspace_usage")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
)


def _write(path: Path, frame: pd.DataFrame) -> None:
    write_deltalake(str(path), pa.Table.from_pandas(frame, preserve_index=False))


def provider_lake(root: Path) -> Path:
    for name, frame in sample_frames().items():
        _write(root.joinpath(*OUTPUT, name), frame)
    return root


def hub_lake(root: Path) -> Path:
    hub = root / "monitoring_hub" / "consolidated"
    for name, frame in sample_frames().items():
        _write(hub / f"all_{name}", frame.assign(source_account="acme", source_workspace="eu-prod"))
    status = pd.DataFrame(
        {
            "provider": ["acme_eu"],
            "table": ["cost_by_product"],
            "version": [2],
            "rows": [4],
            "synced_at": [pd.Timestamp("2026-03-04 10:00", tz="UTC")],
            "status": ["synced"],
            "error": [None],
        }
    )
    _write(hub / "sync_status", status)
    return root


def _stm(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    env.pop("STM_LAKE_ROOT", None)
    return subprocess.run([*STM, *args], capture_output=True, text=True, env=env, timeout=120, check=False)


def test_load_report_data_provider_lake_reads_tables_and_labels_sources(spark, tmp_path):
    data = load_report_data(LocalTableStore(spark, provider_lake(tmp_path)), OUTPUT)
    assert data.mode == "provider" and data.schema == "monitoring.workspace_usage"
    costs = data.frames["cost_by_product"]
    assert costs["total_cost_usd"].sum() == pytest.approx(2600.0)
    assert list(costs["source_workspace"]) == list(costs["workspace_id"])
    assert data.missing == {
        "jobs_current": "monitoring.workspace_usage.jobs_current not found",
        "cost_anomalies": "cost_anomalies: found on the hub only (stm hub finops)",
        "budget_status": "budget_status: found on the hub only (stm hub finops)",
        "cost_forecast": "cost_forecast: found on the hub only (stm hub finops)",
        "alert_events": "alert_events: found on the hub only (stm alerts check)",
    }
    assert data.sync is not None and set(data.sync["table"]) == set(data.frames)


def test_load_report_data_prefers_the_hub_schema_when_present(spark, tmp_path):
    data = load_report_data(LocalTableStore(spark, hub_lake(provider_lake(tmp_path))), OUTPUT)
    assert data.mode == "hub" and data.schema == "monitoring_hub.consolidated"
    assert set(data.frames["cost_by_product"]["source_account"]) == {"acme"}  # the hub's rows, not the provider's
    assert data.sync is not None and list(data.sync["status"]) == ["synced"]
    assert "monitoring_hub.consolidated.all_jobs_current not found" in data.missing["jobs_current"]


def test_stm_report_cli_writes_the_html_and_exits_zero(tmp_path):
    out = tmp_path / "site" / "report.html"
    done = _stm("report", "--lake-root", str(provider_lake(tmp_path / "lake")), "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    html = out.read_text(encoding="utf-8")
    assert "$2,600.00" in html and ESCAPED in html and HOSTILE not in html
    assert "report written:" in done.stdout and "jobs_current" in done.stdout


def test_stm_report_bad_lake_root_or_out_is_a_usage_error(tmp_path, capsys):
    assert main(["report", "--lake-root", str(tmp_path / "nope"), "--out", str(tmp_path / "r.html")]) == 2
    assert "no such directory" in capsys.readouterr().err
    assert main(["report", "--lake-root", str(tmp_path), "--out", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
    assert main(["report", "--lake-root", str(tmp_path), "--days", "0"]) == 2
    assert "not a positive whole number" in capsys.readouterr().err


def _screenshot(page: Path, png: Path, profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    args = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}", "--window-size=1400,2400"]
    return subprocess.run([*args, page.as_uri()], capture_output=True, text=True, timeout=120, check=False)


def _console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (CI installs the Debian package)")
def test_report_opens_in_headless_chromium_without_console_errors(tmp_path):
    out = tmp_path / "report.html"
    done = _stm("report", "--lake-root", str(hub_lake(tmp_path / "lake")), "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    png = tmp_path / "report.png"
    shot = _screenshot(out, png, tmp_path / "profile")
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    assert _console_lines(shot.stderr) == []
    # The check above can see errors: the same run on a page whose script throws reports it.
    broken = tmp_path / "broken.html"
    broken.write_text("<html><body><script>notDefined();</script></body></html>", encoding="utf-8")
    control = _screenshot(broken, tmp_path / "broken.png", tmp_path / "profile2")
    assert any("Uncaught ReferenceError" in line for line in _console_lines(control.stderr))
