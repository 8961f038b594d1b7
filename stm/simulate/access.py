"""access.audit (workspace- and account-level events of one day, vectorized) and access.workspaces_latest."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stm.simulate.arrays import (
    US_PER_DAY,
    US_PER_SECOND,
    build_table,
    dates,
    hex_strings,
    pick,
    pooled,
    rng_for,
    string_ids,
    timestamps,
)
from stm.simulate.schema_types import STR_MAP
from stm.simulate.schemas import AUDIT, WORKSPACES_LATEST
from stm.simulate.world import World

AUDIT_STREAM = 40
AUDIT_DUPLICATES_STREAM = 41
USER_AGENTS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
    "Apache-HttpClient/4.5.13 (Java/1.8.0_345)",
    "databricks-sdk-py/0.40.0 python/3.11.7 os/linux auth/pat",
    "Databricks-Runtime/16.4.x-scala2.12",
)
TABLES = ("main.sales.orders", "main.sales.customers", "main.finance.ledger", "hive_metastore.default.events")


def _actions(world: World, ws_index: int) -> list[tuple[str, str, dict[str, str], int]]:
    """(service, action, request params, status) choices for one workspace; account-level ones use index -1."""
    if ws_index < 0:
        return [
            ("accounts", "login", {"authenticationMethod": "SSO"}, 200),
            ("accounts", "tokenLogin", {"tokenId": "0"}, 200),
            ("accounts", "login", {"authenticationMethod": "PASSWORD"}, 401),
            ("accountsManager", "updateWorkspaceConfiguration", {"workspaceId": "0"}, 200),
        ]
    ws = world.workspaces[ws_index]
    out: list[tuple[str, str, dict[str, str], int]] = []
    for table in TABLES:
        params = {"full_name_arg": table, "workspace_id": ws.workspace_id, "metastore_id": ws.account.account_id}
        out += [("unityCatalog", "getTable", params, 200), ("unityCatalog", "getTable", params, 200)]
        out.append(("unityCatalog", "generateTemporaryTableCredential", {"table_full_name": table}, 200))
    out.append(("unityCatalog", "getTable", {"full_name_arg": "main.hr.salaries"}, 403))
    for c in world.of("cluster", ws_index):
        out += [("clusters", "start", {"cluster_id": c.id}, 200), ("clusters", "edit", {"cluster_id": c.id}, 200)]
    for j in world.of("job", ws_index):
        out.append(("jobs", "runNow", {"job_id": j.id}, 200))
    for w in world.of("warehouse", ws_index):
        out.append(("databrickssql", "commandSubmit", {"warehouseId": w.id}, 200))
    for nb in world.of("notebook", ws_index):
        out.append(("notebook", "runCommand", {"notebookId": nb.id}, 200))
    out += [
        ("secrets", "getSecret", {"scope": "prod", "key": "db-password"}, 200),
        ("workspace", "getRoleAssignment", {}, 200),
    ]
    return out


def audit_day(world: World, day_us: int, events_per_workspace: int) -> pa.Table:
    """About ``events_per_workspace`` events per workspace, plus account-level events (workspace_id '0')."""
    rng = rng_for(world.seed, AUDIT_STREAM, day_us // US_PER_DAY)
    n_ws = len(world.workspaces)
    per_ws = np.round(events_per_workspace * rng.uniform(0.8, 1.2, size=n_ws)).astype(np.int64)
    per_acct = np.full(len(world.accounts), max(1, events_per_workspace // 20), dtype=np.int64)
    # groups: workspaces first, then accounts (account-level events)
    groups = np.concatenate([np.repeat(np.arange(n_ws), per_ws), n_ws + np.repeat(np.arange(len(per_acct)), per_acct)])
    combos: list[tuple[int, tuple[str, str, dict[str, str], int]]] = []
    for g in range(n_ws + len(world.accounts)):
        combos += [(g, a) for a in _actions(world, g if g < n_ws else -1)]
    chosen = pick(groups, np.array([g for g, _ in combos], dtype=np.int64), rng)
    n = len(groups)
    account_of = np.array([w.account.index for w in world.workspaces] + list(range(len(world.accounts))))[groups]
    user = account_of * 8 + rng.integers(0, 8, size=n)
    emails = [u for a in world.accounts for u in a.users]
    email = pooled(emails, user)
    params = [dict(a[2]) for _, a in combos]
    is_login = np.array([a[1] == "login" for _, a in combos])[chosen]
    status = np.array([a[3] for _, a in combos], dtype=np.int32)[chosen]
    event_us = day_us + rng.integers(0, US_PER_DAY // US_PER_SECOND, size=n) * US_PER_SECOND
    account_level = groups >= n_ws
    ws_ids = pooled([w.workspace_id for w in world.workspaces], np.where(account_level, -1, groups))
    octets = [string_ids(rng.integers(1, 255, size=n)) for _ in range(3)]
    request_params = pooled([list(p.items()) for p in params], chosen, STR_MAP)
    return build_table(
        AUDIT,
        n,
        {
            "account_id": pooled([a.account_id for a in world.accounts], account_of),
            "workspace_id": pc.fill_null(ws_ids, "0"),
            "version": "2.0",
            "event_time": timestamps(event_us),
            "event_date": dates(event_us),
            "source_ip_address": pc.binary_join_element_wise("10", *octets, "."),
            "user_agent": pooled(USER_AGENTS, rng.integers(0, len(USER_AGENTS), size=n)),
            "session_id": hex_strings(rng, n, 24),
            "user_identity": {"email": email, "subject_name": pc.if_else(pa.array(is_login), email, None)},
            "service_name": pooled([a[0] for _, a in combos], chosen),
            "action_name": pooled([a[1] for _, a in combos], chosen),
            "request_id": pc.binary_join_element_wise(
                "ServiceMain-", string_ids(rng.integers(10**9, 10**10, size=n)), ""
            ),
            "request_params": request_params,
            "response": {
                "status_code": status,
                "error_message": pooled(
                    [None, "PERMISSION_DENIED: User does not have SELECT on table"], (status == 403) * 1
                ),
                "result": None,
            },
            "audit_level": pooled(["WORKSPACE_LEVEL", "ACCOUNT_LEVEL"], account_level.astype(np.int64)),
            "event_id": hex_strings(rng, n, 32),
            "identity_metadata": {"run_by": email, "run_as": email},
        },
    )


def workspaces_latest(world: World) -> pa.Table:
    """One row per workspace; the second workspace of each account is still PROVISIONING (updated later)."""
    rows = [
        {
            "account_id": ws.account.account_id,
            "workspace_id": ws.workspace_id,
            "workspace_name": ws.name,
            "workspace_url": ws.url,
            "create_time": ws.create_us - ws.create_us % US_PER_SECOND,
            "status": "PROVISIONING" if ws.provisioning else "RUNNING",
        }
        for ws in world.workspaces
    ]
    return pa.Table.from_pylist(rows, schema=WORKSPACES_LATEST)
