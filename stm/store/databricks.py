"""The Databricks adapter: native Delta in Unity Catalog. Writes are SQL statements built by pure functions."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from stm.names import check_identifier, quote, quote_table
from stm.store.base import MergeResult, StreamOptions, TableStore, Txn, check_vacuum_retention

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, DataFrameWriter

log = logging.getLogger(__name__)
_TXN_CONF_LOCK = threading.Lock()  # the session-wide MERGE marker: one writer at a time


def merge_sql(target: str, source_view: str, keys: list[str], *, insert_only: bool) -> str:
    """``MERGE INTO`` by ``keys``; insert-only leaves matched rows alone so the commit stays append-only."""
    on = " AND ".join(f"t.{quote(k)} = s.{quote(k)}" for k in keys)
    matched = "" if insert_only else "WHEN MATCHED THEN UPDATE SET *\n"
    return (
        f"MERGE WITH SCHEMA EVOLUTION INTO {quote_table(target)} AS t\n"
        f"USING {quote(source_view)} AS s\n"
        f"ON {on}\n"
        f"{matched}WHEN NOT MATCHED THEN INSERT *"
    )


def optimize_sql(target: str, zorder_by: list[str]) -> str:
    zorder = f" ZORDER BY ({', '.join(quote(c) for c in zorder_by)})" if zorder_by else ""
    return f"OPTIMIZE {quote_table(target)}{zorder}"


def vacuum_sql(target: str, retain_hours: int) -> str:
    return f"VACUUM {quote_table(target)} RETAIN {int(retain_hours)} HOURS"


def replace_where(column: str, values: Sequence[object]) -> str:
    """The ``replaceWhere`` predicate of a date-range rewrite: ``col IN ('2026-11-01', ...)``."""
    literals = ", ".join("'" + str(v).replace("'", "''") + "'" for v in values) or "NULL"
    return f"{quote(column)} IN ({literals})"


def create_like_sql(target: str, source_view: str, cluster_by: str | None = None) -> str:
    """An empty table shaped like the view; ``cluster_by``: Delta liquid clustering on that column."""
    clustering = f" CLUSTER BY ({quote(cluster_by)})" if cluster_by else ""
    source = quote(source_view)
    return f"CREATE TABLE IF NOT EXISTS {quote_table(target)}{clustering} AS SELECT * FROM {source} WHERE false"


class DatabricksTableStore(TableStore):
    """Unity Catalog tables; idempotent writes use Delta's ``txnAppId``/``txnVersion`` session settings."""

    def exists(self, name: str) -> bool:
        quote_table(name)
        return bool(self.spark.catalog.tableExists(name))

    def read(self, name: str) -> DataFrame:
        quote_table(name)
        return self.spark.read.table(name)

    def read_stream(self, name: str, options: StreamOptions) -> DataFrame:
        quote_table(name)
        reader = self.spark.readStream.option("skipChangeCommits", str(options.skip_change_commits).lower())
        if options.starting_version is not None:
            reader = reader.option("startingVersion", str(options.starting_version))
        if options.starting_timestamp is not None:
            reader = reader.option("startingTimestamp", options.starting_timestamp)
        if options.max_files_per_trigger:
            reader = reader.option("maxFilesPerTrigger", str(options.max_files_per_trigger))
        return reader.table(name)

    def batch_rows(self, name: str, batch: DataFrame) -> DataFrame:
        return batch

    def _sql(self, statement: str) -> DataFrame:
        log.debug("SQL: %s", statement)
        return self.spark.sql(statement)

    @contextmanager
    def _txn_conf(self, txn: Txn | None) -> Iterator[None]:
        """MERGE takes its idempotent-write marker from the session; threads of one session take turns setting it."""
        if txn is None:
            yield
            return
        conf = self.spark.conf
        with _TXN_CONF_LOCK:
            conf.set("spark.databricks.delta.write.txnAppId", txn.app_id)
            conf.set("spark.databricks.delta.write.txnVersion", str(txn.version))
            try:
                yield
            finally:
                conf.unset("spark.databricks.delta.write.txnAppId")
                conf.unset("spark.databricks.delta.write.txnVersion")

    @staticmethod
    def _txn_options(writer: DataFrameWriter, txn: Txn | None) -> DataFrameWriter:
        """A DataFrame write carries its marker as writer options, so concurrent writes never share it."""
        if txn is None:
            return writer
        return writer.option("txnAppId", txn.app_id).option("txnVersion", str(txn.version))

    def merge(
        self,
        name: str,
        df: DataFrame,
        keys: list[str],
        *,
        insert_only: bool,
        txn: Txn | None = None,
        cluster_by: str | None = None,
        small: bool = False,
    ) -> MergeResult:
        for key in keys:
            check_identifier(key, "key column")
        view = f"stm_src_{uuid.uuid4().hex}"
        df.createOrReplaceTempView(view)
        try:
            self._sql(create_like_sql(name, view, cluster_by))
            with self._txn_conf(txn):
                metrics = self._sql(merge_sql(name, view, keys, insert_only=insert_only)).collect()
        finally:
            self.spark.catalog.dropTempView(view)
        row = metrics[0].asDict() if metrics else {}
        inserted = int(row.get("num_inserted_rows", 0) or 0)
        updated = int(row.get("num_updated_rows", 0) or 0)
        return MergeResult(int(row.get("num_affected_rows", inserted + updated) or 0), inserted, updated)

    def overwrite(self, name: str, df: DataFrame, *, txn: Txn | None = None) -> int:
        quote_table(name)
        writer = df.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
        self._txn_options(writer, txn).saveAsTable(name)
        return int(self.spark.read.table(name).count())

    def replace(
        self,
        name: str,
        df: DataFrame,
        *,
        column: str | None = None,
        values: Sequence[object] | None = None,
        txn: Txn | None = None,
        small: bool = False,
    ) -> int:
        quote_table(name)
        writer = df.write.format("delta").mode("overwrite")
        if column is not None and values is not None:
            writer = writer.option("replaceWhere", replace_where(column, values)).option("mergeSchema", "true")
        else:
            writer = writer.option("overwriteSchema", "true")
        self._txn_options(writer, txn).saveAsTable(name)
        return -1  # not counted: a count would re-read the table

    def optimize(self, name: str, zorder_by: list[str]) -> dict[str, Any]:
        rows = self._sql(optimize_sql(name, zorder_by)).collect()
        return rows[0].asDict(recursive=True) if rows else {}

    def vacuum(self, name: str, retain_hours: int, *, allow_short_retention: bool = False) -> int:
        check_vacuum_retention(retain_hours, allow_short_retention)
        if allow_short_retention:
            self.spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
        return len(self._sql(vacuum_sql(name, retain_hours)).collect())

    def list_tables(self, catalog: str, schema: str) -> list[str]:
        rows = self._sql(f"SHOW TABLES IN {quote(catalog)}.{quote(schema)}").collect()
        return sorted(str(r["tableName"]) for r in rows if not r["isTemporary"])

    def version(self, name: str) -> int | None:
        if not self.exists(name):
            return None
        return int(self._sql(f"DESCRIBE HISTORY {quote_table(name)} LIMIT 1").collect()[0]["version"])

    def history(self, name: str) -> list[dict[str, Any]]:
        return [r.asDict(recursive=True) for r in self._sql(f"DESCRIBE HISTORY {quote_table(name)}").collect()]
