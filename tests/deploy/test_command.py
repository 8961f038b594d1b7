"""``stm deploy``: the offline plan, bad input as one line with exit 2, and the bundle."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from databricks.sdk.service import jobs

from deploy.command import make_plan
from stm.cli import main
from stm.config import Config
from stm.errors import UsageError
from tests.deploy.conftest import HUB, HUB_DERIVED, PROVIDER, write_overlay
from tests.deploy.fake_workspace import FakeWorkspace


def test_offline_provider_plan_lists_every_object_to_create(capsys: pytest.CaptureFixture[str], cfg: Config):
    assert main(["deploy", "plan", "--target", PROVIDER, "--offline"]) == 0

    out = capsys.readouterr().out
    assert out.startswith(f"Plan for target {PROVIDER} (provider, https://")
    for line in (
        "+ create    catalog",
        "job            stm-acme_prod_eu-daily  (cron '0 0 2 * * ?' UTC",
        "+ create    volume         monitoring.workspace_usage.checkpoints",
        "job            stm-acme_prod_eu-stream  (cron '0 0/15 * * * ?' UTC, serverless, tasks stream)",
        "! skip      share table    monitoring.workspace_usage.billing_summary  (not created yet: the jobs make it on "
        "their first run, the next apply then shares it WITH HISTORY)",
        "grant          SELECT ON SHARE stm_monitoring TO stm_central_hub",
    ):
        assert line in out
    tables = len(cfg.shares["stm_monitoring"].tables)
    assert out.rstrip().endswith(f"to create, 0 to update, 0 to delete, 0 unchanged, {tables} skipped")


def test_offline_hub_plan_lists_catalogs_and_views(capsys: pytest.CaptureFixture[str], cfg: Config):
    assert main(["deploy", "plan", "--target", HUB, "--offline"]) == 0

    out = capsys.readouterr().out
    assert "catalog from share  stm_src_globex_dev_us" in out
    assert out.count("+ create    view") == len(cfg.shares["stm_monitoring"].tables) + len(HUB_DERIVED)


def test_unknown_target_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]):
    assert main(["deploy", "plan", "--target", "nope", "--offline"]) == 2

    err = capsys.readouterr().err
    assert err == "error: unknown target 'nope'; targets: acme_prod_eu, central_hub, globex_dev_us\n"


def test_missing_auth_is_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    for var in ("DATABRICKS_HOST", "DATABRICKS_TOKEN", "DATABRICKS_CONFIG_PROFILE", "DATABRICKS_CLIENT_ID"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "absent.cfg"))

    assert main(["deploy", "plan", "--target", "globex_dev_us"]) == 2

    err = capsys.readouterr().err
    assert err.startswith("error: target globex_dev_us: no Databricks authentication") and err.count("\n") == 1


def test_workspace_without_unity_catalog_is_a_usage_error(cfg: Config):
    fake = FakeWorkspace(has_metastore=False)

    with pytest.raises(UsageError, match="no Unity Catalog metastore"):
        make_plan(cfg, HUB, fake.client(), None)
    assert fake.catalogs == {}


def test_bad_hub_identifier_in_overlay_exits_2_before_any_call(capsys: pytest.CaptureFixture[str], tmp_path: Path):
    overlay = tmp_path / "bad.yml"
    overlay.write_text("targets:\n  acme_prod_eu:\n    hub_sharing_identifier: not-an-id\n", encoding="utf-8")

    assert main(["deploy", "plan", "--target", PROVIDER, "--config", str(overlay)]) == 2

    assert "targets.acme_prod_eu.hub_sharing_identifier" in capsys.readouterr().err


def test_bundle_has_the_same_jobs_as_the_deploy(tmp_path: Path, cfg: Config):
    overlay = write_overlay(tmp_path, f"targets:\n  {PROVIDER}:\n    deployed_by: bundle\n")
    argv = ["deploy", "bundle", "--target", PROVIDER, "--output", str(tmp_path), "--config", str(overlay)]
    assert main(argv) == 0

    bundle = yaml.safe_load((tmp_path / "databricks.yml").read_text(encoding="utf-8"))
    resources = bundle["resources"]["jobs"]
    assert set(resources) == set(cfg.jobs)
    for job in resources.values():
        assert jobs.JobSettings.from_dict(job).as_dict() == job
        assert job["environments"][0]["spec"]["dependencies"] == ["./dist/*.whl"]
    assert bundle["targets"][PROVIDER]["workspace"]["host"] == cfg.targets[PROVIDER].host
    overlay = yaml.safe_load((tmp_path / "stm-deploy" / f"{PROVIDER}.yml").read_text(encoding="utf-8"))
    assert overlay == {
        "engine": "databricks",
        "output": {"catalog": "monitoring", "schema": "workspace_usage"},
        "databricks": {"checkpoint_root": f"/Volumes/monitoring/workspace_usage/checkpoints/{PROVIDER}"},
    }
