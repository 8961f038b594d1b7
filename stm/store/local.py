"""The local adapter: delta-rs Delta tables under a lake root, read by Spark's native parquet reader."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake

from stm.errors import TableNotFound
from stm.names import split_table_name
from stm.store import delta_log
from stm.store.base import MergeResult, StreamOptions, TableStore, Txn, check_vacuum_retention
from stm.store.delta_source import FORMAT

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

log = logging.getLogger(__name__)


def _commit_properties(txn: Txn | None) -> CommitProperties | None:
    if txn is None:
        return None
    return CommitProperties(app_transactions=[Transaction(txn.app_id, txn.version)])


def merge_predicate(keys: list[str]) -> str:
    return " AND ".join(f't."{k}" = s."{k}"' for k in keys)


class LocalTableStore(TableStore):
    """``catalog.schema.table`` is the Delta table at ``<lake_root>/catalog/schema/table``."""

    def __init__(self, spark: SparkSession, lake_root: Path) -> None:
        super().__init__(spark)
        self.lake_root = Path(lake_root)

    def path(self, name: str) -> Path:
        return self.lake_root.joinpath(*split_table_name(name))

    def exists(self, name: str) -> bool:
        return delta_log.is_delta_table(self.path(name))

    def _require(self, name: str) -> Path:
        path = self.path(name)
        if not delta_log.is_delta_table(path):
            raise TableNotFound(f"table {name} does not exist (no Delta table at {path})")
        return path

    def schema(self, name: str) -> StructType:
        from pyspark.sql.types import StructType

        return StructType.fromJson(json.loads(delta_log.schema_json(self._require(name))))

    def _read_files(self, path: Path, files: list[str], schema: StructType) -> DataFrame:
        if not files:
            return self.spark.createDataFrame([], schema)
        reader = self.spark.read.schema(schema)
        if delta_log.partition_columns(path):
            reader = reader.option("basePath", str(path))
        return reader.parquet(*files)

    def read(self, name: str) -> DataFrame:
        path = self._require(name)
        files, _meta = delta_log.snapshot(path, delta_log.latest_version(path))
        return self._read_files(path, [f.path for f in files], self.schema(name))

    def read_stream(self, name: str, options: StreamOptions) -> DataFrame:
        path = self._require(name)
        reader = (
            self.spark.readStream.format(FORMAT)
            .option("path", str(path))
            .option("emit", "files")
            .option("skipChangeCommits", str(options.skip_change_commits).lower())
        )
        if options.starting_version is not None:
            reader = reader.option("startingVersion", str(options.starting_version))
        if options.starting_timestamp is not None:
            reader = reader.option("startingTimestamp", options.starting_timestamp)
        if options.max_files_per_trigger:
            reader = reader.option("maxFilesPerTrigger", str(options.max_files_per_trigger))
        return reader.load()

    def batch_rows(self, name: str, batch: DataFrame) -> DataFrame:
        path = self._require(name)
        files = [row.path for row in batch.select("path").collect()]
        return self._read_files(path, files, self.schema(name))

    def _to_arrow(self, df: DataFrame) -> pa.Table:
        return df.toArrow()

    def merge(
        self, name: str, df: DataFrame, keys: list[str], *, insert_only: bool, txn: Txn | None = None
    ) -> MergeResult:
        path = self.path(name)
        if txn is not None and delta_log.is_delta_table(path):
            done = DeltaTable(str(path)).transaction_version(txn.app_id)
            if done is not None and done >= txn.version:
                log.info("%s: transaction %s/%s already committed, replay skipped", name, txn.app_id, txn.version)
                return MergeResult(0, 0, 0, replay_skipped=True)
        data = self._to_arrow(df)
        if data.num_rows == 0:
            return MergeResult(0, 0, 0)
        if not delta_log.is_delta_table(path):
            path.mkdir(parents=True, exist_ok=True)
            write_deltalake(str(path), data, mode="append", commit_properties=_commit_properties(txn))
            return MergeResult(data.num_rows, data.num_rows, 0)
        merger = DeltaTable(str(path)).merge(
            data,
            merge_predicate(keys),
            source_alias="s",
            target_alias="t",
            merge_schema=True,
            commit_properties=_commit_properties(txn),
        )
        if not insert_only:
            merger = merger.when_matched_update_all()
        metrics = merger.when_not_matched_insert_all().execute()
        return MergeResult(
            data.num_rows,
            int(metrics.get("num_target_rows_inserted", 0)),
            int(metrics.get("num_target_rows_updated", 0)),
        )

    def overwrite(self, name: str, df: DataFrame, *, txn: Txn | None = None) -> int:
        path = self.path(name)
        data = self._to_arrow(df)
        path.mkdir(parents=True, exist_ok=True)
        write_deltalake(
            str(path), data, mode="overwrite", schema_mode="overwrite", commit_properties=_commit_properties(txn)
        )
        return int(data.num_rows)

    def optimize(self, name: str, zorder_by: list[str]) -> dict[str, Any]:
        dt = DeltaTable(str(self._require(name)))
        metrics = dt.optimize.z_order(zorder_by) if zorder_by else dt.optimize.compact()
        return dict(metrics)

    def vacuum(self, name: str, retain_hours: int, *, allow_short_retention: bool = False) -> int:
        check_vacuum_retention(retain_hours, allow_short_retention)
        dt = DeltaTable(str(self._require(name)))
        removed = dt.vacuum(retain_hours, dry_run=False, enforce_retention_duration=not allow_short_retention)
        return len(removed)

    def version(self, name: str) -> int | None:
        path = self.path(name)
        return delta_log.latest_version(path) if delta_log.is_delta_table(path) else None

    def history(self, name: str) -> list[dict[str, Any]]:
        return list(DeltaTable(str(self._require(name))).history())
