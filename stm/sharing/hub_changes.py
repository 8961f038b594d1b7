"""A Delta Sharing changes feed applied to the hub's copy of a provider table (pure Arrow: tables in, table out).

The feed gives rows with a ``_change_type``: ``insert`` and ``update_postimage`` rows are added, ``delete`` and
``update_preimage`` rows removed. A commit that rewrites files without change-data files (an upsert or a delete
on a table without the change data feed) reads as every row of each removed file deleted and every row of each
added file inserted, so most "deleted" rows come straight back.

Provider tables carry no row key the hub can rely on, so a row is matched by its whole value, and the copy is
treated as a multiset: each delete record removes one copy of its row, from the copy or from rows inserted
earlier in the same feed. Summed over the whole range this is exact whatever the order of commits, duplicate rows
keep their count, and a delete that finds no row means the copy and the feed disagree (``FeedMismatch``: the
caller reloads the table instead). Rows are counted with Arrow's group-by over every column (nested values by
their text), and only rows whose every flat value occurs among the deleted rows are counted at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stm.errors import StmError

CHANGE_TYPE = "_change_type"
ADDED = ("insert", "update_postimage")
REMOVED = ("delete", "update_preimage")
WEIGHT, ROW = "weight", "row"  # helper columns next to c0, c1, ...


class FeedMismatch(StmError):
    """The changes feed deletes a row the hub's copy does not hold."""


@dataclass(frozen=True)
class AppliedChanges:
    """The copy after a feed, and what the feed did to it."""

    table: pa.Table
    inserted: int
    deleted: int

    @property
    def rows_changed(self) -> int:
        return self.inserted + self.deleted


def _of_type(changes: pa.Table, kinds: tuple[str, ...], schema: pa.Schema) -> pa.Table:
    rows = changes.filter(pc.is_in(changes[CHANGE_TYPE], value_set=pa.array(kinds)))
    return rows.select(schema.names).cast(schema)


def _may_match(table: pa.Table, removed: pa.Table) -> pa.Array:
    """True where a row could equal some removed row: each flat column's value occurs among the removed rows."""
    mask = pa.array([True] * len(table), pa.bool_())
    for name in removed.column_names:
        if pa.types.is_nested(removed.schema.field(name).type):
            continue
        values = pc.unique(removed[name].combine_chunks())
        hit = pc.is_in(table[name], value_set=values, skip_nulls=False)
        mask = pc.and_(mask, pc.fill_null(hit, False))
    return mask


def _groupable(table: pa.Table) -> pa.Table:
    """``table`` with each nested column as the text of its values (equal exactly when the values are), so Arrow
    can group rows by every column."""
    columns = []
    for column in table.columns:
        if pa.types.is_nested(column.type):
            column = pa.chunked_array([[None if v is None else repr(v) for v in column.to_pylist()]], pa.string())
        columns.append(column)
    return pa.table(columns, names=[f"c{i}" for i in range(len(columns))])


def _net(pool: pa.Table, removed: pa.Table) -> pa.Table:
    """The multiset ``pool`` minus ``removed``; ``FeedMismatch`` when a removed row is not there to remove."""
    both = pa.concat_tables([pool, removed])
    keyed = _groupable(both)
    keys = keyed.column_names
    weight = np.concatenate([np.ones(len(pool), np.int64), np.full(len(removed), -1, np.int64)])
    keyed = keyed.append_column(WEIGHT, pa.array(weight)).append_column(ROW, pa.array(np.arange(len(both))))
    groups = keyed.group_by(keys, use_threads=False).aggregate([(WEIGHT, "sum"), (ROW, "min")])
    counts = groups[f"{WEIGHT}_sum"].to_numpy()
    if (counts < 0).any():
        raise FeedMismatch("the changes feed deletes a row the hub's copy does not hold")
    return both.take(pa.array(np.repeat(groups[f"{ROW}_min"].to_numpy(), counts)))


def apply_changes(current: pa.Table, changes: pa.Table) -> AppliedChanges:
    """``current`` with ``changes`` (the table's columns plus ``_change_type``) applied; columns as in ``current``."""
    schema = current.schema
    added = _of_type(changes, ADDED, schema)
    removed = _of_type(changes, REMOVED, schema)
    if len(removed) == 0:
        return AppliedChanges(pa.concat_tables([current, added]), len(added), 0)
    # only rows that could equal a removed row are counted; the rest are kept as they are
    cur_hit, add_hit = _may_match(current, removed), _may_match(added, removed)
    kept = _net(pa.concat_tables([current.filter(cur_hit), added.filter(add_hit)]), removed)
    table = pa.concat_tables([current.filter(pc.invert(cur_hit)), kept, added.filter(pc.invert(add_hit))])
    return AppliedChanges(table, len(added), len(removed))


def appended_rows(changes: pa.Table) -> pa.Table | None:
    """The rows a feed adds, with the table's columns, when it removes none (an append); None when it does."""
    if pc.any(pc.is_in(changes[CHANGE_TYPE], value_set=pa.array(REMOVED))).as_py():
        return None
    return _of_type(changes, ADDED, changes.drop_columns([CHANGE_TYPE]).schema)
