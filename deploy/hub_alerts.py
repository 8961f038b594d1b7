"""The hub's Databricks SQL alerts: one per rule of ``alerts.rules`` (one per budget of a budget rule), the same SQL
``stm alerts check`` runs locally.

An alert counts its rule's rows in the rule's window (``SELECT count(*) AS events FROM (<rule>) WHERE <window>``) on
the hub's SQL warehouse every hour and notifies the target's ``notify`` emails and ``alert_destinations``
(notification destination ids) when the count is above zero (https://docs.databricks.com/api/workspace/alertsv2).
A Databricks alert notifies when it turns from OK to TRIGGERED, then again only after ``retrigger_seconds`` while it
stays triggered ("if set to 0 or omitted, the alert will not send any further notifications after the first
trigger": databricks-sdk ``service/sql.py``, ``AlertV2Notification``). So each rule looks at one window of its
periods, the last complete day of anomalies, the last complete week of job runs, the current month of budgets,
and waits as long as that window lasts before notifying again: the count falls back to zero (OK, re-armed) or moves
on to the next window's events, and each event is notified once. It is ours by its description (the product
marker, the target and a digest of what we set): apply creates it, updates it when the digest changes, and trashes
ours that are no longer declared; alerts of the same name that we did not make are left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from databricks.sdk.service import sql

from deploy.model import Action, Change, digest, is_ours, is_ours_for, marker
from stm.alerts import rule_select
from stm.config import AlertRule
from stm.names import quote, sql_string

SCHEDULE = "0 0 * * * ?"  # hourly, on the hour (Quartz)
UPDATE_MASK = "display_name,query_text,warehouse_id,evaluation,schedule,custom_description"


@dataclass(frozen=True)
class AlertWanted:
    name: str  # display name: stm-<target>-<rule>
    rule: str
    alert: sql.AlertV2


@dataclass(frozen=True)
class AlertUpdate:
    alert_id: str
    alert: sql.AlertV2


def budgetless(rules: Mapping[str, AlertRule], budgets: Mapping[str, object]) -> set[str]:
    """The budget rules, when no budgets are declared: there is nothing for them to watch."""
    return {name for name, rule in rules.items() if rule.kind.startswith("budget_") and not budgets}


def display_name(target: str, rule: str) -> str:
    return f"stm-{target}-{rule}"


DAY = 86_400
# rule kind -> (the periods an alert looks at, as a condition on the rule's ``period``; seconds before it notifies
# again while still triggered): the window's length, so a window is notified once and the next one again
WINDOWS = {
    "anomaly": ("period = CAST(date_sub(current_date(), 1) AS STRING)", DAY),
    "job_failure_rate": (
        "period = CAST(date_sub(CAST(date_trunc('WEEK', current_date()) AS DATE), 7) AS STRING)",
        7 * DAY,
    ),
    "budget_over": ("period = date_format(current_date(), 'yyyy-MM')", 31 * DAY),
    "budget_at_risk": ("period = date_format(current_date(), 'yyyy-MM')", 31 * DAY),
}


def window(rule: AlertRule) -> tuple[str, int]:
    """The condition on ``period`` that keeps a rule's rows of its current window, and how long that window lasts.

    A stale provider is a state, not an event: it reminds once a day while it lasts; unpriced usage already looks
    at its last ``days`` days, and reminds once per that many days."""
    if rule.kind in WINDOWS:
        return WINDOWS[rule.kind]
    return "TRUE", DAY * (rule.days if rule.kind == "unpriced_usage" else 1)


def wanted_alert(
    target: str,
    catalog: str,
    schema: str,
    warehouse_id: str,
    rule_name: str,
    rule: AlertRule,
    emails: list[str],
    destinations: list[str],
    budget: str | None = None,
) -> tuple[AlertWanted, tuple[str, ...]]:
    """The alert for one rule (of one budget, for a budget rule), and the hub tables (views) its query reads."""
    ref = f"{quote(catalog)}.{quote(schema)}"
    select, tables = rule_select(rule, lambda t: f"{ref}.{quote(t)}")
    condition, retrigger = window(rule)
    if budget is not None:
        condition += f" AND alert_key = {sql_string(budget)}"
    subscriptions = [sql.AlertV2Subscription(user_email=e) for e in emails]
    subscriptions += [sql.AlertV2Subscription(destination_id=d) for d in destinations]
    evaluation = sql.AlertV2Evaluation(
        source=sql.AlertV2OperandColumn(name="events"),
        comparison_operator=sql.ComparisonOperator.GREATER_THAN,
        threshold=sql.AlertV2Operand(value=sql.AlertV2OperandValue(double_value=0)),
        empty_result_state=sql.AlertEvaluationState.OK,
        notification=sql.AlertV2Notification(
            notify_on_ok=False, retrigger_seconds=retrigger, subscriptions=subscriptions or None
        ),
    )
    alert = sql.AlertV2(
        display_name=display_name(target, rule_name if budget is None else f"{rule_name}-{budget}"),
        query_text=f"SELECT count(*) AS events FROM (\n{select}\n) AS rule_rows\nWHERE {condition}",
        warehouse_id=warehouse_id,
        evaluation=evaluation,
        schedule=sql.CronSchedule(quartz_cron_schedule=SCHEDULE, timezone_id="UTC"),
    )
    alert.custom_description = marker(target, digest(alert.as_dict()))
    return AlertWanted(alert.display_name or "", rule_name, alert), tables


def wanted_alerts(
    target: str,
    catalog: str,
    schema: str,
    warehouse_id: str,
    rules: Mapping[str, AlertRule],
    budgets: Mapping[str, object],
    emails: list[str],
    destinations: list[str],
) -> list[tuple[AlertWanted, tuple[str, ...]]]:
    """Every alert of the rules: one per rule, and one per budget of a budget rule (a budget over while another is
    still over in the same month is an event of its own alert), none for the budget rules without budgets."""
    out = []
    for name, rule in sorted(rules.items()):
        if name in budgetless(rules, budgets):
            continue
        each: list[str | None] = [*sorted(budgets)] if rule.kind.startswith("budget_") else [None]
        for budget in each:
            out.append(wanted_alert(target, catalog, schema, warehouse_id, name, rule, emails, destinations, budget))
    return out


def alert_actions(
    wanted: list[tuple[AlertWanted, tuple[str, ...]]],
    observed: dict[str, sql.AlertV2],
    views: set[str],
    target: str,
    destroy: bool,
) -> list[Action]:
    """Create, update, leave or trash each alert; ``observed`` by display name, ``views`` the hub's views."""
    out: list[Action] = []
    names = set()
    for want, tables in [] if destroy else wanted:
        names.add(want.name)
        current = observed.get(want.name)
        missing = [t for t in tables if t not in views]
        if missing:
            why = f"its query reads {missing[0]}, which the hub does not have yet (apply again once it has)"
            out.append(Action("alert", want.name, Change.SKIP, why))
            continue
        if current is not None and not is_ours(current.custom_description):
            out.append(Action("alert", want.name, Change.SKIP, "exists, not made by stm: left alone"))
            continue
        privilege = "CAN USE on the warehouse and SELECT on the hub views"
        if current is None:
            out.append(Action("alert", want.name, Change.CREATE, f"rule {want.rule}, hourly", want.alert, privilege))
        elif current.custom_description != want.alert.custom_description:
            payload = AlertUpdate(current.id or "", want.alert)
            out.append(Action("alert", want.name, Change.UPDATE, f"rule {want.rule}, hourly", payload, privilege))
        else:
            out.append(Action("alert", want.name, Change.UNCHANGED, f"rule {want.rule}"))
    for name, current in sorted(observed.items()):
        mine = is_ours_for(current.custom_description, target)
        if mine and name not in names:
            out.append(Action("alert", name, Change.DELETE, "no longer declared", current.id, "alert owner"))
    return out
