"""The table store: Delta Lake through Spark, the same code locally, on Databricks and over Spark Connect.

Reads and streams (``skipChangeCommits``) use the ``delta`` data source; writes use the DataFrameWriter (appends,
``replaceWhere`` date replaces) or Delta SQL (``MERGE``, ``DESCRIBE HISTORY``, ``DESCRIBE DETAIL``, ``OPTIMIZE``,
``VACUUM``). Nothing goes through Delta's Python ``DeltaTable`` API, which a Spark
Connect session (serverless, standard access mode) cannot use without a server plugin, and nothing sets a session
property serverless refuses (a MERGE is idempotent by its keys, not by a session-wide transaction marker). The only
engine seam is naming: a subclass says how ``catalog.schema.table`` becomes a Delta table (a path under the lake
root locally, a Unity Catalog name on Databricks). Nothing reads or writes the Delta log by hand.

A store holds the session it reads and writes with. Code inside ``foreachBatch`` works on ``bound(batch_df.
sparkSession)``: the batch's own session, never the driver's (on serverless and standard access mode the function
is pickled and runs in its own process; a pickled store carries no session).
"""

from __future__ import annotations

import copy
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from stm.errors import TableNotFound
from stm.names import quote, sql_literal
from stm.spark import set_conf
from stm.store.base import Bound, MergeResult, StreamOptions, check_vacuum_retention

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, DataFrameWriter, SparkSession
    from pyspark.sql.streaming import DataStreamReader

log = logging.getLogger(__name__)
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


def _within(column: str, values: Sequence[object]) -> str:
    """``column`` takes one of ``values`` (a NULL among them matches NULL)."""
    known = [v for v in values if v is not None]
    inside = f"{column} IN ({', '.join(sql_literal(v) for v in known)})" if known else "FALSE"
    return f"({inside} OR {column} IS NULL)" if len(known) < len(values) else inside


def _in_bound(column: str, bound: Bound) -> str:
    inside = (
        f"{column} BETWEEN {sql_literal(bound.low)} AND {sql_literal(bound.high)}" if bound.low is not None else "FALSE"
    )
    return f"({inside} OR {column} IS NULL)" if bound.nulls else inside


def _braced(text: str) -> str:
    """``text`` as a literal part of a query that ``SparkSession.sql`` formats with DataFrame arguments."""
    return text.replace("{", "{{").replace("}", "}}")


class TableStore(ABC):
    """Delta tables named ``catalog.schema.table``; subclasses map names to tables, nothing else."""

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark
        self._partitions: dict[str, list[str]] = {}  # a table's partition columns never change once created

    def __getstate__(self) -> dict[str, Any]:
        """A pickled store (a ``foreachBatch`` function shipped to its worker) carries no session: it is bound to the
        batch's own session where it runs."""
        state = dict(self.__dict__)
        state["spark"] = None
        state["_partitions"] = {}
        return state

    def bound(self, spark: SparkSession) -> TableStore:
        """This store working on ``spark`` (a micro-batch's own session)."""
        other = copy.copy(self)
        other.spark = spark
        other._partitions = {}
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
    def table_ref(self, name: str) -> str:
        """``name`` as Delta SQL names it: ``delta.`<path>``` or a quoted Unity Catalog name."""

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
        last = f" LIMIT {int(limit)}" if limit else ""
        rows = self.spark.sql(f"DESCRIBE HISTORY {self.table_ref(name)}{last}").collect()
        return [r.asDict(recursive=True) for r in rows]

    def version(self, name: str) -> int | None:
        if not self.exists(name):
            return None
        return int(self.history(name, 1)[0]["version"])

    def partition_columns(self, name: str) -> list[str]:
        if name not in self._partitions:
            row = self.spark.sql(f"DESCRIBE DETAIL {self.table_ref(name)}").select("partitionColumns").first()
            self._partitions[name] = list(row[0]) if row is not None else []
        return self._partitions[name]

    # -- writes -------------------------------------------------------------------------------------------------
    def _write(self, name: str, df: DataFrame, mode: str, options: dict[str, str], partition_by: str | None) -> None:
        writer = df.write.format("delta").mode(mode)
        if partition_by is not None:
            writer = writer.partitionBy(partition_by)
        for key, value in options.items():
            writer = writer.option(key, value)
        self._save(writer, name)

    def _committed(self, name: str) -> dict[str, Any] | None:
        """The commit a write just made (writers of one table take turns in a process). Auto compaction or a
        maintenance job's OPTIMIZE may have committed right after it: those are passed over."""
        for commit in self.history(name, 4):
            if commit["operation"] not in MAINTENANCE_OPERATIONS:
                return commit
        return None

    def append(self, name: str, df: DataFrame) -> None:
        """Add ``df``'s rows: a blind append, which never conflicts with another writer's."""
        self._write(name, df, "append", {} if self.exists(name) else dict(TABLE_PROPERTIES), None)

    def merge(
        self,
        name: str,
        df: DataFrame,
        keys: list[str],
        *,
        insert_only: bool,
        partition_by: str | None = None,
        bound: Bound | None = None,
    ) -> MergeResult:
        """Upsert ``df`` by ``keys`` with Delta's ``MERGE``; creates the table (partitioned by ``partition_by``).

        Insert-only: matched rows are left alone, so the commit only adds files (a downstream stream that skips
        change commits still sees it), and a replayed batch adds nothing. ``df`` must hold each key once. A
        partitioned table is merged with the batch's partition values in the condition, so only those partitions
        are read (a key's partition value must never change). With ``bound``, only the target files whose
        statistics overlap its range are read.
        """
        if not self.exists(name):
            # the creating write of a partitioned table is Delta's optimized write: its rows are shuffled by
            # partition value, so each partition starts as one file and auto compaction has nothing to rewrite
            # (a first batch of a big backlog, written by every task into every partition, would be compacted in
            # full right after, which doubled its cost)
            laid_out = {"optimizeWrite": "true"} if partition_by is not None else {}
            options = {"mergeSchema": "true", **MERGE_TABLE_PROPERTIES, **laid_out}
            self._write(name, df, "append", options, partition_by)
            return MergeResult(_rows_written(self._committed(name)), 0)
        condition = [f"t.{quote(k)} = s.{quote(k)}" for k in keys]
        parts = self.partition_columns(name)
        if parts and (bound is None or bound.column != parts[0]):  # a bound on the partition column prunes them
            values = [r[0] for r in df.select(parts[0]).distinct().collect()]
            condition.append(_within(f"t.{quote(parts[0])}", values))
        if bound is not None:
            condition.append(_in_bound(f"t.{quote(bound.column)}", bound))
        matched = "" if insert_only else " WHEN MATCHED THEN UPDATE SET *"
        query = (
            f"MERGE WITH SCHEMA EVOLUTION INTO {_braced(self.table_ref(name))} AS t USING {{source}} AS s "
            f"ON {_braced(' AND '.join(condition))}{matched} WHEN NOT MATCHED THEN INSERT *"
        )
        # on the source's own session: classic Spark names ``df`` there by a temporary view of its session
        row = df.sparkSession.sql(query, source=df).first()
        counts = row.asDict() if row is not None else {}
        return MergeResult(int(counts.get("num_inserted_rows") or 0), int(counts.get("num_updated_rows") or 0))

    def replace(
        self,
        name: str,
        df: DataFrame,
        *,
        column: str | None = None,
        values: Sequence[object] | None = None,
        tag: str | None = None,
    ) -> int:
        """Replace the rows whose ``column`` is in ``values`` by ``df`` (all rows when ``values`` is None), in one
        commit (carrying ``tag`` as its user metadata); a new table is partitioned by ``column``, so replacing some
        dates rewrites only those dates. The rows written."""
        exists = self.exists(name)
        if exists and column is not None and values is not None:
            options = {"replaceWhere": replace_where(column, values), "mergeSchema": "true"}
            partition = None
        else:
            options = {"overwriteSchema": "true", **({} if exists else TABLE_PROPERTIES)}
            partition = column
        if tag is not None:
            options["userMetadata"] = tag
        self._partitions.pop(name, None)  # a whole overwrite may lay the table out anew
        self._write(name, df, "overwrite", options, partition)
        return _rows_written(self._committed(name))

    def overwrite(self, name: str, df: DataFrame) -> int:
        return self.replace(name, df)

    def optimize(self, name: str, zorder_by: list[str]) -> dict[str, Any]:
        self._require(name)
        zorder = f" ZORDER BY ({', '.join(quote(c) for c in zorder_by)})" if zorder_by else ""
        row = self.spark.sql(f"OPTIMIZE {self.table_ref(name)}{zorder}").first()
        metrics = row.asDict(recursive=True).get("metrics") if row is not None else None
        return metrics or {}

    def vacuum(self, name: str, retain_hours: int, *, allow_short_retention: bool = False) -> int:
        """Delete files no version within ``retain_hours`` needs; the number of files deleted.

        A retention under Delta's minimum needs its safety check off, a session property that serverless does not
        let a job set: there, and in the Connect mode, only the minimum or more is allowed."""
        check_vacuum_retention(retain_hours, allow_short_retention)
        self._require(name)
        if allow_short_retention:
            set_conf(self.spark, RETENTION_CHECK, "false")
        try:
            self.spark.sql(f"VACUUM {self.table_ref(name)} RETAIN {int(retain_hours)} HOURS").collect()
        finally:
            if allow_short_retention:
                set_conf(self.spark, RETENTION_CHECK, None)
        ends = [c for c in self.history(name, 2) if c["operation"] == "VACUUM END"]
        return int((ends[0].get("operationMetrics") or {}).get("numDeletedFiles", 0)) if ends else 0


def _rows_written(commit: dict[str, Any] | None) -> int:
    return int(((commit or {}).get("operationMetrics") or {}).get("numOutputRows", 0))
