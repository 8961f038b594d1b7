"""Job definitions from ``conf/jobs.yml`` as Jobs API settings (pure: no workspace calls)."""

from __future__ import annotations

from dataclasses import dataclass

from databricks.sdk.service import compute, jobs

from deploy.model import PRODUCT, digest
from stm.config import Config
from stm.spark import SESSION_CONF
from stm.specs import TRIGGER_PLACEHOLDER, JobSpec, TargetSpec, catch_up_cron, stream_trigger

PACKAGE_NAME = "system-tables-monitor"  # the wheel's distribution name (METADATA Name), looked up by Databricks
ENTRY_POINT = "stm"
ENVIRONMENT_KEY = "stm"
# Serverless environment 4: Python 3.12 and Databricks Connect 17, the Spark 4.0 client API that the local engine
# (pyspark 4) runs the same code on; environment 2 would give the Spark 3.5 client of Databricks Connect 15.4
# (https://docs.databricks.com/aws/en/release-notes/serverless/environment-version)
SERVERLESS_ENVIRONMENT_VERSION = "4"
CLUSTER_KEY = "stm"
TAG_OWNER, TAG_TARGET, TAG_JOB, TAG_DIGEST = "managed_by", "stm_target", "stm_job", "stm_digest"


@dataclass(frozen=True)
class Artifacts:
    """Where the wheel and the target's config overlay live in the workspace."""

    wheel: str
    config: str


def job_name(target: str, job: str) -> str:
    return f"stm-{target}-{job}"


def _task(cfg: Config, target: TargetSpec, key: str, job: JobSpec, artifacts: Artifacts) -> jobs.Task:
    spec = job.tasks[key]
    params = [stream_trigger(cfg.streaming.trigger, target) if p == TRIGGER_PLACEHOLDER else p for p in spec.command]
    task = jobs.Task(
        task_key=key,
        description=f"stm {' '.join(params)}",
        python_wheel_task=jobs.PythonWheelTask(
            package_name=PACKAGE_NAME, entry_point=ENTRY_POINT, parameters=[*params, "--config", artifacts.config]
        ),
        depends_on=[jobs.TaskDependency(task_key=d) for d in spec.depends_on] or None,
        max_retries=spec.max_retries or None,
        min_retry_interval_millis=spec.min_retry_interval_seconds * 1000 or None,
        timeout_seconds=spec.timeout_seconds or None,
    )
    if target.compute == "serverless":
        task.environment_key = ENVIRONMENT_KEY
    else:
        task.job_cluster_key = CLUSTER_KEY
        task.libraries = [compute.Library(whl=artifacts.wheel)]
    return task


def job_settings(cfg: Config, target_name: str, job_key: str, artifacts: Artifacts) -> jobs.JobSettings:
    """The full settings of one declared job for one target, tagged as ours with a digest of its content."""
    target = cfg.targets[target_name]
    job = cfg.jobs[job_key]
    settings = jobs.JobSettings(
        name=job_name(target_name, job_key),
        description=job.description,
        tasks=[_task(cfg, target, key, job, artifacts) for key in job.tasks],
        max_concurrent_runs=job.max_concurrent_runs,
        timeout_seconds=job.timeout_seconds or None,
        tags={TAG_OWNER: PRODUCT, TAG_TARGET: target_name, TAG_JOB: job_key},
    )
    if job.continuous and not target.catch_up_every_minutes:
        settings.continuous = jobs.Continuous(
            pause_status=jobs.PauseStatus.UNPAUSED, task_retry_mode=jobs.TaskRetryMode.ON_FAILURE
        )
    else:
        cron = job.schedule or catch_up_cron(target.catch_up_every_minutes or 0)
        settings.schedule = jobs.CronSchedule(
            quartz_cron_expression=cron, timezone_id=job.timezone, pause_status=jobs.PauseStatus.UNPAUSED
        )
    if target.notify:
        settings.email_notifications = jobs.JobEmailNotifications(on_failure=list(target.notify))
    if target.compute == "serverless":
        settings.environments = [
            jobs.JobEnvironment(
                environment_key=ENVIRONMENT_KEY,
                spec=compute.Environment(
                    environment_version=SERVERLESS_ENVIRONMENT_VERSION, dependencies=[artifacts.wheel]
                ),
            )
        ]
    else:
        assert target.cluster is not None  # validated: job_cluster requires cluster
        c = target.cluster
        settings.job_clusters = [
            jobs.JobCluster(
                job_cluster_key=CLUSTER_KEY,
                new_cluster=compute.ClusterSpec(
                    spark_version=c.spark_version,
                    node_type_id=c.node_type_id,
                    num_workers=c.num_workers,
                    data_security_mode=compute.DataSecurityMode(c.data_security_mode),
                    custom_tags={TAG_OWNER: PRODUCT, TAG_TARGET: target_name},
                    spark_conf=dict(SESSION_CONF),
                ),
            )
        ]
    assert settings.tags is not None
    settings.tags[TAG_DIGEST] = digest(settings.as_dict())
    return settings


def all_job_settings(cfg: Config, target_name: str, artifacts: Artifacts) -> dict[str, jobs.JobSettings]:
    return {key: job_settings(cfg, target_name, key, artifacts) for key in cfg.jobs}


def summary(settings: jobs.JobSettings) -> str:
    """One line for the plan: when it runs, on what, and its tasks in order."""
    if settings.continuous:
        when = "continuous, restart on failure"
    else:
        assert settings.schedule is not None
        when = f"cron '{settings.schedule.quartz_cron_expression}' {settings.schedule.timezone_id}"
    compute = "serverless" if settings.environments else "job cluster"
    tasks = " -> ".join(t.task_key for t in settings.tasks or [])
    timeout = f", timeout {settings.timeout_seconds // 60} min" if settings.timeout_seconds else ""
    return f"{when}, {compute}{timeout}, tasks {tasks}"
