"""Alerts on the hub: rules declared in ``alerts:``, each one SQL query over the hub's tables.

Every rule's query returns one row per thing to alert on, with ``alert_key`` (what), ``period`` (when: a month, a
day, a week) and ``severity`` and ``message``. ``stm alerts check`` runs them on local Spark, appends the rows it has
not seen to the hub's ``alert_events`` (one event per rule, key and period: a re-run never repeats an alert), prints
them and, when a webhook is configured, POSTs them as one Slack-compatible JSON message and marks them notified (a
failed POST leaves them for the next run). The rule kinds:

* ``budget_over`` / ``budget_at_risk``: a budget of ``budget_status`` over its amount, or projected to be;
* ``anomaly``: a cost anomaly of ``cost_anomalies`` of at least ``min_severity``;
* ``job_failure_rate``: a job whose failures in a week of ``all_job_success_rate_weekly`` reach ``max_percent`` of
  at least ``min_runs`` finished runs;
* ``provider_stale``: a source account whose newest usage on the hub is more than ``max_days`` old (by today, UTC);
* ``unpriced_usage``: a workspace-day of the last ``days`` days with records no price covers.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stm.config import AlertRule, Config, check_webhook
from stm.names import sql_string

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from stm.store.delta import TableStore

TABLE = "alert_events"
WEBHOOK_ENV = "STM_ALERT_WEBHOOK_URL"
SEVERITIES = ("low", "medium", "high")
KEYS = ("rule", "alert_key", "period")


def rule_select(rule: AlertRule, ref: Callable[[str], str]) -> tuple[str, tuple[str, ...]]:
    """``(SELECT alert_key, period, severity, message, hub tables it reads)`` of one rule."""
    if rule.kind in ("budget_over", "budget_at_risk"):
        status = "over" if rule.kind == "budget_over" else "at risk"
        words = "is over its" if status == "over" else "is projected over its"
        amount = "month_to_date_usd" if status == "over" else "projected_month_end_usd"
        sql = (
            f"SELECT budget AS alert_key, date_format(month_start, 'yyyy-MM') AS period, "
            f"'{'high' if status == 'over' else 'medium'}' AS severity, "
            f"concat('Budget ', budget, ' {words} ', format_number(budget_usd, 2), ' USD: ', "
            f"format_number({amount}, 2), ' USD by the end of ', date_format(month_start, 'yyyy-MM')) AS message "
            f"FROM {ref('budget_status')} WHERE status = '{status}'"
        )
        return sql, ("budget_status",)
    if rule.kind == "anomaly":
        wanted = ", ".join(f"'{s}'" for s in SEVERITIES[SEVERITIES.index(rule.min_severity) :])
        sql = (
            "SELECT concat_ws('/', series, source_account, workspace_id, coalesce(billing_origin_product, job_id)) "
            "AS alert_key, CAST(usage_date AS STRING) AS period, severity, "
            "concat('Cost anomaly: ', coalesce(billing_origin_product, concat('job ', job_id)), ' in workspace ', "
            "workspace_id, ' (', source_account, ') cost ', format_number(actual_cost_usd, 2), ' USD on ', "
            "CAST(usage_date AS STRING), ', expected ', format_number(expected_cost_usd, 2), ' USD') AS message "
            f"FROM {ref('cost_anomalies')} WHERE severity IN ({wanted})"
        )
        return sql, ("cost_anomalies",)
    if rule.kind == "job_failure_rate":
        table = "all_job_success_rate_weekly"
        sql = (
            "SELECT concat_ws('/', source_account, workspace_id, job_id) AS alert_key, "
            "CAST(week_start AS STRING) AS period, 'medium' AS severity, "
            "concat('Job ', job_id, ' in workspace ', workspace_id, ' failed ', failures, ' of ', runs, "
            "' runs in the week of ', CAST(week_start AS STRING)) AS message "
            f"FROM {ref(table)} WHERE runs >= {rule.min_runs} AND failures * 100.0 >= {rule.max_percent!r} * runs"
        )
        return sql, (table,)
    if rule.kind == "provider_stale":
        table = "all_workspaces_costs"
        sql = (
            "SELECT source_account AS alert_key, CAST(max(usage_date) AS STRING) AS period, 'high' AS severity, "
            "concat('No new usage from ', source_account, ' since ', CAST(max(usage_date) AS STRING)) AS message "
            f"FROM {ref(table)} GROUP BY source_account "
            f"HAVING datediff(current_date(), max(usage_date)) > {rule.max_days}"
        )
        return sql, (table,)
    table = "all_workspaces_costs"  # unpriced_usage
    sql = (
        "SELECT concat_ws('/', source_account, workspace_id) AS alert_key, CAST(usage_date AS STRING) AS period, "
        "'medium' AS severity, concat(CAST(sum(unpriced_rows) AS STRING), ' records without a price in workspace ', "
        "workspace_id, ' (', source_account, ') on ', CAST(usage_date AS STRING)) AS message "
        f"FROM {ref(table)} WHERE usage_date > date_sub((SELECT max(usage_date) FROM {ref(table)}), {rule.days}) "
        "GROUP BY source_account, workspace_id, usage_date HAVING sum(unpriced_rows) > 0"
    )
    return sql, (table,)


@dataclass(frozen=True)
class CheckResult:
    new: list[dict[str, Any]]
    skipped: dict[str, str]  # rule -> why it was not evaluated
    notified: int | None = None  # events POSTed to the webhook (None: no webhook)
    error: str = ""  # why the POST failed (the events stay pending)


def webhook_url(cfg: Config) -> str | None:
    """The webhook from the environment (``STM_ALERT_WEBHOOK_URL``), else from ``alerts.webhook_url``."""
    env = os.environ.get(WEBHOOK_ENV)
    return check_webhook(env, f"${WEBHOOK_ENV}") if env else cfg.alerts.webhook_url


def payload(events: list[dict[str, Any]]) -> dict[str, Any]:
    """A Slack-compatible message: ``text`` for any receiver, one line per event."""
    lines = [f"[{e['severity']}] {e['rule']}: {e['message']}" for e in events]
    return {"text": f"system-tables-monitor: {len(events)} new alert(s)\n" + "\n".join(lines), "events": events}


def post(url: str, body: dict[str, Any], timeout: float = 10.0) -> None:
    data = json.dumps(body, default=str).encode("utf-8")
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        if not 200 <= response.status < 300:
            raise OSError(f"HTTP {response.status}")


def evaluate(cfg: Config, store: TableStore) -> tuple[DataFrame | None, dict[str, str]]:
    """Every rule's rows as one frame (``rule, alert_key, period, severity, message``) and the rules skipped."""
    hub = f"{cfg.hub.catalog}.{cfg.hub.schema}"
    queries = {name: rule_select(rule, lambda t: t) for name, rule in sorted(cfg.alerts.rules.items())}
    needed = [t for _, tables in queries.values() for t in tables]
    session, present = store.view_session(cfg.hub.catalog, cfg.hub.schema, needed)
    parts, skipped = [], {}
    for name, (sql, tables) in queries.items():
        missing = [t for t in tables if t not in present]
        if missing:
            skipped[name] = f"{hub}.{missing[0]} not found"
            continue
        parts.append(session.sql(sql).selectExpr(f"{sql_string(name)} AS rule", "*"))
    if not parts:
        return None, skipped
    union = parts[0]
    for part in parts[1:]:
        union = union.unionByName(part)
    return union, skipped


def check(cfg: Config, store: TableStore, *, now: dt.datetime | None = None) -> CheckResult:
    """Evaluate every rule, record the events not seen before, notify the webhook of those not yet notified."""
    from pyspark.sql import functions as F

    found, skipped = evaluate(cfg, store)
    name = f"{cfg.hub.catalog}.{cfg.hub.schema}.{TABLE}"
    stamp = now or dt.datetime.now(dt.timezone.utc)
    if found is not None:
        rows = found.dropDuplicates(list(KEYS)).withColumn("raised_at", F.lit(stamp))
        rows = rows.withColumn("notified_at", F.lit(None).cast("timestamp"))
        store.merge(name, rows, list(KEYS), insert_only=True)
    if not store.exists(name):
        return CheckResult([], skipped, None)
    events = store.read(name)
    new = [r.asDict() for r in events.where(F.col("raised_at") == F.lit(stamp)).orderBy(*KEYS).collect()]
    url = webhook_url(cfg)
    if url is None:
        return CheckResult(new, skipped)
    pending = [r.asDict() for r in events.where(F.col("notified_at").isNull()).orderBy(*KEYS).collect()]
    if not pending:
        return CheckResult(new, skipped, 0)
    try:
        post(url, payload(pending))
    except OSError as exc:  # urllib's errors (HTTP, connection, timeout) are OSErrors; the URL is never shown
        return CheckResult(new, skipped, 0, f"POST to the webhook failed ({type(exc).__name__})")
    marked = events.where(F.col("notified_at").isNull()).withColumn("notified_at", F.lit(stamp))
    store.merge(name, marked, list(KEYS), insert_only=False)
    return CheckResult(new, skipped, len(pending))
