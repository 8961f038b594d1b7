"""Databricks SQL alerts (v2) over time, for the in-memory workspace: each alert a state machine evaluated on its
schedule, notifying as the service does.

What the service does, and where it says so:

* an alert runs its query on its warehouse on its schedule (a Quartz cron) and compares the first row's source
  column with the threshold: ``TRIGGERED`` when the comparison holds, ``OK`` when not, and an empty result takes
  ``empty_result_state`` (databricks-sdk ``service/sql.py``, ``AlertV2Evaluation.state`` and
  ``empty_result_state``; https://docs.databricks.com/api/workspace/alertsv2/createalert);
* it notifies its subscribers when it turns from ``OK`` to ``TRIGGERED``; while it stays triggered it notifies
  again only once ``retrigger_seconds`` have passed since its last notification, and never again when that is 0 or
  unset (``AlertV2Notification.retrigger_seconds``: "If set to 0 or omitted, the alert will not send any further
  notifications after the first trigger");
* back to ``OK`` it is armed again, and notifies on that turn only with ``notify_on_ok``
  (``AlertV2Notification.notify_on_ok``: "Whether to notify alert subscribers when alert returns back to normal").

Only the hourly schedule the deploy sets is run here (``0 0 * * * ?``, on the hour): another one is refused, so a
schedule change cannot pass unnoticed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from databricks.sdk.service import sql

HOURLY = "0 0 * * * ?"
# the query's rows as a warehouse returns them, for a statement run at a time
Warehouse = Callable[[str, dt.datetime], list[dict[str, object]]]
COMPARE: dict[sql.ComparisonOperator, Callable[[float, float], bool]] = {
    sql.ComparisonOperator.GREATER_THAN: lambda a, b: a > b,
    sql.ComparisonOperator.GREATER_THAN_OR_EQUAL: lambda a, b: a >= b,
    sql.ComparisonOperator.LESS_THAN: lambda a, b: a < b,
    sql.ComparisonOperator.LESS_THAN_OR_EQUAL: lambda a, b: a <= b,
    sql.ComparisonOperator.EQUAL: lambda a, b: a == b,
    sql.ComparisonOperator.NOT_EQUAL: lambda a, b: a != b,
}


@dataclass(frozen=True)
class Notification:
    alert: str  # display name
    at: dt.datetime
    state: sql.AlertEvaluationState
    value: float | None


@dataclass
class AlertClock:
    """Runs every alert of a workspace on its schedule from ``start``, one evaluation per scheduled time."""

    alerts: dict[str, sql.AlertV2]  # the workspace's, by id
    warehouse: Warehouse
    state: dict[str, sql.AlertEvaluationState] = field(default_factory=dict)  # by id
    last_notified: dict[str, dt.datetime] = field(default_factory=dict)
    sent: list[Notification] = field(default_factory=list)

    def run(self, start: dt.datetime, hours: int) -> list[Notification]:
        for hour in range(hours):
            now = start + dt.timedelta(hours=hour)
            for alert_id, alert in sorted(self.alerts.items()):
                if alert.lifecycle_state == sql.AlertLifecycleState.ACTIVE:
                    self._evaluate(alert_id, alert, now)
        return self.sent

    def _evaluate(self, alert_id: str, alert: sql.AlertV2, now: dt.datetime) -> None:
        if alert.schedule is None or alert.schedule.quartz_cron_schedule != HOURLY:
            raise ValueError(f"{alert.display_name}: only the hourly schedule {HOURLY} is emulated")
        ev = alert.evaluation
        assert ev is not None and ev.source is not None and alert.query_text
        rows = self.warehouse(alert.query_text, now)
        value: float | None = None
        if not rows:
            new = ev.empty_result_state or sql.AlertEvaluationState.ERROR
        else:
            raw = rows[0][ev.source.name or ""]
            value = float(raw) if isinstance(raw, int | float) else None
            threshold = ev.threshold.value.double_value if ev.threshold and ev.threshold.value else None
            held = value is not None and threshold is not None and COMPARE[ev.comparison_operator](value, threshold)
            new = sql.AlertEvaluationState.TRIGGERED if held else sql.AlertEvaluationState.OK
        before = self.state.get(alert_id, sql.AlertEvaluationState.OK)
        self.state[alert_id] = new
        note = ev.notification or sql.AlertV2Notification()
        triggered = new == sql.AlertEvaluationState.TRIGGERED
        if triggered and before != sql.AlertEvaluationState.TRIGGERED:
            self._notify(alert_id, alert, now, new, value)
        elif triggered and note.retrigger_seconds:
            waited = (now - self.last_notified[alert_id]).total_seconds()
            if waited >= note.retrigger_seconds:
                self._notify(alert_id, alert, now, new, value)
        elif new == sql.AlertEvaluationState.OK and before == sql.AlertEvaluationState.TRIGGERED and note.notify_on_ok:
            self._notify(alert_id, alert, now, new, value)

    def _notify(
        self, alert_id: str, alert: sql.AlertV2, now: dt.datetime, state: sql.AlertEvaluationState, value: float | None
    ) -> None:
        self.last_notified[alert_id] = now
        self.sent.append(Notification(alert.display_name or "", now, state, value))
