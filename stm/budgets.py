"""Monthly budgets on the hub: one SQL definition, run by local Spark and deployed as a Databricks hub view.

A budget (``budgets:`` in the configuration) is a monthly amount for all spend, or for one account (its hub label,
``source_account``), workspace, product or tag value. For the month of the newest usage date on the hub (``as_of``,
UTC), each budget gets its month-to-date list cost, its burn rate (month to date / days elapsed), its projected month
end (burn rate x days in the month), and a status: ``over`` once month to date exceeds the amount, ``at risk`` when
the projection does, else ``ok``. Spend is list cost (``total_cost_usd``), the figure the rest of the hub reports;
tag budgets read ``all_cost_by_tag`` (one row per tag key, so a record counts once per key).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from stm.config import BudgetSpec, Config
from stm.names import sql_string

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from stm.store.delta import TableStore

COSTS, TAGS = "all_workspaces_costs", "all_cost_by_tag"
TABLE = "budget_status"
COLUMNS = (
    "budget",
    "scope",
    "matches",
    "as_of",
    "month_start",
    "budget_usd",
    "month_to_date_usd",
    "burn_rate_usd_per_day",
    "projected_month_end_usd",
    "status",
)


def scope_of(spec: BudgetSpec) -> tuple[str, str]:
    """``(scope, what it matches)`` of a budget."""
    for scope in ("account", "workspace", "product", "tag"):
        value = getattr(spec, scope)
        if value is not None:
            return scope, value
    return "all", "all spend"


def _spend(name: str, spec: BudgetSpec, ref: Callable[[str], str]) -> str:
    """One budget's row: its month-to-date spend, from the hub's costs of the month up to ``as_of``."""
    scope, value = scope_of(spec)
    table, condition = ref(COSTS), "TRUE"
    if scope == "account":
        condition = f"c.source_account = {sql_string(value)}"
    elif scope == "workspace":
        condition = f"c.workspace_id = {sql_string(value)}"
    elif scope == "product":
        condition = f"c.billing_origin_product = {sql_string(value)}"
    elif scope == "tag":
        key, tag_value = value.split("=", 1)
        table, condition = ref(TAGS), f"c.tag_key = {sql_string(key)} AND c.tag_value = {sql_string(tag_value)}"
    return (
        f"SELECT {sql_string(name)} AS budget, '{scope}' AS scope, {sql_string(value)} AS matches, a.as_of, "
        f"CAST({spec.amount!r} AS DECIMAL(38, 2)) AS budget_usd, COALESCE(SUM(c.total_cost_usd), 0) AS spent\n"
        f"  FROM as_of AS a LEFT JOIN {table} AS c\n"
        f"    ON c.usage_date BETWEEN trunc(a.as_of, 'MM') AND a.as_of AND {condition}\n"
        "  GROUP BY a.as_of"
    )


def needs_tags(budgets: dict[str, BudgetSpec]) -> bool:
    return any(spec.tag is not None for spec in budgets.values())


def budgets_select(ref: Callable[[str], str], budgets: dict[str, BudgetSpec]) -> str:
    """The ``budget_status`` SELECT (one row per budget); ``ref(name)`` names a hub table in SQL."""
    if not budgets:
        raise ValueError("no budgets configured")
    rows = [_spend(name, spec, ref) for name, spec in sorted(budgets.items())]
    union = "\n  UNION ALL\n  ".join(rows)
    return f"""WITH as_of AS (SELECT max(usage_date) AS as_of FROM {ref(COSTS)}),
spend AS (
  {union}
)
SELECT budget, scope, matches, as_of, trunc(as_of, 'MM') AS month_start, budget_usd,
  CAST(spent AS DECIMAL(38, 2)) AS month_to_date_usd,
  CAST(spent / day(as_of) AS DECIMAL(38, 2)) AS burn_rate_usd_per_day,
  CAST(spent / day(as_of) * day(last_day(as_of)) AS DECIMAL(38, 2)) AS projected_month_end_usd,
  CASE WHEN spent > budget_usd THEN 'over' WHEN spent / day(as_of) * day(last_day(as_of)) > budget_usd
    THEN 'at risk' ELSE 'ok' END AS status
FROM spend
WHERE as_of IS NOT NULL"""


def evaluate(cfg: Config, store: TableStore) -> DataFrame | None:
    """Budget status over the hub's tables, through temporary views of a session of its own (None: nothing to do)."""
    if not cfg.budgets:
        return None
    needed = {COSTS, *((TAGS,) if needs_tags(cfg.budgets) else ())}
    session, present = store.view_session(cfg.hub.catalog, cfg.hub.schema, sorted(needed))
    if present != needed:
        return None
    return session.sql(budgets_select(lambda t: t, cfg.budgets))


def write_budgets(cfg: Config, store: TableStore) -> dict[str, int] | None:
    """Replace the hub's ``budget_status``; budgets per status (None: no budgets, or no costs on the hub)."""
    found = evaluate(cfg, store)
    if found is None:
        return None
    name = f"{cfg.hub.catalog}.{cfg.hub.schema}.{TABLE}"
    store.replace(name, found)
    counts = {"over": 0, "at risk": 0, "ok": 0}
    for row in store.read(name).groupBy("status").count().collect():
        counts[row["status"]] = row["count"]
    return counts
