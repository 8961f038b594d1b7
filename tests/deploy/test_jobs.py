"""Every declared job, for every provider target, is a valid Jobs API definition that runs our wheel."""

from __future__ import annotations

import dataclasses
import importlib.metadata

import pytest
from databricks.sdk.service import jobs

from deploy.jobs import Artifacts, all_job_settings
from deploy.wheel import Wheel
from stm.config import Config
from tests.deploy.conftest import CATCH_UP_PROVIDER, PROVIDER

ARTIFACTS = Artifacts(wheel="/Volumes/c/s/v/stm/wheels/x/system_tables_monitor-0.1.0-py3-none-any.whl", config="/c.yml")


def _settings(cfg: Config, target: str) -> dict[str, jobs.JobSettings]:
    return all_job_settings(cfg, target, ARTIFACTS)


@pytest.mark.parametrize("target", [PROVIDER, CATCH_UP_PROVIDER])
def test_job_settings_survive_the_sdk_round_trip(cfg: Config, target: str):
    for settings in _settings(cfg, target).values():
        d = settings.as_dict()
        assert jobs.JobSettings.from_dict(d).as_dict() == d


@pytest.mark.parametrize("target", [PROVIDER, CATCH_UP_PROVIDER])
def test_job_settings_have_required_fields(cfg: Config, target: str):
    for key, settings in _settings(cfg, target).items():
        assert settings.name == f"stm-{target}-{key}"
        assert (settings.schedule is None) != (settings.continuous is None), key
        assert settings.email_notifications and settings.email_notifications.on_failure == cfg.targets[target].notify
        for task in settings.tasks or []:
            wheel_task = task.python_wheel_task
            assert task.task_key and wheel_task and wheel_task.package_name and wheel_task.entry_point
            assert (task.environment_key is None) != (task.job_cluster_key is None), task.task_key
            assert wheel_task.parameters and wheel_task.parameters[-2:] == ["--config", ARTIFACTS.config]
            keys = [t.task_key for t in settings.tasks or []]
            assert all(keys.index(d.task_key) < keys.index(task.task_key) for d in task.depends_on or [])


def test_daily_job_runs_at_two_utc_for_two_hours_one_at_a_time_with_retries(cfg: Config):
    daily = _settings(cfg, PROVIDER)["daily"]

    assert daily.schedule == jobs.CronSchedule(
        quartz_cron_expression="0 0 2 * * ?", timezone_id="UTC", pause_status=jobs.PauseStatus.UNPAUSED
    )
    assert daily.timeout_seconds == 7200 and daily.max_concurrent_runs == 1
    assert all((t.max_retries or 0) > 0 for t in daily.tasks or [])
    assert [t.task_key for t in daily.tasks or []] == ["snapshots", "cost_model", "current_state", "rollups"]


def _stream_params(settings: jobs.JobSettings) -> list[str]:
    task = (settings.tasks or [])[0].python_wheel_task
    assert task and task.parameters
    return task.parameters


def test_stream_job_on_serverless_is_a_scheduled_available_now_catch_up(cfg: Config):
    serverless = _settings(cfg, PROVIDER)["stream"]

    assert serverless.continuous is None and serverless.schedule
    assert serverless.schedule.quartz_cron_expression == "0 0/15 * * * ?"
    assert _stream_params(serverless)[:4] == ["stream", "--all", "--trigger", "availableNow"]
    assert not any(p.startswith("processingTime") for p in _stream_params(serverless))
    assert serverless.environments and serverless.environments[0].spec
    assert serverless.environments[0].spec.dependencies == [ARTIFACTS.wheel]


def test_stream_job_on_job_cluster_catches_up_or_runs_continuously(cfg: Config):
    catch_up = _settings(cfg, CATCH_UP_PROVIDER)["stream"]
    target = dataclasses.replace(cfg.targets[CATCH_UP_PROVIDER], catch_up_every_minutes=None)
    continuous_cfg = dataclasses.replace(cfg, targets={**cfg.targets, CATCH_UP_PROVIDER: target})
    continuous = _settings(continuous_cfg, CATCH_UP_PROVIDER)["stream"]

    assert catch_up.continuous is None and catch_up.schedule
    assert catch_up.schedule.quartz_cron_expression == "0 0/30 * * * ?"
    assert "availableNow" in _stream_params(catch_up)
    task = (catch_up.tasks or [])[0]
    assert task.libraries and task.libraries[0].whl == ARTIFACTS.wheel and catch_up.job_clusters
    cluster = catch_up.job_clusters[0].new_cluster
    assert cluster and cluster.spark_conf == {"spark.sql.codegen.cache.maxEntries": "2000"}
    assert continuous.schedule is None and continuous.continuous == jobs.Continuous(
        pause_status=jobs.PauseStatus.UNPAUSED, task_retry_mode=jobs.TaskRetryMode.ON_FAILURE
    )
    assert _stream_params(continuous)[:4] == ["stream", "--all", "--trigger", "processingTime=5 minutes"]


def test_wheel_task_entry_points_exist_in_the_built_wheel_metadata(cfg: Config, wheel: Wheel):
    (dist,) = importlib.metadata.distributions(path=[str(wheel.path)])
    scripts = {ep.name: ep.value for ep in dist.entry_points if ep.group == "console_scripts"}
    for target in (PROVIDER, CATCH_UP_PROVIDER):
        for settings in _settings(cfg, target).values():
            for task in settings.tasks or []:
                assert task.python_wheel_task
                assert task.python_wheel_task.package_name == dist.metadata["Name"]
                assert scripts[task.python_wheel_task.entry_point] == "stm.cli:entry"


def test_jobs_run_on_the_spark_4_client_the_local_engine_runs(cfg: Config):
    """Serverless environment 4 (Databricks Connect 17, Spark 4.0 API, Python 3.12); the example job clusters run a
    Spark 4 runtime (Databricks Runtime 17 and later, Scala 2.13)."""
    serverless = _settings(cfg, PROVIDER)
    versions = {e.spec.environment_version for s in serverless.values() for e in s.environments or [] if e.spec}
    assert versions == {"4"}
    clusters = _settings(cfg, CATCH_UP_PROVIDER)
    runtimes = {c.new_cluster.spark_version for s in clusters.values() for c in s.job_clusters or [] if c.new_cluster}
    assert runtimes and all(int(v.split(".")[0]) >= 17 and v.endswith("scala2.13") for v in runtimes if v)
