"""Provider deploy over real HTTP with the real SDK against minilake, a local Databricks REST emulator.

minilake covers metastores, catalogs, schemas, volumes, files and jobs; it has no Delta Sharing or system schema
endpoints, so the target here has no share and its system schemas show as skipped.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.config import Config as SdkConfig

from deploy.command import make_plan
from deploy.execute import execute, run_statement
from deploy.hub_sql import Statement
from deploy.model import Action, Change, Plan
from deploy.wheel import Wheel
from stm.config import Config, load_config

pytest.importorskip("minilake", reason="minilake (the dev extra) is not installed")
TARGET = "local_provider"


@pytest.fixture(scope="module")
def minilake_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "MINILAKE_DATA_DIR": str(tmp_path_factory.mktemp("minilake")), "MINILAKE_VERBOSE": "1"}
    cmd = [sys.executable, "-m", "minilake", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:  # blocks until uvicorn says it listens (or the process ends)
        if "Uvicorn running on" in line:
            break
    else:
        pytest.skip(f"minilake did not start (exit code {proc.wait()})")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stderr.close()


@pytest.fixture
def ws(minilake_url: str) -> WorkspaceClient:
    return WorkspaceClient(config=SdkConfig(host=minilake_url, token="local", retry_timeout_seconds=5))


@pytest.fixture
def local_cfg(minilake_url: str) -> Config:
    target = {
        "role": "provider",
        "host": minilake_url,
        "account": "local",
        "workspace": "local_ws",
        "notify": ["ops@example.com"],
        "catch_up_every_minutes": 15,
    }
    return load_config(extra={"targets": {TARGET: target}})


def test_provider_apply_then_reapply_then_destroy_over_http(ws: WorkspaceClient, local_cfg: Config, wheel: Wheel):
    plan = make_plan(local_cfg, TARGET, ws, wheel)
    assert {a.change for a in plan.actions if a.kind == "system schema"} == {Change.SKIP}

    report = execute(ws, plan, sleep=lambda s: None)

    assert report.ok, report.render()
    assert ws.volumes.read("monitoring.workspace_usage.artifacts").name == "artifacts"
    assert ws.volumes.read("monitoring.workspace_usage.checkpoints").name == "checkpoints"
    wheel_path = next(p for p in plan.actions if p.kind == "file" and p.name.endswith(".whl")).name
    assert ws.files.get_metadata(wheel_path).content_length == wheel.path.stat().st_size
    names = sorted(j.settings.name for j in ws.jobs.list() if j.settings and j.settings.name)
    assert names == [f"stm-{TARGET}-daily", f"stm-{TARGET}-maintenance", f"stm-{TARGET}-stream"]

    again = make_plan(local_cfg, TARGET, ws, wheel)
    assert again.changes == [], again.render()

    gone = execute(ws, make_plan(local_cfg, TARGET, ws, None, destroy=True), sleep=lambda s: None)
    assert gone.ok, gone.render()
    assert list(ws.jobs.list()) == []
    assert ws.catalogs.get("monitoring").name == "monitoring"


def test_view_statements_run_on_a_warehouse_and_failures_are_reported(ws: WorkspaceClient):
    created = ws.warehouses.create(name="stm-test", cluster_size="2X-Small", max_num_clusters=1)
    warehouse: str = created.bind()["id"]
    ws.catalogs.create("probe")
    ws.schemas.create("s", "probe")

    run_statement(ws, warehouse, "CREATE OR REPLACE VIEW probe.s.ok AS SELECT 1 AS one", lambda s: None)
    bad = Action(
        "view", "probe.s.bad", Change.CREATE, payload=Statement(warehouse, "SELEC broken"), privilege="CREATE TABLE"
    )
    report = execute(ws, Plan("t", "hub", "minilake", [bad]), sleep=lambda s: None)

    assert [a.name for a, _ in report.failed] == ["probe.s.bad"]
    assert "SELEC" in report.failed[0][1]
