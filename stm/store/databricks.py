"""Databricks naming: ``catalog.schema.table`` is a Unity Catalog table, read and written by that name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stm.names import check_identifier, quote_table
from stm.store.delta import TableStore

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, DataFrameWriter
    from pyspark.sql.streaming import DataStreamReader


class CatalogTableStore(TableStore):
    """Tables in a catalog (Unity Catalog on Databricks; Spark's session catalog in tests)."""

    def exists(self, name: str) -> bool:
        quote_table(name)
        return bool(self.spark.catalog.tableExists(name))

    def location(self, name: str) -> str:
        return quote_table(name)

    def table_ref(self, name: str) -> str:
        return quote_table(name)

    def _load(self, name: str) -> DataFrame:
        return self.spark.read.table(quote_table(name))

    def _load_stream(self, reader: DataStreamReader, name: str) -> DataFrame:
        return reader.table(quote_table(name))

    def _save(self, writer: DataFrameWriter, name: str) -> None:
        writer.saveAsTable(quote_table(name))

    def list_tables(self, catalog: str, schema: str) -> list[str]:
        database = f"{check_identifier(catalog, 'catalog')}.{check_identifier(schema, 'schema')}"
        if not self.spark.catalog.databaseExists(database):
            return []
        # listTables names views too (tableType VIEW, apache/spark python/pyspark/sql/catalog.py): tables only
        return sorted(
            t.name
            for t in self.spark.catalog.listTables(database)
            if not t.isTemporary and "VIEW" not in (t.tableType or "")
        )
