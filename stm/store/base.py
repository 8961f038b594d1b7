"""What every table store shares: write results, stream options, the vacuum guard."""

from __future__ import annotations

from dataclasses import dataclass

from stm.catalog import MIN_VACUUM_HOURS
from stm.errors import UsageError


@dataclass(frozen=True)
class MergeResult:
    """Rows a write inserted and updated."""

    inserted: int
    updated: int


@dataclass(frozen=True)
class Bound:
    """The range a batch spans of a column whose value a key never changes (its record's date, or a key column).

    A MERGE that adds ``low <= t.column <= high`` to its condition matches the same rows (a key's target row has its
    batch row's value), and Delta reads only the target files whose column statistics overlap the range."""

    column: str
    low: object
    high: object
    nulls: bool = False  # the batch has rows with no value: target rows with none are read too


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
