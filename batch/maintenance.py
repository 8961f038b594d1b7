"""Table maintenance jobs: OPTIMIZE (Z-order from the catalog) and VACUUM (retention from the catalog), each safe
while streams write: a commit that conflicts with a concurrent one is retried with exponential backoff."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TypeVar

from batch.registry import BatchContext, JobResult, job
from stm.config import Config
from stm.errors import JobFailed
from stm.store.base import MIN_VACUUM_HOURS, check_vacuum_retention
from stm.store.delta import TableStore
from stm.store.retry import DEFAULT_BACKOFF, Backoff, retry_on_conflict

log = logging.getLogger(__name__)

T = TypeVar("T")
ORDER_OPTIMIZE = 90
ORDER_VACUUM = 95


def maintenance_tables(cfg: Config, store: TableStore) -> list[str]:
    """Tables of the output schema that exist: every table the catalog declares, then any other one found there."""
    declared = [*cfg.declared(), *store.list_tables(cfg.output.catalog, cfg.output.schema)]
    unique = list(dict.fromkeys(declared))
    return [t for t in unique if store.exists(cfg.output_name(t))]


def _each_table(ctx: BatchContext, verb: str, tables: list[str], action: Callable[[str], str]) -> JobResult:
    """Run ``action(table)`` on every table; one table's failure is reported after the others ran."""
    details, failed = [], []
    for table in tables:
        try:
            details.append(f"{table}: {action(table)}")
        except Exception as exc:  # a Spark or Delta failure on one table: report it, maintain the others
            failed.append(f"{table}: {str(exc).splitlines()[0][:200]}")
            log.error("%s %s failed: %s", verb, table, exc)
    log.info("%s: %s", verb, "; ".join(details))
    if failed:
        raise JobFailed(f"{verb} failed for {len(failed)} of {len(tables)} tables: {'; '.join(failed)}")
    return JobResult(rows=len(tables), detail=f"{len(tables)} tables")


def optimize_tables(ctx: BatchContext, backoff: Backoff = DEFAULT_BACKOFF) -> JobResult:
    """OPTIMIZE every output table: Z-ordered by the catalog's ``optimize.zorder_by`` when declared, else compacted."""

    def optimize(table: str) -> str:
        spec = ctx.cfg.entry(table)
        zorder = list(spec.optimize.zorder_by) if spec else []
        name = ctx.cfg.output_name(table)
        metrics = retry_on_conflict(f"optimize {name}", functools.partial(ctx.store.optimize, name, zorder), backoff)
        removed = metrics.get("numFilesRemoved", "?")
        return f"{'z-order ' + ','.join(zorder) if zorder else 'compact'}, files removed {removed}"

    return _each_table(ctx, "optimize", maintenance_tables(ctx.cfg, ctx.store), optimize)


def vacuum_tables(ctx: BatchContext, backoff: Backoff = DEFAULT_BACKOFF, retain_hours: int | None = None) -> JobResult:
    """VACUUM every output table with its catalog retention (168 h for others); below 168 h only with the override."""
    tables = maintenance_tables(ctx.cfg, ctx.store)

    def hours(table: str) -> int:
        if retain_hours is not None:
            return retain_hours
        spec = ctx.cfg.entry(table)
        return spec.vacuum_retain_hours if spec else MIN_VACUUM_HOURS

    for table in tables:  # refuse before touching any table
        check_vacuum_retention(hours(table), ctx.allow_short_retention)

    def vacuum(table: str) -> str:
        name = ctx.cfg.output_name(table)
        run = functools.partial(ctx.store.vacuum, name, hours(table), allow_short_retention=ctx.allow_short_retention)
        return f"retain {hours(table)} h, files removed {retry_on_conflict(f'vacuum {name}', run, backoff)}"

    return _each_table(ctx, "vacuum", tables, vacuum)


@job("optimize", ORDER_OPTIMIZE)
def optimize(ctx: BatchContext) -> JobResult:
    """OPTIMIZE every output table (Z-order columns from the catalog), retrying conflicting commits."""
    return optimize_tables(ctx)


@job("vacuum", ORDER_VACUUM)
def vacuum(ctx: BatchContext) -> JobResult:
    """VACUUM every output table with its catalog retention (at least 168 h unless --allow-short-retention)."""
    return vacuum_tables(ctx, retain_hours=ctx.vacuum_retain_hours)
