"""``stm stream APP... | --all [--trigger T]``: run streaming apps in one Spark session."""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType
from typing import TYPE_CHECKING, Any

from stm.config import Config, load_config, parse_trigger
from stm.engine import Engine, add_spark_mode, open_engine
from stm.store.base import StreamOptions
from streaming.checkpoints import Checkpoints

if TYPE_CHECKING:
    from streaming.apps import App

PRICES = "list_prices"  # the catalog table billing_summary prices with


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "stream",
        parents=[parent],
        help="run streaming apps (bronze ingestion from system tables)",
        description="Run streaming apps in one Spark session. Ctrl-C or SIGTERM lets running micro-batches "
        "finish, then stops; nothing is lost, the next start resumes from the checkpoint.",
    )
    p.add_argument("apps", nargs="*", metavar="APP", help="app names (the stream targets of conf/catalog.yml)")
    p.add_argument("--all", action="store_true", dest="all_apps", help="run every streaming app")
    p.add_argument(
        "--trigger",
        default=None,
        help="'availableNow' (process what is there, then exit) or 'processingTime=5 minutes' "
        "(long-lived; default from conf streaming.trigger)",
    )
    p.add_argument("--max-files-per-trigger", type=int, default=None, help="bound each micro-batch")
    add_spark_mode(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # here, not at the top: `stm --help` must not load pyspark
    from streaming.apps import resolve_apps
    from streaming.runner import StreamRunner, summary_table

    cfg = load_config(args.config)
    trigger = parse_trigger(args.trigger or cfg.streaming.trigger, "--trigger" if args.trigger else "streaming.trigger")
    apps = resolve_apps(cfg, args.apps, args.all_apps)
    max_files = (
        cfg.streaming.max_files_per_trigger if args.max_files_per_trigger is None else args.max_files_per_trigger
    )
    if max_files < 1:
        from stm.errors import UsageError

        raise UsageError(f"--max-files-per-trigger: got {max_files}, allowed: a positive integer")
    engine = open_engine(cfg, args.lake_root, "stm-stream", getattr(args, "spark_mode", None))
    runner = StreamRunner(
        cfg,
        engine.spark,
        engine.store,
        Checkpoints(engine.checkpoint_root),
        StreamOptions(skip_change_commits=cfg.streaming.skip_change_commits, max_files_per_trigger=max_files),
        trigger,
    )

    prices_failed = ingest_prices_first(cfg, engine, apps)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        runner.stop_event.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        stats = runner.run(apps)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    print(summary_table(stats), file=sys.stdout)
    return 1 if prices_failed or any(s.status == "failed" for s in stats.values()) else 0


def ingest_prices_first(cfg: Config, engine: Engine, apps: list[App]) -> bool:
    """billing_summary prices each record as it arrives: when its app is to run, the price list is ingested first,
    so a first run's costs are priced at once instead of NULL until the daily job reprices them (an unchanged price
    list writes nothing). True when that ingest failed; the apps run anyway."""
    from batch.ingest import ingest_job
    from batch.registry import BatchContext, run_jobs
    from streaming.derived import SILVER

    if PRICES not in cfg.tables or not any(app.name == SILVER for app in apps):
        return False
    results = run_jobs(BatchContext(cfg, engine.spark, engine.store), [ingest_job(PRICES)])
    return any(r.status == "failed" for r in results.values())
