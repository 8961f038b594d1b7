"""The table catalog's declarations (``conf/catalog.yml``): source tables and how they are fed, the tables batch jobs
write, and for every table how it is shared to the hub and kept (Z-order, retention). Pure data and load-time checks.

Models (``models:``) are declared by ``stm.specs.ModelSpec``, which carries the same ``share``, ``optimize`` and
``vacuum_retain_hours`` fields.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from stm.errors import ConfigError
from stm.names import config_identifier

MIN_VACUUM_HOURS = 168  # Delta's default retention: a shorter one can break readers and time travel


@dataclass(frozen=True)
class OptimizeSpec:
    zorder_by: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ShareScope:
    """How the hub consolidates a shared table. ``workspace``: rows of the provider's region only, the hub unions
    every provider. ``account``: the whole account in every provider (DESIGN.md rule 4), kept once at the hub, by
    ``dedup_by`` when given, else from the first listed provider of that account."""

    scope: Literal["workspace", "account"] = "workspace"
    dedup_by: list[str] = field(default_factory=list)


class Kept(Protocol):
    """What every catalog entry declares about its sharing and upkeep."""

    @property
    def share(self) -> ShareScope: ...
    @property
    def optimize(self) -> OptimizeSpec: ...
    @property
    def vacuum_retain_hours(self) -> int: ...


@dataclass(frozen=True)
class TableSpec:
    """One target table of the catalog fed from a system table, and how it is fed."""

    source: str
    mode: Literal["stream", "snapshot", "watermark"]
    keys: list[str]
    merge: Literal["insert_only", "upsert"]
    why: str
    layer: Literal["bronze", "silver", "gold"] = "bronze"
    order_by: str | None = None
    # a column whose value a key never changes (the record's date, or a key column): a MERGE reads only the target
    # files whose statistics overlap the batch's range of it, so a micro-batch's cost does not grow with the table
    prune_by: str | None = None
    # a new table is partitioned by this column (it must be ``prune_by``: a key never moves between partitions)
    partition_by: str | None = None
    watermark: str | None = None
    share: ShareScope = field(default_factory=ShareScope)
    optimize: OptimizeSpec = field(default_factory=OptimizeSpec)
    vacuum_retain_hours: int = MIN_VACUUM_HOURS

    @property
    def source_schema(self) -> str:
        return self.source.split(".")[0]


@dataclass(frozen=True)
class CurrentDecl:
    """A current-state table: the latest version of every entity of a bronze SCD2 ``history``, built by the generic
    current-state job (``stm batch <table>``). ``finish``: module.function of a pure transform applied last."""

    history: str
    keys: list[str]
    delete_column: str | None = "delete_time"
    order_by: str | None = "change_time"
    finish: str | None = None


@dataclass(frozen=True)
class OutputSpec:
    """A table a batch job (or the billing_summary app) writes: ``made_by`` names that job or app; a current-state
    table says ``current`` instead and is made by the job of its own name."""

    why: str
    made_by: str | None = None
    current: CurrentDecl | None = None
    share: ShareScope = field(default_factory=ShareScope)
    optimize: OptimizeSpec = field(default_factory=OptimizeSpec)
    vacuum_retain_hours: int = MIN_VACUUM_HOURS


def validate_kept(base: str, spec: Kept, partition_by: str | None = None) -> None:
    """The sharing and upkeep fields of one catalog entry at ``base``."""
    for i, col in enumerate(spec.share.dedup_by):
        config_identifier(col, f"{base}.share.dedup_by[{i}]")
    if spec.share.dedup_by and spec.share.scope != "account":
        raise ConfigError(f"{base}.share.dedup_by", "only account-wide tables (scope: account) are deduplicated")
    for i, col in enumerate(spec.optimize.zorder_by):
        config_identifier(col, f"{base}.optimize.zorder_by[{i}]")
    if partition_by is not None and partition_by in spec.optimize.zorder_by:
        raise ConfigError(f"{base}.optimize.zorder_by", f"must not name the partition column {partition_by!r}")
    if spec.vacuum_retain_hours < MIN_VACUUM_HOURS:
        raise ConfigError(f"{base}.vacuum_retain_hours", f"must be at least {MIN_VACUUM_HOURS} (7 days)")


def validate_tables(tables: Mapping[str, TableSpec]) -> None:
    for name, spec in tables.items():
        base = f"tables.{name}"
        config_identifier(name, base)
        parts = spec.source.split(".")
        if len(parts) != 2:
            raise ConfigError(f"{base}.source", f"got {spec.source!r}, expected <system schema>.<table>")
        for part in parts:
            config_identifier(part, f"{base}.source")
        if not spec.keys:
            raise ConfigError(f"{base}.keys", "at least one key column is required")
        for i, key in enumerate(spec.keys):
            config_identifier(key, f"{base}.keys[{i}]")
        for attr in ("order_by", "prune_by", "partition_by", "watermark"):
            if getattr(spec, attr) is not None:
                config_identifier(getattr(spec, attr), f"{base}.{attr}")
        if spec.partition_by is not None and spec.partition_by != spec.prune_by:
            raise ConfigError(
                f"{base}.partition_by",
                f"got {spec.partition_by!r}, allowed: the prune_by column ({spec.prune_by!r}), a value no key changes",
            )
        validate_kept(base, spec, spec.partition_by)
        if spec.mode == "watermark" and spec.watermark is None:
            raise ConfigError(f"{base}.watermark", "is required when mode is 'watermark'")
        if spec.mode == "stream" and spec.merge != "insert_only":
            raise ConfigError(
                f"{base}.merge",
                "streamed sources are append-only: use 'insert_only' so downstream streams see no change commits",
            )


def validate_outputs(outputs: Mapping[str, OutputSpec], tables: Collection[str], models: Collection[str]) -> None:
    """Each output is made by a named job or is a current-state table over a bronze table of the catalog."""
    for name, spec in outputs.items():
        base = f"outputs.{name}"
        config_identifier(name, base)
        if name in tables or name in models:
            raise ConfigError(base, "is also a table or model of the catalog: declare each table once")
        if (spec.made_by is None) == (spec.current is None):
            raise ConfigError(base, "set exactly one of 'made_by' (the job or app writing it) or 'current'")
        if spec.made_by is not None:
            config_identifier(spec.made_by, f"{base}.made_by")
        if spec.current is not None:
            cur, cbase = spec.current, f"{base}.current"
            if cur.history not in tables:
                raise ConfigError(f"{cbase}.history", f"no table {cur.history!r}; tables: {', '.join(sorted(tables))}")
            if not cur.keys:
                raise ConfigError(f"{cbase}.keys", "list the columns that name an entity")
            for i, key in enumerate(cur.keys):
                config_identifier(key, f"{cbase}.keys[{i}]")
            for attr in ("delete_column", "order_by"):
                if getattr(cur, attr) is not None:
                    config_identifier(getattr(cur, attr), f"{cbase}.{attr}")
        validate_kept(base, spec)
