"""The hub's Databricks SQL alerts: one per alert rule, the same SQL as ``stm alerts check``, owned like the jobs."""

from __future__ import annotations

import dataclasses
from typing import Any

from databricks.sdk.service import sql

from deploy.command import deploy, make_plan
from deploy.hub_alerts import window
from deploy.model import Change
from stm.alerts import rule_select
from stm.config import Config, load_config
from tests.deploy.conftest import HUB, hub_workspace
from tests.deploy.fake_workspace import FakeWorkspace

SHARED = "stm_monitoring"
BUDGETS = {"budgets": {"acme": {"account": "acme_prod", "amount": 100}}}


def _hub(cfg: Config) -> FakeWorkspace:
    return hub_workspace(cfg, SHARED)


def _apply(cfg: Config, fake: FakeWorkspace, capsys: Any, action: str = "apply") -> str:
    code = deploy(cfg, HUB, action, fake.client(), None)
    out = capsys.readouterr().out
    assert code == 0 and "FAILED" not in out, out
    return out


def _by_name(fake: FakeWorkspace) -> dict[str, sql.AlertV2]:
    return {a.display_name or "": a for a in fake.alerts.values()}


def test_every_rule_becomes_an_hourly_alert_on_the_hub_warehouse_and_a_second_apply_does_nothing(
    capsys: Any,
):
    cfg = load_config(extra=BUDGETS)
    fake = _hub(cfg)
    _apply(cfg, fake, capsys)

    alerts = _by_name(fake)
    per_budget = {f"{rule}-acme" if rule.startswith("budget_") else rule for rule in cfg.alerts.rules}
    assert set(alerts) == {f"stm-{HUB}-{name}" for name in per_budget}  # a budget rule: one alert per budget
    over = alerts[f"stm-{HUB}-budget_over-acme"]
    assert over.warehouse_id == cfg.targets[HUB].warehouse_id and over.schedule
    assert over.schedule.quartz_cron_schedule == "0 0 * * * ?" and over.schedule.timezone_id == "UTC"
    ref = "`monitoring_hub`.`consolidated`"
    select, _ = rule_select(cfg.alerts.rules["budget_over"], lambda t: f"{ref}.`{t}`")
    condition = window(cfg.alerts.rules["budget_over"])[0] + " AND alert_key = 'acme'"
    assert over.query_text == f"SELECT count(*) AS events FROM (\n{select}\n) AS rule_rows\nWHERE {condition}"
    assert over.evaluation and over.evaluation.comparison_operator == sql.ComparisonOperator.GREATER_THAN
    emails = {s.user_email for s in over.evaluation.notification.subscriptions or []}  # type: ignore[union-attr]
    assert emails == set(cfg.targets[HUB].notify) and emails
    assert make_plan(cfg, HUB, fake.client(), None).changes == []


def test_a_rule_whose_table_the_hub_lacks_waits_in_the_plan(capsys: Any):
    cfg = load_config()  # no budgets: no budget_status view
    fake = _hub(cfg)
    _apply(cfg, fake, capsys)

    plan = make_plan(cfg, HUB, fake.client(), None)
    waiting = {a.name: a.detail for a in plan.actions if a.kind == "alert" and a.change == Change.SKIP}
    assert set(waiting) == {f"stm-{HUB}-budget_over", f"stm-{HUB}-budget_at_risk"}
    assert waiting[f"stm-{HUB}-budget_over"] == "no budgets declared (budgets:): nothing for this rule to watch"
    assert f"stm-{HUB}-cost_anomaly" in _by_name(fake) and plan.changes == []


def test_a_changed_rule_updates_its_alert_a_removed_one_is_trashed_and_destroy_trashes_ours(capsys: Any):
    cfg = load_config(extra=BUDGETS)
    fake = _hub(cfg)
    _apply(cfg, fake, capsys)
    foreign = {"display_name": f"stm-{HUB}-theirs", "query_text": "SELECT 1", "warehouse_id": "w", "id": "theirs"}
    fake.alerts["theirs"] = sql.AlertV2.from_dict(foreign)

    rules: dict[str, dict[str, Any]] = {k: {"kind": r.kind} for k, r in cfg.alerts.rules.items()}
    rules["job_failures"] = {"kind": "job_failure_rate", "max_percent": 80, "min_runs": 5}
    changed = load_config(extra={**BUDGETS, "alerts": {"rules": rules}})
    plan = make_plan(changed, HUB, fake.client(), None)
    assert [(a.kind, a.name, a.change) for a in plan.changes] == [("alert", f"stm-{HUB}-job_failures", Change.UPDATE)]
    _apply(changed, fake, capsys)
    assert "failures * 100.0 >= 80.0 * runs" in (_by_name(fake)[f"stm-{HUB}-job_failures"].query_text or "")

    fewer = dataclasses.replace(cfg, alerts=dataclasses.replace(cfg.alerts, rules={}))
    _apply(fewer, fake, capsys)
    assert set(_by_name(fake)) == {f"stm-{HUB}-theirs"}  # ours trashed, the foreign one left alone

    _apply(cfg, fake, capsys)
    _apply(cfg, fake, capsys, "destroy")
    assert set(_by_name(fake)) == {f"stm-{HUB}-theirs"} and fake.views == {}


def test_a_budget_rules_single_alert_of_an_earlier_release_is_trashed_for_the_per_budget_ones(capsys: Any):
    cfg = load_config(extra=BUDGETS)
    fake = _hub(cfg)
    _apply(cfg, fake, capsys)
    earlier = {
        **_by_name(fake)[f"stm-{HUB}-budget_over-acme"].as_dict(),
        "id": "old",
        "display_name": f"stm-{HUB}-budget_over",
    }
    fake.alerts["old"] = sql.AlertV2.from_dict(earlier)  # ours by its description, under the rule's name alone

    plan = make_plan(cfg, HUB, fake.client(), None)
    assert [(a.name, a.change) for a in plan.changes] == [(f"stm-{HUB}-budget_over", Change.DELETE)]
    _apply(cfg, fake, capsys)
    assert "old" not in fake.alerts and f"stm-{HUB}-budget_over-acme" in _by_name(fake)
