"""mlflow.experiments_latest and runs_latest (latest state, updated in place) and run_metrics_history (append-only).

A run still going at the end of a commit's last day is written as RUNNING and finished in place by a later MERGE,
as the live ``*_latest`` tables do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stm.simulate.arrays import US_PER_DAY, US_PER_HOUR, US_PER_SECOND, build_table, rng_for, timestamps, uuid_strings
from stm.simulate.schemas_ml import EXPERIMENTS_LATEST, RUN_METRICS_HISTORY, RUNS_LATEST
from stm.simulate.world import Entity, World

MLFLOW_STREAM = 70
METRICS = ("loss", "accuracy")
STEPS = 10
RUNNING_AFTER_US = 20 * US_PER_HOUR  # runs ending after 20:00 are still RUNNING when their day is committed


def _experiment_row(world: World, e: Entity, update_us: int) -> dict[str, Any]:
    ws = world.workspaces[e.ws]
    deleted = e.delete_us is not None and update_us >= e.delete_us
    return {
        "account_id": ws.account.account_id,
        "update_time": update_us,
        "delete_time": e.delete_us if deleted else None,
        "experiment_id": e.id,
        "workspace_id": ws.workspace_id,
        "name": e.name,
        "create_time": e.create_us,
    }


def experiments_initial(world: World) -> pa.Table:
    rows = [_experiment_row(world, e, e.create_us) for e in world.of("experiment")]
    return pa.Table.from_pylist(rows, schema=EXPERIMENTS_LATEST)


def experiment_updates(world: World, first_day_us: int, end_us: int, touched: dict[str, int]) -> pa.Table:
    """The new latest state of experiments with runs (``touched``: id -> last run time) or deleted in the period."""
    rows = []
    for e in world.of("experiment"):
        deleted_at = e.delete_us if e.delete_us is not None and first_day_us <= e.delete_us < end_us else 0
        if deleted_at or e.id in touched:
            rows.append(_experiment_row(world, e, max(touched.get(e.id, 0), deleted_at)))
    return pa.Table.from_pylist(rows, schema=EXPERIMENTS_LATEST)


@dataclass(frozen=True)
class MlflowDay:
    runs: pa.Table  # final state of every run started on the day
    metrics: pa.Table
    touched: dict[str, int]  # experiment id -> last run activity
    late_run_ids: tuple[str, ...]  # runs still RUNNING at the end of the day


def mlflow_day(world: World, day_us: int) -> MlflowDay:
    """Runs of every live experiment on the day with their metric history and min/max/latest summaries."""
    rng = rng_for(world.seed, MLFLOW_STREAM, day_us // US_PER_DAY)
    runs: list[dict[str, Any]] = []
    metric_parts: list[pa.Table] = []
    touched: dict[str, int] = {}
    late: list[str] = []
    for e in world.of("experiment"):
        if not e.alive(day_us + US_PER_DAY):
            continue
        ws = world.workspaces[e.ws]
        for _ in range(int(rng.poisson(1.5))):
            run_id = uuid_strings(rng, 1)[0].as_py().replace("-", "")
            start = day_us + int(rng.integers(0, 20 * 3600)) * US_PER_SECOND
            end = start + int(rng.integers(5 * 60, 3 * 3600)) * US_PER_SECOND
            step_us = start + (np.arange(STEPS) + 1) * (end - start) // STEPS
            aggregated = []
            for m, metric in enumerate(METRICS):
                values = np.round(np.sort(rng.random(STEPS))[:: (-1 if metric == "loss" else 1)] * (1 + m), 4)
                aggregated.append(
                    {"metric_name": metric, "min_value": float(values.min()), "max_value": float(values.max()),
                     "latest_value": float(values[-1]), "latest_step": STEPS - 1, "latest_timestamp": int(step_us[-1])}
                )  # fmt: skip
                metric_parts.append(
                    build_table(
                        RUN_METRICS_HISTORY,
                        STEPS,
                        {
                            "account_id": ws.account.account_id,
                            "insert_time": timestamps(step_us + US_PER_SECOND),
                            "record_id": uuid_strings(rng, STEPS),
                            "workspace_id": ws.workspace_id,
                            "experiment_id": e.id,
                            "run_id": run_id,
                            "metric_name": metric,
                            "metric_time": timestamps(step_us),
                            "metric_step": np.arange(STEPS, dtype=np.int64),
                            "metric_value": values,
                        },
                    )
                )
            status = str(rng.choice(["FINISHED"] * 17 + ["FAILED"] * 2 + ["KILLED"]))
            runs.append(
                {"account_id": ws.account.account_id, "update_time": end, "delete_time": None,
                 "workspace_id": ws.workspace_id, "run_id": run_id, "experiment_id": e.id, "created_by": e.owner,
                 "start_time": start, "end_time": end, "run_name": f"run-{run_id[:6]}", "status": status,
                 "params": [("lr", str(round(float(rng.choice([1e-4, 3e-4, 1e-3])), 6))), ("epochs", "10")],
                 "tags": [("mlflow.user", e.owner)], "aggregated_metrics": aggregated}
            )  # fmt: skip
            touched[e.id] = max(touched.get(e.id, 0), end)
            if end - day_us > RUNNING_AFTER_US:
                late.append(run_id)
    if runs and not late:  # at least one run is still going, so the next commit finishes it in place
        late.append(max(runs, key=lambda r: int(r["end_time"]))["run_id"])
    metrics = pa.concat_tables(metric_parts) if metric_parts else RUN_METRICS_HISTORY.empty_table()
    return MlflowDay(pa.Table.from_pylist(runs, schema=RUNS_LATEST), metrics, touched, tuple(late))


def as_running(runs: pa.Table, run_ids: tuple[str, ...]) -> pa.Table:
    """``runs`` with the given ones shown as still RUNNING: no end, no summary, last updated at their start."""
    if not run_ids or runs.num_rows == 0:
        return runs
    running = pc.is_in(runs.column("run_id"), pa.array(run_ids))
    out = runs
    for name, value in (
        ("status", pc.if_else(running, "RUNNING", runs.column("status"))),
        ("end_time", pc.if_else(running, pa.scalar(None, runs.schema.field("end_time").type), runs.column("end_time"))),
        ("update_time", pc.if_else(running, runs.column("start_time"), runs.column("update_time"))),
        (
            "aggregated_metrics",
            pc.if_else(
                running,
                pa.scalar(None, runs.schema.field("aggregated_metrics").type),
                runs.column("aggregated_metrics"),
            ),
        ),
    ):
        out = out.set_column(out.schema.get_field_index(name), name, value)
    return out
