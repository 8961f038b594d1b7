"""``stm simulate``: write a realistic local system catalog, or add newer days to one (``--append``)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from stm.console import iso_date
from stm.engine import require_lake_root
from stm.errors import UsageError


def register(subparsers: Any, parent: argparse.ArgumentParser) -> None:
    """Add the ``simulate`` command."""
    p = subparsers.add_parser(
        "simulate",
        parents=[parent],
        help="write a simulated system catalog under --lake-root (or add days to it with --append)",
        description="Write DIR/system/<schema>/<table> Delta tables with the exact Databricks schemas: accounts x "
        "workspaces x days of usage, jobs, clusters, warehouses, queries, audit, serving and MLflow, with "
        "billing corrections, duplicate deliveries, SCD2 changes, in-place updates, deletes, deletion vectors and "
        "OPTIMIZE commits. Local Spark starts once per run, for the deletion-vector commit.",
    )
    p.add_argument("--accounts", type=int, default=None, help="accounts to simulate (default 1; 1-50)")
    p.add_argument("--workspaces", type=int, default=None, help="workspaces per account (default 1; 1-50)")
    p.add_argument("--days", type=int, required=True, help="days to simulate (1-366)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default 0; 0-4294967295)")
    p.add_argument("--append", action="store_true", help="add --days newer days to an existing simulated lake")
    p.add_argument(
        "--end-date", type=iso_date, default=None, help="day after the last simulated day (default 2026-11-01)"
    )
    p.add_argument(
        "--billing-rows-per-day", type=int, default=None, help="billing rows per workspace and day (default 200)"
    )
    p.add_argument(
        "--audit-events-per-day", type=int, default=None, help="audit events per workspace and day (default 150)"
    )
    p.add_argument("--days-per-commit", type=int, default=None, help="days per group of commits (default days/10)")
    p.add_argument(
        "--anomalies",
        action="store_true",
        help="inject cost spikes (from the 8th day on; about one per account every four days) and list them, the "
        "ground truth of cost anomalies, in system/_simulation.json",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Simulate and print the rows written per table."""
    from stm.config import load_config
    from stm.simulate.lake import STATE_FILE
    from stm.simulate.simulator import simulate
    from stm.spark import local_session

    if args.lake_root is None:
        raise UsageError("simulate: --lake-root (or STM_LAKE_ROOT) is required")
    cfg = load_config(args.config)
    lake_root = require_lake_root(args.lake_root, writable=True)
    rows = simulate(
        lake_root,
        accounts=args.accounts,
        workspaces=args.workspaces,
        days=args.days,
        seed=args.seed,
        append=args.append,
        end_date=args.end_date,
        billing_rows_per_day=args.billing_rows_per_day,
        audit_events_per_day=args.audit_events_per_day,
        days_per_commit=args.days_per_commit,
        session=lambda: local_session(cfg, "stm-simulate"),
        anomalies=args.anomalies,
    )
    width = max(len(t) for t in rows)
    print(f"simulated system catalog at {lake_root / 'system'}")
    for table, count in rows.items():
        print(f"  system.{table:<{width}}  {count:>10,} rows")
    if args.anomalies:
        state = json.loads((lake_root / "system" / STATE_FILE).read_text(encoding="utf-8"))
        print(f"  injected cost spikes so far: {len(state['anomalies'])} (listed in system/{STATE_FILE})")
    return 0
