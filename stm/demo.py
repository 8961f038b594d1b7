"""``stm demo``: the whole local pipeline on one machine, end to end, with progress shown."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

from stm.config import load_config
from stm.engine import open_engine, require_lake_root

log = logging.getLogger(__name__)
NOT_IN_DEMO = ("optimize", "vacuum", "gold")  # maintenance, and the full recompute the streams make unneeded
FIRST_DERIVED_ORDER = 20


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "demo",
        parents=[parent],
        help="simulate a system catalog, run every streaming app and batch job, print the results",
        description="Simulate a multi-account system catalog under --lake-root (or add a newer day to the one "
        "there), run every streaming app with availableNow, then every batch job, and print a summary.",
    )
    p.add_argument("--accounts", type=int, default=2, help="accounts to simulate (default 2)")
    p.add_argument("--workspaces", type=int, default=2, help="workspaces per account (default 2)")
    p.add_argument("--days", type=int, default=14, help="days to simulate on a new lake (default 14)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.set_defaults(func=run)


def _step(n: int, total: int, text: str) -> None:
    print(f"[{n}/{total}] {text}", flush=True)


def run(args: argparse.Namespace) -> int:
    from batch.command import available_jobs
    from batch.command import summary_table as batch_summary
    from batch.registry import BatchContext, resolve_jobs, run_jobs
    from stm.simulate.simulator import simulate
    from stm.store.base import StreamOptions
    from streaming.apps import resolve_apps
    from streaming.checkpoints import Checkpoints
    from streaming.runner import StreamRunner, summary_table

    started = time.monotonic()
    cfg = load_config(args.config)
    lake = require_lake_root(args.lake_root)
    existing = (lake / "system" / "_simulation.json").exists()
    total = 5
    if existing:
        _step(1, total, f"adding one newer day to the simulated system catalog at {lake / 'system'}")
        simulate(lake, days=1, append=True)
    else:
        _step(1, total, f"simulating {args.accounts} accounts x {args.workspaces} workspaces x {args.days} days")
        simulate(lake, accounts=args.accounts, workspaces=args.workspaces, days=args.days, seed=args.seed)
    _step(2, total, "starting local Spark")
    engine = open_engine(cfg, lake, "stm-demo")
    ctx = BatchContext(cfg, engine.spark, engine.store)
    jobs = available_jobs(cfg)
    ingest = [j for j in resolve_jobs(jobs, [], True) if j.order < FIRST_DERIVED_ORDER]
    _step(3, total, "ingesting the tables that cannot stream (prices, workspaces, queries, MLflow)")
    results = run_jobs(ctx, ingest)
    _step(4, total, "streaming system tables into bronze, then billing_summary and gold (availableNow)")
    runner = StreamRunner(
        cfg,
        engine.spark,
        engine.store,
        Checkpoints(engine.checkpoint_root),
        StreamOptions(cfg.streaming.skip_change_commits, max_files_per_trigger=cfg.streaming.max_files_per_trigger),
        {"availableNow": True},
    )
    stream_stats = runner.run(resolve_apps(cfg, [], True))
    print(summary_table(stream_stats))
    _step(5, total, "running the batch jobs: current state, batch-fed models, rollups")
    rest = [j for j in resolve_jobs(jobs, [], True, exclude_from_all=NOT_IN_DEMO) if j.order >= FIRST_DERIVED_ORDER]
    results.update(run_jobs(ctx, rest))
    print(batch_summary(results))
    print(_table_counts(engine.store, cfg, lake))
    print(cost_summary(engine.store, cfg))
    print(f"demo finished in {time.monotonic() - started:.0f} s; lake at {lake}")
    failed = any(s.status == "failed" for s in stream_stats.values()) or any(
        r.status == "failed" for r in results.values()
    )
    return 1 if failed else 0


def _table_counts(store: Any, cfg: Any, lake: Path) -> str:
    lines = [f"tables under {lake / cfg.output.catalog / cfg.output.schema}:"]
    for table in cfg.tables:
        name = cfg.output_name(table)
        count = store.read(name).count() if store.exists(name) else None
        lines.append(f"  {table:<28} {'missing' if count is None else f'{count:>10,} rows'}")
    return "\n".join(lines)


def cost_summary(store: Any, cfg: Any) -> str:
    """List and net cost per account, workspace and product over all days, from cost_by_product."""
    from pyspark.sql import functions as F

    name = cfg.output_name("cost_by_product")
    if not store.exists(name):
        return "no cost_by_product table yet"
    rows = (
        store.read(name)
        .groupBy("account_id", "workspace_id", "billing_origin_product")
        .agg(F.sum("total_cost_usd").alias("list"), F.sum("total_net_cost_usd").alias("net"))
        .orderBy("account_id", "workspace_id", F.desc("list"))
        .collect()
    )
    lines = ["cost per account, workspace and product (USD, list / net; corrections netted):"]
    for r in rows:
        list_cost = "unpriced" if r["list"] is None else f"{r['list']:>14,.2f}"
        net_cost = "unpriced" if r["net"] is None else f"{r['net']:>14,.2f}"
        product = r["billing_origin_product"]
        lines.append(f"  {r['account_id'][:8]}  {r['workspace_id']:<18} {product:<26} {list_cost} / {net_cost}")
    return "\n".join(lines)
