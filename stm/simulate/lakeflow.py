"""lakeflow.jobs (SCD2), job_run_timeline and job_task_run_timeline for one simulated day.

Scheduled runs fail now and then; a failed run is retried once (trigger ``ONETIME_RETRY``). Runs and task runs are
cut into clock-hour slices with the result only on the final slice (§5.3). Classic jobs get a fresh job cluster per
run, which the compute module turns into cluster rows and the billing module into usage rows.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from stm.simulate.arrays import US_PER_DAY, US_PER_HOUR, US_PER_SECOND, from_rows, rng_for
from stm.simulate.schemas import JOB_RUN_TIMELINE, JOB_TASK_RUN_TIMELINE, JOBS, JOBS_BEFORE_NEW_COLUMNS
from stm.simulate.world import TAG_SETS, Entity, World, cluster_id, user_id

JOBS_STREAM = 10
RUNS_STREAM = 11
FAILURES = (
    ("RUN_EXECUTION_ERROR", "CLIENT_ERROR"),
    ("DRIVER_ERROR", "CLIENT_ERROR"),
    ("CLUSTER_ERROR", "CLOUD_FAILURE"),
    ("LIBRARY_INSTALLATION_ERROR", "CLIENT_ERROR"),
    ("STORAGE_ACCESS_ERROR", "CLIENT_ERROR"),
)
# The compute element type values are not documented (§5.4); these name the three kinds of job compute.
COMPUTE_TYPE = {"JOB_CLUSTER": "JOB_CLUSTER", "ALL_PURPOSE": "ALL_PURPOSE_CLUSTER", "SERVERLESS": "SERVERLESS"}


def _job_row(world: World, job: Entity, change_us: int, rng: np.random.Generator, *, new: bool) -> dict[str, Any]:
    ws = world.workspaces[job.ws]
    deleted = job.delete_us is not None and change_us >= job.delete_us
    row: dict[str, Any] = {
        "account_id": ws.account.account_id,
        "workspace_id": ws.workspace_id,
        "job_id": job.id,
        "name": job.name,
        "description": f"{job.name.replace('_', ' ')} ({job.sub_kind.lower()})",
        "creator_id": user_id(job.owner),
        "tags": list(TAG_SETS[(job.tags + int(rng.integers(0, 2))) % len(TAG_SETS)].items()),
        "change_time": change_us,
        "delete_time": job.delete_us if deleted else None,
        "run_as": user_id(job.owner),
    }
    if not new:
        return row
    hour, minute = divmod(job.offset_minutes, 60)
    bundle = rng.random() < 0.4
    row |= {
        "trigger": {"schedule": {
            "quartz_cron_expression": f"0 {minute} {hour}/{job.interval_hours} * * ?", "timezone_id": "UTC"
        }},
        "trigger_type": "CRON",
        "run_as_user_name": job.owner,
        "creator_user_name": job.owner,
        "paused": False,
        "timeout_seconds": int(rng.choice([0, 3600, 7200, 14400])),
        "health_rules": [{"metric": "RUN_DURATION_SECONDS", "operator": "GREATER_THAN", "value": 5400}]
        if rng.random() < 0.3
        else None,
        "deployment": {"kind": "BUNDLE", "metadata_file_path": f"/Workspace/bundles/{job.name}/metadata.json"}
        if bundle
        else None,
        "create_time": job.create_us,
    }  # fmt: skip
    return row


def jobs_initial(world: World) -> pa.Table:
    """The creation version of every job, written before the "new columns" existed (§5.1)."""
    rng = rng_for(world.seed, JOBS_STREAM)
    rows = [_job_row(world, job, job.create_us, rng, new=False) for job in world.of("job")]
    return from_rows(JOBS_BEFORE_NEW_COLUMNS, rows)


def jobs_changes(world: World, day_us: int) -> pa.Table:
    """New job versions of one day: edits of live jobs (at least one a day) and deletions."""
    rng = rng_for(world.seed, JOBS_STREAM, day_us // US_PER_DAY)
    rows = []
    for job in world.of("job"):
        if job.delete_us is not None and day_us <= job.delete_us < day_us + US_PER_DAY:
            rows.append(_job_row(world, job, job.delete_us, rng, new=True))
        elif job.alive(day_us + US_PER_DAY) and rng.random() < 0.12:
            rows.append(_job_row(world, job, day_us + int(rng.integers(0, US_PER_DAY)), rng, new=True))
    if not rows:
        live = [j for j in world.of("job") if j.alive(day_us + US_PER_DAY)]
        if live:
            rows.append(_job_row(world, live[0], day_us + US_PER_DAY // 2, rng, new=True))
    return from_rows(JOBS, rows)


@dataclass
class RunDay:
    """What one day of job runs produced, for the timelines and for the other generators to attribute to."""

    runs: list[dict[str, Any]] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    # one entry per run slice: (workspace index, slice start, run_id, job, cluster_id) for billing
    slices: list[tuple[int, int, str, Entity, str]] = field(default_factory=list)
    # one entry per job cluster: (workspace index, cluster_id, job, start, end)
    job_clusters: list[tuple[int, str, Entity, int, int]] = field(default_factory=list)

    def run_table(self) -> pa.Table:
        return from_rows(JOB_RUN_TIMELINE, self.runs)

    def task_table(self) -> pa.Table:
        return from_rows(JOB_TASK_RUN_TIMELINE, self.tasks)


def hour_slices(start_us: int, end_us: int) -> list[tuple[int, int]]:
    """Cut ``[start, end)`` at clock hours, as the run timelines do."""
    cuts = list(range(start_us - start_us % US_PER_HOUR + US_PER_HOUR, end_us, US_PER_HOUR))
    bounds = [start_us, *cuts, end_us]
    return list(itertools.pairwise(bounds))


@dataclass(frozen=True)
class _Run:
    job: Entity
    run_id: str
    start_us: int
    end_us: int
    trigger: str
    result: str
    code: str
    termination_type: str
    cluster: str


def _sliced(base: dict[str, Any], run: _Run, start: int, end: int, final: dict[str, Any]) -> list[dict[str, Any]]:
    parts = hour_slices(start, end)
    rows = []
    for i, (s, e) in enumerate(parts):
        last = i == len(parts) - 1
        rows.append(base | {"period_start_time": s, "period_end_time": e} | (final if last else {}))
    return rows


def _emit(world: World, day: RunDay, run: _Run, rng: np.random.Generator, task_ids: list[int]) -> None:
    ws = world.workspaces[run.job.ws]
    kind = run.job.sub_kind
    compute = [{"type": COMPUTE_TYPE[kind], "cluster_id": run.cluster or None, "warehouse_id": None}]
    ids = [run.cluster] if run.cluster else []
    common = {"account_id": ws.account.account_id, "workspace_id": ws.workspace_id, "job_id": run.job.id}
    total_s = (run.end_us - run.start_us) // US_PER_SECOND
    setup_s = 0 if kind == "SERVERLESS" else min(total_s // 4, int(rng.integers(60, 300)))
    final = {
        "result_state": run.result,
        "termination_code": run.code,
        "termination_type": run.termination_type,
        "setup_duration_seconds": setup_s,
        "cleanup_duration_seconds": 0,
        "execution_duration_seconds": total_s - setup_s,
    }
    base = common | {
        "run_id": run.run_id,
        "trigger_type": run.trigger,
        "run_type": "JOB_RUN",
        "run_name": run.job.name,
        "compute_ids": ids,
        "job_parameters": [("env", [("value", "prod" if run.job.tags % 2 else "dev")])],
        "compute": compute,
    }
    day.runs += _sliced(
        base, run, run.start_us, run.end_us, final | {"queue_duration_seconds": 0, "run_duration_seconds": total_s}
    )
    cuts = np.sort(rng.integers(run.start_us, run.end_us, size=run.job.tasks - 1)).tolist()
    bounds = [run.start_us, *cuts, run.end_us]
    for k in range(run.job.tasks):
        task_id = str(task_ids.pop())
        failed_here = k == run.job.tasks - 1
        t_final = final if failed_here else final | {
            "result_state": "SUCCEEDED", "termination_code": "SUCCESS", "termination_type": "SUCCESS"
        }  # fmt: skip
        t_final = t_final | {"execution_duration_seconds": (bounds[k + 1] - bounds[k]) // US_PER_SECOND}
        t_base = common | {
            "run_id": task_id,
            "job_run_id": run.run_id,
            "parent_run_id": run.run_id,
            "task_key": f"task_{k + 1}",
            "compute_ids": ids,
            "compute": compute,
            "task_parameters": [("env", "prod" if run.job.tags % 2 else "dev")],
        }
        day.tasks += _sliced(t_base, run, bounds[k], bounds[k + 1], t_final)
    for s, _ in hour_slices(run.start_us, run.end_us):
        day.slices.append((ws.index, s - s % US_PER_HOUR, run.run_id, run.job, run.cluster))
    if kind == "JOB_CLUSTER":
        day.job_clusters.append((ws.index, run.cluster, run.job, run.start_us, run.end_us))


def job_runs(world: World, day_us: int) -> RunDay:
    """Every scheduled run (and retry) that starts on the day, with its task runs."""
    day_no = day_us // US_PER_DAY
    rng = rng_for(world.seed, RUNS_STREAM, day_no)
    day = RunDay()
    counter = 0
    base_id = (day_no % 20000) * 10**10  # run ids unique by construction: day, then a counter within the day
    for job in world.of("job"):
        starts = range(job.offset_minutes % (job.interval_hours * 60), 24 * 60, job.interval_hours * 60)
        for minute in starts:
            start = day_us + minute * 60 * US_PER_SECOND + int(rng.integers(0, 90)) * US_PER_SECOND
            if not job.alive(start):
                continue
            for trigger in ("CRON", "ONETIME_RETRY"):
                minutes = float(np.clip(rng.lognormal(np.log(job.mean_minutes), 0.5), 2, 170))
                end = start + int(minutes * 60) * US_PER_SECOND
                roll = rng.random()
                if roll < job.fail_rate:
                    code, ttype = FAILURES[int(rng.integers(0, len(FAILURES)))]
                    result = "FAILED"
                elif roll < job.fail_rate + 0.01:
                    result, code, ttype = "TIMED_OUT", "RUN_EXECUTION_ERROR", "CLIENT_ERROR"
                else:
                    result, code, ttype = "SUCCEEDED", "SUCCESS", "SUCCESS"
                counter += 1
                cluster = job.cluster
                if job.sub_kind == "JOB_CLUSTER":
                    cluster = cluster_id(rng, start)
                run = _Run(job, str(10**15 + base_id + counter), start, end, trigger, result, code, ttype, cluster)
                task_ids = [5 * 10**15 + base_id + counter * 10 + t for t in range(9)]
                _emit(world, day, run, rng, task_ids)
                if result == "SUCCEEDED" or trigger == "ONETIME_RETRY":
                    break
                start = end + int(rng.integers(60, 600)) * US_PER_SECOND
    return day
