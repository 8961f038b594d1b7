"""The hub's consolidated tables as pure Arrow transforms (tables in, table out; no reads or writes).

Rows of account-wide tables appear in every provider of an account; they are kept once (DESIGN.md rule 4): by
their ``dedup_by`` key, from the first provider listed; without a key, only the first listed provider of each
account contributes.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from stm.specs import SharedTableSpec

SOURCE_COLUMNS = ("source_account", "source_workspace")


@dataclass(frozen=True)
class ProviderData:
    """One provider's copy of a table, in the hub's provider order."""

    provider: str
    account: str
    workspace: str
    table: pa.Table


def with_source(data: ProviderData) -> pa.Table:
    t = data.table
    n = len(t)
    t = t.add_column(0, "source_workspace", pa.array([data.workspace] * n, pa.string()))
    return t.add_column(0, "source_account", pa.array([data.account] * n, pa.string()))


def first_per_key(table: pa.Table, keys: list[str]) -> pa.Table:
    """The first row (in table order) of each distinct ``keys`` value."""
    if len(table) == 0:
        return table
    numbered = table.append_column("_row", pa.array(range(len(table)), pa.int64()))
    firsts = numbered.group_by(keys, use_threads=False).aggregate([("_row", "min")])
    rows = firsts["_row_min"]
    return table.take(pc.take(rows, pc.sort_indices(rows)))


def consolidate(spec: SharedTableSpec, sources: list[ProviderData]) -> pa.Table:
    """``all_<table>``: every provider's rows with their source labels; account-wide rows once."""
    if spec.scope == "account" and not spec.dedup_by:
        seen: set[str] = set()
        firsts = []
        for s in sources:
            if s.account not in seen:
                seen.add(s.account)
                firsts.append(s)
        sources = firsts
    union = pa.concat_tables([with_source(s) for s in sources], promote_options="permissive")
    if spec.dedup_by:
        union = first_per_key(union, list(spec.dedup_by))
    return union


def _dbus(billing: pa.Table) -> pa.Array:
    qty = billing["usage_quantity"]
    is_dbu = pc.fill_null(pc.equal(billing["usage_unit"], "DBU"), False)  # as SQL's CASE: a NULL unit is not DBU
    return pc.if_else(is_dbu, qty, pa.scalar(0, qty.type).cast(qty.type))


def workspaces_costs(billing: pa.Table) -> pa.Table:
    """Daily cost per source account, billed workspace and product, from the deduplicated billing rows."""
    t = billing.append_column("_dbus", _dbus(billing)).append_column(
        "_unpriced", pc.cast(pc.invert(pc.fill_null(billing["is_priced"], False)), pa.int64())
    )
    keys = ["source_account", "account_id", "workspace_id", "usage_date", "billing_origin_product"]
    out = t.group_by(keys, use_threads=False).aggregate(
        [
            ("_dbus", "sum"),
            ("estimated_cost_usd", "sum"),
            ("net_cost_usd", "sum"),
            ("record_id", "count"),
            ("_unpriced", "sum"),
        ]
    )
    names = [*keys, "total_dbus", "total_cost_usd", "total_net_cost_usd", "record_count", "unpriced_rows"]
    return out.rename_columns(names).sort_by([(k, "ascending") for k in keys])


def cross_account_dashboard(billing: pa.Table, runs: pa.Table | None) -> pa.Table:
    """Per source account, account and day: list and net cost, DBUs, active workspaces, jobs and users, runs."""
    t = billing.append_column("_dbus", _dbus(billing))
    keys = ["source_account", "account_id", "usage_date"]
    out = t.group_by(keys, use_threads=False).aggregate(
        [
            ("estimated_cost_usd", "sum"),
            ("net_cost_usd", "sum"),
            ("_dbus", "sum"),
            ("workspace_id", "count_distinct"),
            ("job_id", "count_distinct"),
            ("run_as", "count_distinct"),
            ("record_id", "count"),
        ]
    )
    out = out.rename_columns(
        [
            *keys,
            "total_cost_usd",
            "total_net_cost_usd",
            "total_dbus",
            "active_workspaces",
            "active_jobs",
            "active_users",
            "record_count",
        ]
    )
    if runs is not None and len(runs) and {"run_date", "total_runs", "failed_runs"} <= set(runs.column_names):
        per_day = runs.group_by(["account_id", "run_date"], use_threads=False).aggregate(
            [("total_runs", "sum"), ("failed_runs", "sum")]
        )
        per_day = per_day.rename_columns(["account_id", "usage_date", "job_runs", "failed_runs"])
        out = out.join(per_day, ["account_id", "usage_date"], join_type="left outer", use_threads=False)
    else:
        out = out.append_column("job_runs", pa.nulls(len(out), pa.int64())).append_column(
            "failed_runs", pa.nulls(len(out), pa.int64())
        )
    return out.sort_by([(k, "ascending") for k in keys])
