"""``stm batch JOB... | --all [--from DATE --to DATE]``: run batch jobs in one Spark session."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from batch.registry import JOBS, BatchContext, BatchJob, JobResult, resolve_jobs, run_jobs
from stm.config import Config, load_config
from stm.console import iso_date, text_table
from stm.engine import add_spark_mode, open_engine
from stm.errors import ConfigError, UsageError
from stm.store.base import check_vacuum_retention

# Importing these modules registers their jobs.
JOB_MODULES: tuple[str, ...] = ("batch.jobs", "batch.models_jobs", "batch.finops_jobs", "batch.maintenance")


def available_jobs(cfg: Config) -> dict[str, BatchJob]:
    """Every batch job: the registered ones, one current-state job per current table of the catalog and one ingest
    job per non-streamable catalog table."""
    import importlib

    from batch.ingest import ingest_job  # here, not at the top: `stm --help` must not load pyspark
    from batch.jobs import current_state_jobs

    for module in JOB_MODULES:
        importlib.import_module(module)
    current = current_state_jobs(cfg)
    for name in current:
        if name in JOBS:
            raise ConfigError(f"outputs.{name}", f"a current-state table cannot share its name with the job {name!r}")
    jobs = {**JOBS, **current}
    for table in ingest_jobs(cfg):
        jobs[table] = ingest_job(table)
    return jobs


def ingest_jobs(cfg: Config) -> list[str]:
    """The ingest job of every snapshot and watermark table, in catalog order: what ``--ingest`` runs."""
    return cfg.tables_in_mode("snapshot", "watermark")


def current_jobs(cfg: Config) -> list[str]:
    """The job of every current-state table of the catalog, in catalog order: what ``--current`` runs."""
    return [name for name, spec in cfg.outputs.items() if spec.current is not None]


def named_jobs(cfg: Config, args: argparse.Namespace) -> list[str]:
    """The jobs a ``stm batch`` command line names: the ingest jobs (``--ingest``), then the current-state jobs
    (``--current``), then those given."""
    return [*(ingest_jobs(cfg) if args.ingest else ()), *(current_jobs(cfg) if args.current else ()), *args.jobs]


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "batch",
        parents=[parent],
        help="run batch jobs (snapshots, current state, rollups, cost attribution, FOCUS, maintenance)",
        description="Run batch jobs in one Spark session; with --all, in dependency order. A failed job is "
        "reported and the others still run (exit code 1).",
    )
    p.add_argument("jobs", nargs="*", metavar="JOB", help="job names; `stm batch --list` shows them")
    p.add_argument("--all", action="store_true", dest="all_jobs", help="run every job")
    p.add_argument(
        "--ingest",
        action="store_true",
        help="also run the ingest job of every snapshot and watermark table of the catalog (conf/catalog.yml)",
    )
    p.add_argument(
        "--current",
        action="store_true",
        help="also run the job of every current-state table of the catalog (outputs with `current`)",
    )
    p.add_argument("--list", action="store_true", dest="list_jobs", help="list the jobs and exit")
    p.add_argument("--from", type=iso_date, dest="date_from", default=None, help="first date of a backfill (UTC)")
    p.add_argument("--to", type=iso_date, dest="date_to", default=None, help="last date of a backfill (UTC)")
    p.add_argument(
        "--retain-hours",
        type=int,
        default=None,
        help="vacuum: retention in hours for every table (default: the catalog's, at least 168)",
    )
    p.add_argument(
        "--allow-short-retention",
        action="store_true",
        help="let vacuum use a --retain-hours below 168 (can break running streams and time travel)",
    )
    add_spark_mode(p)
    p.set_defaults(func=run)


def summary_table(results: dict[str, JobResult]) -> str:
    """A plain-text table of each job's outcome."""
    rows = [(n, r.status, str(r.rows), f"{r.seconds:.1f}", r.detail) for n, r in results.items()]
    return text_table(("job", "status", "rows", "seconds", "detail"), rows)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    jobs = available_jobs(cfg)
    if args.list_jobs:
        for j in sorted(jobs.values(), key=lambda j: (j.order, j.name)):
            print(f"{j.name:32} {j.doc}")
        return 0
    for flag in ("ingest", "current"):
        if getattr(args, flag) and args.all_jobs:
            raise UsageError(f"give --{flag} or --all, not both (--all runs those jobs too)")
    chosen = resolve_jobs(jobs, named_jobs(cfg, args), args.all_jobs)
    if args.date_from and args.date_to and args.date_from > args.date_to:
        raise UsageError(f"--from {args.date_from} is after --to {args.date_to}")
    if args.retain_hours is not None:
        check_vacuum_retention(args.retain_hours, args.allow_short_retention)  # before any engine starts
    engine = open_engine(cfg, args.lake_root, "stm-batch", getattr(args, "spark_mode", None))
    ctx = BatchContext(
        cfg, engine.spark, engine.store, args.date_from, args.date_to, args.allow_short_retention, args.retain_hours
    )
    results = run_jobs(ctx, chosen)
    print(summary_table(results), file=sys.stdout)
    return 1 if any(r.status == "failed" for r in results.values()) else 0
