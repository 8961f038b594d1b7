"""Reading a Delta table's transaction log without an engine: commits, snapshots and their files.

Used by the local streaming source, which must not load delta-rs into Spark's Python workers.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stm.errors import TableNotFound, UnsupportedTableFeature

LOG_DIR = "_delta_log"


@dataclass(frozen=True)
class AddFile:
    """A data file added to the table by one commit."""

    path: str  # absolute path of the parquet file
    version: int
    size: int
    partition_values: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Commit:
    """What one commit did, as a stream reader needs to know it."""

    version: int
    timestamp_ms: int
    operation: str
    data_adds: list[AddFile]  # adds with dataChange=true
    removes_data: bool  # a remove with dataChange=true: an UPDATE/DELETE/MERGE rewrite
    schema_json: str | None  # the new schema when the commit changed metadata

    @property
    def is_change_commit(self) -> bool:
        return self.removes_data


def _json_path(table: Path, version: int) -> Path:
    return table / LOG_DIR / f"{version:020d}.json"


def _read_actions(table: Path, version: int) -> list[dict[str, Any]]:
    path = _json_path(table, version)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TableNotFound(f"{table}: commit {version} is no longer in the Delta log") from None
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _abs(table: Path, rel: str) -> str:
    from urllib.parse import unquote

    if "://" in rel:
        return rel.split("://", 1)[1] if rel.startswith("file://") else rel
    return str(table / unquote(rel))


def _check_add(table: Path, add: dict[str, Any], version: int) -> None:
    if add.get("deletionVector"):
        raise UnsupportedTableFeature(
            f"{table} version {version}: file {add.get('path')} has a deletion vector, which the local engine "
            "cannot apply; rewrite the table without deletion vectors (delta.enableDeletionVectors=false) "
            "or read it on Databricks"
        )


def is_delta_table(table: Path) -> bool:
    return (table / LOG_DIR).is_dir() and any((table / LOG_DIR).glob("*.json"))


def latest_version(table: Path) -> int:
    """The newest committed version; raises ``TableNotFound`` when ``table`` is not a Delta table."""
    log = table / LOG_DIR
    try:
        names = os.listdir(log)
    except FileNotFoundError:
        raise TableNotFound(f"no Delta table at {table}") from None
    versions = [int(n[:20]) for n in names if n.endswith(".json") and len(n) == 25 and n[:20].isdigit()]
    if not versions:
        raise TableNotFound(f"no Delta table at {table}")
    return max(versions)


def read_commit(table: Path, version: int) -> Commit:
    actions = _read_actions(table, version)
    timestamp_ms = 0
    operation = ""
    adds: list[AddFile] = []
    removes_data = False
    schema_json: str | None = None
    for action in actions:
        if "commitInfo" in action:
            info = action["commitInfo"]
            timestamp_ms = int(info.get("timestamp") or 0)
            operation = str(info.get("operation") or "")
        elif "add" in action:
            add = action["add"]
            _check_add(table, add, version)
            if add.get("dataChange", True):
                adds.append(
                    AddFile(
                        _abs(table, add["path"]), version, int(add.get("size", 0)), add.get("partitionValues") or {}
                    )
                )
        elif "remove" in action:
            if action["remove"].get("dataChange", True):
                removes_data = True
        elif "metaData" in action:
            schema_json = action["metaData"].get("schemaString")
    if not timestamp_ms:
        timestamp_ms = int(_json_path(table, version).stat().st_mtime * 1000)
    adds.sort(key=lambda a: a.path)
    return Commit(version, timestamp_ms, operation, adds, removes_data, schema_json)


def snapshot(table: Path, version: int) -> tuple[list[AddFile], dict[str, Any]]:
    """Files live at ``version`` (oldest commit first, then by path) and the table metadata, by replaying the log."""
    live: dict[str, tuple[int, dict[str, Any]]] = {}
    metadata: dict[str, Any] = {}
    start = 0
    if not _json_path(table, 0).exists():
        start, live, metadata = _from_checkpoint(table, version)
    for v in range(start, version + 1):
        for action in _read_actions(table, v):
            if "add" in action:
                live[action["add"]["path"]] = (v, action["add"])
            elif "remove" in action:
                live.pop(action["remove"]["path"], None)
            elif "metaData" in action:
                metadata = action["metaData"]
    files = []
    for rel, (added_in, add) in sorted(live.items(), key=lambda item: (item[1][0], item[0])):
        _check_add(table, add, version)
        files.append(AddFile(_abs(table, rel), added_in, int(add.get("size", 0)), add.get("partitionValues") or {}))
    return files, metadata


def _from_checkpoint(table: Path, version: int) -> tuple[int, dict[str, tuple[int, dict[str, Any]]], dict[str, Any]]:
    """Start a replay from the newest single-file checkpoint at or before ``version``."""
    import pyarrow.parquet as pq

    log = table / LOG_DIR
    points = sorted(
        int(p.name[:20])
        for p in log.glob("*.checkpoint.parquet")
        if p.name[:20].isdigit() and int(p.name[:20]) <= version
    )
    if not points:
        raise TableNotFound(f"{table}: the Delta log before version {version} was cleaned up and has no checkpoint")
    cp = points[-1]
    rows = pq.read_table(log / f"{cp:020d}.checkpoint.parquet", use_threads=False).to_pylist()
    live: dict[str, tuple[int, dict[str, Any]]] = {}
    metadata: dict[str, Any] = {}
    for row in rows:
        if row.get("add"):
            add = row["add"]
            add["partitionValues"] = dict(add.get("partitionValues") or {})
            live[add["path"]] = (cp, add)
        if row.get("metaData"):
            metadata = row["metaData"]
    return cp + 1, live, metadata


def schema_json(table: Path, version: int | None = None) -> str:
    """The table schema (Spark StructType JSON) at ``version`` (default: latest)."""
    v = latest_version(table) if version is None else version
    for candidate in range(v, -1, -1):
        path = _json_path(table, candidate)
        if not path.exists():
            break
        commit = read_commit(table, candidate)
        if commit.schema_json:
            return commit.schema_json
    _files, metadata = snapshot(table, v)
    return str(metadata["schemaString"])


def partition_columns(table: Path) -> list[str]:
    v = latest_version(table)
    for candidate in range(v, -1, -1):
        if not _json_path(table, candidate).exists():
            break
        for action in _read_actions(table, candidate):
            if "metaData" in action:
                return list(action["metaData"].get("partitionColumns") or [])
    return list(snapshot(table, v)[1].get("partitionColumns") or [])


def version_at_or_after(table: Path, timestamp_ms: int) -> int:
    """The first version committed at or after ``timestamp_ms`` (latest + 1 when none is)."""
    latest = latest_version(table)
    for v in range(latest + 1):
        if _json_path(table, v).exists() and read_commit(table, v).timestamp_ms >= timestamp_ms:
            return v
    return latest + 1
