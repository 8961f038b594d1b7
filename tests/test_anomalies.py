"""Cost anomalies: the SQL definition (stm/anomalies.py) on local Spark over a hub's consolidated costs.

Every series below is built by hand, so which days are anomalies, their expected cost and their baseline are known.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from stm.anomalies import COLUMNS, COSTS, JOBS, TABLE, write_anomalies
from stm.config import Config
from stm.store.local import LocalTableStore

START = dt.date(2026, 9, 1)  # a Tuesday
DAYS = 42


def _cost(day: int, base: float) -> Decimal:
    """A steady series with a small daily wobble (+-3%) that never looks like a spike."""
    return Decimal(str(round(base * (1 + 0.03 * ((day % 7) - 3) / 3), 2)))


def _series(
    product: str, base: float, spikes: dict[int, float], days: range = range(DAYS), weekend: float = 1.0
) -> list[dict[str, Any]]:
    rows = []
    for day in days:
        level = base * (weekend if (START + dt.timedelta(days=day)).weekday() >= 5 else 1.0)
        cost = _cost(day, level) * Decimal(str(spikes.get(day, 1.0)))
        rows.append(
            {
                "source_account": "acme",
                "account_id": "acct-1",
                "workspace_id": "w1",
                "usage_date": START + dt.timedelta(days=day),
                "billing_origin_product": product,
                "total_cost_usd": cost,
            }
        )
    return rows


@pytest.fixture(scope="module")
def found(spark: Any, cfg: Config, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str, int], Any]:
    root: Path = tmp_path_factory.mktemp("anomalies")
    store = LocalTableStore(spark, root)
    costs = [
        *_series("JOBS", 100.0, {30: 4.0, 37: 3.0}),  # two spikes a week apart: the first must not hide the second
        *_series("SQL", 50.0, {}),  # steady: nothing
        *_series("MODEL_SERVING", 2.0, {35: 3.0}),  # three times a tiny cost: below anomaly_min_usd
        *_series("DLT", 80.0, {9: 3.0}, range(10)),  # a young series: judged against its 9 days
        # weekends cost a fifth of weekdays: a Saturday at 3 times its usual is an anomaly, though below a weekday
        *_series("ALL_PURPOSE", 100.0, {39: 3.0}, weekend=0.2),
        *_series("VECTOR_SEARCH", 80.0, {4: 5.0}, range(5)),  # too young to judge: 4 days of history, 5 needed
    ]
    jobs = [
        {**{k: v for k, v in r.items() if k != "billing_origin_product"}, "job_id": "j7"}
        for r in _series("JOBS", 40.0, {40: 6.0})
    ]
    hub = f"{cfg.hub.catalog}.{cfg.hub.schema}"
    store.replace(f"{hub}.{COSTS}", spark.createDataFrame(costs))
    store.replace(f"{hub}.{JOBS}", spark.createDataFrame(jobs))
    counts = write_anomalies(cfg, store)
    table = store.read(f"{hub}.{TABLE}")
    assert tuple(table.columns) == COLUMNS
    rows = {
        (r["series"], r["billing_origin_product"] or r["job_id"], (r["usage_date"] - START).days): r
        for r in table.collect()
    }
    assert counts is not None and sum(counts.values()) == len(rows)
    return rows


def test_spikes_are_found_with_their_expected_cost_and_baseline(found: dict[tuple[str, str, int], Any]):
    first = found[("workspace_product", "JOBS", 30)]
    assert first["baseline"] == "previous 28 days" and first["baseline_days"] == 28
    wobble = sorted(_cost(d, 100.0) for d in range(2, 30))
    assert first["expected_cost_usd"] == (wobble[13] + wobble[14]) / 2  # the median of the 28 days before
    assert first["actual_cost_usd"] == _cost(30, 100.0) * 4 and first["severity"] == "high"
    assert first["deviation_usd"] == first["actual_cost_usd"] - first["expected_cost_usd"]
    second = found[("workspace_product", "JOBS", 37)]
    assert second["expected_cost_usd"] < 101  # the earlier spike is one day of 28: the median ignores it
    job = found[("job", "j7", 40)]
    assert job["workspace_id"] == "w1" and job["billing_origin_product"] is None and job["severity"] == "high"


def test_a_weekly_series_is_judged_against_the_same_weekday(found: dict[tuple[str, str, int], Any]):
    saturday = found[("workspace_product", "ALL_PURPOSE", 39)]
    assert (START + dt.timedelta(days=39)).weekday() == 5
    assert saturday["baseline"] == "same weekday, 4 weeks" and saturday["expected_cost_usd"] < 21


def test_a_young_series_is_judged_against_the_days_it_has(found: dict[tuple[str, str, int], Any]):
    young = found[("workspace_product", "DLT", 9)]
    assert young["baseline"] == "previous 28 days" and young["baseline_days"] == 9


def test_steady_tiny_and_unjudgeable_series_raise_nothing(found: dict[tuple[str, str, int], Any]):
    assert set(found) == {
        ("workspace_product", "JOBS", 30),
        ("workspace_product", "JOBS", 37),
        ("workspace_product", "DLT", 9),
        ("workspace_product", "ALL_PURPOSE", 39),
        ("job", "j7", 40),
    }


def test_stm_hub_finops_without_consolidated_costs_is_one_line_exit_2(tmp_path: Path, capsys: Any):
    from stm.cli import main

    assert main(["hub", "finops", "--lake-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no all_workspaces_costs or all_cost_by_job table: run stm hub sync" in err
    assert list(tmp_path.iterdir()) == []  # nothing created
