"""compute.clusters and compute.warehouses (SCD2: a row per configuration change, deletes in delete_time) and a
sampled compute.node_timeline (per-minute rows for a few clusters a day, so the default lake stays small)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from stm.simulate.arrays import (
    US_PER_DAY,
    US_PER_HOUR,
    US_PER_SECOND,
    build_table,
    from_rows,
    hex_strings,
    rng_for,
    timestamps,
)
from stm.simulate.lakeflow import RunDay
from stm.simulate.schemas import CLUSTERS, NODE_TIMELINE, WAREHOUSES
from stm.simulate.world import NODE_TYPES, TAG_SETS, WAREHOUSE_SIZES, Entity, Workspace, World

CLUSTERS_STREAM = 20
WAREHOUSES_STREAM = 21
NODES_STREAM = 22
DBR_VERSIONS = ("14.3.x-scala2.12", "15.4.x-scala2.12", "16.4.x-scala2.12", "17.3.x-scala2.13")


def _cloud_attributes(ws: Workspace, rng: np.random.Generator) -> dict[str, Any]:
    spot = rng.random() < 0.5
    if ws.cloud == "AWS":
        return {"aws_attributes": {
            "zone_id": f"{ws.region}a", "first_on_demand": "1",
            "availability": "SPOT_WITH_FALLBACK" if spot else "ON_DEMAND",
            "spot_bid_price_percent": "100", "ebs_volume_count": 0,
        }}  # fmt: skip
    if ws.cloud == "AZURE":
        return {"azure_attributes": {
            "first_on_demand": "1", "availability": "SPOT_WITH_FALLBACK_AZURE" if spot else "ON_DEMAND_AZURE",
            "spot_bid_max_price": "-1",
        }}  # fmt: skip
    return {"gcp_attributes": {
        "use_preemptible_executors": spot, "zone_id": "HA", "first_on_demand": "1",
        "availability": "PREEMPTIBLE_WITH_FALLBACK_GCP" if spot else "ON_DEMAND_GCP",
    }}  # fmt: skip


def _cluster_row(
    world: World, c: Entity, change_us: int, rng: np.random.Generator, *, source: str, deleted: bool
) -> dict[str, Any]:
    ws = world.workspaces[c.ws]
    workers = int(c.size or 2) + int(rng.integers(0, 3))
    autoscale = source == "UI" and rng.random() < 0.5
    return {
        "account_id": ws.account.account_id,
        "workspace_id": ws.workspace_id,
        "cluster_id": c.id,
        "cluster_name": c.name,
        "owned_by": c.owner,
        "create_time": c.create_us,
        "delete_time": change_us if deleted else None,
        "driver_node_type": c.node_type,
        "worker_node_type": c.node_type,
        "worker_count": None if autoscale else workers,
        "min_autoscale_workers": 1 if autoscale else None,
        "max_autoscale_workers": workers + 2 if autoscale else None,
        "auto_termination_minutes": int(rng.choice([30, 60, 120])) if source != "JOB" else None,
        "enable_elastic_disk": True,
        "tags": list(TAG_SETS[c.tags].items()),
        "cluster_source": source,
        "init_scripts": ["/Workspace/init/install_libs.sh"] if rng.random() < 0.3 else [],
        "dbr_version": DBR_VERSIONS[int(rng.integers(0, len(DBR_VERSIONS)))],
        "change_time": change_us,
        "change_date": change_us // US_PER_DAY,
        "data_security_mode": "SINGLE_USER" if source == "JOB" else str(rng.choice(["USER_ISOLATION", "SINGLE_USER"])),
        "policy_id": None,
        **_cloud_attributes(ws, rng),
    }


def clusters_initial(world: World) -> pa.Table:
    """The creation version of every all-purpose cluster."""
    rng = rng_for(world.seed, CLUSTERS_STREAM)
    rows = [_cluster_row(world, c, c.create_us, rng, source="UI", deleted=False) for c in world.of("cluster")]
    return _clusters_table(rows)


def _clusters_table(rows: list[dict[str, Any]]) -> pa.Table:
    for row in rows:
        row["change_date"] = np.datetime64(row["change_date"], "D").astype(object)
    return from_rows(CLUSTERS, rows)


def clusters_changes(world: World, day_us: int, runs: RunDay) -> pa.Table:
    """Cluster versions of one day: all-purpose edits and deletions, and each job cluster's start and end."""
    rng = rng_for(world.seed, CLUSTERS_STREAM, day_us // US_PER_DAY)
    rows = []
    for c in world.of("cluster"):
        if c.delete_us is not None and day_us <= c.delete_us < day_us + US_PER_DAY:
            rows.append(_cluster_row(world, c, c.delete_us, rng, source="UI", deleted=True))
        elif c.alive(day_us + US_PER_DAY) and rng.random() < 0.2:
            rows.append(
                _cluster_row(world, c, day_us + int(rng.integers(0, US_PER_DAY)), rng, source="UI", deleted=False)
            )
    for ws_index, cid, job, start, end in runs.job_clusters:
        c = Entity("cluster", ws_index, cid, f"job-{job.id}-run", job.owner, start, end, job.tags, job.node_type, "2")
        rows.append(_cluster_row(world, c, start, rng, source="JOB", deleted=False))
        rows.append(_cluster_row(world, c, end, rng, source="JOB", deleted=True))
    return _clusters_table(rows)


def _warehouse_row(world: World, w: Entity, change_us: int, rng: np.random.Generator, deleted: bool) -> dict[str, Any]:
    ws = world.workspaces[w.ws]
    size = w.size if change_us == w.create_us else WAREHOUSE_SIZES[int(rng.integers(0, len(WAREHOUSE_SIZES)))]
    return {
        "warehouse_id": w.id,
        "workspace_id": ws.workspace_id,
        "account_id": ws.account.account_id,
        "warehouse_name": w.name,
        "warehouse_type": w.sub_kind,
        "warehouse_channel": "CURRENT" if rng.random() < 0.9 else "PREVIEW",
        "warehouse_size": size,
        "min_clusters": 1,
        "max_clusters": int(rng.integers(1, 5)),
        "auto_stop_minutes": int(rng.choice([5, 10, 30])),
        "tags": list(TAG_SETS[w.tags].items()),
        "change_time": change_us,
        "delete_time": change_us if deleted else None,
    }


def warehouses_initial(world: World) -> pa.Table:
    rng = rng_for(world.seed, WAREHOUSES_STREAM)
    return from_rows(WAREHOUSES, [_warehouse_row(world, w, w.create_us, rng, False) for w in world.of("warehouse")])


def warehouses_changes(world: World, day_us: int) -> pa.Table:
    """Warehouse versions of one day: resizes of live warehouses and deletions."""
    rng = rng_for(world.seed, WAREHOUSES_STREAM, day_us // US_PER_DAY)
    rows = []
    for w in world.of("warehouse"):
        if w.delete_us is not None and day_us <= w.delete_us < day_us + US_PER_DAY:
            rows.append(_warehouse_row(world, w, w.delete_us, rng, True))
        elif w.alive(day_us + US_PER_DAY) and rng.random() < 0.15:
            rows.append(_warehouse_row(world, w, day_us + int(rng.integers(0, US_PER_DAY)), rng, False))
    return from_rows(WAREHOUSES, rows)


def node_timeline(world: World, day_us: int, runs: RunDay) -> pa.Table:
    """Per-minute node metrics for a sample of the day's clusters: up to two job clusters and one all-purpose
    cluster per workspace, for at most an hour each, driver plus two workers."""
    rng = rng_for(world.seed, NODES_STREAM, day_us // US_PER_DAY)
    picks: list[tuple[int, str, str, int, int]] = []
    for ws in world.workspaces:
        jobs = [jc for jc in runs.job_clusters if jc[0] == ws.index]
        for i in rng.permutation(len(jobs))[:2]:
            _, cid, job, start, end = jobs[int(i)]
            picks.append((ws.index, cid, job.node_type, start, min(end, start + US_PER_HOUR)))
        live = [c for c in world.of("cluster", ws.index) if c.alive(day_us + US_PER_DAY)]
        if live:
            c = live[int(rng.integers(0, len(live)))]
            start = day_us + int(rng.integers(8, 18)) * US_PER_HOUR
            picks.append((ws.index, c.id, c.node_type or NODE_TYPES[ws.cloud][0], start, start + US_PER_HOUR))
    parts = [_node_rows(world, rng, *p) for p in picks]
    return pa.concat_tables(parts) if parts else NODE_TIMELINE.empty_table()


def _node_rows(
    world: World, rng: np.random.Generator, ws_index: int, cid: str, node_type: str, start: int, end: int
) -> pa.Table:
    ws = world.workspaces[ws_index]
    minutes = max(1, int((end - start) // (60 * US_PER_SECOND)))
    instances = [f"i-{h}" for h in hex_strings(rng, 3, 17).to_pylist()]
    n = minutes * len(instances)
    inst_idx = np.repeat(np.arange(len(instances)), minutes)
    t0 = start - start % (60 * US_PER_SECOND) + np.tile(np.arange(minutes), len(instances)) * 60 * US_PER_SECOND
    cpu = np.clip(rng.normal(45, 20, n), 1, 99)
    disk_keys = pa.array(["/", "/local_disk0"] * n)
    disk_vals = pa.array(rng.integers(10**10, 5 * 10**11, size=2 * n, dtype=np.int64))
    offsets = pa.array(np.arange(0, 2 * n + 1, 2, dtype=np.int32))
    return build_table(
        NODE_TIMELINE,
        n,
        {
            "account_id": ws.account.account_id,
            "workspace_id": ws.workspace_id,
            "cluster_id": cid,
            "instance_id": pa.array(instances).take(pa.array(inst_idx)),
            "start_time": timestamps(t0),
            "end_time": timestamps(t0 + 60 * US_PER_SECOND),
            "driver": inst_idx == 0,
            "cpu_user_percent": np.round(cpu * 0.85, 2),
            "cpu_system_percent": np.round(cpu * 0.1, 2),
            "cpu_wait_percent": np.round(cpu * 0.05, 2),
            "mem_used_percent": np.round(np.clip(rng.normal(60, 15, n), 5, 99), 2),
            "mem_swap_percent": np.zeros(n),
            "network_sent_bytes": rng.integers(10**5, 10**8, size=n, dtype=np.int64),
            "network_received_bytes": rng.integers(10**5, 10**8, size=n, dtype=np.int64),
            "disk_free_bytes_per_mount_point": pa.MapArray.from_arrays(offsets, disk_keys, disk_vals),
            "node_type": node_type,
        },
    )
