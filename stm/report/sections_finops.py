"""FinOps sections of the hub: cost anomalies, budgets, alert events and the month-end forecast. Pure."""

from __future__ import annotations

import pandas as pd

from stm.report.charts import money
from stm.report.model import (
    Badge,
    Cell,
    Labels,
    ReportData,
    Section,
    Table,
    Window,
    as_dates,
    day_label,
    need,
    new_section,
    numbers,
    scope_columns,
)
from stm.report.sections_ops import capped, job_names

ANOMALY_COLUMNS = (
    "series",
    "account_id",
    "workspace_id",
    "usage_date",
    "billing_origin_product",
    "job_id",
    "actual_cost_usd",
    "expected_cost_usd",
    "deviation_usd",
    "severity",
)
MAX_ANOMALY_ROWS = 12
_SEVERITY_TONE = {"high": "bad", "medium": "warn", "low": "neutral"}


def cost_anomalies(data: ReportData, window: Window, labels: Labels) -> Section:
    section = new_section(
        "anomalies",
        "Days whose cost of a workspace's product or of a job jumped far above its own usual level "
        "(median of the 28 days before, or of the same weekday for a weekly series), newest first.",
    )
    frame, problem = need(data, "cost_anomalies", ANOMALY_COLUMNS)
    if frame is None:
        section.missing.append(problem)
        return section
    frame = numbers(window.select(frame, "usage_date"), "actual_cost_usd", "expected_cost_usd", "deviation_usd")
    frame = frame.sort_values(["usage_date", "deviation_usd"], ascending=[False, False])
    names = job_names(data)
    acct, ws = scope_columns(frame)
    rows: list[list[Cell]] = []
    for rec in frame.to_dict("records"):
        if rec["series"] == "job":
            job = str(rec["job_id"])
            what = f"job {names.get((str(rec[ws]), job), job)}"
        else:
            what = str(rec["billing_origin_product"])
        rows.append(
            [
                day_label(rec["usage_date"]),
                labels.workspace(rec[acct], rec[ws]),
                what,
                money(rec["expected_cost_usd"]),
                money(rec["actual_cost_usd"]),
                money(rec["deviation_usd"]),
                Badge(str(rec["severity"]), _SEVERITY_TONE.get(str(rec["severity"]), "neutral")),
            ]
        )
    headers = ["Day", "Workspace", "Product or job", "Expected", "Actual", "Above expected", "Severity"]
    if not rows:
        section.notes.append("No cost anomaly in this period.")
    capped(section, headers, rows, frozenset({3, 4, 5}), MAX_ANOMALY_ROWS, "anomalies")
    return section


BUDGET_COLUMNS = (
    "budget",
    "scope",
    "matches",
    "as_of",
    "budget_usd",
    "month_to_date_usd",
    "burn_rate_usd_per_day",
    "projected_month_end_usd",
    "status",
)
_STATUS_TONE = {"over": "bad", "at risk": "warn", "ok": "good"}


def budgets(data: ReportData) -> Section:
    section = new_section(
        "budgets",
        "Month to date against each monthly budget, the burn rate so far and where it leads by the end of the month.",
    )
    frame, problem = need(data, "budget_status", BUDGET_COLUMNS)
    if frame is None:
        section.missing.append(problem)
        return section
    frame = numbers(frame, "budget_usd", "month_to_date_usd", "burn_rate_usd_per_day", "projected_month_end_usd")
    order = {"over": 0, "at risk": 1, "ok": 2}
    frame = frame.assign(_order=frame["status"].map(order)).sort_values(["_order", "budget"])
    rows: list[list[Cell]] = []
    for rec in frame.to_dict("records"):
        rows.append(
            [
                str(rec["budget"]),
                "all spend" if rec["scope"] == "all" else f"{rec['scope']} {rec['matches']}",
                money(rec["budget_usd"]),
                money(rec["month_to_date_usd"]),
                money(rec["burn_rate_usd_per_day"]),
                money(rec["projected_month_end_usd"]),
                Badge(str(rec["status"]), _STATUS_TONE.get(str(rec["status"]), "neutral")),
            ]
        )
    if len(frame):
        as_of = as_dates(frame["as_of"]).max()
        section.description += f" Month to date up to {as_of:%Y-%m-%d} (UTC), the newest usage date."
    headers = ["Budget", "For", "Monthly budget", "Month to date", "Per day", "Projected", "Status"]
    section.tables.append(Table(headers, rows, frozenset({2, 3, 4, 5})))
    return section


ALERT_COLUMNS = ("rule", "period", "severity", "message", "raised_at")
MAX_ALERT_ROWS = 12


def alerts(data: ReportData) -> Section:
    section = new_section("alerts", "Events raised by the alert rules (stm alerts check), newest first.")
    frame, problem = need(data, "alert_events", ALERT_COLUMNS)
    if frame is None:
        section.missing.append(problem)
        return section
    frame = frame.sort_values(["raised_at", "period"], ascending=[False, False])
    rows: list[list[Cell]] = [
        [
            f"{pd.Timestamp(rec['raised_at']):%Y-%m-%d %H:%M}",
            str(rec["rule"]),
            str(rec["period"]),
            Badge(str(rec["severity"]), _SEVERITY_TONE.get(str(rec["severity"]), "neutral")),
            str(rec["message"]),
        ]
        for rec in frame.to_dict("records")
    ]
    if not rows:
        section.notes.append("No alert has been raised.")
    capped(
        section, ["Raised (UTC)", "Rule", "Period", "Severity", "Message"], rows, frozenset(), MAX_ALERT_ROWS, "alerts"
    )
    return section


FORECAST_COLUMNS = (
    "level",
    "source_account",
    "workspace_id",
    "as_of",
    "month_to_date_usd",
    "month_end_usd",
    "next_30_days_usd",
)


def forecasts(data: ReportData, labels: Labels) -> Section:
    section = new_section(
        "forecast",
        "Month end and the next 30 days per account and workspace (Holt-Winters with a weekly season, fitted on "
        "the days before the newest, which is still arriving).",
    )
    frame, problem = need(data, "cost_forecast", FORECAST_COLUMNS)
    if frame is None:
        section.missing.append(problem)
        return section
    frame = numbers(frame, "month_to_date_usd", "month_end_usd", "next_30_days_usd")
    frame = frame.sort_values(["source_account", "level", "month_end_usd"], ascending=[True, True, False])
    rows: list[list[Cell]] = [
        [
            str(rec["source_account"]),
            "all workspaces"
            if rec["level"] == "account"
            else labels.workspace(rec["source_account"], rec["workspace_id"]),
            money(rec["month_to_date_usd"]),
            money(rec["month_end_usd"]),
            money(rec["next_30_days_usd"]),
            str(rec.get("method", "")),
        ]
        for rec in frame.to_dict("records")
    ]
    if len(frame):
        section.description += f" As of {as_dates(frame['as_of']).max():%Y-%m-%d}."
    headers = ["Account", "Workspace", "Month to date", "Month end", "Next 30 days", "Method"]
    section.tables.append(Table(headers, rows, frozenset({2, 3, 4})))
    return section
