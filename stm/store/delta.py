"""The table store: Delta Lake through its own Spark API, the same code locally and on Databricks.

Reads, streams (``skipChangeCommits``), MERGE, date replaces, OPTIMIZE, VACUUM and history all go through Delta's
Spark connector (``delta.tables.DeltaTable`` and the ``delta`` data source). The only engine seam is naming: a
subclass says how ``catalog.schema.table`` becomes a Delta table (a path under the lake root locally, a Unity
Catalog name on Databricks). Nothing reads or writes the Delta log by hand.

A store holds the session it reads and writes with. Code inside ``foreachBatch`` works on ``bound(batch_df.
sparkSession)``: the batch's own session, never the driver's (on serverless and standard access mode the function
runs in its own process). Idempotent writes carry Delta's app transaction: DataFrame writes as writer options,
MERGE on the bound session's conf under ``WriteGuard`` so no other write can see it.
"""

from __future__ import annotations

import copy
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from stm.errors import TableNotFound
from stm.names import quote
from stm.store.base import Bound, MergeResult, StreamOptions, Txn, check_vacuum_retention
from stm.store.guard import WriteGuard

if TYPE_CHECKING:
    from delta.tables import DeltaTable
    from pyspark.sql import Column, DataFrame, DataFrameWriter, SparkSession
    from pyspark.sql.streaming import DataStreamReader

log = logging.getLogger(__name__)
TXN_APP_ID = "spark.databricks.delta.write.txnAppId"
TXN_VERSION = "spark.databricks.delta.write.txnVersion"
TXN_AUTO_RESET = "spark.databricks.delta.write.txnVersion.autoReset.enabled"
RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"
MAINTENANCE_OPERATIONS = frozenset({"OPTIMIZE", "VACUUM START", "VACUUM END"})
# Properties of every table this store creates: the change data feed, what a table's readers downstream and its
# share WITH HISTORY read its updates from.
TABLE_PROPERTIES = {"delta.enableChangeDataFeed": "true"}
# Tables a MERGE creates also get Delta's auto compaction: every micro-batch adds a small file to the partitions it
# touches, and without compaction each MERGE reads one more file than the last (a long-lived app slows down with its
# history). After a commit Delta compacts a touched partition the first time it holds several small files in this
# process, then whenever 50 (``spark.databricks.delta.autoCompact.minNumFiles``) have gathered. The compaction is a
# commit of its own that changes no data, so streams downstream skip it and the MERGE commits stay append-only.
MERGE_TABLE_PROPERTIES = {**TABLE_PROPERTIES, "delta.autoOptimize.autoCompact": "true"}


def replace_where(column: str, values: Sequence[object]) -> str:
    """The ``replaceWhere`` predicate of a date-range rewrite: ``col IN ('2026-11-01', ...)``."""
    literals = ", ".join("'" + str(v).replace("'", "''") + "'" for v in values) or "NULL"
    return f"{quote(column)} IN ({literals})"


class TableStore(ABC):
    """Delta tables named ``catalog.schema.table``; subclasses map names to tables, nothing else."""

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark
        self._guard = WriteGuard()
        self._partitions: dict[str, list[str]] = {}  # a table's partition columns never change once created

    def bound(self, spark: SparkSession) -> TableStore:
        """This store working on ``spark`` (a micro-batch's own session), with a guard of its own."""
        other = copy.copy(self)
        other.spark = spark
        other._guard = WriteGuard()
        return other

    def view_session(
        self,
        catalog: str,
        schema: str,
        tables: Iterable[str] | Mapping[str, str],
        adapt: Callable[[DataFrame], DataFrame] | None = None,
    ) -> tuple[SparkSession, set[str]]:
        """A new session in which each of ``tables`` that exists in ``catalog.schema`` is a temporary view, for SQL
        that names them plainly: under its own name, or, given a mapping of view names to tables, under its view's
        name (read through ``adapt`` when given). Nothing is left in this store's session. The views made."""
        views = dict(tables) if isinstance(tables, Mapping) else {t: t for t in tables}
        session = self.spark.newSession()
        mine = self.bound(session)
        found = set()
        for view, table in views.items():
            name = f"{catalog}.{schema}.{table}"
            if mine.exists(name):
                frame = mine.read(name)
                (adapt(frame) if adapt is not None else frame).createOrReplaceTempView(view)
                found.add(view)
        return session, found

    # -- the naming seam ----------------------------------------------------------------------------------------
    @abstractmethod
    def exists(self, name: str) -> bool: ...

    @abstractmethod
    def location(self, name: str) -> str:
        """Where ``name`` lives, for messages: a path or a Unity Catalog name."""

    @abstractmethod
    def delta_table(self, name: str) -> DeltaTable: ...

    @abstractmethod
    def _load(self, name: str) -> DataFrame: ...

    @abstractmethod
    def _load_stream(self, reader: DataStreamReader, name: str) -> DataFrame: ...

    @abstractmethod
    def _save(self, writer: DataFrameWriter, name: str) -> None: ...

    @abstractmethod
    def list_tables(self, catalog: str, schema: str) -> list[str]:
        """Names (without catalog and schema) of the tables in ``catalog.schema``."""

    # -- reads --------------------------------------------------------------------------------------------------
    def _require(self, name: str) -> None:
        if not self.exists(name):
            raise TableNotFound(f"table {name} does not exist (no Delta table at {self.location(name)})")

    def read(self, name: str) -> DataFrame:
        self._require(name)
        return self._load(name)

    def read_stream(self, name: str, options: StreamOptions) -> DataFrame:
        """Delta's own streaming source; with ``skip_change_commits`` a commit that rewrites rows is skipped."""
        self._require(name)
        reader = self.spark.readStream.format("delta").option(
            "skipChangeCommits", str(options.skip_change_commits).lower()
        )
        if options.starting_version is not None:
            reader = reader.option("startingVersion", str(options.starting_version))
        if options.starting_timestamp is not None:
            reader = reader.option("startingTimestamp", options.starting_timestamp)
        if options.max_files_per_trigger:
            reader = reader.option("maxFilesPerTrigger", str(options.max_files_per_trigger))
        return self._load_stream(reader, name)

    def history(self, name: str, limit: int | None = None) -> list[dict[str, Any]]:
        """The table's commits, newest first (``DESCRIBE HISTORY``)."""
        self._require(name)
        table = self.delta_table(name)
        rows = (table.history(limit) if limit else table.history()).collect()
        return [r.asDict(recursive=True) for r in rows]

    def version(self, name: str) -> int | None:
        if not self.exists(name):
            return None
        return int(self.history(name, 1)[0]["version"])

    def partition_columns(self, name: str) -> list[str]:
        if name not in self._partitions:
            row = self.delta_table(name).detail().select("partitionColumns").first()
            self._partitions[name] = list(row[0]) if row is not None else []
        return self._partitions[name]

    # -- writes -------------------------------------------------------------------------------------------------
    @contextmanager
    def _session_txn(self, txn: Txn | None) -> Iterator[None]:
        """Set the MERGE marker on this store's session while no other write of it runs."""
        if txn is None:
            with self._guard.shared():
                yield
            return
        conf = self.spark.conf
        with self._guard.exclusive():
            conf.set(TXN_AUTO_RESET, "true")  # a marker is used once even if the unset below were missed
            conf.set(TXN_APP_ID, txn.app_id)
            conf.set(TXN_VERSION, str(txn.version))
            try:
                yield
            finally:
                conf.unset(TXN_APP_ID)
                conf.unset(TXN_VERSION)

    def _write(
        self, name: str, df: DataFrame, mode: str, txn: Txn | None, options: dict[str, str], partition_by: str | None
    ) -> None:
        writer = df.write.format("delta").mode(mode)
        if partition_by is not None:
            writer = writer.partitionBy(partition_by)
        for key, value in options.items():
            writer = writer.option(key, value)
        if txn is not None:  # the marker travels with this write only
            writer = writer.option("txnAppId", txn.app_id).option("txnVersion", str(txn.version))
        with self._guard.shared():
            self._save(writer, name)

    def _committed(self, name: str, before: int | None) -> dict[str, Any] | None:
        """The commit a write just made, or None when it made none (its app transaction was already there).

        Auto compaction or a maintenance job's OPTIMIZE may have committed right after it: those are passed over."""
        for commit in self.history(name, 4):
            if before is not None and int(commit["version"]) <= before:
                return None
            if commit["operation"] not in MAINTENANCE_OPERATIONS:
                return commit
        return None

    def merge(
        self,
        name: str,
        df: DataFrame,
        keys: list[str],
        *,
        insert_only: bool,
        txn: Txn | None = None,
        partition_by: str | None = None,
        bound: Bound | None = None,
    ) -> MergeResult:
        """Upsert ``df`` by ``keys`` with Delta's MERGE; creates the table (partitioned by ``partition_by``).

        Insert-only: matched rows are left alone, so the commit only adds files (a downstream stream that skips
        change commits still sees it). ``df`` must hold each key once. A partitioned table is merged with the
        batch's partition values in the condition, so only those partitions are read (a key's partition value must
        never change). With ``bound``, only the target files whose statistics overlap its range are read. Replaying
        ``txn`` commits nothing.
        """
        from pyspark.sql import functions as F

        before = self.version(name)
        if before is None:
            # the creating write of a partitioned table is Delta's optimized write: its rows are shuffled by
            # partition value, so each partition starts as one file and auto compaction has nothing to rewrite
            # (a first batch of a big backlog, written by every task into every partition, would be compacted in
            # full right after, which doubled its cost)
            laid_out = {"optimizeWrite": "true"} if partition_by is not None else {}
            options = {"mergeSchema": "true", **MERGE_TABLE_PROPERTIES, **laid_out}
            self._write(name, df, "append", txn, options, partition_by)
            return _write_result(self._committed(name, None), "numOutputRows")
        condition = F.lit(True)
        for key in keys:
            condition = condition & (F.col(f"t.{quote(key)}") == F.col(f"s.{quote(key)}"))
        parts = self.partition_columns(name)
        if parts and (bound is None or bound.column != parts[0]):  # a bound on the partition column prunes them
            values = [r[0] for r in df.select(parts[0]).distinct().collect()]
            column = F.col(f"t.{quote(parts[0])}")
            within = column.isin(values) if None not in values else column.isin(values) | column.isNull()
            condition = condition & within
        if bound is not None:
            condition = condition & _within(F.col(f"t.{quote(bound.column)}"), bound)
        builder = self.delta_table(name).alias("t").merge(df.alias("s"), condition).withSchemaEvolution()
        if not insert_only:
            builder = builder.whenMatchedUpdateAll()
        builder = builder.whenNotMatchedInsertAll()
        with self._session_txn(txn):
            builder.execute()
        commit = self._committed(name, before)
        if commit is None:
            log.info("%s: transaction %s/%s already committed, replay skipped", name, txn and txn.app_id,
                     txn and txn.version)  # fmt: skip
            return MergeResult(0, 0, 0, replay_skipped=True)
        metrics = commit.get("operationMetrics") or {}
        return MergeResult(
            int(metrics.get("numSourceRows", 0)),
            int(metrics.get("numTargetRowsInserted", 0)),
            int(metrics.get("numTargetRowsUpdated", 0)),
        )

    def replace(
        self,
        name: str,
        df: DataFrame,
        *,
        column: str | None = None,
        values: Sequence[object] | None = None,
        txn: Txn | None = None,
    ) -> int:
        """Replace the rows whose ``column`` is in ``values`` by ``df`` (all rows when ``values`` is None), in one
        commit; a new table is partitioned by ``column``, so replacing some dates rewrites only those dates."""
        exists = self.exists(name)
        # without a marker an overwrite always commits, so the commit after the write is ours (writers of one table
        # take turns in a process): the version before it is read only to tell a skipped replay apart
        before = self.version(name) if exists and txn is not None else None
        if exists and column is not None and values is not None:
            options = {"replaceWhere": replace_where(column, values), "mergeSchema": "true"}
            partition = None
        else:
            options = {"overwriteSchema": "true", **({} if exists else TABLE_PROPERTIES)}
            partition = column
        self._partitions.pop(name, None)  # a whole overwrite may lay the table out anew
        self._write(name, df, "overwrite", txn, options, partition)
        commit = self._committed(name, before)
        return 0 if commit is None else _write_result(commit, "numOutputRows").inserted

    def overwrite(self, name: str, df: DataFrame, *, txn: Txn | None = None) -> int:
        return self.replace(name, df, txn=txn)

    def optimize(self, name: str, zorder_by: list[str]) -> dict[str, Any]:
        self._require(name)
        optimizer = self.delta_table(name).optimize()
        with self._guard.shared():
            done = optimizer.executeZOrderBy(*zorder_by) if zorder_by else optimizer.executeCompaction()
        row = done.first()
        return row.asDict(recursive=True)["metrics"] if row is not None else {}

    def vacuum(self, name: str, retain_hours: int, *, allow_short_retention: bool = False) -> int:
        """Delete files no version within ``retain_hours`` needs; the number of files deleted."""
        check_vacuum_retention(retain_hours, allow_short_retention)
        self._require(name)
        table = self.delta_table(name)
        conf = self.spark.conf
        with self._guard.exclusive():
            conf.set(RETENTION_CHECK, str(not allow_short_retention).lower())
            try:
                table.vacuum(float(retain_hours))
            finally:
                conf.unset(RETENTION_CHECK)
        ends = [c for c in self.history(name, 2) if c["operation"] == "VACUUM END"]
        return int((ends[0].get("operationMetrics") or {}).get("numDeletedFiles", 0)) if ends else 0


def _within(column: Column, bound: Bound) -> Column:
    from pyspark.sql import functions as F

    inside = column.between(F.lit(bound.low), F.lit(bound.high)) if bound.low is not None else F.lit(False)
    return inside | column.isNull() if bound.nulls else inside


def _write_result(commit: dict[str, Any] | None, rows_metric: str) -> MergeResult:
    if commit is None:
        return MergeResult(0, 0, 0, replay_skipped=True)
    rows = int((commit.get("operationMetrics") or {}).get(rows_metric, 0))
    return MergeResult(rows, rows, 0)
