"""Batch jobs of the cost model: repricing billing_summary and recomputing gold tables (all, or a date range)."""

from __future__ import annotations

from batch.registry import BatchContext, JobResult, job
from stm.transforms.models import Model, models
from stm.transforms.rollups import days_between
from streaming.derived import SILVER, billing_models, refresh, reprice

ORDER_SILVER = 30
ORDER_GOLD = 35


@job("billing_summary", ORDER_SILVER)
def reprice_billing(ctx: BatchContext) -> JobResult:
    """Reprice billing_summary with the current prices; refresh the gold dates whose rows changed."""
    changed, dates = reprice(ctx.cfg, ctx.store)
    if ctx.date_from or ctx.date_to:
        dates = [
            d for d in dates if (not ctx.date_from or d >= ctx.date_from) and (not ctx.date_to or d <= ctx.date_to)
        ]
    written = refresh(ctx.cfg, ctx.store, billing_models(ctx.cfg), dates)
    return JobResult(
        rows=changed, detail=f"{changed} {SILVER} rows repriced; {len(dates)} dates, {len(written)} tables"
    )


def _batch_fed(ctx: BatchContext) -> list[Model]:
    streamed = set(ctx.cfg.tables_in_mode("stream")) | {SILVER}
    return [
        m
        for m in models(ctx.cfg).values()
        if m.date_column is None or not any(d.input in streamed for d in m.dated_inputs)
    ]


@job("batch_models", ORDER_GOLD)
def recompute_batch_models(ctx: BatchContext) -> JobResult:
    """Recompute the models no stream refreshes (inputs ingested by batch, e.g. MLflow) and the small full tables."""
    models = _batch_fed(ctx)
    written = refresh(ctx.cfg, ctx.store, models, None)
    return JobResult(rows=sum(v for v in written.values() if v > 0), detail=", ".join(sorted(written)))


@job("gold", ORDER_GOLD + 1)
def recompute_gold(ctx: BatchContext) -> JobResult:
    """Recompute every silver/gold model: all of it, or the dates between --from and --to."""
    dates = None
    if ctx.date_from and ctx.date_to:
        dates = days_between(ctx.date_from, ctx.date_to)
    elif ctx.date_from or ctx.date_to:
        from stm.errors import UsageError

        raise UsageError("gold: give both --from and --to for a backfill, or neither for a full recompute")
    written = refresh(ctx.cfg, ctx.store, models(ctx.cfg).values(), dates)
    return JobResult(rows=sum(v for v in written.values() if v > 0), detail=f"{len(written)} tables")
