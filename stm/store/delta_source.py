"""A PySpark streaming data source over the versions of a local Delta table (format ``stm_delta``).

Semantics follow Delta's own streaming source: the first batch is the snapshot at the version the query started
(unless ``startingVersion``/``startingTimestamp`` is given), then each later batch holds the files added by append
commits. A commit that removes data (UPDATE, DELETE, MERGE rewrite) is skipped with ``skipChangeCommits=true`` and
fails the query otherwise; OPTIMIZE commits (``dataChange=false``) emit nothing. ``maxFilesPerTrigger`` bounds a
batch. Columns added to the table later read as nulls for older files.

``emit=files`` hands out one row per data file (path, version, size) instead of the rows: the local table store then
reads those files with Spark's native parquet reader, which keeps rows from crossing the JVM/Python boundary.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
from pyspark.sql.streaming.datasource import ReadAllAvailable, ReadLimit, ReadMaxFiles, SupportsTriggerAvailableNow
from pyspark.sql.types import LongType, StringType, StructField, StructType

from stm.errors import SourceChangeCommit, UsageError
from stm.store import delta_log

FORMAT = "stm_delta"
FILES_SCHEMA = StructType(
    [
        StructField("path", StringType(), False),
        StructField("version", LongType(), False),
        StructField("size", LongType()),
    ]
)
_TRUE = ("true", "1", "yes")


def _timestamp_ms(value: str) -> int:
    from datetime import datetime, timezone

    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"startingTimestamp {value!r} is not an ISO timestamp like 2026-11-01T00:00:00Z") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1000)


class _FilesPartition(InputPartition):
    def __init__(self, files: list[tuple[str, int, int]]) -> None:
        super().__init__(files)
        self.files = files


class DeltaStreamReader(DataSourceStreamReader, SupportsTriggerAvailableNow):
    """Offsets are cursors ``{"version", "index", "snapshot"}``: the next file not yet read."""

    def __init__(self, options: dict[str, str], schema: StructType) -> None:
        options = {k.lower(): v for k, v in options.items()}  # Spark option names are case-insensitive
        self.table = Path(options["path"])
        self.skip_change_commits = options.get("skipchangecommits", "false").lower() in _TRUE
        self.starting_version = options.get("startingversion")
        self.starting_timestamp = options.get("startingtimestamp")
        self.max_files = int(options["maxfilespertrigger"]) if options.get("maxfilespertrigger") else None
        self.emit_files = options.get("emit", "rows") == "files"
        self.schema = schema
        self._until: int | None = None  # availableNow: the last version to read
        self._snapshots: dict[int, list[delta_log.AddFile]] = {}
        self._commits: dict[int, delta_log.Commit] = {}

    # -- offsets -------------------------------------------------------------------------------------------------
    def initialOffset(self) -> dict[str, Any]:
        latest = delta_log.latest_version(self.table)
        if self.starting_version is not None:
            version = latest + 1 if self.starting_version == "latest" else int(self.starting_version)
            return {"version": version, "index": 0, "snapshot": False}
        if self.starting_timestamp is not None:
            version = delta_log.version_at_or_after(self.table, _timestamp_ms(self.starting_timestamp))
            return {"version": version, "index": 0, "snapshot": False}
        return {"version": latest, "index": 0, "snapshot": True}

    def prepareForTriggerAvailableNow(self) -> None:
        self._until = delta_log.latest_version(self.table)

    def _latest(self) -> int:
        return self._until if self._until is not None else delta_log.latest_version(self.table)

    def getDefaultReadLimit(self) -> ReadLimit:
        return ReadMaxFiles(self.max_files) if self.max_files else ReadAllAvailable()

    def latestOffset(self, start: dict[str, Any], limit: ReadLimit) -> dict[str, Any]:
        budget = limit.max_files if isinstance(limit, ReadMaxFiles) else None
        _files, end = self._walk(start, self._latest(), budget)
        return end

    def reportLatestOffset(self) -> dict[str, Any] | None:
        return {"version": delta_log.latest_version(self.table) + 1, "index": 0, "snapshot": False}

    # -- planning ------------------------------------------------------------------------------------------------
    def _files_of(self, version: int, snapshot: bool) -> list[delta_log.AddFile]:
        if snapshot:
            if version not in self._snapshots:
                self._snapshots[version] = delta_log.snapshot(self.table, version)[0]
            return self._snapshots[version]
        if version not in self._commits:
            self._commits[version] = delta_log.read_commit(self.table, version)
        commit = self._commits[version]
        if commit.is_change_commit:
            if not self.skip_change_commits:
                raise SourceChangeCommit(
                    f"source {self.table} version {version} ({commit.operation or 'unknown operation'}) updated or "
                    "deleted existing rows; set skipChangeCommits=true to ignore such commits, or restart the "
                    "stream with a new checkpoint"
                )
            return []
        return commit.data_adds

    def _walk(
        self, start: dict[str, Any], latest: int, budget: int | None
    ) -> tuple[list[delta_log.AddFile], dict[str, Any]]:
        """Files from ``start`` up to ``latest`` (at most ``budget``) and the cursor after them."""
        version, index, snapshot = int(start["version"]), int(start["index"]), bool(start["snapshot"])
        out: list[delta_log.AddFile] = []
        while version <= latest:
            files = self._files_of(version, snapshot)
            remaining = files[index:]
            if budget is not None and len(out) + len(remaining) > budget:
                take = budget - len(out)
                out.extend(remaining[:take])
                return out, {"version": version, "index": index + take, "snapshot": snapshot}
            out.extend(remaining)
            version, index, snapshot = version + 1, 0, False
            if budget is not None and len(out) == budget:
                break
        return out, {"version": version, "index": index, "snapshot": snapshot}

    def _between(self, start: dict[str, Any], end: dict[str, Any]) -> list[delta_log.AddFile]:
        """Files from cursor ``start`` (inclusive) to cursor ``end`` (exclusive)."""
        out: list[delta_log.AddFile] = []
        first, last = int(start["version"]), int(end["version"])
        for version in range(first, last + 1):
            lower = int(start["index"]) if version == first else 0
            upper = int(end["index"]) if version == last else None
            if upper == 0:
                continue
            snapshot = bool(start["snapshot"]) if version == first else False
            out.extend(self._files_of(version, snapshot)[lower:upper])
        return out

    def partitions(self, start: dict[str, Any], end: dict[str, Any]) -> Sequence[InputPartition]:
        files = self._between(start, end)
        rows = [(f.path, f.version, f.size) for f in files]
        if self.emit_files or not rows:
            return [_FilesPartition(rows)]
        return [_FilesPartition(rows[i : i + 8]) for i in range(0, len(rows), 8)]

    def read(self, partition: InputPartition) -> Iterator[Any]:
        files: list[tuple[str, int, int]] = partition.value
        if self.emit_files:
            yield from files
            return
        yield from _read_rows([f[0] for f in files], self.schema)

    def commit(self, end: dict[str, Any]) -> None:
        """Nothing to release: offsets are versions in the table's own log."""


def _read_rows(paths: list[str], schema: StructType) -> Iterator[Any]:
    from pyspark.sql.pandas.types import to_arrow_schema

    from stm.store.arrow_conform import read_conformed

    target = to_arrow_schema(schema, timezone="UTC")
    for path in paths:
        yield from read_conformed(path, target)


class DeltaSource(DataSource):
    """``spark.readStream.format("stm_delta").option(...).load(path)``."""

    @classmethod
    def name(cls) -> str:
        return FORMAT

    def schema(self) -> StructType:
        if self.options.get("emit", "rows") == "files":
            return FILES_SCHEMA
        return StructType.fromJson(json.loads(delta_log.schema_json(Path(self.options["path"]))))

    def streamReader(self, schema: StructType) -> DataSourceStreamReader:
        return DeltaStreamReader(dict(self.options), schema)
