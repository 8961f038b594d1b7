"""``simulate``: write (or extend) a realistic system catalog, commit by commit.

Per run: dimension snapshots first (new lake only), then one group of commits per few days (appends of every fact
table, SCD2 versions, MERGEs of the ``*_latest`` tables), corrections and duplicate deliveries of each group in the
next group's commit, a price change and a workspace status UPDATE mid-period, OPTIMIZE on billing.usage and
access.audit, and last a retention DELETE on access.audit written as deletion vectors (through Spark, the one commit
per run delta-rs cannot write), so the table ends each run with live deletion vectors for a fresh stream to apply.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from stm.errors import UsageError
from stm.simulate import access, billing, compute, lakeflow, mlflow, query, serving, skus
from stm.simulate.arrays import US_PER_DAY
from stm.simulate.lake import Lake, SessionFactory, SimulationState
from stm.simulate.schemas import SYSTEM_TABLES
from stm.simulate.world import World, build_world

log = logging.getLogger(__name__)
DEFAULT_END_DATE = dt.date(2026, 11, 1)
EPOCH = dt.date(1970, 1, 1)
AUDIT_DUPLICATES_STREAM = 42
BILLING_DUPLICATES_STREAM = 32
ANOMALY_WARMUP_DAYS = 7  # days of history before the first injected spike
LIMITS: dict[str, tuple[int, int]] = {
    "accounts": (1, 50),
    "workspaces": (1, 50),
    "days": (1, 366),
    "seed": (0, 2**32 - 1),
    "billing_rows_per_day": (1, 100_000),
    "audit_events_per_day": (1, 100_000),
    "days_per_commit": (1, 366),
}


@dataclass(frozen=True)
class Volume:
    """How much to write per workspace and day (billing rows and audit events) on top of what the objects do."""

    billing_rows_per_day: int = 200
    audit_events_per_day: int = 150
    queries_per_warehouse: int = 30
    requests_per_endpoint: int = 40


def _check(option: str, value: int) -> int:
    low, high = LIMITS[option]
    if not low <= value <= high:
        flag = "--" + option.replace("_", "-")
        raise UsageError(f"{flag} must be between {low} and {high}, got {value}")
    return value


def _day_us(day: dt.date) -> int:
    return (day - EPOCH).days * US_PER_DAY


@dataclass
class _Pending:
    """Rows that land in the commit after the one holding what they refer to."""

    billing: list[pa.Table] = field(default_factory=list)
    audit: list[pa.Table] = field(default_factory=list)
    late_runs: pa.Table | None = None
    spikes_from: dt.date | None = None  # the first day that may carry an injected cost spike
    truth: list[dict[str, Any]] = field(default_factory=list)


def simulate(
    lake_root: Path,
    *,
    accounts: int | None = None,
    workspaces: int | None = None,
    days: int,
    seed: int | None = None,
    append: bool = False,
    end_date: dt.date | None = None,
    billing_rows_per_day: int | None = None,
    audit_events_per_day: int | None = None,
    days_per_commit: int | None = None,
    session: SessionFactory | None = None,
    anomalies: bool = False,
) -> dict[str, int]:
    """Write ``days`` days of system tables under ``lake_root/system``; returns the rows appended per table.

    Without ``append`` the lake's ``system`` directory must be empty; with it, the shape and seed come from the
    state file (passing different ones is an error) and the days follow the last simulated one. ``session`` gives
    the Spark session for the deletion-vector commit, called once per run when that commit is written (default: a
    local session on the packaged configuration, or the one already running in this process). ``anomalies``: inject
    cost spikes from the ``ANOMALY_WARMUP_DAYS``-th day of the lake on (a baseline exists by then), recorded in the
    state file's ``anomalies`` as the ground truth.
    """
    _check("days", days)
    lake = Lake(lake_root, session)
    if append:
        state = lake.read_state()
        for option, given, stored in (
            ("accounts", accounts, state.accounts),
            ("workspaces", workspaces, state.workspaces),
            ("seed", seed, state.seed),
        ):
            if given is not None and given != stored:
                raise UsageError(
                    f"--{option} {given} differs from the existing lake ({stored}); omit it or pass {stored}"
                )
        if end_date is not None:
            raise UsageError("--end-date cannot be used with --append: the new days follow the last simulated one")
        volume = Volume(**state.volume)
        first = dt.date.fromisoformat(state.end_date)
    else:
        if not lake.is_empty():
            raise UsageError(f"{lake.system} is not empty: use --append to add days, or an empty --lake-root")
        accounts = 1 if accounts is None else accounts
        workspaces = 1 if workspaces is None else workspaces
        seed = 0 if seed is None else seed
        first = (end_date or DEFAULT_END_DATE) - dt.timedelta(days=days)
        volume = Volume()
        state = SimulationState(seed, accounts, workspaces, first.isoformat(), first.isoformat(), {})
    for option, value in (("accounts", state.accounts), ("workspaces", state.workspaces), ("seed", state.seed)):
        _check(option, value)
    if billing_rows_per_day is not None:
        volume = replace(volume, billing_rows_per_day=_check("billing_rows_per_day", billing_rows_per_day))
    if audit_events_per_day is not None:
        volume = replace(volume, audit_events_per_day=_check("audit_events_per_day", audit_events_per_day))
    per_commit = _check("days_per_commit", days_per_commit or max(1, math.ceil(days / 10)))
    world = build_world(state.seed, state.accounts, state.workspaces, _day_us(dt.date.fromisoformat(state.origin_date)))
    run_number = len(state.runs)
    log.info(
        "simulating %d days from %s: %d accounts x %d workspaces, seed %d, %d billing rows/workspace/day",
        days, first, state.accounts, state.workspaces, state.seed, volume.billing_rows_per_day,
    )  # fmt: skip
    if not append:
        _write_dimensions(lake, world)
    day_list = [first + dt.timedelta(days=d) for d in range(days)]
    chunks = [day_list[i : i + per_commit] for i in range(0, days, per_commit)]
    pending = _Pending()
    if anomalies:
        pending.spikes_from = dt.date.fromisoformat(state.origin_date) + dt.timedelta(days=ANOMALY_WARMUP_DAYS)
    change_day = day_list[days // 2]
    for number, chunk in enumerate(chunks):
        log.info("commit group %d/%d: %s .. %s", number + 1, len(chunks), chunk[0], chunk[-1])
        _write_days(lake, world, chunk, volume, pending)
        if change_day in chunk:
            _price_change(lake, world, run_number, _day_us(change_day))
            _workspace_update(lake, world, run_number)
    _flush(lake, pending)
    state.anomalies += pending.truth
    for table in ("billing.usage", "access.audit"):
        lake.optimize(table)
    retention_day = dt.date.fromisoformat(state.origin_date) + dt.timedelta(days=run_number)
    retention = f"event_date = '{retention_day.isoformat()}' AND service_name = 'notebook'"
    lake.delete_with_deletion_vectors("access.audit", retention)
    state.end_date = (day_list[-1] + dt.timedelta(days=1)).isoformat()
    state.volume = asdict(volume)
    state.runs.append(
        {"first_day": first.isoformat(), "last_day": day_list[-1].isoformat(), "days": days, "append": append}
    )
    lake.write_state(state)
    return {table: lake.rows.get(table, 0) for table in SYSTEM_TABLES}


def _write_dimensions(lake: Lake, world: World) -> None:
    """The state before the first simulated day: prices, workspaces, and the first version of every object."""
    lake.append("billing.list_prices", skus.initial_prices(world))
    lake.append("access.workspaces_latest", access.workspaces_latest(world))
    lake.append("compute.clusters", compute.clusters_initial(world))
    lake.append("compute.warehouses", compute.warehouses_initial(world))
    lake.append("lakeflow.jobs", lakeflow.jobs_initial(world))  # without the "new columns" (§5.1)
    lake.append("serving.served_entities", serving.served_entities_initial(world))
    lake.append("mlflow.experiments_latest", mlflow.experiments_initial(world))


def _write_days(lake: Lake, world: World, chunk: list[dt.date], volume: Volume, pending: _Pending) -> None:
    parts: dict[str, list[pa.Table]] = {table: [] for table in SYSTEM_TABLES}
    parts["billing.usage"] += pending.billing
    parts["access.audit"] += pending.audit
    pending.billing, pending.audit = [], []
    touched: dict[str, int] = {}
    late: tuple[str, ...] = ()
    for day in chunk:
        day_us = _day_us(day)
        day_no = day_us // US_PER_DAY
        runs = lakeflow.job_runs(world, day_us)
        usage = billing.usage_day(world, day_us, runs, volume.billing_rows_per_day)
        if pending.spikes_from is not None and day >= pending.spikes_from:
            usage, truth = billing.spikes(world, usage, day_us)
            pending.truth += truth
        audit = access.audit_day(world, day_us, volume.audit_events_per_day)
        ml = mlflow.mlflow_day(world, day_us)
        parts["billing.usage"].append(usage.table)
        pending.billing += [
            billing.corrections(world, usage, day_us),
            billing.redeliveries(usage.table, world.seed, day_no, BILLING_DUPLICATES_STREAM),
        ]
        parts["access.audit"].append(audit)
        pending.audit.append(billing.redeliveries(audit, world.seed, day_no, AUDIT_DUPLICATES_STREAM))
        parts["compute.clusters"].append(compute.clusters_changes(world, day_us, runs))
        parts["compute.warehouses"].append(compute.warehouses_changes(world, day_us))
        parts["compute.node_timeline"].append(compute.node_timeline(world, day_us, runs))
        parts["lakeflow.jobs"].append(lakeflow.jobs_changes(world, day_us))
        parts["lakeflow.job_run_timeline"].append(runs.run_table())
        parts["lakeflow.job_task_run_timeline"].append(runs.task_table())
        parts["query.history"].append(query.history_day(world, day_us, volume.queries_per_warehouse))
        parts["serving.served_entities"].append(serving.served_entities_changes(world, day_us))
        parts["serving.endpoint_usage"].append(serving.endpoint_usage_day(world, day_us, volume.requests_per_endpoint))
        parts["mlflow.run_metrics_history"].append(ml.metrics)
        parts["mlflow.runs_latest"].append(ml.runs)
        touched |= {k: max(v, touched.get(k, 0)) for k, v in ml.touched.items()}
        late = ml.late_run_ids
    if pending.late_runs is not None:  # the runs left RUNNING by the previous group finish now, in place
        lake.upsert("mlflow.runs_latest", pending.late_runs, ("workspace_id", "run_id"))
    runs_table = pa.concat_tables(parts.pop("mlflow.runs_latest"))
    pending.late_runs = runs_table.filter(pc.is_in(runs_table.column("run_id"), pa.array(late, pa.string())))
    lake.append("mlflow.runs_latest", mlflow.as_running(runs_table, late))
    start_us, end_us = _day_us(chunk[0]), _day_us(chunk[-1]) + US_PER_DAY
    lake.upsert(
        "mlflow.experiments_latest",
        mlflow.experiment_updates(world, start_us, end_us, touched),
        ("workspace_id", "experiment_id"),
    )
    for table, tables in parts.items():
        if table in ("billing.list_prices", "access.workspaces_latest", "mlflow.experiments_latest"):
            continue
        lake.append(table, pa.concat_tables(tables), merge_schema=table == "lakeflow.jobs")


def _price_change(lake: Lake, world: World, run_number: int, at_us: int) -> None:
    """End the current price of a few SKUs in place (an UPDATE commit) and append their new price rows."""
    change = skus.price_change(world, run_number, at_us)
    at = dt.datetime.fromtimestamp(at_us / 1e6, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    which = " OR ".join(f"(cloud = '{cloud}' AND sku_name = '{sku}')" for cloud, sku in change.skus)
    lake.update(
        "billing.list_prices",
        f"({which}) AND price_end_time IS NULL",
        {"price_end_time": f"CAST('{at}' AS TIMESTAMP)"},
    )
    lake.append("billing.list_prices", change.new_rows)


def _workspace_update(lake: Lake, world: World, run_number: int) -> None:
    """Change workspaces_latest in place: provisioning workspaces come up, later runs rename one workspace."""
    if run_number == 0:
        lake.update("access.workspaces_latest", "status = 'PROVISIONING'", {"status": "'RUNNING'"})
        return
    ws = world.workspaces[run_number % len(world.workspaces)]
    name = f"{ws.name}-{run_number}"
    lake.update("access.workspaces_latest", f"workspace_id = '{ws.workspace_id}'", {"workspace_name": f"'{name}'"})


def _flush(lake: Lake, pending: _Pending) -> None:
    """The corrections and duplicate deliveries of the last group, and its still-running MLflow runs."""
    if pending.billing:
        lake.append("billing.usage", pa.concat_tables(pending.billing))
    if pending.audit:
        lake.append("access.audit", pa.concat_tables(pending.audit))
    if pending.late_runs is not None:
        lake.upsert("mlflow.runs_latest", pending.late_runs, ("workspace_id", "run_id"))
