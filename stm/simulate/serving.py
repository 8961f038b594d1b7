"""serving.served_entities (SCD: a row per endpoint config version, deletes in endpoint_delete_time) and
serving.endpoint_usage (one row per request, with token counts for LLM endpoints)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from stm.simulate.arrays import US_PER_DAY, US_PER_SECOND, build_table, pooled, rng_for, timestamps, uuid_strings
from stm.simulate.schema_types import STR_MAP
from stm.simulate.schemas_ml import ENDPOINT_USAGE, SERVED_ENTITIES
from stm.simulate.world import Entity, World

SERVING_STREAM = 60
USAGE_STREAM = 61


def _entity_row(world: World, ep: Entity, change_us: int, version: int, deleted: bool) -> dict[str, Any]:
    ws = world.workspaces[ep.ws]
    row: dict[str, Any] = {
        "served_entity_id": ep.id[::-1],
        "account_id": ws.account.account_id,
        "workspace_id": ws.workspace_id,
        "created_by": ep.owner,
        "endpoint_name": ep.name,
        "endpoint_id": ep.id,
        "served_entity_name": ep.entity_name.rsplit(".", 1)[-1] + f"-{version}",
        "entity_type": ep.sub_kind,
        "entity_name": ep.entity_name,
        "entity_version": str(version) if ep.sub_kind != "EXTERNAL_MODEL" else None,
        "endpoint_config_version": version,
        "task": ep.task,
        "change_time": change_us,
        "endpoint_delete_time": change_us if deleted else None,
    }
    if ep.sub_kind == "EXTERNAL_MODEL":
        row["external_model_config"] = {"provider": ep.provider}
    elif ep.sub_kind == "FOUNDATION_MODEL":
        row["foundation_model_config"] = {"min_provisioned_throughput": 0, "max_provisioned_throughput": 2200 * version}
    else:
        row["custom_model_config"] = {"min_concurrency": 0, "max_concurrency": 4, "compute_type": "CPU"}
    return row


def served_entities_initial(world: World) -> pa.Table:
    rows = [_entity_row(world, ep, ep.create_us, 1, False) for ep in world.of("endpoint")]
    return pa.Table.from_pylist(rows, schema=SERVED_ENTITIES)


def served_entities_changes(world: World, day_us: int) -> pa.Table:
    """New config versions of live endpoints (a version number that grows with the day) and deletions."""
    day_no = day_us // US_PER_DAY
    rng = rng_for(world.seed, SERVING_STREAM, day_no)
    rows = []
    for ep in world.of("endpoint"):
        version = 2 + (day_no - ep.create_us // US_PER_DAY) // 7  # config versions only grow
        if ep.delete_us is not None and day_us <= ep.delete_us < day_us + US_PER_DAY:
            rows.append(_entity_row(world, ep, ep.delete_us, int(version), True))
        elif ep.alive(day_us + US_PER_DAY) and rng.random() < 0.1:
            rows.append(_entity_row(world, ep, day_us + int(rng.integers(0, US_PER_DAY)), int(version), False))
    return pa.Table.from_pylist(rows, schema=SERVED_ENTITIES)


def endpoint_usage_day(world: World, day_us: int, per_endpoint: int) -> pa.Table:
    """About ``per_endpoint`` requests for every endpoint alive during the day."""
    rng = rng_for(world.seed, USAGE_STREAM, day_us // US_PER_DAY)
    live = [ep for ep in world.of("endpoint") if ep.alive(day_us)]
    if not live:
        return ENDPOINT_USAGE.empty_table()
    ep_idx = np.repeat(np.arange(len(live)), rng.poisson(per_endpoint, size=len(live)))
    n = len(ep_idx)
    llm = np.array([ep.sub_kind != "CUSTOM_MODEL" for ep in live])[ep_idx]
    in_tokens = rng.integers(20, 4000, size=n)
    out_tokens = rng.integers(5, 1500, size=n)
    status = np.where(rng.random(n) < 0.97, 200, np.where(rng.random(n) < 0.5, 429, 500)).astype(np.int32)
    last = np.array([ep.delete_us or day_us + US_PER_DAY for ep in live])[ep_idx]
    req_us = day_us + (rng.random(n) * np.minimum(last - day_us, US_PER_DAY)).astype(np.int64)
    users = [[u for u in world.workspaces[ep.ws].account.users] for ep in live]
    requester = pooled([u for us in users for u in us], ep_idx * 8 + rng.integers(0, 8, size=n))
    has_client_id = rng.random(n) < 0.4
    contexts = [[], [("app", "support-bot")], [("app", "search"), ("end_user", "customer-42")]]
    return build_table(
        ENDPOINT_USAGE,
        n,
        {
            "workspace_id": pooled([world.workspaces[ep.ws].workspace_id for ep in live], ep_idx),
            "account_id": pooled([world.workspaces[ep.ws].account.account_id for ep in live], ep_idx),
            "client_request_id": pa.array(
                [f"req-{i}" if ok else None for i, ok in enumerate(has_client_id.tolist())], pa.string()
            ),
            "databricks_request_id": uuid_strings(rng, n),
            "requester": requester,
            "status_code": status,
            "request_time": timestamps(req_us - req_us % US_PER_SECOND),
            "input_token_count": pa.array(in_tokens, mask=~llm),
            "output_token_count": pa.array(out_tokens, mask=~llm),
            "input_character_count": pa.array(in_tokens * 4, mask=~llm),
            "output_character_count": pa.array(out_tokens * 4, mask=~llm),
            "usage_context": pooled(contexts, rng.integers(0, len(contexts), size=n), STR_MAP),
            "request_streaming": rng.random(n) < 0.5,
            "served_entity_id": pooled([ep.id[::-1] for ep in live], ep_idx),
        },
    )
