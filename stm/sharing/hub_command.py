"""``stm hub sync``: pull every provider of the ``hub:`` configuration and rebuild the consolidated tables."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from stm.config import Config, load_config
from stm.engine import require_lake_root
from stm.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from stm.store.delta import TableStore

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "hub",
        parents=[parent],
        help="sync the hub: read every provider's share, write consolidated tables; find cost anomalies",
        description="sync: read the providers of the config's hub: section through their Delta Sharing profiles "
        "(only tables whose version changed), write <hub.catalog>.<hub.schema>.all_<table>, all_workspaces_billing, "
        "all_workspaces_costs, cross_account_dashboard and sync_status under --lake-root. "
        "finops: judge every day of every (workspace, product) and job cost series against its own last 28 days "
        "(analytics.anomaly_* settings) into <hub.catalog>.<hub.schema>.cost_anomalies, and the month of every "
        "budget (budgets:) into budget_status, and forecast each account's and workspace's month end and next 30 "
        "days into cost_forecast (local Spark)",
    )
    p.add_argument("action", choices=["sync", "finops"])
    p.add_argument("--retries", type=int, default=2, help="client retries per request before a provider fails")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Sync once; exit 1 when a provider or table failed (the others are still synced)."""
    from stm.sharing.hub import Hub

    cfg = load_config(args.config)
    if args.lake_root is None:
        raise UsageError("--lake-root (or STM_LAKE_ROOT) is required: the hub lake")
    if args.action == "finops":
        return finops(cfg, require_lake_root(args.lake_root, writable=True))
    if not cfg.hub.providers:
        raise ConfigError("hub.providers", "no providers: list them in the hub: section of a --config file")
    if args.retries < 0:
        raise UsageError("--retries must be 0 or more")
    for name, provider in cfg.hub.providers.items():  # one error naming the file, not one failure per table
        if "://" in provider.profile:
            continue  # a remote profile (fsspec URL) is read by the client
        profile = Path(provider.profile)
        if not profile.is_file():
            raise ConfigError(f"hub.providers.{name}.profile", f"file {str(profile)!r} does not exist")
        if not os.access(profile, os.R_OK):
            raise ConfigError(f"hub.providers.{name}.profile", f"file {str(profile)!r} is not readable by this user")
    root = require_lake_root(args.lake_root, writable=True)
    statuses = Hub(root, cfg, retries=args.retries).sync()
    failed = [s for s in statuses if s.status == "failed"]
    counts: dict[str, int] = {}
    for s in statuses:
        counts[s.status] = counts.get(s.status, 0) + 1
    print("hub sync: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    for s in failed:
        print(f"  failed: provider={s.provider} table={s.table}: {s.error}")
    return 1 if failed else 0


def finops(cfg: Config, root: Path) -> int:
    """Write ``cost_anomalies`` and ``budget_status`` from the hub's consolidated costs; exit 2 when it has none."""
    from stm.anomalies import COSTS, JOBS
    from stm.engine import LOCAL_HUB_MODE, open_engine

    hub = root / cfg.hub.catalog / cfg.hub.schema
    if not any((hub / table / "_delta_log").is_dir() for table in (COSTS, JOBS)):
        raise UsageError(f"{hub}: no {COSTS} or {JOBS} table: run stm hub sync first")
    engine = open_engine(cfg, root, "stm-hub-finops", LOCAL_HUB_MODE)
    for line in finops_tables(cfg, engine.store):
        print(line)
    return 0


def finops_tables(cfg: Config, store: TableStore) -> list[str]:
    """Write the hub's FinOps tables (cost anomalies, budget status); one summary line each."""
    from stm.anomalies import write_anomalies
    from stm.budgets import write_budgets
    from stm.forecast import write_forecast

    lines = []
    found = write_anomalies(cfg, store)
    if found is None:
        lines.append("cost anomalies: not judged (no consolidated costs)")
    else:
        lines.append(f"cost anomalies: {sum(found.values())} ({', '.join(f'{k} {v}' for k, v in found.items())})")
    forecasts = write_forecast(cfg, store)
    lines.append("forecasts: none (no consolidated costs)" if forecasts is None else f"forecasts: {forecasts} series")
    budgets = write_budgets(cfg, store)
    if budgets is None:
        lines.append("budgets: none declared" if not cfg.budgets else "budgets: not judged (no consolidated costs)")
    else:
        lines.append(f"budgets: {sum(budgets.values())} ({', '.join(f'{k} {v}' for k, v in budgets.items())})")
    return lines
