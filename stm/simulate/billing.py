"""billing.usage for one simulated day, vectorized: hourly records per product, attributed to the jobs, clusters,
warehouses, endpoints and other objects that exist that day (§1.2 patterns), plus the corrections and duplicate
deliveries that land in later commits (§1.1)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stm.simulate.arrays import (
    US_PER_DAY,
    US_PER_HOUR,
    build_table,
    dates,
    decimals,
    pick,
    pooled,
    rng_for,
    timestamps,
    uuid_strings,
)
from stm.simulate.lakeflow import RunDay
from stm.simulate.schema_types import STR_MAP
from stm.simulate.schemas import BILLING_USAGE
from stm.simulate.skus import PRODUCTS, sku_name
from stm.simulate.world import TAG_SETS, Entity, World

USAGE_STREAM = 30
CORRECTIONS_STREAM = 31
ANOMALY_STREAM = 34
EPOCH = dt.date(1970, 1, 1)
PREDICTIVE_OPTIMIZATION_SP = "c8a5f3a2-0b7e-4b8e-9c1d-5e0f7a6b2d41"
# share of a workspace's daily rows per product; products with nothing to attribute to that day get none
PRODUCT_WEIGHTS: dict[str, float] = {
    "jobs": 0.18, "jobs_photon": 0.08, "jobs_serverless": 0.08, "all_purpose": 0.09, "all_purpose_photon": 0.05,
    "interactive": 0.05, "sql_pro": 0.12, "sql_serverless": 0.10, "dlt": 0.06, "model_serving": 0.08,
    "vector_search": 0.04, "fm_training": 0.01, "predictive_optimization": 0.03, "apps": 0.03,
}  # fmt: skip
SQL_DBU_PER_HOUR = {"2X_SMALL": 4.0, "X_SMALL": 6.0, "SMALL": 12.0, "MEDIUM": 24.0, "LARGE": 40.0}
FEATURES: dict[str, dict[str, Any]] = {
    "jobs": {"jobs_tier": "CLASSIC", "is_serverless": False, "is_photon": False},
    "jobs_photon": {"jobs_tier": "CLASSIC", "is_serverless": False, "is_photon": True},
    "jobs_serverless": {"is_serverless": True, "performance_target": "PERFORMANCE_OPTIMIZED"},
    "all_purpose": {"is_serverless": False, "is_photon": False},
    "all_purpose_photon": {"is_serverless": False, "is_photon": True},
    "interactive": {"is_serverless": True, "performance_target": "STANDARD"},
    "sql_pro": {"sql_tier": "PRO", "is_serverless": False, "is_photon": True},
    "sql_serverless": {"sql_tier": "PRO", "is_serverless": True, "is_photon": True},
    "dlt": {"dlt_tier": "ADVANCED", "is_serverless": False, "is_photon": False},
    "model_serving": {},
    "vector_search": {"is_serverless": True},
    "fm_training": {"is_serverless": True},
    "predictive_optimization": {"is_serverless": True},
    "apps": {"apps": {"compute_size": "MEDIUM"}},
}


@dataclass(frozen=True)
class Source:
    """Something billable on one day: its usage_metadata/identity values, tags, and when it can be billed."""

    ws: int
    meta: dict[str, str]
    identity: dict[str, str] = field(default_factory=dict)
    tags: int = 0
    dbu: float = 2.0
    hour_us: int | None = None  # a fixed hour (a job run slice) or any hour the object is alive
    alive_from: int = 0
    alive_to: int | None = None
    features: dict[str, Any] = field(default_factory=dict)


def _entity_source(e: Entity, meta: dict[str, str], dbu: float, **kw: Any) -> Source:
    return Source(e.ws, meta, tags=e.tags, dbu=dbu, alive_from=e.create_us, alive_to=e.delete_us, **kw)


def _sources(world: World, runs: RunDay, day_us: int) -> dict[str, list[Source]]:
    out: dict[str, list[Source]] = {key: [] for key in PRODUCT_WEIGHTS}
    for ws_index, hour, run_id, job, cluster in runs.slices:
        meta = {"job_id": job.id, "job_run_id": run_id, "job_name": job.name}
        ident = {"run_as": job.owner}
        if job.sub_kind == "JOB_CLUSTER":
            key = "jobs_photon" if int(job.id) % 3 == 0 else "jobs"
            meta |= {"cluster_id": cluster, "node_type": job.node_type}
            out[key].append(Source(ws_index, meta, ident, job.tags, 4.0, hour))
        elif job.sub_kind == "SERVERLESS":
            out["jobs_serverless"].append(Source(ws_index, meta, ident, job.tags, 3.0, hour))
    for c in world.of("cluster"):
        key = "all_purpose_photon" if c.id.endswith(("a", "e", "i", "o", "u")) else "all_purpose"
        out[key].append(_entity_source(c, {"cluster_id": c.id, "node_type": c.node_type}, 6.0))
    for w in world.of("warehouse"):
        meta = {"warehouse_id": w.id, "node_type": w.node_type}
        key = "sql_serverless" if w.sub_kind == "SERVERLESS" else "sql_pro"
        out[key].append(_entity_source(w, meta, SQL_DBU_PER_HOUR[w.size], identity={"owned_by": w.owner}))
    for nb in world.of("notebook"):
        meta = {"notebook_id": nb.id, "notebook_path": nb.name}
        out["interactive"].append(_entity_source(nb, meta, 1.5, identity={"run_as": nb.owner}))
    for p in world.of("pipeline"):
        meta = {"dlt_pipeline_id": p.id, "dlt_update_id": f"{p.id[:24]}{day_us // US_PER_DAY:012d}"}
        out["dlt"].append(_entity_source(p, meta, 5.0, identity={"run_as": p.owner}))
    for ep in world.of("endpoint"):
        if ep.sub_kind == "EXTERNAL_MODEL":
            continue  # external models are paid to their provider, not in DBUs
        serving = "FOUNDATION_MODEL" if ep.sub_kind == "FOUNDATION_MODEL" else "MODEL"
        meta = {"endpoint_name": ep.name, "endpoint_id": ep.id}
        out["model_serving"].append(_entity_source(ep, meta, 2.0, features={"serving_type": serving}))
    for vs in world.of("vector_endpoint"):
        out["vector_search"].append(_entity_source(vs, {"endpoint_name": vs.name, "endpoint_id": vs.id}, 4.0))
    for ws in world.workspaces:
        user = ws.account.users[ws.index % len(ws.account.users)]
        run_name = f"ft-{ws.account.company}-{ws.index}-{day_us // US_PER_DAY % 7}"
        out["fm_training"].append(Source(ws.index, {"run_name": run_name}, {"run_as": user}, 5, 20.0))
        po = {"run_as": PREDICTIVE_OPTIMIZATION_SP}
        out["predictive_optimization"].append(Source(ws.index, {}, po, 0, 0.5))
    for app in world.of("app"):
        meta = {"app_id": app.id, "app_name": app.name}
        out["apps"].append(_entity_source(app, meta, 0.5, identity={"created_by": app.owner}))
    return out


@dataclass(frozen=True)
class UsageDay:
    """One day of ORIGINAL rows and their quantities in millionths (kept for the corrections)."""

    table: pa.Table
    micro: np.ndarray


def _product_rows(
    world: World, key: str, sources: list[Source], ws_idx: np.ndarray, day_us: int, rng: np.random.Generator
) -> tuple[pa.Table, np.ndarray] | None:
    sources = sorted(sources, key=lambda s: s.ws)
    chosen = pick(ws_idx, np.array([s.ws for s in sources], dtype=np.int64), rng)
    fixed = np.array([-1 if s.hour_us is None else s.hour_us for s in sources], dtype=np.int64)
    start = np.where(fixed[chosen] >= 0, fixed[chosen], day_us + rng.integers(0, 24, size=len(chosen)) * US_PER_HOUR)
    born = np.array([s.alive_from for s in sources], dtype=np.int64)[chosen]
    dies = np.array([np.iinfo(np.int64).max if s.alive_to is None else s.alive_to for s in sources])[chosen]
    keep = (chosen >= 0) & (born <= start) & (start + US_PER_HOUR <= dies)
    if not keep.any():
        return None
    chosen, start = chosen[keep], start[keep]
    n = len(chosen)
    dbu = np.array([s.dbu for s in sources])[chosen] * rng.uniform(0.2, 1.0, size=n)
    micro = np.maximum(np.round(dbu * 1_000_000), 1).astype(np.int64)
    ws_of = np.array([s.ws for s in sources], dtype=np.int64)[chosen]
    product = PRODUCTS[key]
    meta_fields = sorted({f for s in sources for f in s.meta})
    ident_fields = sorted({f for s in sources for f in s.identity})
    late = (start % US_PER_DAY) >= 20 * US_PER_HOUR
    per_source = sorted({f for s in sources for f in s.features})
    features = FEATURES[key] | {
        f: pooled([s.features.get(f) for s in sources], chosen, pa.string()) for f in per_source
    }
    table = build_table(
        BILLING_USAGE,
        n,
        {
            "account_id": pooled([w.account.account_id for w in world.workspaces], ws_of),
            "workspace_id": pooled([w.workspace_id for w in world.workspaces], ws_of),
            "record_id": uuid_strings(rng, n),
            "sku_name": pooled([sku_name(product, w) for w in world.workspaces], ws_of),
            "cloud": pooled([w.cloud for w in world.workspaces], ws_of),
            "usage_start_time": timestamps(start),
            "usage_end_time": timestamps(start + US_PER_HOUR),
            "usage_date": dates(start),
            "custom_tags": pooled([list(TAG_SETS[s.tags].items()) for s in sources], chosen, STR_MAP),
            "usage_unit": "DBU",
            "usage_quantity": decimals(micro),
            "usage_metadata": {f: pooled([s.meta.get(f) for s in sources], chosen, pa.string()) for f in meta_fields},
            "identity_metadata": {
                f: pooled([s.identity.get(f) for s in sources], chosen, pa.string()) for f in ident_fields
            },
            "record_type": "ORIGINAL",
            "ingestion_date": dates(start + np.where(late, US_PER_DAY, 0)),
            "billing_origin_product": product.origin,
            "product_features": features,
            "usage_type": product.usage_type,
        },
    )
    return table, micro


def usage_day(world: World, day_us: int, runs: RunDay, rows_per_workspace: int) -> UsageDay:
    """About ``rows_per_workspace`` ORIGINAL hourly records per workspace for the day."""
    rng = rng_for(world.seed, USAGE_STREAM, day_us // US_PER_DAY)
    sources = _sources(world, runs, day_us)
    keys = list(PRODUCT_WEIGHTS)
    weights = np.array([PRODUCT_WEIGHTS[k] for k in keys])
    n_ws = len(world.workspaces)
    totals = np.round(rows_per_workspace * rng.uniform(0.85, 1.15, size=n_ws)).astype(np.int64)
    counts = np.stack([rng.multinomial(t, weights / weights.sum()) for t in totals])  # (workspace, product)
    tables, micros = [], []
    for j, key in enumerate(keys):
        ws_idx = np.repeat(np.arange(n_ws), counts[:, j])
        if not len(ws_idx) or not sources[key]:
            continue
        part = _product_rows(world, key, sources[key], ws_idx, day_us, rng)
        if part is not None:
            tables.append(part[0])
            micros.append(part[1])
    if not tables:
        return UsageDay(BILLING_USAGE.empty_table(), np.zeros(0, dtype=np.int64))
    return UsageDay(pa.concat_tables(tables), np.concatenate(micros))


def corrections(world: World, day: UsageDay, day_us: int, rate: float = 0.005) -> pa.Table:
    """RETRACTION rows for a few of the day's originals, most paired with a RESTATEMENT, ingested 2-5 days later.

    A retraction copies its original except ``record_id``, ``record_type``, the negated quantity and a later
    ``ingestion_date``; about a third have no restatement (the original should never have existed).
    """
    n = day.table.num_rows
    if n == 0:
        return BILLING_USAGE.empty_table()
    rng = rng_for(world.seed, CORRECTIONS_STREAM, day_us // US_PER_DAY)
    k = max(1, int(n * rate))
    idx = np.sort(rng.choice(n, size=k, replace=False))
    restated = rng.random(k) >= 1 / 3
    restated[0] = True  # at least one retraction/restatement pair a day ...
    if k > 1:
        restated[-1] = False  # ... and, with two or more corrections, at least one lone retraction
    orig = day.table.take(pa.array(idx))
    start_us = pc.cast(orig.column("usage_start_time"), pa.int64()).to_numpy()
    ingested = dates(start_us - start_us % US_PER_DAY + rng.integers(2, 6, size=k) * US_PER_DAY)
    retraction = _with(orig, rng, "RETRACTION", pc.negate(orig.column("usage_quantity")), ingested)
    factor = rng.uniform(0.5, 1.3, size=k)
    fixed = np.maximum(np.round(day.micro[idx] * factor), 1).astype(np.int64)
    keep = pa.array(restated)
    restatement = _with(orig, rng, "RESTATEMENT", decimals(fixed), ingested).filter(keep)
    return pa.concat_tables([retraction, restatement])


def _with(orig: pa.Table, rng: np.random.Generator, kind: str, quantity: pa.Array, ingested: pa.Array) -> pa.Table:
    n = orig.num_rows
    out = orig.set_column(orig.schema.get_field_index("record_id"), "record_id", uuid_strings(rng, n))
    out = out.set_column(out.schema.get_field_index("usage_quantity"), "usage_quantity", quantity)
    out = out.set_column(out.schema.get_field_index("record_type"), "record_type", pa.array([kind] * n))
    return out.set_column(out.schema.get_field_index("ingestion_date"), "ingestion_date", ingested)


def redeliveries(table: pa.Table, seed: int, day_no: int, stream: int, rate: float = 0.003) -> pa.Table:
    """A few rows of ``table`` delivered again, byte for byte (same record or event id)."""
    if table.num_rows == 0:
        return table
    rng = rng_for(seed, stream, day_no)
    k = max(1, int(table.num_rows * rate))
    return table.take(pa.array(np.sort(rng.choice(table.num_rows, size=k, replace=False))))


ANOMALY_RATE = 0.25  # chance, per account and day, of one injected cost spike
ANOMALY_MIN_ROWS = 15  # a spike lands on a (workspace, product) with at least this many records that day
ANOMALY_FACTORS = (3.0, 6.0)  # the spiked series' quantities are multiplied by a factor drawn in this range


def spikes(world: World, day: UsageDay, day_us: int) -> tuple[UsageDay, list[dict[str, Any]]]:
    """``day`` with injected cost spikes, and their ground truth.

    Per account, with probability ``ANOMALY_RATE``, one (workspace, product) of the day with enough records has
    every record's quantity multiplied by a factor; its corrections follow the spiked quantities."""
    rng = rng_for(world.seed, ANOMALY_STREAM, day_us // US_PER_DAY)
    t = day.table
    if not len(t):
        return day, []
    keys = ["account_id", "workspace_id", "billing_origin_product"]
    counts = t.select(keys).group_by(keys, use_threads=False).aggregate([("account_id", "count")]).to_pylist()
    factor = np.ones(len(t))
    truth: list[dict[str, Any]] = []
    for account in sorted({c["account_id"] for c in counts}):
        if rng.random() >= ANOMALY_RATE:
            continue
        eligible = sorted(
            (c["workspace_id"], c["billing_origin_product"])
            for c in counts
            if c["account_id"] == account and c["account_id_count"] >= ANOMALY_MIN_ROWS
        )
        if not eligible:
            continue
        workspace, product = eligible[int(rng.integers(len(eligible)))]
        f = float(rng.uniform(*ANOMALY_FACTORS))
        hit = pc.and_(
            pc.and_(pc.equal(t["account_id"], account), pc.equal(t["workspace_id"], workspace)),
            pc.equal(t["billing_origin_product"], product),
        )
        factor[np.asarray(hit.to_numpy(zero_copy_only=False), dtype=bool)] = f
        truth.append(
            {
                "account_id": account,
                "workspace_id": workspace,
                "billing_origin_product": product,
                "usage_date": (EPOCH + dt.timedelta(days=day_us // US_PER_DAY)).isoformat(),
                "factor": round(f, 3),
            }
        )
    if not truth:
        return day, []
    micro = np.maximum(np.round(day.micro * factor), 1).astype(np.int64)
    column = t.schema.get_field_index("usage_quantity")
    table = t.set_column(column, t.schema.field(column), decimals(micro))
    return UsageDay(table, micro), truth
