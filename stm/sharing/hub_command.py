"""``stm hub sync``: pull every provider of the ``hub:`` configuration and rebuild the consolidated tables."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from stm.config import Config, load_config
from stm.engine import require_lake_root
from stm.errors import ConfigError, UsageError

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "hub",
        parents=[parent],
        help="sync the hub: read every provider's share, write consolidated tables; find cost anomalies",
        description="sync: read the providers of the config's hub: section through their Delta Sharing profiles "
        "(only tables whose version changed), write <hub.catalog>.<hub.schema>.all_<table>, all_workspaces_billing, "
        "all_workspaces_costs, cross_account_dashboard and sync_status under --lake-root. "
        "anomalies: judge every day of every (workspace, product) and job cost series against its own baseline "
        "(same weekday of 4 weeks, else the previous 7 days; robust z-score, analytics.anomaly_* settings) and "
        "replace <hub.catalog>.<hub.schema>.cost_anomalies (local Spark)",
    )
    p.add_argument("action", choices=["sync", "anomalies"])
    p.add_argument("--retries", type=int, default=2, help="client retries per request before a provider fails")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Sync once; exit 1 when a provider or table failed (the others are still synced)."""
    from stm.sharing.hub import Hub

    cfg = load_config(args.config)
    if args.lake_root is None:
        raise UsageError("--lake-root (or STM_LAKE_ROOT) is required: the hub lake")
    if args.action == "anomalies":
        return anomalies(cfg, require_lake_root(args.lake_root, writable=True))
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


def anomalies(cfg: Config, root: Path) -> int:
    """Write ``cost_anomalies`` from the hub's consolidated costs; exit 2 when the hub has none."""
    from stm.anomalies import COSTS, JOBS, write_anomalies
    from stm.engine import open_engine

    hub = root / cfg.hub.catalog / cfg.hub.schema
    if not any((hub / table / "_delta_log").is_dir() for table in (COSTS, JOBS)):
        raise UsageError(f"{hub}: no {COSTS} or {JOBS} table: run stm hub sync first")
    engine = open_engine(cfg, root, "stm-hub-anomalies")
    counts = write_anomalies(cfg, engine.store)
    assert counts is not None  # a costs table exists
    total = sum(counts.values())
    print(f"cost anomalies: {total} ({', '.join(f'{k} {v}' for k, v in counts.items())})")
    return 0
