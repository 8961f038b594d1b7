"""The hub's SQL alerts over 30 simulated days: deployed by apply, evaluated hourly as the service evaluates them
(``tests.deploy.fake_alerts``), their queries run by Spark SQL over the hub's rows as they land (each day's rows
with the daily job, at 02:00 UTC the next day). Every injected cost anomaly, job-failure week and budget breach
is notified once, and none is lost."""

from __future__ import annotations

import datetime as dt
from typing import Any

from databricks.sdk.service import sql

from deploy.command import deploy
from deploy.hub_alerts import window
from stm.config import load_config
from tests.deploy.conftest import HUB, hub_workspace
from tests.deploy.fake_alerts import AlertClock, Notification

START = dt.datetime(2026, 10, 19)  # a Monday, 00:00 UTC
DAYS = 30
REF = "`monitoring_hub`.`consolidated`."
LANDS = dt.timedelta(days=1, hours=2)  # a day's rows land with the next day's daily job
D = dt.date.fromisoformat


def _anomaly(day: str, workspace: str, severity: str = "high") -> dict[str, Any]:
    return {
        "series": "product", "source_account": "acme", "workspace_id": workspace, "billing_origin_product": "SQL",
        "job_id": None, "usage_date": D(day), "severity": severity, "actual_cost_usd": 900.0,
        "expected_cost_usd": 100.0, "_lands": dt.datetime.combine(D(day), dt.time()) + LANDS,
    }  # fmt: skip


def _week(week: str, job: str, failures: int, runs: int, lands: str) -> dict[str, Any]:
    return {
        "source_account": "acme", "workspace_id": "1", "job_id": job, "week_start": D(week), "failures": failures,
        "runs": runs, "_lands": dt.datetime.combine(D(lands), dt.time(2)),
    }  # fmt: skip


def _budgets(over: dict[str, list[tuple[str, str]]]) -> list[dict[str, Any]]:
    """One row per budget and day (``budget_status`` as of that day's usage), over within the given date spans."""
    rows = []
    for budget, spans in over.items():
        for i in range(-1, DAYS):
            day = START.date() + dt.timedelta(days=i)
            status = "over" if any(D(a) <= day <= D(b) for a, b in spans) else "ok"
            lands = dt.datetime.combine(day, dt.time()) + LANDS
            month = day.replace(day=1)
            rows.append(
                {"budget": budget, "month_start": month, "budget_usd": 100.0, "month_to_date_usd": 150.0,
                 "projected_month_end_usd": 150.0, "status": status, "_lands": lands, "_until": lands + dt.timedelta(1)}
            )  # fmt: skip
    return rows


TABLES: dict[str, list[dict[str, Any]]] = {
    "cost_anomalies": [
        _anomaly("2026-10-21", "1"),
        _anomaly("2026-10-22", "2"),  # the next day: a new window
        _anomaly("2026-10-22", "3", "low"),  # below min_severity: no event
        _anomaly("2026-10-28", "1"),
        _anomaly("2026-10-28", "4"),  # two on one day: one notification covers both
        _anomaly("2026-11-05", "1"),
        _anomaly("2026-11-16", "2"),
    ],
    "all_job_success_rate_weekly": [
        _week("2026-10-19", "1", 3, 4, "2026-10-20"),
        _week("2026-10-19", "2", 1, 5, "2026-10-20"),  # under 50 %: no event
        _week("2026-10-26", "1", 2, 3, "2026-10-27"),
        _week("2026-10-26", "3", 5, 5, "2026-10-30"),
        _week("2026-11-02", "7", 2, 3, "2026-11-04"),
        _week("2026-11-09", "9", 2, 2, "2026-11-10"),  # under min_runs: no event
    ],
    "budget_status": _budgets(
        {
            "acme": [("2026-10-25", "2026-10-31"), ("2026-11-10", "2026-11-30")],
            "data": [("2026-11-13", "2026-11-30")],  # over while acme still is, in the same month
        }
    ),
}


def _values(rows: list[dict[str, Any]]) -> str:
    def lit(v: object) -> str:
        if v is None:
            return "NULL"
        if isinstance(v, dt.datetime):
            return f"TIMESTAMP'{v.isoformat(sep=' ')}'"
        if isinstance(v, dt.date):
            return f"DATE'{v.isoformat()}'"
        return repr(v) if isinstance(v, int | float) else f"'{v}'"

    columns = list(rows[0])
    body = ", ".join("(" + ", ".join(lit(r[c]) for c in columns) + ")" for r in rows)
    return f"VALUES {body} AS t({', '.join(columns)})"


class Warehouse:
    """Runs an alert's statement at a time: its hub tables hold the rows landed by then, ``current_date()`` is
    that time's date (UTC, the alert's time zone). Results are kept per statement, date and rows landed."""

    def __init__(self, spark: Any) -> None:
        self.spark = spark
        self.seen: dict[tuple[object, ...], list[dict[str, object]]] = {}

    def __call__(self, statement: str, now: dt.datetime) -> list[dict[str, object]]:
        text, landed = statement.replace("current_date()", f"DATE'{now.date().isoformat()}'"), []
        for table, rows in TABLES.items():
            live = [r for r in rows if r["_lands"] <= now < r.get("_until", dt.datetime.max)]
            landed.append(len(live))
            typed = f"(SELECT * FROM {_values(rows)} WHERE _lands <= TIMESTAMP'{now.isoformat(sep=' ')}'"
            until = f" AND _until > TIMESTAMP'{now.isoformat(sep=' ')}')" if "_until" in rows[0] else ")"
            text = text.replace(f"{REF}`{table}`", typed + until)
        key = (text.split("WHERE _lands")[0], now.date(), tuple(landed), statement)
        if key not in self.seen:
            self.seen[key] = [r.asDict() for r in self.spark.sql(text).collect()]
        return self.seen[key]


def _rule(alert: str) -> str:
    """The rule of one of our alerts: ``stm-<target>-<rule>`` or, for a budget rule, ``...-<rule>-<budget>``."""
    return alert.split(f"{HUB}-")[-1].split("-")[0]


def test_hub_alerts_over_30_days_notify_every_injected_event_once_and_lose_none(spark: Any, capsys: Any):
    budgets = {"acme": {"account": "acme", "amount": 100}, "data": {"account": "acme", "amount": 100}}
    cfg = load_config(extra={"budgets": budgets})
    fake = hub_workspace(cfg)
    assert deploy(cfg, HUB, "apply", fake.client(), None) == 0, capsys.readouterr().out
    watched = {"cost_anomaly", "job_failures", "budget_over"}
    fake.alerts = {k: a for k, a in fake.alerts.items() if _rule(a.display_name or "") in watched}
    warehouse = Warehouse(spark)
    sent = AlertClock(fake.alerts, warehouse).run(START, DAYS * 24)

    by_alert = {a.display_name: a for a in fake.alerts.values()}
    notified: dict[tuple[str, str, str], list[Notification]] = {}
    for n in sent:
        rows_sql = (by_alert[n.alert].query_text or "").replace("count(*) AS events", "alert_key, period", 1)
        for row in warehouse(rows_sql, n.at):
            notified.setdefault((_rule(n.alert), str(row["alert_key"]), str(row["period"])), []).append(n)
    injected = {
        ("cost_anomaly", f"product/acme/{ws}/SQL", day)
        for day, ws in [("2026-10-21", "1"), ("2026-10-22", "2"), ("2026-10-28", "1"), ("2026-10-28", "4"),
                        ("2026-11-05", "1"), ("2026-11-16", "2")]
    } | {
        ("job_failures", f"acme/1/{job}", week)
        for week, job in [("2026-10-19", "1"), ("2026-10-26", "1"), ("2026-10-26", "3"), ("2026-11-02", "7")]
    } | {
        ("budget_over", budget, month)
        for budget, month in [("acme", "2026-10"), ("acme", "2026-11"), ("data", "2026-11")]
    }  # fmt: skip
    assert set(notified) == injected  # none lost, nothing else
    assert {k: len(v) for k, v in notified.items() if len(v) != 1} == {}  # each once
    assert len(sent) == 11 and {n.state for n in sent} == {sql.AlertEvaluationState.TRIGGERED}
    assert [n.at for n in sent if n.alert.endswith("job_failures")] == [
        dt.datetime(2026, 10, 26), dt.datetime(2026, 11, 2), dt.datetime(2026, 11, 9)
    ]  # fmt: skip
    notifications = {a.display_name: a.evaluation.notification for a in fake.alerts.values() if a.evaluation}
    retriggers = {name: n.retrigger_seconds for name, n in notifications.items() if n}
    assert retriggers == {name: window(cfg.alerts.rules[_rule(name or "")])[1] for name in retriggers}
    assert sorted(v or 0 for v in retriggers.values()) == [86_400, 604_800, 2_678_400, 2_678_400]
    assert sorted(_rule(n.alert) for n in sent).count("budget_over") == 3  # two budgets, one alert each
