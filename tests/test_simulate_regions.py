"""Provider views of a simulated account: global tables whole, regional tables of one region only."""

from __future__ import annotations

from pathlib import Path

import pytest

from stm.errors import UsageError
from stm.simulate.regions import provider_view, simulated_workspaces
from stm.simulate.simulator import simulate
from tests.test_simulate_support import read


def _ids(lake: Path, table: str, column: str) -> set[str]:
    return set(read(lake, table).column(column).to_pylist())


def test_provider_view_keeps_account_wide_billing_and_its_regions_workspaces(tmp_path):
    source = tmp_path / "sim"
    simulate(source, accounts=2, workspaces=2, days=2, seed=4, billing_rows_per_day=20)
    spaces = simulated_workspaces(source)
    first = spaces[0]
    account = [w for w in spaces if w.account_id == first.account_id]
    assert len({w.region for w in account}) == 2
    kept = provider_view(source, tmp_path / "p", first.account_id, first.region)
    assert kept == [first.workspace_id]
    billing_ws = _ids(tmp_path / "p", "billing.usage", "workspace_id")
    assert billing_ws == {w.workspace_id for w in account}  # account-wide: both regions' usage
    assert _ids(tmp_path / "p", "billing.usage", "account_id") == {first.account_id}
    assert _ids(tmp_path / "p", "lakeflow.jobs", "workspace_id") == {first.workspace_id}
    assert _ids(tmp_path / "p", "access.audit", "workspace_id") <= {first.workspace_id, "0"}
    assert _ids(tmp_path / "p", "billing.list_prices", "sku_name") == _ids(source, "billing.list_prices", "sku_name")


def test_provider_view_unknown_region_and_existing_destination_refused(tmp_path):
    source = tmp_path / "sim"
    simulate(source, accounts=1, workspaces=1, days=1, seed=4, billing_rows_per_day=10)
    (ws,) = simulated_workspaces(source)
    with pytest.raises(UsageError, match="no simulated workspace in region 'mars-1'"):
        provider_view(source, tmp_path / "p", ws.account_id, "mars-1")
    provider_view(source, tmp_path / "p", ws.account_id, ws.region)
    with pytest.raises(UsageError, match="exists: give an empty destination"):
        provider_view(source, tmp_path / "p", ws.account_id, ws.region)
