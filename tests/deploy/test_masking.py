"""Masking on Databricks: a provider whose share has ``mask_personal_data`` shares masked views, never its tables.

What the views compute is checked on Spark against the local endpoint's masker (tests/test_masked_views.py); here,
what deploy does in the workspace: the key table (its key drawn once, sent only as statement parameters), one masked
view per existing shared table, shared under the table's own name without history, and a second apply with nothing
to do.
"""

from __future__ import annotations

import pytest
from databricks.sdk.service import sharing

from deploy.command import deploy, make_plan
from deploy.model import Change
from deploy.wheel import Wheel
from stm.config import Config, load_config
from stm.errors import ConfigError
from tests.deploy.conftest import CATCH_UP_PROVIDER, PROVIDER, run_jobs
from tests.deploy.fake_workspace import FakeWorkspace

SCHEMA = "monitoring.workspace_usage"
MASKED = {
    "shares": {"stm_monitoring": {"mask_personal_data": True}},
    "targets": {PROVIDER: {"warehouse_id": "wh-acme"}, CATCH_UP_PROVIDER: {"warehouse_id": "wh-globex"}},
}


@pytest.fixture(scope="module")
def masked_cfg() -> Config:
    return load_config(extra=MASKED)


def _apply(cfg: Config, fake: FakeWorkspace, wheel: Wheel, capsys: pytest.CaptureFixture[str]) -> str:
    code = deploy(cfg, PROVIDER, "apply", fake.client(), wheel)
    out = capsys.readouterr().out
    assert code == 0 and "FAILED" not in out, out
    return out


def test_masked_share_holds_masked_views_under_the_tables_names_and_a_second_apply_does_nothing(
    masked_cfg: Config, fake: FakeWorkspace, wheel: Wheel, capsys: pytest.CaptureFixture[str]
):
    first = _apply(masked_cfg, fake, wheel, capsys)
    assert f"create mask key {SCHEMA}.stm_mask_key" in " ".join(first.split())
    assert fake.views == {} and fake.shares["stm_monitoring"].objects == []

    tables = run_jobs(masked_cfg, fake, PROVIDER)
    out = _apply(masked_cfg, fake, wheel, capsys)

    objects = fake.shares["stm_monitoring"].objects or []
    assert sorted(o.shared_as or "" for o in objects) == sorted(tables)
    assert {o.data_object_type for o in objects} == {sharing.SharedDataObjectDataObjectType.VIEW}
    assert all(o.name == f"{SCHEMA}.stm_masked_{(o.shared_as or '').split('.')[1]}" for o in objects)
    assert all(o.history_data_sharing_status is None for o in objects)
    assert len(fake.views) == len(tables)
    view = next(s for s in fake.statements if "`stm_masked_billing_summary`" in s)
    assert "`run_as`" in view and "masked:" in view
    assert "CROSS JOIN `monitoring`.`workspace_usage`.`stm_mask_key`" in view
    assert fake.key_rows == {f"{SCHEMA}.stm_mask_key": 1}
    assert "masked view" in out and "personal data as keyed hashes" in out

    again = make_plan(masked_cfg, PROVIDER, fake.client(), wheel)
    assert again.changes == []


def test_the_key_is_sent_as_parameters_only_and_never_printed(
    masked_cfg: Config, fake: FakeWorkspace, wheel: Wheel, capsys: pytest.CaptureFixture[str]
):
    w = fake.client()
    assert deploy(masked_cfg, PROVIDER, "apply", w, wheel) == 0
    out = capsys.readouterr().out

    calls = [c for c in w.statement_execution.execute_statement.call_args_list if c.kwargs.get("parameters")]
    assert len(calls) == 1
    pads = {p.name: p.value for p in calls[0].kwargs["parameters"]}
    assert set(pads) == {"ipad", "opad"} and len(pads["ipad"]) == 128 and pads["ipad"] != pads["opad"]
    for value in pads.values():
        assert value not in out and all(value not in s for s in fake.statements)


def test_switching_masking_on_replaces_shared_tables_by_their_masked_views(
    cfg: Config, masked_cfg: Config, fake: FakeWorkspace, wheel: Wheel, capsys: pytest.CaptureFixture[str]
):
    assert deploy(cfg, PROVIDER, "apply", fake.client(), wheel) == 0
    tables = run_jobs(cfg, fake, PROVIDER)
    assert deploy(cfg, PROVIDER, "apply", fake.client(), wheel) == 0
    capsys.readouterr()

    plan = make_plan(masked_cfg, PROVIDER, fake.client(), wheel)
    kinds = [(a.kind, a.change) for a in plan.changes]
    last_removal = max(i for i, k in enumerate(kinds) if k == ("share table", Change.DELETE))
    first_add = min(i for i, k in enumerate(kinds) if k == ("share table", Change.CREATE))
    assert last_removal < first_add  # a view takes over its table's shared name only once the table left
    _apply(masked_cfg, fake, wheel, capsys)

    objects = fake.shares["stm_monitoring"].objects or []
    assert sorted(o.shared_as or "" for o in objects) == sorted(tables)
    assert {o.data_object_type for o in objects} == {sharing.SharedDataObjectDataObjectType.VIEW}

    # and off again (the warehouse kept to drop the views with): the tables return, the views go, the key stays
    unmasked = load_config(extra={"targets": MASKED["targets"]})
    _apply(unmasked, fake, wheel, capsys)
    objects = fake.shares["stm_monitoring"].objects or []
    assert {o.data_object_type for o in objects} == {sharing.SharedDataObjectDataObjectType.TABLE}
    assert len(objects) == len(tables) and fake.views == {}
    assert f"{SCHEMA}.stm_mask_key" in fake.tables
    assert make_plan(unmasked, PROVIDER, fake.client(), wheel).changes == []


def test_a_masking_provider_without_a_warehouse_is_refused_at_load():
    with pytest.raises(ConfigError, match=rf"targets\.{PROVIDER}\.warehouse_id.*masks personal data"):
        load_config(extra={"shares": MASKED["shares"], "targets": {CATCH_UP_PROVIDER: {"warehouse_id": "w"}}})
