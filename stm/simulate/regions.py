"""Provider views of a simulated account: what one provider workspace per (account, region) sees.

Global tables (billing usage, list prices, workspaces) hold the whole account in every region; regional tables hold
only the workspaces of that region (account-level audit events, workspace '0', are seen everywhere).
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

from stm.errors import UsageError
from stm.simulate.lake import Lake
from stm.simulate.schemas import SYSTEM_TABLES
from stm.simulate.world import build_world

GLOBAL_TABLES = frozenset({"billing.usage", "billing.list_prices", "access.workspaces_latest"})
ACCOUNT_LEVEL_WORKSPACE = "0"
PRICES = "billing.list_prices"  # the same price list for every account


@dataclass(frozen=True)
class SimulatedWorkspace:
    workspace_id: str
    account_id: str
    company: str
    cloud: str
    region: str


def simulated_workspaces(lake_root: Path) -> list[SimulatedWorkspace]:
    """Every workspace of a simulated lake with its account and cloud region."""
    state = Lake(lake_root).read_state()
    origin = dt.datetime.combine(dt.date.fromisoformat(state.origin_date), dt.time(), dt.timezone.utc)
    world = build_world(state.seed, state.accounts, state.workspaces, int(origin.timestamp() * 1_000_000))
    return [
        SimulatedWorkspace(ws.workspace_id, ws.account.account_id, ws.account.company, ws.account.cloud, ws.region)
        for ws in world.workspaces
    ]


def provider_view(source: Path, dest: Path, account_id: str, region: str) -> list[str]:
    """Copy the system catalog of ``source`` to ``dest`` as the provider workspace of (account, region) sees it.

    Global tables keep the whole account; regional tables keep the account's workspaces in ``region`` and its
    account-level events. Returns the region's workspace ids. Each removal is one DELETE commit, which streams skip
    like any change commit (their first batch is the snapshot after it).
    """
    mine = [w for w in simulated_workspaces(source) if w.account_id == account_id]
    keep = sorted(w.workspace_id for w in mine if w.region == region)
    if not keep:
        regions = ", ".join(sorted({w.region for w in mine})) or "none"
        raise UsageError(f"account {account_id} has no simulated workspace in region {region!r}; regions: {regions}")
    if Lake(dest).system.exists():
        raise UsageError(f"{Lake(dest).system} exists: give an empty destination")
    shutil.copytree(Lake(source).system, Lake(dest).system)
    lake = Lake(dest)
    account = f"account_id = '{account_id}'"
    regional = ", ".join(f"'{ws}'" for ws in [*keep, ACCOUNT_LEVEL_WORKSPACE])
    for table, schema in SYSTEM_TABLES.items():
        if table == PRICES or not lake.path(table).exists() or "account_id" not in schema.names:
            continue
        keep_rows = account
        if table not in GLOBAL_TABLES and "workspace_id" in schema.names:
            keep_rows = f"{account} AND workspace_id IN ({regional})"
        lake.delete(table, f"NOT ({keep_rows})")
    return keep
