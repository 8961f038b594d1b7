"""Table maintenance jobs: OPTIMIZE (Z-order from the catalog) and VACUUM (retention from the catalog), each safe
while streams write: a commit that conflicts with a concurrent one is retried with exponential backoff."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from batch.current_state import CURRENT_TABLES
from batch.registry import BatchContext, JobResult, job
from batch.rollups import ROLLUP_TABLES
from stm.config import Config
from stm.errors import JobFailed
from stm.store.base import MIN_VACUUM_HOURS, TableStore, check_vacuum_retention

log = logging.getLogger(__name__)

T = TypeVar("T")
ORDER_OPTIMIZE = 90
ORDER_VACUUM = 95
# delta-rs raises CommitFailedError; Delta on Databricks raises the Concurrent*/*ChangedException family
# (error classes DELTA_CONCURRENT_*, DELTA_METADATA_CHANGED, DELTA_PROTOCOL_CHANGED).
CONFLICT_TYPES = frozenset(
    {
        "CommitFailedError",
        "ConcurrentModificationException",
        "ConcurrentAppendException",
        "ConcurrentDeleteReadException",
        "ConcurrentDeleteDeleteException",
        "ConcurrentTransactionException",
        "ConcurrentWriteException",
        "MetadataChangedException",
        "ProtocolChangedException",
    }
)
CONFLICT_ERROR_CLASSES = ("DELTA_CONCURRENT_", "DELTA_METADATA_CHANGED", "DELTA_PROTOCOL_CHANGED")


@dataclass(frozen=True)
class Backoff:
    """Bounded exponential backoff; ``sleep`` is injectable so tests never wait."""

    attempts: int = 6
    first_seconds: float = 1.0
    max_seconds: float = 30.0
    sleep: Callable[[float], None] = time.sleep

    def delays(self) -> list[float]:
        """The waits between attempts: ``first, 2*first, 4*first, ...`` capped at ``max_seconds``."""
        return [min(self.max_seconds, self.first_seconds * 2**i) for i in range(self.attempts - 1)]


DEFAULT_BACKOFF = Backoff()


def is_commit_conflict(exc: BaseException) -> bool:
    """True for a commit refused because a concurrent transaction won: rerunning the operation is safe."""
    if {cls.__name__ for cls in type(exc).__mro__} & CONFLICT_TYPES:
        return True
    return any(marker in str(exc) for marker in CONFLICT_ERROR_CLASSES)


def retry_on_conflict(what: str, fn: Callable[[], T], backoff: Backoff = DEFAULT_BACKOFF) -> T:
    """Run ``fn``; while its commit conflicts with a concurrent one, log, wait and run it again (bounded)."""
    delays = backoff.delays()
    for attempt in range(1, backoff.attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if not is_commit_conflict(exc):
                raise
            reason = str(exc).splitlines()[0][:200]
            if attempt > len(delays):
                raise JobFailed(f"{what}: commit still conflicting after {attempt} attempts: {reason}") from exc
            delay = delays[attempt - 1]
            log.warning("%s: commit conflicted with a concurrent one (attempt %d of %d), retrying in %.1f s: %s",
                        what, attempt, backoff.attempts, delay, reason)  # fmt: skip
            backoff.sleep(delay)
    raise JobFailed(f"{what}: no attempt made (backoff.attempts = {backoff.attempts})")


def maintenance_tables(cfg: Config, store: TableStore) -> list[str]:
    """Tables of the output schema that exist: every catalog table, every declared output, every discovered one."""
    declared = [*cfg.tables, *CURRENT_TABLES, *ROLLUP_TABLES]
    declared += [t for share in cfg.shares.values() for t in share.tables]
    # A store that can list the output schema (a ``list_tables(catalog, schema)`` method) adds undeclared tables.
    lister = getattr(store, "list_tables", None)
    if callable(lister):
        declared += list(lister(cfg.output.catalog, cfg.output.schema))
    unique = list(dict.fromkeys(declared))
    return [t for t in unique if store.exists(cfg.output_name(t))]


def _each_table(ctx: BatchContext, verb: str, tables: list[str], action: Callable[[str], str]) -> JobResult:
    """Run ``action(table)`` on every table; one table's failure is reported after the others ran."""
    details, failed = [], []
    for table in tables:
        try:
            details.append(f"{table}: {action(table)}")
        except Exception as exc:  # a Spark or delta-rs failure on one table: report it, maintain the others
            failed.append(f"{table}: {str(exc).splitlines()[0][:200]}")
            log.error("%s %s failed: %s", verb, table, exc)
    log.info("%s: %s", verb, "; ".join(details))
    if failed:
        raise JobFailed(f"{verb} failed for {len(failed)} of {len(tables)} tables: {'; '.join(failed)}")
    return JobResult(rows=len(tables), detail=f"{len(tables)} tables")


def optimize_tables(ctx: BatchContext, backoff: Backoff = DEFAULT_BACKOFF) -> JobResult:
    """OPTIMIZE every output table: Z-ordered by the catalog's ``optimize.zorder_by`` when declared, else compacted."""

    def optimize(table: str) -> str:
        spec = ctx.cfg.tables.get(table)
        zorder = list(spec.optimize.zorder_by) if spec else []
        name = ctx.cfg.output_name(table)
        metrics = retry_on_conflict(f"optimize {name}", functools.partial(ctx.store.optimize, name, zorder), backoff)
        removed = metrics.get("numFilesRemoved", metrics.get("num_removed_files", "?"))
        return f"{'z-order ' + ','.join(zorder) if zorder else 'compact'}, files removed {removed}"

    return _each_table(ctx, "optimize", maintenance_tables(ctx.cfg, ctx.store), optimize)


def vacuum_tables(ctx: BatchContext, backoff: Backoff = DEFAULT_BACKOFF, retain_hours: int | None = None) -> JobResult:
    """VACUUM every output table with its catalog retention (168 h for others); below 168 h only with the override."""
    tables = maintenance_tables(ctx.cfg, ctx.store)

    def hours(table: str) -> int:
        if retain_hours is not None:
            return retain_hours
        spec = ctx.cfg.tables.get(table)
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
    return vacuum_tables(ctx)
