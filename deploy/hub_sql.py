"""SQL for the hub's consolidated views (pure: text in, text out; every identifier validated and quoted)."""

from __future__ import annotations

from dataclasses import dataclass

from deploy.model import digest, marker
from stm.names import quote
from stm.specs import SharedTableSpec


@dataclass(frozen=True)
class Source:
    """One provider's share as the hub sees it: a catalog created from the share."""

    account: str
    workspace: str
    catalog: str
    schema: str


def literal(value: str) -> str:
    """A Databricks SQL string literal (backslash escapes are on by default there)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def view_select(table: str, spec: SharedTableSpec, sources: list[Source]) -> str:
    """UNION ALL over providers with source columns; account-wide tables keep one copy per record or account."""
    if spec.scope == "account" and not spec.dedup_by:
        # no row key: take the account's rows from its first listed provider only (DESIGN.md rule 4)
        firsts: dict[str, Source] = {}
        for s in sources:
            firsts.setdefault(s.account, s)
        sources = list(firsts.values())
    parts = [
        f"SELECT {literal(s.account)} AS source_account, {literal(s.workspace)} AS source_workspace, *"
        f" FROM {quote(s.catalog)}.{quote(s.schema)}.{quote(table)}"
        for s in sources
    ]
    union = "\nUNION ALL\n".join(parts)
    if not spec.dedup_by:
        return union
    keys = ", ".join(quote(k) for k in spec.dedup_by)
    indented = "\n".join("  " + line for line in union.splitlines())
    return (
        f"SELECT * FROM (\n{indented}\n) AS providers\n"
        f"QUALIFY ROW_NUMBER() OVER (PARTITION BY {keys} ORDER BY {listed_order(sources)}) = 1"
    )


def listed_order(sources: list[Source]) -> str:
    """The providers' rank in the order the hub lists them: a duplicate keeps the first listed provider's row, the
    rule of the local hub (``stm.sharing.hub_tables.consolidate``), not the alphabetically first."""
    whens = " ".join(
        f"WHEN source_account = {literal(s.account)} AND source_workspace = {literal(s.workspace)} THEN {i}"
        for i, s in enumerate(sources)
    )
    return f"CASE {whens} END"


def create_view_sql(
    target: str, catalog: str, schema: str, table: str, spec: SharedTableSpec, sources: list[Source]
) -> tuple[str, str]:
    """``(CREATE OR REPLACE VIEW statement, comment)``; the comment marks the view as ours with its digest."""
    select = view_select(table, spec, sources)
    comment = marker(target, digest(select))
    name = f"{quote(catalog)}.{quote(schema)}.{quote(table)}"
    return f"CREATE OR REPLACE VIEW {name}\nCOMMENT {literal(comment)}\nAS\n{select}", comment


def drop_view_sql(catalog: str, schema: str, view: str) -> str:
    return f"DROP VIEW IF EXISTS {quote(catalog)}.{quote(schema)}.{quote(view)}"
