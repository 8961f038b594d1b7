"""What the driver knows of a running app, wherever its micro-batches run: the rows its batches appended to
stream_progress, and Spark's progress reports for the triggers.

On serverless and standard access mode a ``foreachBatch`` function runs in a process of its own and cannot update
anything in the driver; Spark's own row counts do not help either (a batch DataFrame read twice in ``foreachBatch``
is counted twice in ``numInputRows`` and in observed metrics, in both modes). So each batch appends its own row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stm.store.delta import TableStore
from streaming.apps import AppStats

if TYPE_CHECKING:
    from pyspark.sql.streaming import StreamingQuery


@dataclass
class TriggerTimes:
    """The duration of each trigger that had rows, from the query's progress reports (Spark keeps the last 100:
    call ``collect`` often enough)."""

    seen: set[int] = field(default_factory=set)

    def collect(self, query: StreamingQuery, stats: AppStats) -> None:
        for report in query.recentProgress:
            batch = int(report.batchId)
            if batch in self.seen or not report.numInputRows:
                continue
            self.seen.add(batch)
            durations: dict[str, Any] = report.durationMs or {}
            stats.trigger_seconds += float(durations.get("triggerExecution", 0)) / 1000


def add_batches(store: TableStore, table: str, run_id: str, stats: dict[str, AppStats]) -> None:
    """Add to each app's statistics the micro-batches of run ``run_id`` recorded in ``table``."""
    from pyspark.sql import functions as F

    if not store.exists(table):
        return
    rows = (
        store.read(table)
        .where(F.col("run_id") == run_id)
        .groupBy("app")
        .agg(
            F.count(F.lit(1)).alias("batches"),
            F.sum("rows_in").alias("rows_in"),
            F.sum("rows_out").alias("rows_out"),
            F.sum("seconds").alias("seconds"),
        )
        .collect()
    )
    for row in rows:
        app = stats.get(row["app"])
        if app is not None:
            app.batches, app.rows_in = int(row["batches"]), int(row["rows_in"])
            app.rows_written, app.seconds = int(row["rows_out"]), float(row["seconds"])
