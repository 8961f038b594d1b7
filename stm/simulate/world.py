"""The simulated estate: accounts, workspaces and the long-lived objects in them, fixed by seed and shape.

Everything here depends only on (seed, accounts, workspaces, origin), so an ``--append`` run rebuilds the same world
from the state file and keeps every id consistent. Lifetimes (create and delete times) are absolute, which lets each
day be generated on its own without replaying the days before it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from stm.simulate.arrays import US_PER_DAY, digit_strings, rng_for, uuid_strings

WORLD_STREAM = 1
CLOUDS = ("AWS", "AZURE", "GCP")
COMPANIES = ("acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "tyrell", "wonka", "cyberdyne")
FIRST = ("ada", "alan", "grace", "linus", "margaret", "dennis", "barbara", "ken", "frances", "edsger", "radia", "john")
LAST = ("lovelace", "turing", "hopper", "torvalds", "hamilton", "ritchie", "liskov", "thompson", "allen", "dijkstra")
# cloud -> (region, SKU region suffix) pairs
REGIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "AWS": (("us-east-1", "US_EAST_N_VIRGINIA"), ("us-west-2", "US_WEST_OREGON"), ("eu-west-1", "EUROPE_IRELAND")),
    "AZURE": (("eastus", "US_EAST"), ("westeurope", "EUROPE_WEST"), ("canadacentral", "CANADA")),
    "GCP": (("us-central1", "US_CENTRAL"), ("europe-west1", "EUROPE_WEST_BELGIUM")),
}
NODE_TYPES: dict[str, tuple[str, ...]] = {
    "AWS": ("i3.xlarge", "i3.2xlarge", "m5d.2xlarge", "r5d.4xlarge"),
    "AZURE": ("Standard_DS3_v2", "Standard_D16s_v3", "Standard_E8ds_v4", "Standard_L8s_v2"),
    "GCP": ("n2-highmem-4", "n2-standard-8", "n1-standard-16", "n2-highmem-8"),
}
# custom tag sets; index 0 is "untagged" so some usage carries no tags at all
TAG_SETS: tuple[dict[str, str], ...] = (
    {},
    {"team": "data-eng", "env": "prod", "cost_center": "cc-1001"},
    {"team": "data-eng", "env": "dev", "cost_center": "cc-1001"},
    {"team": "analytics", "env": "prod", "cost_center": "cc-2002"},
    {"team": "ml", "env": "prod", "cost_center": "cc-3003"},
    {"team": "ml", "env": "dev"},
    {"env": "staging"},
)
WAREHOUSE_SIZES = ("2X_SMALL", "X_SMALL", "SMALL", "MEDIUM", "LARGE")
JOB_KINDS = ("JOB_CLUSTER", "JOB_CLUSTER", "SERVERLESS", "ALL_PURPOSE")
JOB_WORDS = ("ingest", "daily", "refresh", "export", "features", "reconcile", "scoring", "backfill", "sync", "report")


@dataclass(frozen=True)
class Account:
    index: int
    account_id: str
    cloud: str
    tier: str
    company: str
    users: tuple[str, ...]
    service_principal: str


@dataclass(frozen=True)
class Workspace:
    index: int
    account: Account
    workspace_id: str
    name: str
    url: str
    region: str
    region_code: str
    create_us: int
    provisioning: bool

    @property
    def cloud(self) -> str:
        return self.account.cloud


@dataclass(frozen=True)
class Entity:
    """A long-lived object of one workspace (job, cluster, warehouse, endpoint, experiment, pipeline, ...)."""

    kind: str
    ws: int
    id: str
    name: str
    owner: str
    create_us: int
    delete_us: int | None
    tags: int = 0
    node_type: str = ""
    size: str = ""
    sub_kind: str = ""
    interval_hours: int = 24
    offset_minutes: int = 0
    mean_minutes: float = 20.0
    fail_rate: float = 0.1
    tasks: int = 1
    cluster: str = ""
    entity_name: str = ""
    provider: str = ""
    task: str = ""

    def alive(self, t_us: int) -> bool:
        return self.create_us <= t_us and (self.delete_us is None or t_us < self.delete_us)


@dataclass(frozen=True)
class World:
    seed: int
    origin_us: int
    accounts: tuple[Account, ...]
    workspaces: tuple[Workspace, ...]
    entities: dict[str, tuple[Entity, ...]]

    def of(self, kind: str, ws: int | None = None) -> tuple[Entity, ...]:
        items = self.entities.get(kind, ())
        return items if ws is None else tuple(e for e in items if e.ws == ws)


def cluster_id(rng: np.random.Generator, create_us: int) -> str:
    """A cluster id shaped like Databricks' ``MMDD-HHMMSS-xxxxxxxx``."""
    t = np.datetime64(create_us, "us").astype(object)
    suffix = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz0123456789"), size=8))
    return f"{t:%m%d-%H%M%S}-{suffix}"


def _account(rng: np.random.Generator, index: int) -> Account:
    cloud = CLOUDS[index % 3]
    company = COMPANIES[index % len(COMPANIES)] + ("" if index < len(COMPANIES) else str(index))
    users = tuple(
        f"{FIRST[(index + k) % len(FIRST)]}.{LAST[(index * 3 + k) % len(LAST)]}@{company}.com" for k in range(8)
    )
    tier = "ENTERPRISE" if cloud == "AWS" and index % 2 == 1 else "PREMIUM"
    return Account(index, str(uuid_strings(rng, 1)[0]), cloud, tier, company, users, str(uuid_strings(rng, 1)[0]))


def _workspace(rng: np.random.Generator, index: int, account: Account, local: int, origin_us: int) -> Workspace:
    (workspace_id,) = digit_strings(rng, 1, 16)
    region, code = REGIONS[account.cloud][local % len(REGIONS[account.cloud])]
    name = f"{account.company}-{('prod', 'dev', 'analytics', 'ml', 'staging')[local % 5]}{local // 5 or ''}"
    url = {
        "AWS": f"https://{name}.cloud.databricks.com/",
        "AZURE": f"https://adb-{workspace_id}.{local % 20}.azuredatabricks.net/",
        "GCP": f"https://{workspace_id}.{local % 10}.gcp.databricks.com/",
    }[account.cloud]
    create_us = origin_us - int(rng.integers(200, 900)) * US_PER_DAY + int(rng.integers(0, 86400)) * 1_000_000
    return Workspace(index, account, workspace_id, name, url, region, code, create_us, provisioning=local == 1)


def _lifetime(rng: np.random.Generator, ws: Workspace, origin_us: int, delete_p: float) -> tuple[int, int | None]:
    """Created before the first simulated day; deleted (with ``delete_p``) within 40 days of it. In the first
    workspace every object that may be deleted is deleted on the first day, so even a one-day lake has deletes."""
    create_us = (
        max(ws.create_us, origin_us - int(rng.integers(5, 300)) * US_PER_DAY)
        + int(rng.integers(0, 24 * 3600)) * 1_000_000
    )
    first_ws = ws.index == 0 and delete_p > 0
    deleted = first_ws or rng.random() < delete_p
    days = 0 if first_ws else int(rng.integers(1, 40))
    delete_us = origin_us + days * US_PER_DAY + int(rng.integers(3600, 86400)) * 1_000_000
    return create_us, delete_us if deleted else None


def _workspace_entities(rng: np.random.Generator, ws: Workspace, origin_us: int) -> list[Entity]:
    users = ws.account.users
    nodes = NODE_TYPES[ws.cloud]
    out: list[Entity] = []

    def owner() -> str:
        return users[int(rng.integers(0, len(users)))]

    def tags() -> int:
        return int(rng.integers(0, len(TAG_SETS)))

    for k in range(3):
        created, deleted = _lifetime(rng, ws, origin_us, 0.3 if k == 2 else 0.0)
        out.append(
            Entity(
                "cluster", ws.index, cluster_id(rng, created), f"{owner().split('@')[0]}'s cluster {k}", owner(),
                created, deleted, tags(), node_type=nodes[int(rng.integers(0, len(nodes)))],
                size=str(int(rng.integers(1, 8))),
            )
        )  # fmt: skip
    ap_clusters = [e.id for e in out]
    for k in range(2):
        created, deleted = _lifetime(rng, ws, origin_us, 0.4 if k == 1 else 0.0)
        (wid,) = digit_strings(rng, 1, 16)
        out.append(
            Entity(
                "warehouse", ws.index, wid[:16].lower(), ("Shared SQL", "BI Serverless")[k], owner(), created,
                deleted, tags(), node_type=nodes[k % len(nodes)], size=WAREHOUSE_SIZES[int(rng.integers(0, 5))],
                sub_kind=("PRO", "SERVERLESS")[k],
            )
        )  # fmt: skip
    job_ids = digit_strings(rng, 6, 15)
    for k, job_id in enumerate(job_ids):
        created, deleted = _lifetime(rng, ws, origin_us, 0.25 if k == 5 else 0.0)
        kind = JOB_KINDS[k % len(JOB_KINDS)]
        words = rng.choice(JOB_WORDS, size=2, replace=False)
        out.append(
            Entity(
                "job", ws.index, job_id, f"{words[0]}_{words[1]}_{k}", owner(), created, deleted, tags(),
                node_type=nodes[int(rng.integers(0, len(nodes)))], sub_kind=kind,
                interval_hours=int(rng.choice([4, 6, 8, 12, 24, 24])), offset_minutes=int(rng.integers(0, 240)),
                mean_minutes=float(rng.choice([8.0, 15.0, 30.0, 50.0, 75.0])), fail_rate=float(rng.uniform(0.03, 0.2)),
                tasks=int(rng.integers(1, 4)), cluster=ap_clusters[0] if kind == "ALL_PURPOSE" else "",
            )
        )  # fmt: skip
    endpoint_kinds = (
        ("CUSTOM_MODEL", f"main.models.{ws.account.company}_churn", "llm/v1/chat"),
        ("FOUNDATION_MODEL", "system.ai.databricks-meta-llama-3-3-70b-instruct", "llm/v1/chat"),
        ("EXTERNAL_MODEL", "gpt-4o" if ws.index % 2 == 0 else "claude-sonnet-4", "llm/v1/chat"),
    )
    for k, (etype, entity_name, task) in enumerate(endpoint_kinds):
        created, deleted = _lifetime(rng, ws, origin_us, 0.3 if k == 0 else 0.0)
        provider = ("OpenAI" if "gpt" in entity_name else "Anthropic") if etype == "EXTERNAL_MODEL" else ""
        name = ("churn-model", "llama-chat", "gateway-chat")[k] + f"-{ws.name}"
        out.append(
            Entity(
                "endpoint", ws.index, uuid_strings(rng, 1)[0].as_py().replace("-", ""), name, owner(), created,
                deleted, tags(), sub_kind=etype, entity_name=entity_name, provider=provider, task=task,
            )
        )  # fmt: skip
    created, _ = _lifetime(rng, ws, origin_us, 0.0)
    out.append(
        Entity("vector_endpoint", ws.index, str(uuid_strings(rng, 1)[0]), f"vs-{ws.name}", owner(), created, None, 4)
    )
    for kind, count in (("pipeline", 2), ("notebook", 3), ("app", 1), ("experiment", 3)):
        for k in range(count):
            created, deleted = _lifetime(rng, ws, origin_us, 0.3 if kind == "experiment" and k == 2 else 0.0)
            who = owner()
            ident = str(uuid_strings(rng, 1)[0]) if kind in ("pipeline", "app") else digit_strings(rng, 1, 16)[0]
            name = {
                "pipeline": f"dlt_{JOB_WORDS[k]}_pipeline",
                "notebook": f"/Users/{who}/analysis_{k}",
                "app": f"{ws.account.company}-portal",
                "experiment": f"/Users/{who}/experiment_{k}",
            }[kind]
            out.append(Entity(kind, ws.index, ident, name, who, created, deleted, tags()))
    return out


def build_world(seed: int, accounts: int, workspaces: int, origin_us: int) -> World:
    """The estate for ``accounts`` accounts with ``workspaces`` workspaces each; ``origin_us`` is the first day."""
    rng = rng_for(seed, WORLD_STREAM)
    accts = tuple(_account(rng, i) for i in range(accounts))
    spaces: list[Workspace] = []
    for acct in accts:
        for local in range(workspaces):
            spaces.append(_workspace(rng, len(spaces), acct, local, origin_us))
    entities: dict[str, list[Entity]] = {}
    for ws in spaces:
        for entity in _workspace_entities(rng_for(seed, WORLD_STREAM, ws.index), ws, origin_us):
            entities.setdefault(entity.kind, []).append(entity)
    return World(seed, origin_us, accts, tuple(spaces), {k: tuple(v) for k, v in entities.items()})


def user_id(principal: str) -> str:
    """A stable numeric user id for an email (the ids the system tables use next to names)."""
    return str(int(hashlib.sha256(principal.encode()).hexdigest()[:13], 16) % 10**15 + 10**15)[:16]
