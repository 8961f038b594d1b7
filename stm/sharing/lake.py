"""The shared tables of a provider lake, read from their Delta logs (no engine): versions, snapshots, commits.

A share declared in ``conf/shares.yml`` exposes ``<output.catalog>.<output.schema>.<table>`` as
``<share>.<output.schema>.<table>``; a declared table that does not exist yet is not listed.
"""

from __future__ import annotations

import contextlib
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from stm.config import Config
from stm.errors import StmError
from stm.names import check_identifier
from stm.sharing.protocol import LogCommit, LogFile, ProtocolError, bad_request, not_found, parse_commit
from stm.specs import ShareSpec
from stm.store import delta_log


def _valid(name: str, what: str) -> str:
    try:
        return check_identifier(name, what)
    except StmError:
        # never echo the value: it may be long or hostile
        raise bad_request(f"invalid {what}: use letters, digits and underscores") from None


def parse_timestamp(value: str, what: str) -> int:
    """An ISO 8601 timestamp (``2026-11-01T00:00:00Z``) as epoch milliseconds."""
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(f"{what} must be an ISO 8601 timestamp such as 2026-11-01T00:00:00Z") from None
    if ts.tzinfo is None:
        raise bad_request(f"{what} must name its time zone, e.g. 2026-11-01T00:00:00Z")
    return int(ts.timestamp() * 1000)


class SharedLake:
    """Tables of the shares declared in ``cfg`` under ``lake_root``."""

    def __init__(self, lake_root: Path, cfg: Config) -> None:
        self.root = Path(lake_root).resolve()
        self.cfg = cfg
        self.schema = cfg.output.schema
        self._referenced: dict[Path, tuple[int, frozenset[str]]] = {}

    def share(self, name: str) -> ShareSpec:
        spec = self.cfg.shares.get(_valid(name, "share name"))
        if spec is None:
            raise not_found(f"share {name} not found")
        return spec

    def _table_dir(self, table: str) -> Path:
        return self.root / self.cfg.output.catalog / self.schema / table

    def tables(self, share: str) -> list[str]:
        """Declared tables of ``share`` that exist, in declaration order."""
        return [t for t in self.share(share).tables if delta_log.is_delta_table(self._table_dir(t))]

    def check_schema(self, share: str, schema: str) -> None:
        self.share(share)
        if _valid(schema, "schema name") != self.schema:
            raise not_found(f"schema {share}.{schema} not found")

    def table_path(self, share: str, schema: str, table: str) -> Path:
        self.check_schema(share, schema)
        name = _valid(table, "table name")
        path = self._table_dir(name)
        if name not in self.share(share).tables or not delta_log.is_delta_table(path):
            raise not_found(f"table {share}.{schema}.{name} not found")
        return path

    # --- versions -------------------------------------------------------------------------------------------
    @staticmethod
    def latest_version(path: Path) -> int:
        return delta_log.latest_version(path)

    @staticmethod
    def earliest_version(path: Path) -> int:
        names = os.listdir(path / delta_log.LOG_DIR)
        return min(int(n[:20]) for n in names if n.endswith(".json") and len(n) == 25 and n[:20].isdigit())

    def check_version(self, path: Path, version: int, what: str) -> int:
        latest = self.latest_version(path)
        if version < 0 or version > latest:
            raise bad_request(f"{what} {version} does not exist: the latest version is {latest}")
        return version

    def version_at(self, path: Path, timestamp_ms: int) -> int:
        """The latest version committed at or before ``timestamp_ms``."""
        found = -1
        for v in range(self.earliest_version(path), self.latest_version(path) + 1):
            if self._commit(path, v).timestamp_ms <= timestamp_ms:
                found = v
        if found < 0:
            raise bad_request("the timestamp is before the first version of the table")
        return found

    def version_from(self, path: Path, timestamp_ms: int) -> int:
        """The first version committed at or after ``timestamp_ms``."""
        latest = self.latest_version(path)
        for v in range(self.earliest_version(path), latest + 1):
            if self._commit(path, v).timestamp_ms >= timestamp_ms:
                return v
        raise bad_request(f"the timestamp is after the latest version of the table ({latest})")

    # --- log ------------------------------------------------------------------------------------------------
    @staticmethod
    def _actions(path: Path, version: int) -> tuple[list[dict[str, Any]], int]:
        file = path / delta_log.LOG_DIR / f"{version:020d}.json"
        try:
            text = file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise bad_request(f"version {version} is no longer in the table history") from None
        actions = [json.loads(line) for line in text.splitlines() if line.strip()]
        return actions, int(file.stat().st_mtime * 1000)

    def _commit(self, path: Path, version: int) -> LogCommit:
        actions, mtime = self._actions(path, version)
        return parse_commit(version, actions, mtime)

    def commits(self, path: Path, start: int, end: int) -> list[LogCommit]:
        out = []
        for v in range(start, end + 1):
            c = self._commit(path, v)
            out.append(LogCommit(c.version, c.timestamp_ms, _unquoted(c.adds), _unquoted(c.removes), _unquoted(c.cdc)))
        return out

    def snapshot(self, path: Path, version: int) -> tuple[list[LogFile], dict[str, Any]]:
        """Live files at ``version`` (paths relative to the table, decoded) and the table's ``metaData``."""
        try:
            files, meta = delta_log.snapshot(path, version)
        except StmError as exc:
            raise bad_request(f"version {version} cannot be read: {exc.__class__.__name__}") from None
        live = [
            LogFile(os.path.relpath(f.path, path), f.size, dict(f.partition_values), None, f.version) for f in files
        ]
        return live, meta

    def referenced(self, path: Path) -> frozenset[str]:
        """Every data file any retained commit of the table names (decoded, relative): the only files served."""
        latest = self.latest_version(path)
        cached = self._referenced.get(path)
        if cached and cached[0] == latest:
            return cached[1]
        names: set[str] = set()
        with contextlib.suppress(ProtocolError):  # a log cleaned up without a checkpoint: commits still count
            names.update(f.path for f in self.snapshot(path, latest)[0])
        for v in range(self.earliest_version(path), latest + 1):
            c = self._commit(path, v)
            names.update(unquote(f.path) for f in c.adds + c.removes + c.cdc)
        result = frozenset(names)
        self._referenced[path] = (latest, result)
        return result


def _unquoted(files: list[LogFile]) -> list[LogFile]:
    return [LogFile(unquote(f.path), f.size, f.partition_values, f.stats, f.version, f.timestamp_ms) for f in files]
