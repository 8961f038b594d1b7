"""Alerts: every rule kind over a hand-made hub, events never repeated, the webhook through a loopback receiver."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from stm.alerts import TABLE, check, payload
from stm.config import Config, load_config
from stm.store.local import LocalTableStore

TODAY = dt.datetime.now(dt.timezone.utc).date()


class Receiver:
    """A loopback HTTP endpoint that records the JSON bodies POSTed to it; ``status`` is what it answers."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                outer.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def _hub(spark: Any, cfg: Config, root: Path) -> LocalTableStore:
    store = LocalTableStore(spark, root)
    hub = f"{cfg.hub.catalog}.{cfg.hub.schema}"
    month = dt.date(2026, 11, 1)
    tables = {
        "budget_status": [
            {
                "budget": "acme",
                "month_start": month,
                "budget_usd": Decimal("100.00"),
                "status": "over",
                "month_to_date_usd": Decimal("150.00"),
                "projected_month_end_usd": Decimal("450.00"),
            },
            {
                "budget": "sql",
                "month_start": month,
                "budget_usd": Decimal("500.00"),
                "status": "at risk",
                "month_to_date_usd": Decimal("200.00"),
                "projected_month_end_usd": Decimal("600.00"),
            },
            {
                "budget": "all",
                "month_start": month,
                "budget_usd": Decimal("9000.00"),
                "status": "ok",
                "month_to_date_usd": Decimal("200.00"),
                "projected_month_end_usd": Decimal("600.00"),
            },
        ],
        "cost_anomalies": [
            {
                "series": "workspace_product",
                "source_account": "acme",
                "workspace_id": "w1",
                "billing_origin_product": "SQL",
                "job_id": None,
                "usage_date": dt.date(2026, 11, 9),
                "actual_cost_usd": Decimal("400.00"),
                "expected_cost_usd": Decimal("100.00"),
                "severity": "high",
            },
            {
                "series": "job",
                "source_account": "acme",
                "workspace_id": "w1",
                "billing_origin_product": None,
                "job_id": "j1",
                "usage_date": dt.date(2026, 11, 9),
                "actual_cost_usd": Decimal("40.00"),
                "expected_cost_usd": Decimal("10.00"),
                "severity": "low",
            },
        ],
        "all_job_success_rate_weekly": [
            {
                "source_account": "acme",
                "workspace_id": "w1",
                "job_id": "j1",
                "week_start": dt.date(2026, 11, 2),
                "runs": 4,
                "failures": 3,
            },
            {
                "source_account": "acme",
                "workspace_id": "w1",
                "job_id": "j2",
                "week_start": dt.date(2026, 11, 2),
                "runs": 2,
                "failures": 2,
            },  # too few runs to judge
        ],
        "all_workspaces_costs": [
            {"source_account": "acme", "workspace_id": "w1", "usage_date": TODAY, "unpriced_rows": 3},
            {
                "source_account": "acme",
                "workspace_id": "w1",
                "usage_date": TODAY - dt.timedelta(days=5),
                "unpriced_rows": 9,
            },  # older than the 2 days looked at
            {
                "source_account": "globex",
                "workspace_id": "g1",
                "usage_date": TODAY - dt.timedelta(days=4),
                "unpriced_rows": 0,
            },  # globex: no usage for 4 days
        ],
    }
    for table, rows in tables.items():
        frame = (
            spark.createDataFrame(rows)
            if table != "cost_anomalies"
            else spark.createDataFrame(
                rows,
                "series string, source_account string, workspace_id string, billing_origin_product string, "
                "job_id string, usage_date date, actual_cost_usd decimal(38,6), expected_cost_usd decimal(38,6), "
                "severity string",
            )
        )
        store.replace(f"{hub}.{table}", frame)
    return store


def test_every_rule_kind_raises_its_events_once(spark: Any, cfg: Config, tmp_path: Path):
    store = _hub(spark, cfg, tmp_path)
    first = check(cfg, store, now=dt.datetime(2026, 11, 10, 8, tzinfo=dt.timezone.utc))

    got = {(e["rule"], e["alert_key"], e["period"]) for e in first.new}
    assert got == {
        ("budget_over", "acme", "2026-11"),
        ("budget_at_risk", "sql", "2026-11"),
        ("cost_anomaly", "workspace_product/acme/w1/SQL", "2026-11-09"),
        ("job_failures", "acme/w1/j1", "2026-11-02"),
        ("provider_stale", "globex", str(TODAY - dt.timedelta(days=4))),
        ("unpriced_usage", "acme/w1", str(TODAY)),
    }
    assert first.skipped == {} and first.notified is None
    over = next(e for e in first.new if e["rule"] == "budget_over")
    assert over["severity"] == "high" and "Budget acme is over its 100.00 USD: 150.00 USD" in over["message"]

    again = check(cfg, store, now=dt.datetime(2026, 11, 10, 9, tzinfo=dt.timezone.utc))
    assert again.new == []  # one event per rule, key and period
    assert store.read(f"{cfg.hub.catalog}.{cfg.hub.schema}.{TABLE}").count() == 6


def test_the_webhook_gets_each_event_once_and_a_failed_post_keeps_them_pending(
    spark: Any, cfg: Config, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
):
    store = _hub(spark, cfg, tmp_path)
    monkeypatch.setenv("STM_ALERT_WEBHOOK_URL", receiver.url)
    receiver.status = 500
    failed = check(cfg, store, now=dt.datetime(2026, 11, 10, 8, tzinfo=dt.timezone.utc))
    assert len(failed.new) == 6 and failed.notified == 0 and "HTTPError" in failed.error
    assert receiver.url not in failed.error

    receiver.status = 200
    sent = check(cfg, store, now=dt.datetime(2026, 11, 10, 9, tzinfo=dt.timezone.utc))
    assert sent.new == [] and sent.notified == 6 and sent.error == ""
    body = receiver.bodies[-1]
    assert body["text"].startswith("system-tables-monitor: 6 new alert(s)") and len(body["events"]) == 6
    assert "[high] budget_over: Budget acme is over" in body["text"]

    quiet = check(cfg, store, now=dt.datetime(2026, 11, 10, 10, tzinfo=dt.timezone.utc))
    assert quiet.notified == 0 and len(receiver.bodies) == 2  # nothing pending: no POST


def test_rules_over_missing_tables_are_skipped_by_name(spark: Any, cfg: Config, tmp_path: Path):
    result = check(cfg, LocalTableStore(spark, tmp_path))
    assert result.new == [] and set(result.skipped) == set(cfg.alerts.rules)
    assert result.skipped["budget_over"] == "monitoring_hub.consolidated.budget_status not found"


def test_payload_is_slack_compatible_text():
    body = payload([{"rule": "r", "severity": "high", "message": "m", "alert_key": "k", "period": "p"}])
    assert body["text"] == "system-tables-monitor: 1 new alert(s)\n[high] r: m"


@pytest.mark.parametrize("url", ["ftp://x/hook", "file:///etc/passwd", "https://x/ hook"])
def test_bad_webhook_urls_are_refused_without_showing_them(url: str, tmp_path: Path, capsys: Any, monkeypatch: Any):
    from stm.cli import main

    with pytest.raises(Exception, match=r"alerts\.webhook_url"):
        load_config(extra={"alerts": {"webhook_url": url}})
    (tmp_path / "monitoring_hub" / "consolidated").mkdir(parents=True)
    monkeypatch.setenv("STM_ALERT_WEBHOOK_URL", url)
    assert main(["alerts", "check", "--lake-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "$STM_ALERT_WEBHOOK_URL" in err and url not in err


def test_alerts_check_without_a_hub_is_one_line_exit_2(tmp_path: Path, capsys: Any):
    from stm.cli import main

    assert main(["alerts", "check", "--lake-root", str(tmp_path)]) == 2
    assert "no hub schema monitoring_hub.consolidated: run stm hub sync first" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
