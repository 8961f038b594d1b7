"""Bronze tables whose sources cannot stream: snapshot and watermark MERGEs that write only changed rows."""

from __future__ import annotations

import time
from datetime import timedelta

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from batch.registry import BatchContext, BatchJob, JobResult
from stm.catalog import TableSpec
from stm.store.delta import TableStore
from stm.store.retry import retry_on_conflict
from stm.store.sources import source_exists
from stm.transforms.bronze import latest_per_key, row_hash, with_audit_columns

ORDER = 10
WATERMARK_LOOKBACK = timedelta(hours=1)  # re-read rows updated shortly before the newest one seen


def changed_rows(source: DataFrame, target: DataFrame | None, keys: list[str]) -> DataFrame:
    """Rows of ``source`` (with ``_row_hash``) whose key is new or whose content differs from ``target``."""
    if target is None:
        return source
    seen = target.select(*keys, "_row_hash")
    return source.join(seen, on=[*keys, "_row_hash"], how="left_anti")


def ingest(store: TableStore, spec: TableSpec, source_name: str, target_name: str, run_id: int) -> JobResult:
    """Read the source (all of it, or past the watermark), keep changed rows, upsert them by key."""
    if not source_exists(store, source_name):  # a refused grant raises SourceUnreadable: the job fails
        return JobResult(status="skipped", detail=f"source {source_name} missing: enable system schema "
                         f"'{spec.source_schema}'")  # fmt: skip
    source = store.read(source_name)
    target = store.read(target_name) if store.exists(target_name) else None
    if spec.mode == "watermark" and target is not None and spec.watermark:
        newest = target.agg(F.max(spec.watermark)).first()
        if newest is not None and newest[0] is not None:
            source = source.where(F.col(spec.watermark) >= F.lit(newest[0] - WATERMARK_LOOKBACK))
    latest = row_hash(latest_per_key(source, spec.keys, spec.order_by or spec.watermark))
    changed = with_audit_columns(changed_rows(latest, target, spec.keys), run_id)
    result = retry_on_conflict(
        f"merge {target_name}", lambda: store.merge(target_name, changed, spec.keys, insert_only=False)
    )
    return JobResult(rows=result.inserted + result.updated, detail=f"{result.inserted} new, {result.updated} changed")


def ingest_job(table: str) -> BatchJob:
    """The batch job that ingests the catalog table ``table`` (mode snapshot or watermark)."""

    def run(ctx: BatchContext) -> JobResult:
        spec = ctx.cfg.table(table)
        run_id = int(time.time() * 1_000_000)
        return ingest(ctx.store, spec, ctx.cfg.source_name(spec), ctx.cfg.output_name(table), run_id)

    return BatchJob(table, run, ORDER, f"ingest {table} from its system table (not streamable)")
