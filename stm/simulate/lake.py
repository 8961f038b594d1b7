"""Writes the simulated system catalog: Delta tables at ``DIR/system/<schema>/<table>`` and the state file.

Every write is its own Delta commit, so the log shows what a stream would see: appends, change commits (UPDATE,
DELETE, MERGE) and OPTIMIZE. Nothing here reads table data back (see local_engine.md gotcha #4).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from stm.errors import UsageError

log = logging.getLogger(__name__)
STATE_FILE = "_simulation.json"
STATE_FORMAT = 1


@dataclass
class SimulationState:
    """What was simulated, so ``--append`` can rebuild the same world and continue after ``end_date``."""

    seed: int
    accounts: int
    workspaces: int
    origin_date: str  # first simulated day (ISO date); the world's objects are placed relative to it
    end_date: str  # the day after the last simulated day (ISO date)
    volume: dict[str, int]
    runs: list[dict[str, Any]] = field(default_factory=list)
    format: int = STATE_FORMAT


class Lake:
    """The ``system`` catalog of one local lake, and the row counts written through it."""

    def __init__(self, root: Path) -> None:
        self.system = root / "system"
        self.rows: Counter[str] = Counter()

    def path(self, table: str) -> Path:
        schema, name = table.split(".")
        return self.system / schema / name

    def is_empty(self) -> bool:
        return not self.system.exists() or not any(self.system.iterdir())

    def append(self, table: str, data: pa.Table, *, merge_schema: bool = False) -> None:
        """One append commit (skipped when there is nothing to add to an existing table)."""
        path = self.path(table)
        if data.num_rows == 0 and (path / "_delta_log").exists():
            return
        path.mkdir(parents=True, exist_ok=True)
        write_deltalake(str(path), data, mode="append", schema_mode="merge" if merge_schema else None)
        self.rows[table] += data.num_rows
        log.info("%s: appended %d rows", table, data.num_rows)

    def update(self, table: str, predicate: str, updates: dict[str, str]) -> None:
        """An in-place UPDATE commit (``updates`` are SQL expressions)."""
        metrics = DeltaTable(str(self.path(table))).update(updates=updates, predicate=predicate)
        log.info("%s: updated %s rows where %s", table, metrics.get("num_updated_rows"), predicate)

    def delete(self, table: str, predicate: str) -> None:
        metrics = DeltaTable(str(self.path(table))).delete(predicate)
        log.info("%s: deleted %s rows where %s", table, metrics.get("num_deleted_rows"), predicate)

    def upsert(self, table: str, data: pa.Table, keys: tuple[str, ...]) -> None:
        """A MERGE commit: rows with the same key are replaced, new ones inserted."""
        if data.num_rows == 0:
            return
        on = " AND ".join(f"t.{k} = s.{k}" for k in keys)
        dt = DeltaTable(str(self.path(table)))
        merger = dt.merge(data, predicate=on, source_alias="s", target_alias="t")
        merger.when_matched_update_all().when_not_matched_insert_all().execute()
        log.info("%s: merged %d rows", table, data.num_rows)

    def optimize(self, table: str) -> None:
        metrics = DeltaTable(str(self.path(table))).optimize.compact()
        log.info("%s: optimized (%s files removed)", table, metrics.get("numFilesRemoved"))

    def read_state(self) -> SimulationState:
        path = self.system / STATE_FILE
        if not path.exists():
            raise UsageError(f"--append: {self.system} has no {STATE_FILE}; simulate into an empty --lake-root first")
        data = json.loads(path.read_text())
        if data.get("format") != STATE_FORMAT:
            raise UsageError(f"--append: {path} has format {data.get('format')!r}, expected {STATE_FORMAT}")
        return SimulationState(**data)

    def write_state(self, state: SimulationState) -> None:
        self.system.mkdir(parents=True, exist_ok=True)
        (self.system / STATE_FILE).write_text(json.dumps(asdict(state), indent=2, sort_keys=True) + "\n")
