"""``stm demo``: the whole product on one machine: several accounts' provider workspaces sharing to a hub.

Three simulated accounts, one of them collected in two regions, so four provider lakes. Each provider runs every
streaming app and batch job, serves its curated tables over Delta Sharing from a loopback endpoint, and the hub
syncs them into consolidated tables, finds the cost spikes the simulator injected (cost anomalies) and writes the
dashboard.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stm.config import Config, load_config
from stm.engine import CHECKPOINTS_DIR, require_lake_root
from stm.errors import UsageError

if TYPE_CHECKING:
    from stm.sharing.background import ServerThread

log = logging.getLogger(__name__)
NOT_IN_DEMO = ("optimize", "vacuum", "gold")  # maintenance, and the full recompute the streams make unneeded
FIRST_DERIVED_ORDER = 20
MARKER = "_stm_demo.json"
SHARE = "stm_monitoring"
RECIPIENT = "hub"


@dataclass(frozen=True)
class Provider:
    """One provider workspace: a simulated account seen from one of its regions."""

    name: str
    account_index: int
    region_index: int


# account 0 is collected in two regions; accounts 1 and 2 in one (their other region's usage is still in the
# account-wide billing, as on Databricks)
# the hub's monthly budgets in the demo: all spend, one account and one team
DEMO_BUDGETS = {
    "all_accounts": {"amount": 30000},
    "acme": {"account": "acme", "amount": 3000},
    "team_data_eng": {"tag": "team=data-eng", "amount": 2500},
}
PROVIDERS = (
    Provider("acme_east", 0, 0),
    Provider("acme_west", 0, 1),
    Provider("globex", 1, 0),
    Provider("initech", 2, 0),
)


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "demo",
        parents=[parent],
        help="everything on one machine: 3 accounts, 4 provider workspaces, Delta Sharing, the hub, the report",
        description="Simulate three accounts (one collected in two regions), run every provider's streaming apps "
        "and batch jobs, serve their shares on loopback endpoints, sync the hub, find cost anomalies (the simulation "
        "injects cost spikes from its 8th day), check three example budgets, raise alerts and write the dashboard. "
        "The lake root holds providers/<name>, hub/ and report.html; running again rebuilds it.",
    )
    p.add_argument("--days", type=int, default=10, help="days to simulate (default 10)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.set_defaults(func=run)


class Progress:
    def __init__(self, total: int) -> None:
        self.total = total
        self.n = 0
        self.started = time.monotonic()

    def step(self, text: str) -> None:
        self.n += 1
        print(f"[{self.n}/{self.total}] {text} (t+{time.monotonic() - self.started:.0f} s)", flush=True)


def _prepare(root: Path) -> None:
    """An empty directory, or one a previous demo made (rebuilt): never someone else's files."""
    if root.exists() and any(root.iterdir()):
        if not (root / MARKER).exists():
            raise UsageError(f"--lake-root {root} is not empty and was not made by stm demo; give an empty directory")
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text(json.dumps({"made_by": "stm demo"}), encoding="utf-8")


def run(args: argparse.Namespace) -> int:
    from stm.simulate.regions import provider_view, simulated_workspaces
    from stm.simulate.simulator import simulate

    if not 1 <= args.days <= 60:
        raise UsageError(f"--days {args.days}: allowed 1 to 60")
    cfg = load_config(args.config)
    root = require_lake_root(args.lake_root)
    progress = Progress(7 + len(PROVIDERS))
    _prepare(root)
    source = root / "simulated"
    progress.step(f"simulating 3 accounts x 2 workspaces x {args.days} days")
    simulate(source, accounts=3, workspaces=2, days=args.days, seed=args.seed, billing_rows_per_day=120, anomalies=True)
    workspaces = simulated_workspaces(source)
    accounts = sorted({(w.account_id, w.company) for w in workspaces}, key=lambda a: a[1])
    for p in PROVIDERS:
        account_id = next(w for w in workspaces if w.company == _company(workspaces, p)).account_id
        regions = sorted({w.region for w in workspaces if w.account_id == account_id})
        provider_view(source, root / "providers" / p.name, account_id, regions[p.region_index % len(regions)])
    progress.step("starting local Spark")
    from stm.engine import LOCAL_HUB_MODE, open_engine

    engine = open_engine(cfg, root / "providers" / PROVIDERS[0].name, "stm-demo", LOCAL_HUB_MODE)
    failed = False
    for p in PROVIDERS:
        progress.step(f"provider {p.name}: snapshots, streaming apps (bronze, billing_summary, gold), batch jobs")
        failed |= not run_provider(cfg, engine.spark, root / "providers" / p.name)
    progress.step("serving every provider's share on a loopback Delta Sharing endpoint")
    servers = serve_providers(cfg, root)
    try:
        progress.step("hub: syncing every provider through the delta-sharing client")
        hub_cfg = hub_config(cfg, root, servers, workspaces)
        from stm.sharing.hub import Hub

        statuses = Hub(root / "hub", hub_cfg, retries=1).sync()
        bad = [s for s in statuses if s.status == "failed"]
        failed |= bool(bad)
        print(f"hub: {len(statuses)} provider tables, {len(bad)} failed")
    finally:
        for server in servers.values():
            server.stop()
    progress.step("hub: cost anomalies, budgets and alerts over the consolidated costs")
    from stm.sharing.hub_command import finops_tables
    from stm.store.local import LocalTableStore

    hub_store = LocalTableStore(engine.spark, root / "hub")
    for line in finops_tables(hub_cfg, hub_store):
        print(f"hub: {line}")
    from stm.alerts import check

    fired = check(hub_cfg, hub_store)
    print(f"hub: {len(fired.new)} alerts raised ({', '.join(sorted({e['rule'] for e in fired.new})) or 'none'})")
    progress.step("writing the dashboard")
    from stm.report.command import write_report

    report = write_report(hub_cfg, hub_store, root / "report.html")
    progress.step("done")
    print(hub_cost_summary(root / "hub", hub_cfg, dict(accounts)))
    print(f"report: {report.resolve()}")
    print(f"demo finished in {time.monotonic() - progress.started:.0f} s; lakes under {root}")
    return 1 if failed else 0


def _company(workspaces: list[Any], p: Provider) -> str:
    return sorted({w.company for w in workspaces})[p.account_index]


def run_provider(cfg: Config, spark: Any, lake: Path) -> bool:
    """Snapshots, streams (availableNow) and batch jobs of one provider lake; True when nothing failed."""
    from batch.command import available_jobs
    from batch.command import summary_table as batch_summary
    from batch.registry import BatchContext, resolve_jobs, run_jobs
    from stm.store.base import StreamOptions
    from stm.store.local import LocalTableStore
    from streaming.apps import resolve_apps
    from streaming.checkpoints import Checkpoints
    from streaming.runner import StreamRunner, summary_table

    store = LocalTableStore(spark, lake)
    ctx = BatchContext(cfg, spark, store)
    jobs = resolve_jobs(available_jobs(cfg), [], True, exclude_from_all=NOT_IN_DEMO)
    results = run_jobs(ctx, [j for j in jobs if j.order < FIRST_DERIVED_ORDER])
    runner = StreamRunner(
        cfg,
        spark,
        store,
        Checkpoints(lake / CHECKPOINTS_DIR),
        StreamOptions(cfg.streaming.skip_change_commits, max_files_per_trigger=cfg.streaming.max_files_per_trigger),
        {"availableNow": True},
    )
    stream_stats = runner.run(resolve_apps(cfg, [], True))
    results.update(run_jobs(ctx, [j for j in jobs if j.order >= FIRST_DERIVED_ORDER]))
    print(summary_table(stream_stats))
    print(batch_summary(results))
    return not any(s.status == "failed" for s in stream_stats.values()) and not any(
        r.status == "failed" for r in results.values()
    )


def serve_providers(cfg: Config, root: Path) -> dict[str, ServerThread]:
    """One endpoint per provider on a free loopback port, and a recipient (profile file) for the hub on each."""
    from stm.sharing.background import ServerThread
    from stm.sharing.recipients import RecipientStore
    from stm.sharing.server import create_app

    servers: dict[str, ServerThread] = {}
    for p in PROVIDERS:
        lake = root / "providers" / p.name
        recipients = RecipientStore(lake)
        servers[p.name] = ServerThread(create_app(lake, cfg, recipients)).start()
        recipients.add(RECIPIENT, [SHARE], servers[p.name].endpoint)
    return servers


def hub_config(cfg: Config, root: Path, servers: dict[str, ServerThread], workspaces: list[Any]) -> Config:
    """The configuration of the hub: every provider's profile file, share and labels."""
    from stm.sharing.recipients import RecipientStore

    providers = {}
    for p in PROVIDERS:
        lake = root / "providers" / p.name
        company = _company(workspaces, p)
        providers[p.name] = {
            "profile": str(RecipientStore(lake).profile_path(RECIPIENT)),
            "share": SHARE,
            "account": company,
            "workspace": p.name,
        }
    return load_config(extra={"hub": {"providers": providers}, "budgets": DEMO_BUDGETS})


def hub_cost_summary(hub_root: Path, cfg: Config, companies: dict[str, str]) -> str:
    """Consolidated list and net cost per account and workspace, each billing record counted once."""
    # Spark-free reader: the hub's tables are written by the Spark-free hub sync
    from deltalake import DeltaTable

    path = hub_root / cfg.hub.catalog / cfg.hub.schema / "all_workspaces_costs"
    if not (path / "_delta_log").exists():
        return "hub: no consolidated costs"
    costs = DeltaTable(str(path)).to_pyarrow_dataset().to_table(use_threads=False).to_pandas()
    grouped = costs.groupby(["account_id", "workspace_id"], dropna=False)[["total_cost_usd", "total_net_cost_usd"]]
    totals = grouped.sum().reset_index()
    lines = ["consolidated cost per account and workspace (USD, list / net; each record once):"]
    for account_id, rows in totals.groupby("account_id"):
        lines.append(f"  {companies.get(str(account_id), str(account_id))} ({str(account_id)[:8]})")
        for _, r in rows.iterrows():
            list_cost, net_cost = float(r["total_cost_usd"]), float(r["total_net_cost_usd"])
            lines.append(f"    {r['workspace_id']:<18} {list_cost:>14,.2f} / {net_cost:>14,.2f}")
    total = float(totals["total_cost_usd"].sum())
    lines.append(f"  all accounts: {total:,.2f}")
    return "\n".join(lines)
