"""Plan, apply and destroy against a strictly autospecced workspace with an in-memory state."""

from __future__ import annotations

import dataclasses

import pytest
import yaml
from databricks.sdk.errors import PermissionDenied, TemporarilyUnavailable
from databricks.sdk.service import catalog, jobs, sharing

from deploy.command import make_plan
from deploy.diff import ShareGrant
from deploy.execute import RETRY_HINT, execute
from deploy.hub_sql import Statement
from deploy.model import Action, Change, Plan, marker, payload_of
from deploy.wheel import Wheel
from stm.config import Config, load_config
from stm.errors import UsageError
from tests.deploy.conftest import CATCH_UP_PROVIDER, HUB, HUB_DERIVED, PROVIDER, hub_workspace, run_jobs
from tests.deploy.fake_workspace import FakeWorkspace

TABLES = "monitoring.workspace_usage"


def _apply(cfg: Config, fake: FakeWorkspace, target: str, wheel: Wheel | None, **kw: bool) -> tuple[list[str], str]:
    w = fake.client()
    plan = make_plan(cfg, target, w, wheel, **kw)
    report = execute(w, plan, sleep=lambda s: None)
    assert report.ok, report.render()
    return [f"{a.change.value} {a.kind} {a.name}" for a in plan.changes], report.render()


def test_provider_apply_on_empty_workspace_creates_everything_declared(cfg: Config, fake: FakeWorkspace, wheel: Wheel):
    changes, _ = _apply(cfg, fake, PROVIDER, wheel)

    assert "create system schema access" in changes and "create system schema billing" not in changes
    assert fake.system_schemas["lakeflow"] == "ENABLE_COMPLETED"
    assert set(fake.catalogs) == {"monitoring"} and is_marked(fake.catalogs["monitoring"].comment)
    assert f"{TABLES}.artifacts" in fake.volumes and f"{TABLES}.checkpoints" in fake.volumes
    wheels = [p for p in fake.files if p.endswith(".whl")]
    assert len(wheels) == 1 and fake.files[wheels[0]] == wheel.path.read_bytes()
    assert sorted(s.name or "" for s in fake.jobs.values()) == [
        "stm-acme_prod_eu-daily",
        "stm-acme_prod_eu-maintenance",
        "stm-acme_prod_eu-stream",
    ]
    assert fake.shares["stm_monitoring"].objects == []
    recipient = fake.recipients["stm_central_hub"]
    assert recipient.authentication_type == sharing.AuthenticationType.DATABRICKS
    assert recipient.data_recipient_global_metastore_id == cfg.targets[PROVIDER].hub_sharing_identifier
    assert fake.grants == {"stm_monitoring": {"stm_central_hub"}}


def test_provider_tables_not_created_yet_wait_in_the_plan_and_are_shared_once_the_jobs_made_them(
    cfg: Config, fake: FakeWorkspace, wheel: Wheel
):
    _apply(cfg, fake, PROVIDER, wheel)
    waiting = [a for a in make_plan(cfg, PROVIDER, fake.client(), wheel).actions if a.kind == "share table"]
    assert len(waiting) == len(cfg.shares["stm_monitoring"].tables)
    assert {a.change for a in waiting} == {Change.SKIP} and all(
        "the next apply then shares it" in a.detail for a in waiting
    )

    run_jobs(cfg, fake, PROVIDER)
    changes, _ = _apply(cfg, fake, PROVIDER, wheel)

    assert changes == [f"create share table {a.name}" for a in waiting]
    share = fake.shares["stm_monitoring"]
    history = sharing.SharedDataObjectHistoryDataSharingStatus.ENABLED
    assert len(share.objects or []) == len(waiting)
    assert all(o.history_data_sharing_status == history for o in share.objects or [])


def test_provider_managed_system_schema_counts_as_enabled(cfg: Config, fake: FakeWorkspace, wheel: Wheel):
    plan = make_plan(cfg, PROVIDER, fake.client(), wheel)

    compute = next(a for a in plan.actions if a.kind == "system schema" and a.name == "compute")
    assert (compute.change, compute.detail) == (Change.UNCHANGED, "enabled")


def test_provider_checkpoints_live_in_their_own_volume_per_target(cfg: Config, wheel: Wheel):
    roots = []
    for target in (PROVIDER, CATCH_UP_PROVIDER):
        fake = FakeWorkspace()
        _apply(cfg, fake, target, wheel)
        (overlay,) = [c for p, c in fake.files.items() if p.endswith(".yml")]
        roots.append(load_config(extra=yaml.safe_load(overlay)).databricks.checkpoint_root)
        assert f"{TABLES}.checkpoints" in fake.volumes and not any("/checkpoints/" in p for p in fake.files)

    assert roots == [
        f"/Volumes/monitoring/workspace_usage/checkpoints/{PROVIDER}",
        f"/Volumes/monitoring/workspace_usage/checkpoints/{CATCH_UP_PROVIDER}",
    ]


def _apply_after_the_jobs_ran(cfg: Config, fake: FakeWorkspace, wheel: Wheel) -> None:
    """First apply, the jobs' first runs, then the apply that shares the tables they made."""
    _apply(cfg, fake, PROVIDER, wheel)
    run_jobs(cfg, fake, PROVIDER)
    _apply(cfg, fake, PROVIDER, wheel)


def is_marked(comment: str | None) -> bool:
    return comment == marker(PROVIDER)


def test_provider_second_apply_changes_nothing(cfg: Config, fake: FakeWorkspace, wheel: Wheel):
    _apply(cfg, fake, PROVIDER, wheel)
    w = fake.client()
    plan = make_plan(cfg, PROVIDER, w, wheel)

    assert plan.changes == []
    others = {(a.kind, a.change) for a in plan.actions if a.change != Change.UNCHANGED}
    assert others == {("share table", Change.SKIP)}  # they wait for the jobs to create them
    w.jobs.create.assert_not_called()
    w.files.upload.assert_not_called()


def test_provider_changed_job_declaration_updates_that_job_only(cfg: Config, fake: FakeWorkspace, wheel: Wheel):
    _apply(cfg, fake, PROVIDER, wheel)
    daily = cfg.jobs["daily"]
    changed = Config(
        **{**cfg.__dict__, "jobs": {**cfg.jobs, "daily": type(daily)(**{**daily.__dict__, "timeout_seconds": 3600})}}
    )

    changes, _ = _apply(changed, fake, PROVIDER, wheel)

    assert changes == ["update job stm-acme_prod_eu-daily"]
    assert [s.timeout_seconds for s in fake.jobs.values() if s.name == "stm-acme_prod_eu-daily"] == [3600]


def test_provider_prunes_only_objects_it_made(cfg: Config, fake: FakeWorkspace, wheel: Wheel):
    _apply_after_the_jobs_ran(cfg, fake, wheel)
    foreign_job = jobs.JobSettings(name="someone-elses-job", tags={"team": "data"})
    fake.jobs[1] = foreign_job
    ours_gone = jobs.JobSettings(name="stm-acme_prod_eu-old", tags={**(fake.jobs[101].tags or {}), "stm_job": "old"})
    fake.jobs[2] = ours_gone
    share = fake.shares["stm_monitoring"]
    table = sharing.SharedDataObjectDataObjectType.TABLE
    share.objects = [
        *(share.objects or []),
        sharing.SharedDataObject(name=f"{TABLES}.dropped", data_object_type=table, comment=marker(PROVIDER)),
        sharing.SharedDataObject(name="other.schema.manual", data_object_type=table, comment="added by hand"),
    ]
    old_wheel = "/Volumes/monitoring/workspace_usage/artifacts/stm/wheels/0123456789ab/old.whl"
    fake.files[old_wheel] = b"old"

    changes, _ = _apply(cfg, fake, PROVIDER, wheel)

    assert sorted(changes) == [
        f"delete file {old_wheel}",
        "delete job stm-acme_prod_eu-old",
        f"delete share table {TABLES}.dropped",
    ]
    assert fake.jobs[1] is foreign_job and 2 not in fake.jobs
    assert "other.schema.manual" in {o.name for o in share.objects or []}


def test_provider_destroy_removes_ours_and_keeps_data_and_foreign_objects(
    cfg: Config, fake: FakeWorkspace, wheel: Wheel
):
    _apply(cfg, fake, PROVIDER, wheel)
    fake.jobs[1] = jobs.JobSettings(name="someone-elses-job")

    _apply(cfg, fake, PROVIDER, None, destroy=True)

    assert list(fake.jobs) == [1]
    assert fake.shares == {} and fake.recipients == {} and fake.files == {}
    assert "monitoring" in fake.catalogs and f"{TABLES}.artifacts" in fake.volumes
    _apply(cfg, fake, PROVIDER, None, destroy=True, purge=True)
    assert fake.catalogs == {} and fake.volumes == {} and fake.schemas == {}


def test_provider_partial_failure_reports_done_failed_and_not_attempted(cfg: Config, fake: FakeWorkspace, wheel: Wheel):
    w = fake.client()
    w.shares.create.side_effect = PermissionDenied("User does not have CREATE SHARE on Metastore")
    w.system_schemas.enable.side_effect = PermissionDenied("not a metastore admin")

    report = execute(w, make_plan(cfg, PROVIDER, w, wheel), sleep=lambda s: None)

    text = report.render()
    assert not report.ok
    failed = [(a.kind, a.name) for a, _ in report.failed]
    assert ("system schema", "access") in failed and ("share", "stm_monitoring") in failed
    assert "needs metastore admin" in text and "needs CREATE SHARE on the metastore" in text
    assert {a.kind for a, _ in report.done} >= {"catalog", "job", "file"}
    assert {a.kind for a in report.not_attempted} == {"recipient", "grant"}  # the tables wait for the jobs
    assert "not attempted (" in text and text.endswith(RETRY_HINT)


def test_transient_errors_are_retried_with_backoff(cfg: Config, fake: FakeWorkspace, wheel: Wheel):
    w = fake.client()
    create = fake._create_catalog
    failures = iter([TemporarilyUnavailable("busy"), TemporarilyUnavailable("busy")])

    def flaky(name: str, **kw: object) -> object:
        err = next(failures, None)
        if err is not None:
            raise err
        return create(name, **kw)

    w.catalogs.create.side_effect = flaky
    slept: list[float] = []

    report = execute(w, make_plan(cfg, PROVIDER, w, wheel), sleep=slept.append)

    assert report.ok and "monitoring" in fake.catalogs
    assert slept == [1.0, 2.0]


def test_open_sharing_recipient_reports_activation_link(cfg: Config, fake: FakeWorkspace, wheel: Wheel):
    target = cfg.targets[PROVIDER]
    open_target = type(target)(**{**target.__dict__, "hub_sharing_identifier": None, "open_sharing": True})
    open_cfg = Config(**{**cfg.__dict__, "targets": {**cfg.targets, PROVIDER: open_target}})

    _, report = _apply(open_cfg, fake, PROVIDER, wheel)

    assert fake.recipients["stm_central_hub"].authentication_type == sharing.AuthenticationType.TOKEN
    assert "activation link" in report and "https://example.invalid/activate/stm_central_hub" in report


def test_catalog_where_the_metastore_has_no_root_storage_is_made_in_the_declared_location(cfg: Config, wheel: Wheel):
    fake = FakeWorkspace(metastore_storage_root=None)
    with pytest.raises(
        UsageError, match=r"catalog monitoring needs a managed location.*targets\.acme_prod_eu\.storage_root"
    ):
        make_plan(cfg, PROVIDER, fake.client(), wheel)
    located = dataclasses.replace(cfg.targets[PROVIDER], storage_root="s3://acme-uc/monitoring")
    located_cfg = dataclasses.replace(cfg, targets={**cfg.targets, PROVIDER: located})

    changes, _ = _apply(located_cfg, fake, PROVIDER, wheel)

    assert "create catalog monitoring" in changes
    assert fake.catalogs["monitoring"].storage_root == "s3://acme-uc/monitoring"


def _hub_fake(cfg: Config) -> FakeWorkspace:
    return hub_workspace(cfg)


def test_hub_apply_creates_catalogs_from_shares_and_views_then_is_a_no_op(cfg: Config):
    fake = _hub_fake(cfg)
    _apply(cfg, fake, HUB, None)

    assert fake.catalogs["stm_src_acme_prod_eu"].provider_name == "acme"
    assert fake.catalogs["stm_src_globex_dev_us"].share_name == "stm_monitoring"
    consolidated = {f"all_{t}" for t in cfg.shares["stm_monitoring"].tables}
    assert {v.split(".")[-1] for v in fake.views} == consolidated | HUB_DERIVED
    w = fake.client()
    assert make_plan(cfg, HUB, w, None).changes == []
    w.statement_execution.execute_statement.assert_not_called()


def test_hub_views_made_over_new_share_catalogs_list_the_columns_read_after_the_catalogs_exist(cfg: Config):
    fake = _hub_fake(cfg)
    fake.shared_columns["billing_summary"] = [
        catalog.ColumnInfo(name="record_id", type_text="string", position=1),
        catalog.ColumnInfo(name="account_id", type_text="string", position=0),
    ]
    plan = make_plan(cfg, HUB, fake.client(), None)
    pending = [a for a in plan.changes if a.kind == "view" and "once this apply made their catalogs" in a.detail]
    assert len(pending) == len(cfg.shares["stm_monitoring"].tables)

    _apply(cfg, fake, HUB, None)

    billing = " ".join(next(s for s in fake.statements if "`all_billing_summary`\nCOMMENT" in s).split())
    assert "'acme_prod_eu' AS source_workspace, `account_id`, `record_id` FROM `stm_src_acme_prod_eu`" in billing
    assert "`amount`" not in billing and ", *" not in billing
    again = make_plan(cfg, HUB, fake.client(), None)
    assert again.changes == []
    assert all(
        a.payload is None or (isinstance(a.payload, Statement) and isinstance(a.payload.sql, str))
        for a in again.actions
    )


def test_hub_provider_not_visible_is_skipped_and_views_use_the_others(cfg: Config):
    fake = _hub_fake(cfg)
    del fake.providers["globex"]

    changes, _ = _apply(cfg, fake, HUB, None)

    plan = make_plan(cfg, HUB, fake.client(), None)
    skipped = [a for a in plan.actions if a.change == Change.SKIP and a.kind != "alert"]  # budget alerts: no budgets
    assert [a.name for a in skipped] == ["stm_src_globex_dev_us"]
    assert "apply provider target globex_dev_us first" in skipped[0].detail
    assert all("stm_src_globex_dev_us" not in s for s in fake.statements)
    assert "create catalog from share stm_src_acme_prod_eu" in changes


def test_hub_destroy_drops_our_views_and_share_catalogs(cfg: Config):
    fake = _hub_fake(cfg)
    _apply(cfg, fake, HUB, None)

    _apply(cfg, fake, HUB, None, destroy=True)

    assert fake.views == {}
    assert set(fake.catalogs) == {"monitoring_hub"}


def test_provider_table_declared_without_history_is_shared_without_then_switched_on(
    cfg: Config, fake: FakeWorkspace, wheel: Wheel
):
    share = cfg.shares["stm_monitoring"]
    table = share.tables[0]
    quiet = dataclasses.replace(share, without_history=[table])
    without = dataclasses.replace(cfg, shares={**cfg.shares, "stm_monitoring": quiet})
    _apply_after_the_jobs_ran(without, fake, wheel)
    status = {o.name: o.history_data_sharing_status for o in fake.shares["stm_monitoring"].objects or []}
    assert status.pop(f"{TABLES}.{table}") == sharing.SharedDataObjectHistoryDataSharingStatus.DISABLED
    assert set(status.values()) == {sharing.SharedDataObjectHistoryDataSharingStatus.ENABLED}

    plan = make_plan(cfg, PROVIDER, fake.client(), wheel)
    assert [(a.kind, a.name, a.detail) for a in plan.changes] == [
        ("share table", f"{TABLES}.{table}", "enable history sharing")
    ]


def test_hub_with_budgets_gets_a_budget_status_view_of_the_same_sql(cfg: Config):
    budgeted = load_config(extra={"budgets": {"acme": {"account": "acme_prod", "amount": 100}}})
    fake = _hub_fake(budgeted)
    _apply(budgeted, fake, HUB, None)

    assert "monitoring_hub.consolidated.budget_status" in fake.views
    statement = next(s for s in fake.statements if "`budget_status`\nCOMMENT" in s)
    assert (
        "c.source_account = 'acme_prod'" in statement
        and "FROM `monitoring_hub`.`consolidated`.`all_workspaces_costs`" in statement
    )
    assert make_plan(budgeted, HUB, fake.client(), None).changes == []


def test_an_action_carrying_the_wrong_payload_type_fails_naming_it(fake: FakeWorkspace):
    grant = Action("grant", "SELECT ON SHARE s TO r", Change.CREATE, payload=("s", "r"))
    with pytest.raises(TypeError, match="create grant SELECT ON SHARE s TO r: payload tuple, expected ShareGrant"):
        payload_of(grant, ShareGrant)
    with pytest.raises(TypeError, match="expected ShareGrant"):  # a defect of the plan: stop, call nothing
        execute(fake.client(), Plan("t", "provider", "fake", [grant]), sleep=lambda s: None)
    assert fake.shares == {}
