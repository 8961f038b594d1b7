"""SQL for the hub's consolidated views (pure: text in, text out; every identifier validated and quoted).

The Databricks hub publishes what the local hub writes (DESIGN.md "One hub contract"): ``all_<table>`` for every
shared table, then ``all_workspaces_billing``, ``all_workspaces_costs`` and ``cross_account_dashboard`` over them,
``cost_anomalies`` (``stm.anomalies``, the SQL ``stm hub finops`` runs locally) and ``cost_forecast`` (the local
hub's forecast table, made here by ``ai_forecast``: ``stm.forecast_sql``).
Columns are listed by name, never by position: the view's columns are every provider's columns in first-seen order
(providers in the hub's order), and a provider lacking one contributes NULL, as ``stm.sharing.hub_tables`` does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from deploy.model import digest, marker
from stm import anomalies, budgets, forecast_sql
from stm.config import AnalyticsConfig, BudgetSpec
from stm.errors import InvalidIdentifier
from stm.names import quote
from stm.names import sql_string as literal
from stm.specs import SharedTableSpec

PREFIX = "all_"
BILLING, RUNS = "billing_summary", "job_runs_summary"
WORKSPACES_BILLING, WORKSPACES_COSTS, DASHBOARD = (
    "all_workspaces_billing",
    "all_workspaces_costs",
    "cross_account_dashboard",
)
SOURCE_COLUMNS = ("source_account", "source_workspace")
RANK = "_stm_provider_rank"
# a Unity Catalog column type as its type_text shows it: decimal(38,18), map<string,string>, struct<a:string,b:int>
_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9_<>,:() ]{0,4000}$")


@dataclass(frozen=True)
class Source:
    """One provider's share as the hub sees it: a catalog created from the share."""

    account: str
    workspace: str
    catalog: str
    schema: str


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # the Unity Catalog type text

    def __post_init__(self) -> None:
        quote(self.name)
        if not _TYPE.match(self.type):
            raise InvalidIdentifier(f"invalid type {self.type!r} of column {self.name}: not a Databricks SQL type")


@dataclass(frozen=True)
class Provided:
    """One provider's copy of a table: where it is and its columns in table order."""

    source: Source
    columns: tuple[Column, ...]


@dataclass(frozen=True)
class PendingView:
    """A view over share catalogs this apply creates: its columns are read when it is made, right after them."""

    target: str
    catalog: str
    schema: str
    table: str
    spec: SharedTableSpec
    sources: tuple[Source, ...]

    def statement(self, columns: list[tuple[Column, ...]]) -> str:
        """The CREATE VIEW statement, given each source's columns in the order of ``sources``."""
        provided = [Provided(s, c) for s, c in zip(self.sources, columns, strict=True)]
        select = view_select(self.table, self.spec, provided)
        return create_view_sql(self.target, self.catalog, self.schema, view_name(self.table), select)[0]


@dataclass(frozen=True)
class Statement:
    """A statement run on a warehouse; a pending view's is built when it is made."""

    warehouse_id: str
    sql: str | PendingView


def view_name(table: str) -> str:
    return PREFIX + table


def union_columns(provided: list[Provided]) -> list[Column]:
    """Every provider's columns, first seen first, each with the type its first provider gives it."""
    seen: dict[str, Column] = {}
    for p in provided:
        for c in p.columns:
            if c.name in SOURCE_COLUMNS:
                raise InvalidIdentifier(f"column {c.name} of {p.source.catalog}: the hub adds it, a table may not")
            seen.setdefault(c.name, c)
    return list(seen.values())


def _select_list(p: Provided, columns: list[Column]) -> str:
    have = {c.name: c for c in p.columns}
    items = [f"{literal(p.source.account)} AS source_account", f"{literal(p.source.workspace)} AS source_workspace"]
    for c in columns:
        mine = have.get(c.name)
        if mine is None:
            items.append(f"CAST(NULL AS {c.type}) AS {quote(c.name)}")
        elif mine.type.lower() != c.type.lower():
            items.append(f"CAST({quote(c.name)} AS {c.type}) AS {quote(c.name)}")
        else:
            items.append(quote(c.name))
    return ", ".join(items)


def view_select(table: str, spec: SharedTableSpec, provided: list[Provided]) -> str:
    """UNION ALL over providers by column name; account-wide tables keep one copy per record or account."""
    if spec.scope == "account" and not spec.dedup_by:
        # no row key: take the account's rows from its first listed provider only (DESIGN.md rule 4)
        firsts: dict[str, Provided] = {}
        for p in provided:
            firsts.setdefault(p.source.account, p)
        provided = list(firsts.values())
    columns = union_columns(provided)
    parts = [
        f"SELECT {_select_list(p, columns)}\nFROM {quote(p.source.catalog)}.{quote(p.source.schema)}.{quote(table)}"
        for p in provided
    ]
    union = "\nUNION ALL\n".join(parts)
    if not spec.dedup_by:
        return union
    names = ", ".join([*SOURCE_COLUMNS, *(quote(c.name) for c in columns)])
    keys = ", ".join(quote(k) for k in spec.dedup_by)
    indented = "\n".join("    " + line for line in union.splitlines())
    rank = f"ROW_NUMBER() OVER (PARTITION BY {keys} ORDER BY {listed_order([p.source for p in provided])})"
    return (
        f"SELECT {names}\nFROM (\n  SELECT *, {rank} AS {RANK}\n  FROM (\n{indented}\n  ) AS providers\n) AS ranked\n"
        f"WHERE {RANK} = 1"
    )


def listed_order(sources: list[Source]) -> str:
    """The providers' rank in the order the hub lists them: a duplicate keeps the first listed provider's row, the
    rule of the local hub (``stm.sharing.hub_tables.consolidate``), not the alphabetically first."""
    whens = " ".join(
        f"WHEN source_account = {literal(s.account)} AND source_workspace = {literal(s.workspace)} THEN {i}"
        for i, s in enumerate(sources)
    )
    return f"CASE {whens} END"


def _dbus() -> str:
    return "CASE WHEN usage_unit = 'DBU' THEN usage_quantity ELSE 0 END"


def workspaces_costs_select(billing: str) -> str:
    """``all_workspaces_costs`` (``stm.sharing.hub_tables.workspaces_costs``): daily cost per source account,
    billed workspace and product."""
    keys = "source_account, account_id, workspace_id, usage_date, billing_origin_product"
    return (
        f"SELECT {keys},\n"
        f"  SUM({_dbus()}) AS total_dbus,\n"
        "  SUM(estimated_cost_usd) AS total_cost_usd,\n"
        "  SUM(net_cost_usd) AS total_net_cost_usd,\n"
        "  COUNT(record_id) AS record_count,\n"
        "  SUM(CASE WHEN COALESCE(is_priced, FALSE) THEN 0 ELSE 1 END) AS unpriced_rows\n"
        f"FROM {billing}\nGROUP BY {keys}"
    )


def dashboard_select(billing: str, runs: str | None) -> str:
    """``cross_account_dashboard`` (``stm.sharing.hub_tables.cross_account_dashboard``): per source account,
    account and day; job runs from ``all_job_runs_summary`` when the hub has it."""
    keys = "source_account, account_id, usage_date"
    daily = (
        f"SELECT {keys},\n"
        "    SUM(estimated_cost_usd) AS total_cost_usd,\n"
        "    SUM(net_cost_usd) AS total_net_cost_usd,\n"
        f"    SUM({_dbus()}) AS total_dbus,\n"
        "    COUNT(DISTINCT workspace_id) AS active_workspaces,\n"
        "    COUNT(DISTINCT job_id) AS active_jobs,\n"
        "    COUNT(DISTINCT run_as) AS active_users,\n"
        "    COUNT(record_id) AS record_count\n"
        f"  FROM {billing}\n  GROUP BY {keys}"
    )
    cost = (
        "d.source_account, d.account_id, d.usage_date, d.total_cost_usd, d.total_net_cost_usd, d.total_dbus, "
        "d.active_workspaces, d.active_jobs, d.active_users, d.record_count"
    )
    if runs is None:
        no_runs = "CAST(NULL AS BIGINT) AS job_runs, CAST(NULL AS BIGINT) AS failed_runs"
        return f"SELECT {cost}, {no_runs}\nFROM (\n  {daily}\n) AS d"
    per_day = (
        "SELECT account_id, run_date AS usage_date, SUM(total_runs) AS job_runs, SUM(failed_runs) AS failed_runs\n"
        f"  FROM {runs}\n  GROUP BY account_id, run_date"
    )
    return (
        f"SELECT {cost}, r.job_runs, r.failed_runs\nFROM (\n  {daily}\n) AS d\n"
        f"LEFT JOIN (\n  {per_day}\n) AS r\nON d.account_id = r.account_id AND d.usage_date = r.usage_date"
    )


def derived_selects(
    catalog: str,
    schema: str,
    views: set[str],
    analytics: AnalyticsConfig,
    budget_specs: dict[str, BudgetSpec] | None = None,
) -> dict[str, str]:
    """The cross-provider views over ``all_billing_summary`` (and ``all_job_runs_summary``), when the hub has it,
    then ``cost_forecast`` over ``all_workspaces_costs`` (``ai_forecast``: ``stm.forecast_sql``), ``cost_anomalies``
    over ``all_workspaces_costs`` and ``all_cost_by_job`` (``stm.anomalies``) and
    ``budget_status`` over the costs (and ``all_cost_by_tag`` for tag budgets; ``stm.budgets``)."""
    ns = f"{quote(catalog)}.{quote(schema)}"
    out: dict[str, str] = {}
    if view_name(BILLING) in views:
        billing = f"{ns}.{quote(view_name(BILLING))}"
        runs = f"{ns}.{quote(view_name(RUNS))}" if view_name(RUNS) in views else None
        out = {
            WORKSPACES_BILLING: f"SELECT * FROM {billing}",
            WORKSPACES_COSTS: workspaces_costs_select(billing),
            DASHBOARD: dashboard_select(billing, runs),
        }
    if forecast_sql.COSTS in out:
        out[forecast_sql.TABLE] = forecast_sql.forecast_select(lambda t: f"{ns}.{quote(t)}")
    judged = {t for t in (anomalies.COSTS, anomalies.JOBS) if t in views or t in out}
    if judged:
        out[anomalies.TABLE] = anomalies.anomalies_select(lambda t: f"{ns}.{quote(t)}", analytics, judged)
    tags_ok = not budgets.needs_tags(budget_specs or {}) or budgets.TAGS in views
    if budget_specs and budgets.COSTS in out and tags_ok:
        out[budgets.TABLE] = budgets.budgets_select(lambda t: f"{ns}.{quote(t)}", budget_specs)
    return out


def create_view_sql(target: str, catalog: str, schema: str, view: str, select: str) -> tuple[str, str]:
    """``(CREATE OR REPLACE VIEW statement, comment)``; the comment marks the view as ours with its digest."""
    comment = marker(target, digest(select))
    name = f"{quote(catalog)}.{quote(schema)}.{quote(view)}"
    return f"CREATE OR REPLACE VIEW {name}\nCOMMENT {literal(comment)}\nAS\n{select}", comment


def drop_view_sql(catalog: str, schema: str, view: str) -> str:
    return f"DROP VIEW IF EXISTS {quote(catalog)}.{quote(schema)}.{quote(view)}"
