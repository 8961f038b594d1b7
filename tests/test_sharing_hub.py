"""``stm hub sync`` over real sharing endpoints: dedup across providers, a provider down, nothing re-read."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

# delta-rs, Spark-free: reads the hub's copies, which the hub writes with delta-rs
from deltalake import DeltaTable

from stm.config import Config, load_config
from stm.sharing.hub import Hub
from stm.sharing.recipients import RecipientStore
from tests.sharing_fixtures import SHARE, ServerThread, billing_rows, provider_lake, serve, sharing_config, write

ACCOUNT_RECORDS = ["r1", "r2", "r3"]  # both acc1 providers hold the whole account's billing (rule 4)


@dataclass
class Providers:
    roots: dict[str, Path]
    servers: dict[str, ServerThread]
    hub_root: Path
    overlay: dict

    def cfg(self) -> Config:
        return load_config(extra=self.overlay)

    def read(self, table: str) -> pa.Table:
        path = self.hub_root / "monitoring_hub" / "consolidated" / table
        return DeltaTable(str(path)).to_pyarrow_dataset().to_table(use_threads=False)


@pytest.fixture
def providers(tmp_path: Path) -> Iterator[Providers]:
    layout = {"acme_eu": ("acc1", "1001"), "acme_us": ("acc1", "1002"), "beta": ("acc2", "2001")}
    roots, servers, entries = {}, {}, {}
    cfg = sharing_config()
    for name, (account, workspace) in layout.items():
        # acme_us: the same account, another workspace: the same billing records, its own job runs
        root = provider_lake(tmp_path / name, account, workspace, billed="1001" if name == "acme_us" else None)
        roots[name] = root
        servers[name] = serve(root, cfg)
        _r, profile = RecipientStore(root).add("hub", [SHARE], servers[name].endpoint)
        entries[name] = {"profile": str(profile), "share": SHARE, "account": account, "workspace": workspace}
    overlay = {"hub": {"providers": entries}}
    yield Providers(roots, servers, tmp_path / "hub", overlay)
    for server in servers.values():
        server.stop()


def test_two_providers_of_one_account_count_each_billing_record_once(providers: Providers) -> None:
    statuses = Hub(providers.hub_root, providers.cfg(), retries=0).sync()
    assert {s.status for s in statuses} <= {"synced", "missing"}
    billing = providers.read("all_workspaces_billing").to_pylist()
    keys = sorted((r["account_id"], r["record_id"]) for r in billing)
    assert keys == [("acc1", r) for r in ACCOUNT_RECORDS] + [("acc2", r) for r in ACCOUNT_RECORDS]
    assert {r["source_workspace"] for r in billing if r["account_id"] == "acc1"} == {"1001"}  # first listed
    costs = providers.read("all_workspaces_costs").to_pylist()
    acc1 = [c for c in costs if c["account_id"] == "acc1"]
    assert [(c["usage_date"].day, c["total_cost_usd"], c["record_count"]) for c in acc1] == [
        (1, Decimal(4), 2),
        (2, Decimal(2), 1),
    ]
    dash = {(d["account_id"], d["usage_date"].day): d for d in providers.read("cross_account_dashboard").to_pylist()}
    assert dash[("acc1", 1)]["total_net_cost_usd"] == Decimal(2)
    assert (dash[("acc1", 1)]["active_jobs"], dash[("acc1", 1)]["failed_runs"]) == (2, 2)
    runs = providers.read("all_job_runs_summary").to_pylist()  # workspace-scoped: every provider's rows
    assert sorted(r["source_workspace"] for r in runs) == ["1001", "1002", "2001"]
    status = providers.read("sync_status").to_pylist()
    assert {(s["provider"], s["status"]) for s in status if s["table"] == "billing_summary"} == {
        ("acme_eu", "synced"),
        ("acme_us", "synced"),
        ("beta", "synced"),
    }


def test_second_sync_with_nothing_new_reads_no_data(providers: Providers, caplog: pytest.LogCaptureFixture) -> None:
    hub = Hub(providers.hub_root, providers.cfg(), retries=0)
    hub.sync()
    state = json.loads((providers.hub_root / "_hub" / "state.json").read_text())
    caplog.clear()
    caplog.set_level("INFO", logger="stm.sharing.server")
    statuses = hub.sync()
    assert {s.status for s in statuses} <= {"unchanged", "missing"}
    assert "/version" in caplog.text
    assert "/query" not in caplog.text and "/files/" not in caplog.text and "/metadata" not in caplog.text
    assert json.loads((providers.hub_root / "_hub" / "state.json").read_text()) == state


def test_provider_down_keeps_its_last_good_data_and_is_reported(providers: Providers) -> None:
    hub = Hub(providers.hub_root, providers.cfg(), retries=0)
    hub.sync()
    providers.servers["beta"].stop()
    write(providers.roots["acme_eu"], "billing_summary", billing_rows("acc1", "1001", ["r4"], day=3))
    statuses = hub.sync()
    failed = {s.provider for s in statuses if s.status == "failed"}
    assert failed == {"beta"}
    records = {(r["account_id"], r["record_id"]) for r in providers.read("all_workspaces_billing").to_pylist()}
    assert ("acc1", "r4") in records  # the providers that answered are synced
    assert {("acc2", r) for r in ACCOUNT_RECORDS} <= records  # beta's last good data stays
    status = providers.read("sync_status").to_pylist()
    beta = [s for s in status if s["provider"] == "beta"]
    assert beta and all(s["status"] == "failed" and "ConnectionError" in s["error"] for s in beta)
    assert [s["version"] for s in beta if s["table"] == "billing_summary"] == [1]  # the version still held


def test_hub_cli_in_a_subprocess_exits_cleanly(providers: Providers, tmp_path: Path) -> None:
    conf = tmp_path / "hub.json"  # JSON is YAML
    conf.write_text(json.dumps(providers.overlay))
    cmd = [sys.executable, "-c", "from stm.cli import entry; entry()", "hub", "sync", "--retries", "0"]
    cmd += ["--lake-root", str(providers.hub_root), "--config", str(conf)]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "synced=" in first.stdout
    providers.servers["acme_us"].stop()
    down = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert down.returncode == 1, down.stderr[-2000:]
    assert "failed: provider=acme_us" in down.stdout
    for name in providers.roots:
        token = json.loads(Path(providers.overlay["hub"]["providers"][name]["profile"]).read_text())["bearerToken"]
        assert token not in first.stderr + first.stdout + down.stderr + down.stdout
