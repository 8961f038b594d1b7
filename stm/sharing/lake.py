"""The shared tables of a provider lake: which exist, where they are, and which data files a URL may fetch.

A share declared in ``conf/shares.yml`` exposes ``<output.catalog>.<output.schema>.<table>`` as
``<share>.<output.schema>.<table>``; a declared table that does not exist yet is not listed. Each table is read
with delta-rs (``shared_table.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from stm.config import Config
from stm.console import iso_timestamp
from stm.errors import StmError
from stm.names import check_identifier
from stm.sharing.protocol import ProtocolError, bad_request, not_found
from stm.sharing.shared_table import SharedTable, commit_file_names
from stm.specs import ShareSpec
from stm.store.local import is_delta_table

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
VERSIONS_KEPT = 256  # (table, version) file lists kept for checking file URLs


def _valid(name: str, what: str) -> str:
    try:
        return check_identifier(name, what)
    except StmError:
        # never echo the value: it may be long or hostile
        raise bad_request(f"invalid {what}: use letters, digits and underscores") from None


def parse_timestamp(value: str, what: str) -> int:
    """An ISO 8601 timestamp (``2026-11-01T00:00:00Z``) as epoch milliseconds."""
    try:
        ts = iso_timestamp(value, what, zone_required=True)
    except ValueError as bad:
        raise bad_request(str(bad)) from None
    return (ts - EPOCH) // timedelta(milliseconds=1)  # exact: a float product can land a millisecond early


class SharedLake:
    """Tables of the shares declared in ``cfg`` under ``lake_root``."""

    def __init__(self, lake_root: Path, cfg: Config) -> None:
        self.root = Path(lake_root).resolve()
        self.cfg = cfg
        self.schema = cfg.output.schema
        self._commit_names: dict[tuple[Path, int], frozenset[str]] = {}
        self._snapshot_names: dict[tuple[Path, int], frozenset[str]] = {}

    def share(self, name: str) -> ShareSpec:
        spec = self.cfg.shares.get(_valid(name, "share name"))
        if spec is None:
            raise not_found(f"share {name} not found")
        return spec

    def _table_dir(self, table: str) -> Path:
        return self.root / self.cfg.output.catalog / self.schema / table

    def tables(self, share: str) -> list[str]:
        """Declared tables of ``share`` that exist, in declaration order."""
        return [t for t in self.share(share).tables if is_delta_table(self._table_dir(t))]

    def check_schema(self, share: str, schema: str) -> None:
        self.share(share)
        if _valid(schema, "schema name") != self.schema:
            raise not_found(f"schema {share}.{schema} not found")

    def table_path(self, share: str, schema: str, table: str) -> Path:
        self.check_schema(share, schema)
        name = _valid(table, "table name")
        path = self._table_dir(name)
        if name not in self.share(share).tables or not is_delta_table(path):
            raise not_found(f"table {share}.{schema}.{name} not found")
        return path

    def open(self, path: Path) -> SharedTable:
        """The table at ``path`` (from ``table_path``) at its latest version."""
        return SharedTable(path)

    # --- files ----------------------------------------------------------------------------------------------
    def serves(self, path: Path, version: int, name: str) -> bool:
        """Whether version ``version`` of the table names data file ``name`` (decoded, relative): added, removed or
        written as change data by that commit, or live in that snapshot. A URL listed at a version may fetch only
        these; each answer is kept, as a version never changes."""
        if name in self._named(self._commit_names, path, version, commit_file_names):
            return True
        return name in self._named(self._snapshot_names, path, version, _snapshot_file_names)

    @staticmethod
    def _named(
        cache: dict[tuple[Path, int], frozenset[str]],
        path: Path,
        version: int,
        read: Callable[[Path, int], frozenset[str]],
    ) -> frozenset[str]:
        key = (path, version)
        if key not in cache:
            try:
                cache[key] = read(path, version)
            except ProtocolError:  # a version gone from the history, or one this endpoint refuses: names nothing
                return frozenset()
            if len(cache) > VERSIONS_KEPT:
                del cache[next(iter(cache))]
        return cache[key]


def _snapshot_file_names(path: Path, version: int) -> frozenset[str]:
    return frozenset(f.path for f in SharedTable(path).snapshot(version)[0])
