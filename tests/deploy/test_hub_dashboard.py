"""The hub's AI/BI dashboard: the dashboard definition's Lakeview form, created, published, updated and trashed
like the jobs, on a workspace that checks its datasets read views the hub has."""

from __future__ import annotations

import json
from typing import Any

import pytest
from databricks.sdk.errors import InvalidParameterValue, NotFound, ResourceAlreadyExists
from databricks.sdk.service import dashboards as lv

from deploy.command import deploy, make_plan
from deploy.hub_dashboard import FOLDER, display_name, wanted_dashboard
from deploy.model import Change
from stm.config import Config, load_config
from stm.dashboard.definition import DASHBOARD
from tests.deploy.conftest import HUB, hub_workspace, write_overlay
from tests.deploy.fake_dashboards import ME, workspace_path
from tests.deploy.fake_workspace import FakeWorkspace

BUDGETS = {"budgets": {"acme": {"account": "acme_prod", "amount": 100}}}
NAME = display_name(HUB)


def _apply(cfg: Config, fake: FakeWorkspace, capsys: Any, action: str = "apply") -> str:
    code = deploy(cfg, HUB, action, fake.client(), None)
    out = capsys.readouterr().out
    assert code == 0 and "FAILED" not in out, out
    return out


def _ours(fake: FakeWorkspace) -> list[lv.Dashboard]:
    live = lv.LifecycleState.ACTIVE
    return [d for d in fake.lakeview.dashboards.values() if d.display_name == NAME and d.lifecycle_state == live]


def _datasets(d: lv.Dashboard) -> set[str]:
    return {x["name"] for x in json.loads(d.serialized_dashboard or "{}")["datasets"]}


def test_first_apply_publishes_the_dashboard_over_the_hub_views_and_a_second_apply_does_nothing(capsys: Any):
    cfg = load_config(extra=BUDGETS)
    fake = hub_workspace(cfg)
    _apply(cfg, fake, capsys)

    (made,) = _ours(fake)
    # the service keeps the folder without its /Workspace prefix: that is what the next plan reads back
    assert made.parent_path == "/Shared/system-tables-monitor" and made.warehouse_id == cfg.targets[HUB].warehouse_id
    assert fake.lakeview.published == {made.dashboard_id: cfg.targets[HUB].warehouse_id}
    served = {d.name for d in DASHBOARD.datasets if not d.local_only}
    assert _datasets(made) == served and "budget_status" in served
    plan = make_plan(cfg, HUB, fake.client(), None)
    (action,) = [a for a in plan.actions if a.kind == "dashboard"]
    assert action.change == Change.UNCHANGED and plan.changes == []
    _apply(cfg, fake, capsys)  # a second apply finds it: no second dashboard of the name, no 409
    assert [d.dashboard_id for d in _ours(fake)] == [made.dashboard_id] and len(fake.lakeview.dashboards) == 1


def test_without_budgets_the_dashboard_has_no_budget_dataset_and_still_deploys(capsys: Any):
    cfg = load_config()
    fake = hub_workspace(cfg)
    _apply(cfg, fake, capsys)
    (made,) = _ours(fake)
    assert "budget_status" not in _datasets(made) and "cost_anomalies" in _datasets(made)


def test_a_changed_warehouse_updates_the_same_dashboard_in_place(capsys: Any, tmp_path: Any):
    cfg = load_config(extra=BUDGETS)
    fake = hub_workspace(cfg)
    _apply(cfg, fake, capsys)
    (before,) = _ours(fake)
    overlay = write_overlay(tmp_path, f"targets:\n  {HUB}:\n    warehouse_id: wh-other\n")
    moved = load_config(overlay, extra=BUDGETS)

    plan = make_plan(moved, HUB, fake.client(), None)
    assert [a.change for a in plan.changes if a.kind == "dashboard"] == [Change.UPDATE]  # alerts move too
    client = fake.client()
    assert deploy(moved, HUB, "apply", client, None) == 0
    (sent,) = [c.args[1] for c in client.lakeview.update.call_args_list]
    assert sent.parent_path is None and sent.warehouse_id == "wh-other"  # the folder is not the update's to say
    (after,) = _ours(fake)
    assert after.dashboard_id == before.dashboard_id and after.warehouse_id == "wh-other"
    assert fake.lakeview.published[after.dashboard_id or ""] == "wh-other"


def test_a_dashboard_of_our_name_not_made_by_us_is_left_alone_and_a_copy_elsewhere_is_not_ours(capsys: Any):
    cfg = load_config(extra=BUDGETS)
    fake = hub_workspace(cfg)
    client = fake.client()
    client.workspace.mkdirs(FOLDER)
    theirs = client.lakeview.create(lv.Dashboard(display_name=NAME, parent_path=FOLDER, serialized_dashboard="{}"))
    out = _apply(cfg, fake, capsys)
    assert "exists, not made by stm: left alone" in out
    assert [d.dashboard_id for d in _ours(fake)] == [theirs.dashboard_id]

    fake = hub_workspace(cfg)
    client = fake.client()
    client.workspace.mkdirs("/Workspace/Users/someone")
    want = wanted_dashboard(HUB, "monitoring_hub", "consolidated", "wh-1")
    copy = lv.Dashboard.from_dict({**want.dashboard.as_dict(), "parent_path": "/Users/someone"})  # as stored
    fake.lakeview.dashboards["dash-copy"] = lv.Dashboard.from_dict(
        {**copy.as_dict(), "dashboard_id": "dash-copy", "lifecycle_state": "ACTIVE"}
    )
    _apply(cfg, fake, capsys)
    _apply(cfg, fake, capsys, "destroy")
    assert fake.lakeview.dashboards["dash-copy"].lifecycle_state == lv.LifecycleState.ACTIVE  # a user's copy stays


def test_destroy_trashes_ours_before_the_views_it_reads(capsys: Any):
    cfg = load_config(extra=BUDGETS)
    fake = hub_workspace(cfg)
    _apply(cfg, fake, capsys)
    plan = make_plan(cfg, HUB, fake.client(), None, destroy=True)
    kinds = [a.kind for a in plan.changes]
    assert kinds.index("dashboard") < kinds.index("view")
    _apply(cfg, fake, capsys, "destroy")
    assert _ours(fake) == [] and fake.lakeview.published == {}


def test_the_emulated_workspace_refuses_a_dashboard_reading_a_missing_view_or_in_a_missing_folder():
    fake = FakeWorkspace()
    client = fake.client()
    want = wanted_dashboard(HUB, "monitoring_hub", "consolidated", "wh-1")
    with pytest.raises(InvalidParameterValue, match="TABLE_OR_VIEW_NOT_FOUND"):
        client.lakeview.create(want.dashboard, dataset_catalog="monitoring_hub", dataset_schema="consolidated")
    for table in want.tables:
        fake.views[f"monitoring_hub.consolidated.{table}"] = None
    with pytest.raises(InvalidParameterValue, match="TABLE_OR_VIEW_NOT_FOUND"):
        client.lakeview.create(want.dashboard)  # no dataset catalog: the plain names resolve nowhere
    with pytest.raises(NotFound, match="RESOURCE_DOES_NOT_EXIST"):
        client.lakeview.create(want.dashboard, dataset_catalog="monitoring_hub", dataset_schema="consolidated")
    client.workspace.mkdirs(FOLDER)
    made = client.lakeview.create(want.dashboard, dataset_catalog="monitoring_hub", dataset_schema="consolidated")
    assert made.path == f"/Shared/system-tables-monitor/{NAME}.lvdash.json"


def test_the_emulated_lakeview_strips_the_workspace_prefix_refuses_a_duplicate_and_a_move_like_the_service():
    fake = FakeWorkspace()
    client = fake.client()
    want = wanted_dashboard(HUB, "monitoring_hub", "consolidated", "wh-1")
    for table in want.tables:
        fake.views[f"monitoring_hub.consolidated.{table}"] = None
    where = {"dataset_catalog": "monitoring_hub", "dataset_schema": "consolidated"}
    client.workspace.mkdirs(FOLDER)
    made = client.lakeview.create(want.dashboard, **where)
    got = client.lakeview.get(made.dashboard_id)
    shared = "/Shared/system-tables-monitor"
    assert (got.parent_path, got.path) == (shared, f"{shared}/{NAME}.lvdash.json")
    assert workspace_path(FOLDER) == got.parent_path and workspace_path("/Shared/x") == "/Shared/x"
    body = json.loads(got.serialized_dashboard or "")
    assert {p["pageType"] for p in body["pages"]} == {"PAGE_TYPE_CANVAS"}
    assert {(d["catalog"], d["schema"]) for d in body["datasets"]} == {("monitoring_hub", "consolidated")}

    unprefixed = lv.Dashboard.from_dict({**want.dashboard.as_dict(), "parent_path": "/Shared/system-tables-monitor"})
    for again in (want.dashboard, unprefixed):  # the same folder, named either way
        with pytest.raises(ResourceAlreadyExists, match="RESOURCE_ALREADY_EXISTS"):
            client.lakeview.create(again, **where)
    client.workspace.mkdirs("/Workspace/Users/someone")
    moved = lv.Dashboard.from_dict({**want.dashboard.as_dict(), "parent_path": "/Workspace/Users/someone"})
    with pytest.raises(InvalidParameterValue, match="parent_path cannot be updated"):
        client.lakeview.update(made.dashboard_id, moved, **where)
    client.lakeview.trash(made.dashboard_id)
    assert client.lakeview.get(made.dashboard_id).parent_path == f"/Users/{ME}/Trash"
    assert client.lakeview.create(unprefixed, **where).path == got.path  # the name is free again once trashed
