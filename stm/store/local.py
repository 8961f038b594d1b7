"""The local adapter: delta-rs Delta tables under a lake root, read by Spark's native parquet reader."""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, unquote

import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, Field, QueryBuilder, Schema, Transaction
from deltalake.transaction import AddAction, RemoveAction, create_table_with_add_actions

from stm.errors import TableNotFound
from stm.names import check_identifier, split_table_name
from stm.store import delta_log
from stm.store.base import ROW_FILE, ROW_INDEX, MergeResult, StreamOptions, TableStore, Txn, check_vacuum_retention
from stm.store.delta_source import FORMAT

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructField, StructType

log = logging.getLogger(__name__)
STAGING_PREFIX = "_stm_staging_"  # a writer's files before they are committed; never part of the table
STAGING_DIR = "_staging"
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"  # Spark's folder name for a NULL partition value
T = TypeVar("T")


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
            # partition values come from the folder names; Spark puts those columns last, the table order is kept
            return reader.option("basePath", str(path)).parquet(*files).select(*schema.fieldNames())
        return reader.parquet(*files)

    def read(self, name: str) -> DataFrame:
        return self._read_partitions(name, None, ())

    def _read_partitions(self, name: str, column: str | None, values: Sequence[object]) -> DataFrame:
        """The rows of the partitions whose ``column`` is one of ``values`` (no ``column``: every row); other
        partitions' files are not read."""
        path = self._require(name)
        files, _meta = delta_log.snapshot(path, delta_log.latest_version(path))
        if column is not None:
            wanted = {None if v is None else str(v) for v in values}
            files = [f for f in files if f.partition_values.get(column) in wanted]
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
        return self._read_files(path, _batch_files(batch), self.schema(name))

    def batch_row_ids(self, name: str, batch: DataFrame, columns: list[str]) -> DataFrame | None:
        """Only the key ``columns`` are read, with Spark's ``_metadata``; a partitioned source has values outside
        its files, so its rows go through ``merge``."""
        from pyspark.sql import functions as F
        from pyspark.sql.types import LongType, StringType, StructField, StructType

        path = self._require(name)
        if delta_log.partition_columns(path):
            return None
        files = _batch_files(batch)
        schema = self.schema(name)
        if not files:
            identity = [StructField(ROW_FILE, StringType()), StructField(ROW_INDEX, LongType())]
            return self.spark.createDataFrame([], StructType([schema[c] for c in columns] + identity))
        meta = F.col("_metadata")
        return (
            self.spark.read.schema(schema)
            .parquet(*files)
            .select(*columns, meta["file_path"].alias(ROW_FILE), meta["row_index"].alias(ROW_INDEX))
        )

    def insert_batch_rows(
        self,
        name: str,
        source: str,
        ids: DataFrame,
        keys: list[str],
        *,
        drop: DataFrame | None,
        extra: list[tuple[StructField, object]],
        txn: Txn | None = None,
    ) -> MergeResult:
        """Spark finds the rows to leave out from the key columns alone; pyarrow copies the others from the files
        ``ids`` reads, file by file, with the ``extra`` columns, and delta-rs commits the new files."""
        from functools import reduce

        from pyspark.sql import DataFrame
        from pyspark.sql import functions as F
        from pyspark.sql.pandas.types import to_arrow_schema
        from pyspark.sql.types import StructType

        path = self.path(name)
        if self._replayed(name, path, txn):
            return MergeResult(0, 0, 0, replay_skipped=True)
        exists = delta_log.is_delta_table(path)
        skips = [] if drop is None else [drop.select(ROW_FILE, ROW_INDEX)]
        present = _keys_present(self.read(name), ids, keys).cache() if exists else None  # mostly none
        try:
            if present is not None and not present.isEmpty():
                skips.append(ids.join(F.broadcast(present), on=keys, how="left_semi").select(ROW_FILE, ROW_INDEX))
            skipped: dict[str, list[int]] = {}
            if skips:
                skip = reduce(DataFrame.unionByName, skips)
                for row in skip.groupBy(ROW_FILE).agg(F.collect_list(ROW_INDEX).alias("rows")).collect():
                    skipped[_local_file(row[ROW_FILE])] = row["rows"]
        finally:
            if present is not None:
                present.unpersist()
        source_fields = list(self.schema(source))
        source_schema = to_arrow_schema(StructType(source_fields), timezone="UTC")
        out_schema = to_arrow_schema(StructType(source_fields + [f for f, _ in extra]), timezone="UTC")
        parts = delta_log.partition_columns(path) if exists else []
        partition = parts[0] if parts else None
        path.mkdir(parents=True, exist_ok=True)
        adds: list[AddAction] = []
        values = [value for _, value in extra]
        try:
            for file in map(_local_file, ids.inputFiles()):
                left_out = skipped.get(file, [])
                adds += _copy_file(file, source_schema, out_schema, left_out, values, path, partition)
        except BaseException:
            for add in adds:  # not committed: not part of the table, removed
                (path / add.path).unlink(missing_ok=True)
            raise
        return self._commit_inserts(path, adds, out_schema, txn, partition)

    def _replayed(self, name: str, path: Path, txn: Txn | None) -> bool:
        """Whether ``txn`` (or a later version of its app) is already committed to the table at ``path``."""
        if txn is None or not delta_log.is_delta_table(path):
            return False
        done = DeltaTable(str(path)).transaction_version(txn.app_id)
        if done is not None and done >= txn.version:
            log.info("%s: transaction %s/%s already committed, replay skipped", name, txn.app_id, txn.version)
            return True
        return False

    def _stage(self, df: DataFrame, into: Path, partition_by: str | None = None) -> list[AddAction]:
        """Write ``df`` with Spark's parquet writer and move the non-empty files into ``into``.

        With ``partition_by``, files go to ``<column>=<value>/`` folders and carry their partition value.
        """
        stage = into / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
        writer = df.write.partitionBy(partition_by) if partition_by else df.write
        writer.parquet(str(stage))
        adds = []
        try:
            for part in sorted(stage.rglob("part-*.parquet")):
                rows = pq.read_metadata(part).num_rows
                if rows == 0:
                    continue
                rel = part.relative_to(stage)
                values: dict[str, str | None] = {}
                if partition_by:
                    raw = unquote(rel.parent.name.split("=", 1)[1])
                    values[partition_by] = None if raw == HIVE_NULL else raw
                dest = into / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(part, dest)
                adds.append(_add_action(into, rel.as_posix(), values, rows))
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        return adds

    def _write_files(
        self, df: DataFrame, into: Path, partition: str | None, small: bool
    ) -> tuple[list[AddAction], pa.Schema]:
        """``df``'s rows as data files in ``into`` (not committed) and their Arrow schema: ``small`` rows collected
        and written by pyarrow (one Spark job), others by Spark's writer."""
        from pyspark.sql.pandas.types import to_arrow_schema

        arrow_schema = to_arrow_schema(df.schema, timezone="UTC")
        if small:
            return _write_arrow(df.toArrow().cast(arrow_schema), into, partition), arrow_schema
        return self._stage(df, into, partition), arrow_schema

    def _commit_adds(
        self, path: Path, adds: list[AddAction], schema: pa.Schema, txn: Txn | None, partition: str | None = None
    ) -> None:
        """One append-only commit of ``adds`` (creating the table, or adding new columns first)."""
        props = _commit_properties(txn)
        if not delta_log.is_delta_table(path):
            create_table_with_add_actions(
                str(path),
                Schema.from_arrow(schema),
                adds,
                mode="error",
                partition_by=[partition] if partition else None,
                commit_properties=props,
            )
            return
        dt = DeltaTable(str(path))
        known = set(dt.schema().to_arrow().names)
        new_fields = [f for f in schema if f.name not in known]
        if new_fields:
            log.info("%s: adding columns %s", path, ", ".join(f.name for f in new_fields))
            dt.alter.add_columns([Field.from_arrow(f) for f in new_fields])
            dt = DeltaTable(str(path))
        actions: list[AddAction | RemoveAction] = list(adds)
        dt.create_write_transaction(actions, mode="append", schema=dt.schema(), commit_properties=props)

    def _commit_inserts(
        self, path: Path, adds: list[AddAction], schema: pa.Schema, txn: Txn | None, partition: str | None
    ) -> MergeResult:
        """Commit ``adds`` as new rows (no commit when there are none); the rows inserted."""
        inserted = sum(json.loads(a.stats)["numRecords"] for a in adds)
        if adds:
            self._commit_adds(path, adds, schema, txn, partition)
        return MergeResult(inserted, inserted, 0)

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
        """Insert-only: Spark anti-joins the target keys and writes the new rows' files, one append-only commit.

        Upsert: the rows are staged as a Delta table by Spark and MERGEd by delta-rs, streamed, never collected.
        ``cluster_by`` partitions a new table by that column; an insert-only merge into a partitioned table then
        reads only the target partitions the rows fall in (a key's partition value must never change). ``small``
        new rows are collected as Arrow and written by pyarrow: one Spark job instead of a distributed write.
        """
        path = self.path(name)
        if self._replayed(name, path, txn):
            return MergeResult(0, 0, 0, replay_skipped=True)
        exists = delta_log.is_delta_table(path)
        parts = delta_log.partition_columns(path) if exists else ([cluster_by] if cluster_by else [])
        partition = parts[0] if parts else None
        if exists and insert_only:
            # the batch rows without the keys the target has: no shuffle of the whole target
            if partition is None:
                target = self.read(name)
            else:
                values = [r[0] for r in df.select(partition).distinct().collect()]
                target = self._read_partitions(name, partition, values)
            df = df.join(_keys_present(target, df, keys), on=keys, how="left_anti")
        if insert_only or not exists:
            path.mkdir(parents=True, exist_ok=True)
            adds, arrow_schema = self._write_files(df, path, partition, small)
            return self._commit_inserts(path, adds, arrow_schema, txn, partition)
        return self._merge_staged(path, df, keys, txn)

    def _merge_staged(self, path: Path, df: DataFrame, keys: list[str], txn: Txn | None) -> MergeResult:
        stage = self.lake_root / STAGING_DIR / uuid.uuid4().hex
        stage.mkdir(parents=True)
        try:
            adds = self._stage(df, stage)
            if not adds:
                return MergeResult(0, 0, 0)
            schema = pq.read_schema(stage / adds[0].path)
            create_table_with_add_actions(str(stage), Schema.from_arrow(schema), adds, mode="error")
            source = QueryBuilder().register("s", DeltaTable(str(stage))).execute("SELECT * FROM s")
            merger = DeltaTable(str(path)).merge(
                source,
                merge_predicate(keys),
                source_alias="s",
                target_alias="t",
                merge_schema=True,
                commit_properties=_commit_properties(txn),
            )
            metrics = merger.when_matched_update_all().when_not_matched_insert_all().execute()
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        inserted = int(metrics.get("num_target_rows_inserted", 0))
        updated = int(metrics.get("num_target_rows_updated", 0))
        return MergeResult(int(metrics.get("num_source_rows", inserted + updated)), inserted, updated)

    def overwrite(self, name: str, df: DataFrame, *, txn: Txn | None = None) -> int:
        return self.replace(name, df, txn=txn)

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
        """Replace the rows whose ``column`` is in ``values`` (all rows when ``values`` is None) in one commit.

        A table written with a ``column`` is partitioned by it, so replacing some dates rewrites only those dates'
        files. A table partitioned otherwise is rewritten whole, keeping its other rows. ``small`` rows are
        collected as Arrow and written by pyarrow: one Spark job instead of a distributed write.
        """
        from pyspark.sql import functions as F

        path = self.path(name)
        exists = delta_log.is_delta_table(path)
        wanted = [column] if column else []
        current = delta_log.partition_columns(path) if exists else wanted
        partition = column if current == wanted else (current[0] if current else None)
        selective = exists and column is not None and values is not None
        if selective and current != wanted:
            assert column is not None and values is not None
            keep = self.read(name).where(~F.col(column).isin(list(values)) | F.col(column).isNull())
            df, selective = keep.unionByName(df, allowMissingColumns=True), False
        path.mkdir(parents=True, exist_ok=True)
        adds, arrow_schema = self._write_files(df, path, partition, small)
        schema = Schema.from_arrow(arrow_schema)
        props = _commit_properties(txn)
        parts = [partition] if partition else None
        if not exists:
            create_table_with_add_actions(
                str(path), schema, adds, mode="error", partition_by=parts, commit_properties=props
            )
        else:
            actions: list[AddAction | RemoveAction] = list(adds)
            filters = (
                [(column, "in", [str(v) for v in values])] if selective and column and values is not None else None
            )
            DeltaTable(str(path)).create_write_transaction(
                actions, mode="overwrite", schema=schema, partition_by=parts, partition_filters=filters,
                commit_properties=props,
            )  # fmt: skip
        return sum(json.loads(a.stats)["numRecords"] for a in adds)

    def optimize(self, name: str, zorder_by: list[str]) -> dict[str, Any]:
        dt = DeltaTable(str(self._require(name)))
        metrics = dt.optimize.z_order(zorder_by) if zorder_by else dt.optimize.compact()
        return dict(metrics)

    def vacuum(self, name: str, retain_hours: int, *, allow_short_retention: bool = False) -> int:
        check_vacuum_retention(retain_hours, allow_short_retention)
        dt = DeltaTable(str(self._require(name)))
        removed = dt.vacuum(retain_hours, dry_run=False, enforce_retention_duration=not allow_short_retention)
        return len(removed)

    def list_tables(self, catalog: str, schema: str) -> list[str]:
        folder = self.lake_root / check_identifier(catalog, "catalog") / check_identifier(schema, "schema")
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if delta_log.is_delta_table(p))

    def version(self, name: str) -> int | None:
        path = self.path(name)
        return delta_log.latest_version(path) if delta_log.is_delta_table(path) else None

    def history(self, name: str) -> list[dict[str, Any]]:
        return list(DeltaTable(str(self._require(name))).history())


def _batch_files(batch: DataFrame) -> list[str]:
    """The data files of one micro-batch of the local source (``emit=files``)."""
    return [row.path for row in batch.select("path").collect()]


def _keys_present(table: DataFrame, batch: DataFrame, keys: list[str]) -> DataFrame:
    """The ``keys`` of ``table`` that ``batch`` also has; the batch's keys are the small side, broadcast, so the
    table is not shuffled."""
    from pyspark.sql import functions as F

    return table.select(*keys).join(F.broadcast(batch.select(*keys)), on=keys, how="left_semi")


def _local_file(uri: str) -> str:
    """A data file's local path, from a path or a ``file:`` URI (as Spark's ``_metadata.file_path`` gives it)."""
    from urllib.parse import urlparse

    return str(Path(unquote(urlparse(uri).path))) if uri.startswith("file:") else str(Path(uri))


def _copy_file(
    file: str,
    schema: pa.Schema,
    out_schema: pa.Schema,
    left_out: list[int],
    values: list[object],
    into: Path,
    partition: str | None,
) -> list[AddAction]:
    """Copy the rows of the data file ``file`` (read as ``schema``) but those at the ``left_out`` indexes into new
    files in ``into``, as ``out_schema``: ``schema`` plus one column per ``values`` item, holding it. Unpartitioned,
    the rows stream into one file while the next ones are read; the add actions of the files."""
    import numpy as np
    import pyarrow as pa

    from stm.store.arrow_conform import read_conformed

    drop = np.asarray(sorted(left_out), dtype=np.int64)
    kinds = [out_schema.field(i).type for i in range(len(schema), len(out_schema))]

    def rows() -> Iterator[pa.RecordBatch]:
        offset = 0
        for batch in _read_ahead(read_conformed(file, schema)):
            start, offset = offset, offset + batch.num_rows
            if drop.size:
                batch = batch.filter(pa.array(~np.isin(np.arange(start, offset), drop)))
            extra = [pa.repeat(pa.scalar(v, k), batch.num_rows) for v, k in zip(values, kinds, strict=True)]
            yield pa.RecordBatch.from_arrays([*batch.columns, *extra], schema=out_schema)

    if partition is not None:
        return _write_arrow(pa.Table.from_batches(list(rows()), schema=out_schema), into, partition)
    rel = f"part-{uuid.uuid4().hex}.snappy.parquet"
    tmp = into / f".{rel}.tmp"
    written = 0
    try:
        with pq.ParquetWriter(tmp, out_schema, compression="snappy") as writer:
            for batch in rows():
                writer.write_batch(batch)
                written += batch.num_rows
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if written == 0:
        tmp.unlink()
        return []
    os.replace(tmp, into / rel)
    return [_add_action(into, rel, {}, written)]


def _read_ahead(items: Iterator[T]) -> Iterator[T]:
    """``items``, the next one produced in a thread while the caller works on the current one."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(next, items, None)
        while (item := pending.result()) is not None:
            pending = pool.submit(next, items, None)
            yield item


def _write_arrow(table: pa.Table, into: Path, partition_by: str | None) -> list[AddAction]:
    """Write ``table`` as one parquet file per ``partition_by`` value (the column itself is kept out of the file,
    in a ``<column>=<value>/`` folder, as Spark lays it out); the files' add actions."""
    import pyarrow.compute as pc

    if table.num_rows == 0:
        return []
    groups: list[tuple[dict[str, str | None], pa.Table]] = []
    if partition_by is None:
        groups.append(({}, table))
    else:
        column = table.column(partition_by)
        rest = table.drop_columns([partition_by])
        for value in column.unique().to_pylist():
            mask = pc.is_null(column) if value is None else pc.equal(column, value)
            text = None if value is None else str(value)
            groups.append(({partition_by: text}, rest.filter(mask)))
    adds = []
    for values, rows in groups:
        folder = "/".join(f"{k}={HIVE_NULL if v is None else quote(v, safe='')}" for k, v in values.items())
        rel = f"{folder}/" if folder else ""
        rel += f"part-{uuid.uuid4().hex}.snappy.parquet"
        dest = into / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.tmp")
        pq.write_table(rows, tmp, compression="snappy")
        os.replace(tmp, dest)
        adds.append(_add_action(into, rel, values, rows.num_rows))
    return adds


def _add_action(table: Path, rel: str, values: dict[str, str | None], rows: int) -> AddAction:
    """The add action of the data file ``rel`` (relative to ``table``) holding ``rows`` rows."""
    stat = (table / rel).stat()
    stats = json.dumps({"numRecords": rows})
    return AddAction(rel, stat.st_size, values, int(stat.st_mtime * 1000), True, stats)
