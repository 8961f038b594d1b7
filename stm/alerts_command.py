"""``stm alerts check``: evaluate the hub's alert rules, record and print new events, notify the webhook."""

from __future__ import annotations

import argparse

from stm.config import load_config
from stm.engine import require_lake_root
from stm.errors import UsageError


def register(subparsers: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "alerts",
        parents=[parent],
        help="check the hub's alert rules: new events recorded, printed and sent to the webhook",
        description="check: run every rule of the alerts: section (budget over or at risk, cost anomaly, job "
        "failure rate, stale provider, unpriced usage) over the hub lake's tables, append the events not seen "
        "before to <hub.catalog>.<hub.schema>.alert_events (one per rule, key and period), print them and POST "
        "every event not yet notified to the webhook (alerts.webhook_url or $STM_ALERT_WEBHOOK_URL) as one "
        "Slack-compatible JSON message. Exit 1 when the POST fails (the events stay pending for the next check).",
    )
    p.add_argument("action", choices=["check"])
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stm.alerts import check, webhook_url
    from stm.engine import LOCAL_HUB_MODE, open_engine

    cfg = load_config(args.config)
    if args.lake_root is None:
        raise UsageError("--lake-root (or STM_LAKE_ROOT) is required: the hub lake")
    root = require_lake_root(args.lake_root, writable=True)
    if not (root / cfg.hub.catalog / cfg.hub.schema).is_dir():
        raise UsageError(f"{root}: no hub schema {cfg.hub.catalog}.{cfg.hub.schema}: run stm hub sync first")
    if not cfg.alerts.rules:
        raise UsageError("no alert rules: declare them under alerts.rules")
    webhook_url(cfg)  # a bad $STM_ALERT_WEBHOOK_URL stops here, before Spark starts
    engine = open_engine(cfg, root, "stm-alerts", LOCAL_HUB_MODE)
    result = check(cfg, engine.store)
    for rule, why in sorted(result.skipped.items()):
        print(f"rule {rule}: not evaluated ({why})")
    print(f"alerts: {len(result.new)} new")
    for event in result.new:
        print(f"  [{event['severity']}] {event['rule']} {event['period']}: {event['message']}")
    if result.error:
        print(f"alerts: {result.error}; the events stay pending for the next check")
        return 1
    if result.notified is not None:
        print(f"alerts: {result.notified} sent to the webhook")
    return 0
