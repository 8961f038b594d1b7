"""Generated bundles against the Databricks CLI's own deploy-time rules (each emulated as the CLI file cited does
it), and one owner per target for what a bundle can hold: ``stm deploy apply`` or the bundle, never both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from databricks.sdk.service import jobs

from deploy.bundle import bundle_files
from deploy.command import deploy, make_plan
from deploy.jobs import TAG_DIGEST
from deploy.model import Change
from deploy.wheel import Wheel
from stm.cli import main
from stm.config import Config, load_config
from tests.deploy.conftest import HUB, PROVIDER, hub_workspace, write_overlay
from tests.deploy.fake_workspace import FakeWorkspace

BUDGETS = {"budgets": {"acme": {"account": "acme_prod", "amount": 100}}}


def production_mode_errors(tree: dict[str, Any], target: str) -> list[str]:
    """databricks/cli bundle/config/mutator/resourcemutator/validate_target_mode.go, validateProductionMode: a
    ``mode: production`` target without ``workspace.root_path`` is an error unless every job sets ``run_as`` (then
    only a recommendation)."""
    spec = tree["targets"][target]
    if spec.get("mode") != "production" or spec.get("workspace", {}).get("root_path"):
        return []
    jobs_ = tree.get("resources", {}).get("jobs", {})
    if all("run_as" in job for job in jobs_.values()):
        return []
    return ["target with 'mode: production' must set 'workspace.root_path' to make sure only one copy is deployed"]


def artifact_path_errors(tree: dict[str, Any], target: str, fake: FakeWorkspace) -> list[str]:
    """databricks/cli bundle/config/validate/validate_artifact_path.go: an ``artifact_path`` under /Volumes/ must
    name a volume that exists in the workspace (one the bundle itself declares is still refused until deployed)."""
    path = tree["targets"][target].get("workspace", {}).get("artifact_path") or ""
    if not path.startswith("/Volumes/"):
        return []
    parts = path.split("/")
    if len(parts) < 5 or not all(parts[2:5]):
        return [f"expected UC volume path to be in the format /Volumes/<catalog>/<schema>/<volume>/..., got {path}"]
    name = ".".join(parts[2:5])
    return [] if name in fake.volumes else [f"volume {name} does not exist"]


def _tree(cfg: Config, target: str) -> dict[str, Any]:
    tree: dict[str, Any] = yaml.safe_load(bundle_files(cfg, target)["databricks.yml"])
    return tree


@pytest.mark.parametrize("target", sorted(load_config().targets))
def test_bundle_production_target_sets_root_path_as_validate_target_mode_requires(target: str):
    tree = _tree(load_config(), target)
    assert production_mode_errors(tree, target) == []
    assert (
        tree["targets"][target]["workspace"]["root_path"] == "/Workspace/Shared/.bundle/${bundle.name}/${bundle.target}"
    )
    without = {**tree, "targets": {target: {**tree["targets"][target], "workspace": {}}}}
    assert production_mode_errors(without, target) == ([] if tree["resources"].get("jobs") is None else [
        "target with 'mode: production' must set 'workspace.root_path' to make sure only one copy is deployed"
    ])  # fmt: skip


def test_bundle_artifact_path_is_a_volume_apply_made_and_a_hub_bundle_has_none(cfg: Config, wheel: Wheel, capsys: Any):
    provider = FakeWorkspace(system_schemas={"billing": "MANAGED"})
    assert deploy(cfg, PROVIDER, "apply", provider.client(), wheel) == 0, capsys.readouterr().out
    tree = _tree(cfg, PROVIDER)
    assert tree["targets"][PROVIDER]["workspace"]["artifact_path"].startswith("/Volumes/monitoring/workspace_usage/")
    assert artifact_path_errors(tree, PROVIDER, provider) == []
    assert artifact_path_errors(tree, PROVIDER, FakeWorkspace()) == [
        "volume monitoring.workspace_usage.artifacts does not exist"
    ]  # before apply: why the docs say apply first

    hub = hub_workspace(cfg)
    assert deploy(cfg, HUB, "apply", hub.client(), None) == 0, capsys.readouterr().out
    hub_tree = _tree(cfg, HUB)
    assert "artifact_path" not in hub_tree["targets"][HUB]["workspace"] and "artifacts" not in hub_tree
    assert artifact_path_errors(hub_tree, HUB, hub) == []


def test_deploy_bundle_refuses_a_target_whose_jobs_or_dashboard_apply_deploys(tmp_path: Path, capsys: Any):
    for target in (PROVIDER, HUB):
        assert main(["deploy", "bundle", "--target", target, "--output", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert f"target {target}: its " in err and "(deployed_by: apply)" in err
        assert f"set targets.{target}.deployed_by: bundle" in err
    assert not (tmp_path / "databricks.yml").exists()


def _bundle_made(settings: dict[int, jobs.JobSettings]) -> dict[int, jobs.JobSettings]:
    """The jobs ``databricks bundle deploy`` makes from our bundle: the same tags, without apply's digest."""
    out = {}
    for i, s in enumerate(settings.values()):
        made = jobs.JobSettings.from_dict(s.as_dict())
        made.tags = {k: v for k, v in (made.tags or {}).items() if k != TAG_DIGEST}
        out[900 + i] = made
    return out


def test_apply_leaves_a_bundle_owned_targets_jobs_to_the_bundle_and_removes_its_own_copies(
    tmp_path: Path, wheel: Wheel, capsys: Any
):
    cfg = load_config()
    fake = FakeWorkspace(system_schemas={"billing": "MANAGED"})
    assert deploy(cfg, PROVIDER, "apply", fake.client(), wheel) == 0
    applied = dict(fake.jobs)
    assert len(applied) == len(cfg.jobs) and all(TAG_DIGEST in (s.tags or {}) for s in applied.values())

    moved = load_config(write_overlay(tmp_path, f"targets:\n  {PROVIDER}:\n    deployed_by: bundle\n"))
    plan = make_plan(moved, PROVIDER, fake.client(), wheel)
    jobs_plan = [(a.change, a.payload) for a in plan.actions if a.kind == "job"]
    assert sorted(str(p) for c, p in jobs_plan if c == Change.DELETE) == sorted(map(str, applied))  # apply's go
    assert [c for c, _ in jobs_plan if c != Change.DELETE] == [Change.SKIP]  # and it makes none
    fake.jobs.update(_bundle_made(applied))  # the bundle deploys its own
    assert deploy(moved, PROVIDER, "apply", fake.client(), wheel) == 0, capsys.readouterr().out
    assert sorted(fake.jobs) == list(range(900, 900 + len(cfg.jobs)))  # one set: the bundle's
    again = make_plan(moved, PROVIDER, fake.client(), wheel)
    assert again.changes == []
    assert deploy(moved, PROVIDER, "destroy", fake.client(), None) == 0, capsys.readouterr().out
    assert sorted(fake.jobs) == list(range(900, 900 + len(cfg.jobs)))  # databricks bundle destroy removes them


def test_a_bundle_owned_hub_leaves_the_dashboard_and_alerts_to_the_bundle(tmp_path: Path, capsys: Any):
    cfg = load_config(write_overlay(tmp_path, f"targets:\n  {HUB}:\n    deployed_by: bundle\n"), extra=BUDGETS)
    fake = hub_workspace(cfg)
    assert deploy(cfg, HUB, "apply", fake.client(), None) == 0, capsys.readouterr().out
    assert fake.alerts == {} and fake.lakeview.dashboards == {} and fake.views
    plan = make_plan(cfg, HUB, fake.client(), None)
    skipped = {a.kind for a in plan.actions if a.change == Change.SKIP and "deployed_by: bundle" in a.detail}
    assert skipped == {"alert", "dashboard"} and plan.changes == []
    tree = _tree(cfg, HUB)
    assert set(tree["resources"]) == {"dashboards", "alerts"}


def test_apply_owned_target_deletes_a_bundles_copy_of_its_jobs_and_keeps_its_own(wheel: Wheel, capsys: Any):
    cfg = load_config()
    fake = FakeWorkspace(system_schemas={"billing": "MANAGED"})
    assert deploy(cfg, PROVIDER, "apply", fake.client(), wheel) == 0
    applied = dict(fake.jobs)
    fake.jobs.update(_bundle_made(applied))  # a bundle deployed before the target was apply's: two stream jobs
    plan = make_plan(cfg, PROVIDER, fake.client(), wheel)
    deleted = sorted(int(str(a.payload)) for a in plan.changes if a.kind == "job" and a.change == Change.DELETE)
    assert deleted == list(range(900, 900 + len(applied))) and len(plan.changes) == len(applied)
    assert deploy(cfg, PROVIDER, "apply", fake.client(), wheel) == 0, capsys.readouterr().out
    assert fake.jobs == applied  # one set of jobs, apply's, on the target's checkpoints
