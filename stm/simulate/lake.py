"""Writes the simulated system catalog: Delta tables at ``DIR/system/<schema>/<table>`` and the state file.

Every write is its own Delta commit, so the log shows what a stream would see: appends, change commits (UPDATE,
DELETE, MERGE), OPTIMIZE and deletion vectors. delta-rs makes every commit it can (fast, no JVM); delta-rs 1.6 does
not write deletion vectors, so the DELETEs that must write them go through Delta Lake's own Spark connector, in a
session started on first use and kept for the run. delta-rs reads, appends to, rewrites and compacts such tables
correctly (it applies their deletion vectors). Nothing here reads table data back (see local_engine.md gotcha #4).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from stm.errors import UsageError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)
STATE_FILE = "_simulation.json"
STATE_FORMAT = 1
ENABLE_DELETION_VECTORS = "delta.enableDeletionVectors"
# Streamed tables created with deletion vectors on, so a DELETE through Spark marks rows instead of rewriting files.
# delta-rs creates them at protocol (3, 7) with the deletionVectors feature (it also lists variantType, which Spark
# reads); turning them on in Spark instead would cost a second Spark commit per new lake.
DELETION_VECTOR_TABLES = frozenset({"access.audit"})
SessionFactory = Callable[[], "SparkSession"]


def local_spark() -> SparkSession:
    """A local session on the packaged configuration (``getOrCreate``: joins the process's session if one runs)."""
    from stm.config import load_config
    from stm.spark import local_session

    return local_session(load_config(), "stm-simulate")


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
    # injected cost spikes (account, workspace, product, date, factor): the ground truth of cost anomalies
    anomalies: list[dict[str, Any]] = field(default_factory=list)
    format: int = STATE_FORMAT


class Lake:
    """The ``system`` catalog of one local lake, and the row counts written through it."""

    def __init__(self, root: Path, session: SessionFactory | None = None) -> None:
        self.system = root / "system"
        self.rows: Counter[str] = Counter()
        self._session = session or local_spark
        self._spark: SparkSession | None = None

    def spark(self) -> SparkSession:
        """The Spark session for the commits delta-rs cannot write, started on first use and reused after."""
        if self._spark is None:
            self._spark = self._session()
        return self._spark

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
        config = None
        if table in DELETION_VECTOR_TABLES and not (path / "_delta_log").exists():
            config = {ENABLE_DELETION_VECTORS: "true"}
        path.mkdir(parents=True, exist_ok=True)
        write_deltalake(
            str(path), data, mode="append", schema_mode="merge" if merge_schema else None, configuration=config
        )
        self.rows[table] += data.num_rows
        log.info("%s: appended %d rows", table, data.num_rows)

    def update(self, table: str, predicate: str, updates: dict[str, str]) -> None:
        """An in-place UPDATE commit (``updates`` are SQL expressions)."""
        metrics = DeltaTable(str(self.path(table))).update(updates=updates, predicate=predicate)
        log.info("%s: updated %s rows where %s", table, metrics.get("num_updated_rows"), predicate)

    def delete(self, table: str, predicate: str) -> None:
        metrics = DeltaTable(str(self.path(table))).delete(predicate)
        log.info("%s: deleted %s rows where %s", table, metrics.get("num_deleted_rows"), predicate)

    def delete_with_deletion_vectors(self, table: str, predicate: str) -> None:
        """A DELETE commit that marks the rows in deletion vectors instead of rewriting their files (Delta's DELETE
        once deletion vectors are on); on a table made without them (a lake simulated before they were) it turns
        them on first (a SET TBLPROPERTIES commit)."""
        from delta.tables import DeltaTable as SparkDeltaTable

        path = str(self.path(table))
        if DeltaTable(path).metadata().configuration.get(ENABLE_DELETION_VECTORS) != "true":
            quoted = path.replace("`", "``")
            self.spark().sql(f"ALTER TABLE delta.`{quoted}` SET TBLPROPERTIES ('{ENABLE_DELETION_VECTORS}' = 'true')")
            log.info("%s: deletion vectors enabled", table)
        SparkDeltaTable.forPath(self.spark(), path).delete(predicate)
        metrics = DeltaTable(path).history(1)[0].get("operationMetrics", {})
        log.info(
            "%s: deleted %s rows where %s (%s deletion vectors written)",
            table, metrics.get("numDeletedRows"), predicate, metrics.get("numDeletionVectorsAdded"),
        )  # fmt: skip

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
