"""Local naming: ``catalog.schema.table`` is the path-based Delta table at ``<lake_root>/catalog/schema/table``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from stm.names import check_identifier, split_table_name
from stm.store.delta import TableStore

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, DataFrameWriter, SparkSession
    from pyspark.sql.streaming import DataStreamReader

LOG_DIR = "_delta_log"


def is_delta_table(path: Path) -> bool:
    """A folder holding a Delta log with at least one commit (or checkpoint)."""
    log_dir = path / LOG_DIR
    return log_dir.is_dir() and any(p.suffix in (".json", ".parquet") for p in log_dir.iterdir())


class LocalTableStore(TableStore):
    """Path-based Delta tables under one lake root."""

    def __init__(self, spark: SparkSession, lake_root: Path) -> None:
        super().__init__(spark)
        self.lake_root = Path(lake_root)

    def path(self, name: str) -> Path:
        return self.lake_root.joinpath(*split_table_name(name))

    def exists(self, name: str) -> bool:
        return is_delta_table(self.path(name))

    def location(self, name: str) -> str:
        return str(self.path(name))

    def table_ref(self, name: str) -> str:
        return "delta.`" + str(self.path(name)).replace("`", "``") + "`"

    def _load(self, name: str) -> DataFrame:
        return self.spark.read.format("delta").load(str(self.path(name)))

    def _load_stream(self, reader: DataStreamReader, name: str) -> DataFrame:
        return reader.load(str(self.path(name)))

    def _save(self, writer: DataFrameWriter, name: str) -> None:
        path = self.path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        writer.save(str(path))

    def list_tables(self, catalog: str, schema: str) -> list[str]:
        folder = self.lake_root / check_identifier(catalog, "catalog") / check_identifier(schema, "schema")
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if is_delta_table(p))
