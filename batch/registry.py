"""The batch job registry: every ``stm batch`` job is a named function registered here."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from stm.config import Config
from stm.errors import StmError, UsageError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from stm.store.delta import TableStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchContext:
    """What every batch job receives: configuration, engine, and the optional date range of a backfill."""

    cfg: Config
    spark: SparkSession
    store: TableStore
    date_from: date | None = None
    date_to: date | None = None
    allow_short_retention: bool = False
    vacuum_retain_hours: int | None = None  # overrides the catalog's retention for every table


@dataclass
class JobResult:
    rows: int = 0
    detail: str = ""
    status: str = "ok"
    seconds: float = 0.0


JobFn = Callable[[BatchContext], JobResult]


@dataclass(frozen=True)
class BatchJob:
    name: str
    fn: JobFn
    order: int  # --all runs jobs by ascending order: ingest, current state, silver/gold, rollups, maintenance
    doc: str = field(default="")


JOBS: dict[str, BatchJob] = {}


def job(name: str, order: int) -> Callable[[JobFn], JobFn]:
    """Register ``fn`` as the batch job ``name`` (its docstring's first line is its help)."""

    def register(fn: JobFn) -> JobFn:
        if name in JOBS:
            raise ValueError(f"batch job {name} registered twice")
        JOBS[name] = BatchJob(name, fn, order, (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else "")
        return fn

    return register


def resolve_jobs(
    available: dict[str, BatchJob], names: list[str], all_jobs: bool, exclude_from_all: tuple[str, ...] = ()
) -> list[BatchJob]:
    """Jobs named (in the given order) or all of them by ``order``; unknown names list the valid ones."""
    from stm.console import choose

    ordered = sorted(available.values(), key=lambda j: (j.order, j.name))
    chosen = choose("batch job", "jobs", [j.name for j in ordered], names, all_jobs)
    if all_jobs:
        return [j for j in ordered if j.name not in exclude_from_all]
    return [available[n] for n in chosen]


def run_jobs(ctx: BatchContext, jobs: list[BatchJob]) -> dict[str, JobResult]:
    """Run jobs in order; a failing job is recorded and the rest still run."""
    results: dict[str, JobResult] = {}
    for i, batch_job in enumerate(jobs, 1):
        log.info("batch job %s (%d/%d) started", batch_job.name, i, len(jobs))
        started = time.monotonic()
        try:
            result = batch_job.fn(ctx)
        except UsageError:
            raise
        except StmError as exc:
            result = JobResult(status="failed", detail=str(exc).splitlines()[0][:300])
        except Exception as exc:  # a Spark or Delta failure: record it, keep running the other jobs
            log.exception("batch job %s failed", batch_job.name)
            result = JobResult(status="failed", detail=f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
        result.seconds = time.monotonic() - started
        results[batch_job.name] = result
        log.info("batch job %s %s: rows=%d seconds=%.2f %s", batch_job.name, result.status, result.rows,
                 result.seconds, result.detail)  # fmt: skip
    return results
