"""One shared table as the endpoint reads it: versions, snapshots, metadata, commit timestamps and per-version changes.

Everything is read through delta-rs's public API, except the file actions of one commit (see ``read_commit``). The
tables are written by Delta Lake's Spark connector (checkpoints, ``.crc`` files, ``_last_checkpoint``) or by delta-rs;
delta-rs reads both. A table whose files cannot be served as they are is refused with a clear error: deletion
vectors (a file would still hold the rows deleted from it), column mapping (its files use physical column names),
or any other reader feature not in ``SERVABLE_READER_FEATURES``.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pyarrow as pa

# Spark-free reader: the endpoint lists a version's data files and serves them as they are, no JVM per request
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError

from stm.sharing.protocol import (
    REFUSED_DELETION_VECTORS,
    LogCommit,
    LogFile,
    TableMetadata,
    bad_request,
    parse_commit,
)
from stm.store.local import LOG_DIR

# reader features that leave every data file readable as plain parquet with the table schema
SERVABLE_READER_FEATURES = frozenset({"timestampNtz", "v2Checkpoint", "vacuumProtocolCheck"})
DELETION_VECTORS = "deletionVectors"
HISTORY_PAGE = 16  # commit infos read per history() call when looking for a timestamp; grows fourfold per call
HISTORY_TRIES = 5


def read_commit(path: Path, version: int) -> tuple[list[dict[str, Any]], int]:
    """The actions of commit ``version`` and its file's modification time (epoch ms).

    delta-rs has no public way to list one commit's add/remove/cdc actions (``history()`` gives commit infos only,
    ``get_add_actions`` a whole snapshot, ``load_cdf`` rows rather than the files the protocol lists), so the changes
    feed reads this one commit's JSON: one file per version asked for, never a replay of the log.
    """
    file = path / LOG_DIR / f"{version:020d}.json"
    try:
        text = file.read_text(encoding="utf-8")
        mtime_ms = int(file.stat().st_mtime * 1000)
    except FileNotFoundError:
        raise bad_request(f"version {version} is no longer in the table history") from None
    return [json.loads(line) for line in text.splitlines() if line.strip()], mtime_ms


class SharedTable:
    """A shared Delta table opened at its latest version (fixed for the request that opened it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._latest = DeltaTable(str(path))
        except DeltaError:
            raise bad_request("the table's Delta log cannot be read") from None
        self.latest = self._latest.version()
        self._at: DeltaTable | None = None  # the last older version loaded
        self._moving: DeltaTable | None = None  # kept up to date with storage, for history()

    # --- versions -------------------------------------------------------------------------------------------
    def check_version(self, version: int, what: str) -> int:
        if version < 0 or version > self.latest:
            raise bad_request(f"{what} {version} does not exist: the latest version is {self.latest}")
        return version

    def _table(self, version: int) -> DeltaTable:
        """The table loaded at ``version`` (time travel through delta-rs, from the nearest checkpoint)."""
        self.check_version(version, "version")
        if version == self.latest:
            return self._latest
        if self._at is None or self._at.version() != version:
            try:
                self._at = DeltaTable(str(self.path), version=version)
            except DeltaError:
                raise bad_request(f"version {version} cannot be read: it is no longer in the table history") from None
        return self._at

    def _history(self, limit: int) -> list[tuple[int, int]]:
        """``(version, commit timestamp ms)`` of up to ``limit`` newest commits up to ``self.latest``, newest first.

        delta-rs 1.6 ``history()`` reads the newest commits in storage but numbers them from the version the table
        object holds: a commit landing during the call would shift every number by one. So the call is made on a
        table brought up to date just before, and trusted only if no commit landed by the time it returned.
        """
        if self._moving is None:
            self._moving = DeltaTable(str(self.path))
        dt = self._moving
        for _ in range(HISTORY_TRIES):
            dt.update_incremental()
            before = dt.version()
            infos = dt.history(max(1, limit + before - self.latest))
            dt.update_incremental()
            if dt.version() == before:
                versions = [(int(i["version"]), i) for i in infos]
                return [(v, self._commit_ms(v, i)) for v, i in versions if 0 <= v <= self.latest]
        raise bad_request("the table is being written too fast to read its history: try again")

    def _commit_ms(self, version: int, info: dict[str, Any]) -> int:
        """When the commit was made: its in-commit timestamp if the table has them, else the writer's commit time,
        else (no commit info) the commit file's modification time, which is Delta's own definition."""
        stamp = info.get("inCommitTimestamp") or info.get("timestamp")
        if stamp:
            return int(stamp)
        file = self.path / LOG_DIR / f"{version:020d}.json"
        return int(file.stat().st_mtime * 1000) if file.exists() else 0

    def commit_timestamps(self, start: int) -> dict[int, int]:
        """Commit timestamps (epoch ms) of versions ``start`` to the latest that are still in the history."""
        return dict(self._history(self.latest - start + 1))

    def version_at(self, timestamp_ms: int) -> int:
        """The latest version committed at or before ``timestamp_ms``."""
        limit = HISTORY_PAGE
        while True:
            page = self._history(limit)
            found = next((v for v, ts in page if ts <= timestamp_ms), None)
            if found is not None:
                return found
            if len(page) < limit:  # the whole retained history is newer
                raise bad_request("the timestamp is before the first version of the table")
            limit *= 4

    def version_from(self, timestamp_ms: int) -> int:
        """The first version committed at or after ``timestamp_ms`` (commit timestamps grow with versions)."""
        limit = HISTORY_PAGE
        while True:
            page = self._history(limit)
            if not page or page[0][1] < timestamp_ms:
                raise bad_request(f"the timestamp is after the latest version of the table ({self.latest})")
            older = next((i for i, (_v, ts) in enumerate(page) if ts < timestamp_ms), None)
            if older is not None:
                return page[older - 1][0]
            if len(page) < limit:  # every retained version is at or after it
                return page[-1][0]
            limit *= 4

    # --- snapshot -------------------------------------------------------------------------------------------
    def metadata(self, version: int) -> TableMetadata:
        """The table's metadata at ``version``; refuses a table whose files cannot be served as plain parquet."""
        dt = self._table(version)
        meta = dt.metadata()
        _check_servable(dt.protocol().reader_features or [], meta.configuration)
        return TableMetadata(
            id=str(meta.id),
            schema_string=dt.schema().to_json(),
            partition_columns=list(meta.partition_columns),
            name=meta.name or None,
            description=meta.description or None,
            configuration=dict(meta.configuration),
        )

    def snapshot(self, version: int) -> tuple[list[LogFile], TableMetadata]:
        """The data files live at ``version`` (paths relative to the table, decoded; sorted) and the metadata."""
        meta = self.metadata(version)
        dt = self._table(version)
        if DELETION_VECTORS in (dt.protocol().reader_features or []) and any(
            batch.num_rows for batch in dt.deletion_vectors()
        ):
            raise bad_request(REFUSED_DELETION_VECTORS)
        files = [
            LogFile(
                unquote(row["path"]),
                int(row["size_bytes"]),
                {k: _partition_string(v) for k, v in (row.get("partition") or {}).items()},
                _stats(row),
            )
            for row in pa.table(dt.get_add_actions(flatten=False)).to_pylist()
        ]
        return sorted(files, key=lambda f: f.path), meta

    # --- changes --------------------------------------------------------------------------------------------
    def commits(self, start: int, end: int) -> list[LogCommit]:
        """The data changes of versions ``start`` to ``end``, oldest first (paths relative and decoded)."""
        self.check_version(end, "endingVersion")
        stamps = self.commit_timestamps(start)
        out = []
        for version in range(start, end + 1):
            actions, mtime_ms = read_commit(self.path, version)
            c = parse_commit(version, actions, stamps.get(version, mtime_ms))
            out.append(LogCommit(c.version, c.timestamp_ms, _decoded(c.adds), _decoded(c.removes), _decoded(c.cdc)))
        return out


def commit_file_names(path: Path, version: int) -> frozenset[str]:
    """Every data file commit ``version`` adds, removes or writes change data to (decoded, relative)."""
    actions, _mtime = read_commit(path, version)
    c = parse_commit(version, actions, 0)
    return frozenset(unquote(f.path) for f in c.adds + c.removes + c.cdc)


def _check_servable(reader_features: list[str], configuration: dict[str, str]) -> None:
    if configuration.get("delta.columnMapping.mode", "none") != "none" or "columnMapping" in reader_features:
        raise bad_request(
            "the table uses column mapping: its files name columns by physical names, so this endpoint cannot "
            "serve them; share the table from Databricks"
        )
    other = sorted(set(reader_features) - SERVABLE_READER_FEATURES - {DELETION_VECTORS})
    if other:
        raise bad_request(f"the table needs Delta reader features this endpoint does not serve: {', '.join(other)}")


def _decoded(files: list[LogFile]) -> list[LogFile]:
    return [LogFile(unquote(f.path), f.size, f.partition_values, f.stats, f.version, f.timestamp_ms) for f in files]


def _partition_string(value: object) -> str | None:
    """A partition value as the Delta log writes it (delta-rs hands them back typed; the protocol wants the text)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.tzinfo is None:  # TIMESTAMP_NTZ
            return value.strftime("%Y-%m-%d %H:%M:%S.%f")
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _stats(row: dict[str, Any]) -> str | None:
    """The file's statistics as a Delta ``stats`` JSON string, from delta-rs's parsed ones."""
    if row.get("num_records") is None:
        return None
    stats: dict[str, Any] = {"numRecords": int(row["num_records"])}
    for column, key in (("min", "minValues"), ("max", "maxValues"), ("null_count", "nullCount")):
        values = _stat_values(row.get(column) or {})
        if values:
            stats[key] = values
    return json.dumps(stats, separators=(",", ":"))


def _stat_values(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in values.items():
        got = _stat_values(value) if isinstance(value, dict) else _stat_value(value)
        if got is not None and got != {}:
            out[name] = got
    return out


def _stat_value(value: object) -> object:
    """A statistic as JSON; ``None`` leaves it out (a bound left out prunes nothing, so it is never wrong).

    Decimals are left out: JSON through ``json`` would round them to floats, and a rounded bound could skip rows."""
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.isoformat(timespec="milliseconds")
        return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return None
