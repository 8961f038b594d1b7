"""The engine seam: the only interface that knows whether tables live in Unity Catalog or under a local root."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stm.errors import UsageError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructField

ROW_FILE, ROW_INDEX = "_stm_file", "_stm_row"  # a row's identity in ``batch_row_ids``: its data file, its index there

MIN_VACUUM_HOURS = 168


@dataclass(frozen=True)
class Txn:
    """An idempotent-write marker: (app id, monotonically increasing version), e.g. (query id, batch id)."""

    app_id: str
    version: int


@dataclass(frozen=True)
class MergeResult:
    rows_in: int
    inserted: int
    updated: int
    replay_skipped: bool = False


@dataclass(frozen=True)
class StreamOptions:
    skip_change_commits: bool = True
    starting_version: int | None = None
    starting_timestamp: str | None = None
    max_files_per_trigger: int | None = None


def check_vacuum_retention(retain_hours: int, allow_short_retention: bool) -> None:
    if retain_hours < 0:
        raise UsageError(f"vacuum retention {retain_hours} h: must be zero or more hours")
    if retain_hours < MIN_VACUUM_HOURS and not allow_short_retention:
        raise UsageError(
            f"vacuum retention {retain_hours} h is below {MIN_VACUUM_HOURS} h, which can break running streams "
            "and time travel; pass --allow-short-retention to allow it"
        )


class TableStore(ABC):
    """Read, stream, merge, overwrite, optimize, vacuum and inspect tables named ``catalog.schema.table``."""

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark

    @abstractmethod
    def exists(self, name: str) -> bool: ...

    @abstractmethod
    def read(self, name: str) -> DataFrame: ...

    @abstractmethod
    def read_stream(self, name: str, options: StreamOptions) -> DataFrame: ...

    @abstractmethod
    def batch_rows(self, name: str, batch: DataFrame) -> DataFrame:
        """The rows of one micro-batch of ``read_stream(name)`` (an adapter may stream file lists instead)."""

    def batch_row_ids(self, name: str, batch: DataFrame, columns: list[str]) -> DataFrame | None:
        """``columns`` of one micro-batch's rows with each row's identity (``ROW_FILE``, ``ROW_INDEX``), when this
        adapter can insert rows by identity (``insert_batch_rows``); ``None`` when it cannot."""
        return None

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
        """Insert the rows of a micro-batch of ``source`` into ``name``, each with the ``extra`` columns' values,
        except the rows identified in ``drop`` and those whose ``keys`` the table already has: one append-only
        commit, idempotent on replay like ``merge``. ``ids`` is ``batch_row_ids(source, batch, keys)``: the batch's
        rows are those of the files it reads."""
        raise NotImplementedError(f"{type(self).__name__} inserts rows through merge, not by identity")

    @abstractmethod
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
        """Upsert ``df`` by ``keys`` (insert-only: matched rows are left alone); creates the table if missing.

        ``cluster_by``: a new table is laid out by this column, so reads and merges of a few of its values skip the
        rest; a key's value of that column must never change. ``small``: the rows fit in the driver (an adapter
        may then write them without a distributed write)."""

    @abstractmethod
    def overwrite(self, name: str, df: DataFrame, *, txn: Txn | None = None) -> int: ...

    @abstractmethod
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
        """Replace the rows whose ``column`` is in ``values`` by ``df`` (all rows when ``values`` is None).

        ``small``: the rows fit in the driver (an aggregate); an adapter may collect them rather than run a
        distributed write."""

    @abstractmethod
    def optimize(self, name: str, zorder_by: list[str]) -> dict[str, Any]: ...

    @abstractmethod
    def vacuum(self, name: str, retain_hours: int, *, allow_short_retention: bool = False) -> int: ...

    @abstractmethod
    def list_tables(self, catalog: str, schema: str) -> list[str]:
        """Names (without catalog and schema) of the tables in ``catalog.schema``."""

    @abstractmethod
    def version(self, name: str) -> int | None: ...

    @abstractmethod
    def history(self, name: str) -> list[dict[str, Any]]: ...
