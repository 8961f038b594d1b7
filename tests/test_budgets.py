"""Budgets: the SQL definition (stm/budgets.py) on local Spark over a hub's consolidated costs, hand-computed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from stm.budgets import COLUMNS, COSTS, TABLE, TAGS, write_budgets
from stm.config import Config, load_config
from stm.errors import ConfigError
from stm.store.local import LocalTableStore

BUDGETS = {
    "everything": {"amount": 2000},
    "acme": {"account": "acme", "amount": 1500},
    "w2": {"workspace": "w2", "amount": 100},
    "sql": {"product": "SQL", "amount": 500},
    "team_data": {"tag": "team=data", "amount": 300},
}


def _cost(day: int, workspace: str, product: str, usd: str, account: str = "acme") -> dict[str, Any]:
    return {
        "source_account": account,
        "account_id": f"acct-{account}",
        "workspace_id": workspace,
        "usage_date": dt.date(2026, 11, day),
        "billing_origin_product": product,
        "total_cost_usd": Decimal(usd),
    }


@pytest.fixture(scope="module")
def status(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    cfg = load_config(extra={"budgets": BUDGETS})
    store = LocalTableStore(spark, tmp_path_factory.mktemp("budgets"))
    hub = f"{cfg.hub.catalog}.{cfg.hub.schema}"
    costs = [
        _cost(1, "w1", "JOBS", "100.00"),
        _cost(5, "w1", "SQL", "200.00"),
        _cost(10, "w2", "SQL", "150.00"),  # as_of: the newest usage date, Nov 10
        _cost(3, "g1", "JOBS", "50.00", account="globex"),
        {**_cost(30, "w1", "JOBS", "999.00"), "usage_date": dt.date(2026, 10, 31)},  # last month: not counted
    ]
    tags = [
        {**_cost(5, "w1", "SQL", "120.00"), "tag_key": "team", "tag_value": "data"},
        {**_cost(5, "w1", "SQL", "80.00"), "tag_key": "team", "tag_value": "web"},
    ]
    for table, rows in ((COSTS, costs), (TAGS, tags)):
        store.replace(f"{hub}.{table}", spark.createDataFrame(rows))
    counts = write_budgets(cfg, store)
    frame = store.read(f"{hub}.{TABLE}")
    assert tuple(frame.columns) == COLUMNS
    by_budget = {r["budget"]: r.asDict() for r in frame.collect()}
    assert counts == {"over": 1, "at risk": 2, "ok": 2}
    return by_budget


def test_month_to_date_burn_rate_and_projection_are_hand_computed(status: dict[str, Any]):
    everything = status["everything"]
    assert everything["as_of"] == dt.date(2026, 11, 10) and everything["month_start"] == dt.date(2026, 11, 1)
    assert everything["month_to_date_usd"] == Decimal("500.00")  # 100 + 200 + 150 + 50; October left out
    assert everything["burn_rate_usd_per_day"] == Decimal("50.00")  # 500 over 10 days
    assert everything["projected_month_end_usd"] == Decimal("1500.00")  # 50 x 30 days of November
    assert everything["status"] == "ok"


def test_each_scope_matches_its_own_spend(status: dict[str, Any]):
    assert status["acme"]["month_to_date_usd"] == Decimal("450.00") and status["acme"]["status"] == "ok"
    assert status["w2"]["month_to_date_usd"] == Decimal("150.00") and status["w2"]["status"] == "over"
    assert status["sql"]["month_to_date_usd"] == Decimal("350.00")
    assert status["sql"]["projected_month_end_usd"] == Decimal("1050.00") and status["sql"]["status"] == "at risk"
    assert status["team_data"]["month_to_date_usd"] == Decimal("120.00")
    assert status["team_data"]["status"] == "at risk"  # 12 a day x 30 = 360 > 300
    assert (status["team_data"]["scope"], status["team_data"]["matches"]) == ("tag", "team=data")


@pytest.mark.parametrize(
    "budget,message",
    [
        ({"amount": 0}, "budgets.b.amount"),
        ({"amount": 10, "currency": "EUR"}, "budgets.b.currency"),
        ({"amount": 10, "tag": "team"}, "budgets.b.tag"),
        ({"amount": 10, "account": "a", "product": "SQL"}, "budgets.b"),
        ({"amount": 10, "colour": "red"}, "budgets.b.colour"),
    ],
)
def test_bad_budget_declarations_name_the_field(budget: dict[str, Any], message: str):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load_config(extra={"budgets": {"b": budget}})


def test_no_budgets_writes_nothing(spark: Any, cfg: Config, tmp_path: Path):
    assert write_budgets(cfg, LocalTableStore(spark, tmp_path)) is None
    assert list(tmp_path.iterdir()) == []
