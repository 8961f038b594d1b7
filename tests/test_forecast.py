"""Cost forecasts (stm/forecast.py): a weekly series is forecast by its season, a short one by its last week."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from stm.config import Config
from stm.forecast import COSTS, TABLE, forecast_table, predict, write_forecast
from stm.store.local import LocalTableStore

WEEK = np.array([100.0, 110.0, 105.0, 120.0, 115.0, 30.0, 25.0])  # weekdays busy, weekends quiet


def test_a_weekly_series_is_forecast_with_its_season():
    history = np.tile(WEEK, 8)
    ahead, method = predict(history, 14)
    assert method == "holt-winters weekly"
    assert np.allclose(ahead, np.tile(WEEK, 2), rtol=0.02)


def test_a_short_series_is_forecast_by_the_mean_of_its_last_week():
    ahead, method = predict(np.array([10.0] * 5 + [20.0] * 7), 3)
    assert method == "mean of the last 7 days" and list(ahead) == [20.0, 20.0, 20.0]


def _costs(days: int, start: dt.date) -> pd.DataFrame:
    rows = []
    for i in range(days):
        day = start + dt.timedelta(days=i)
        for ws, scale in (("w1", 1.0), ("w2", 0.5)):
            rows.append(
                {
                    "source_account": "acme",
                    "workspace_id": ws,
                    "usage_date": day,
                    "total_cost_usd": WEEK[day.weekday()] * scale,
                }
            )
    return pd.DataFrame(rows)


def test_month_to_date_month_end_and_next_30_days_per_account_and_workspace():
    start = dt.date(2026, 9, 7)  # a Monday: WEEK[0] on Mondays
    table = forecast_table(_costs(60, start)).set_index(["level", "workspace_id"], drop=False)
    as_of = start + dt.timedelta(days=59)  # 2026-11-05, a Thursday
    account = (
        table.loc[("account", None)] if ("account", None) in table.index else table[table.level == "account"].iloc[0]
    )
    month_days = [dt.date(2026, 11, d) for d in range(1, 31)]
    truth_mtd = sum(WEEK[d.weekday()] * 1.5 for d in month_days if d <= as_of)
    truth_end = sum(WEEK[d.weekday()] * 1.5 for d in month_days)
    assert account["as_of"] == as_of and account["month_to_date_usd"] == pytest.approx(truth_mtd)
    assert account["month_end_usd"] == pytest.approx(truth_end, rel=0.02)
    assert account["next_30_days_usd"] == pytest.approx(
        sum(WEEK[(as_of + dt.timedelta(days=k)).weekday()] * 1.5 for k in range(1, 31)), rel=0.02
    )
    w2 = table[(table.level == "workspace") & (table.workspace_id == "w2")].iloc[0]
    assert w2["month_end_usd"] == pytest.approx(truth_end / 3, rel=0.02)


def test_write_forecast_on_a_hub(spark: Any, cfg: Config, tmp_path: Path):
    store = LocalTableStore(spark, tmp_path)
    hub = f"{cfg.hub.catalog}.{cfg.hub.schema}"
    assert write_forecast(cfg, store) is None  # no costs yet: nothing written
    store.replace(f"{hub}.{COSTS}", spark.createDataFrame(_costs(30, dt.date(2026, 10, 1))))
    assert write_forecast(cfg, store) == 3  # the account and its two workspaces
    rows = store.read(f"{hub}.{TABLE}").collect()
    assert {r["level"] for r in rows} == {"account", "workspace"} and all(r["month_end_usd"] > 0 for r in rows)


class _SameWeekdayForecast:
    """A stand-in for Databricks SQL's ``ai_forecast`` (not in open-source Spark) with its arguments and output
    columns (``<value>_forecast``, ``_upper``, ``_lower`` per time and group): each series forecast by its value on
    the same weekday a week before, from the day after its last observation up to ``horizon`` (right-exclusive)."""

    @staticmethod
    def analyze(observed: Any, **_: Any) -> Any:
        from pyspark.sql.functions import AnalyzeResult
        from pyspark.sql.types import DateType, DoubleType, StringType, StructType

        schema = StructType().add("series", StringType()).add("usage_date", DateType())
        for suffix in ("forecast", "upper", "lower"):
            schema = schema.add(f"cost_{suffix}", DoubleType())
        return AnalyzeResult(schema, withSinglePartition=True)

    def __init__(self) -> None:
        self.rows: dict[str, dict[dt.date, float]] = {}
        self.until: dt.date | None = None

    def eval(self, observed: Any, **args: Any) -> None:
        self.until = args["horizon"]
        self.rows.setdefault(observed["series"], {})[observed["usage_date"]] = observed["cost"]

    def terminate(self) -> Any:
        for series, by_day in self.rows.items():
            day = max(by_day) + dt.timedelta(days=1)
            while self.until is not None and day < self.until:
                value = by_day[day - dt.timedelta(days=7)]
                by_day[day] = value
                yield series, day, value, value, value
                day += dt.timedelta(days=1)


def test_forecast_sql_fills_the_local_columns_from_ai_forecast_on_spark(spark: Any):
    from pyspark.sql.functions import udtf

    from stm.forecast_sql import forecast_select

    session = spark.newSession()  # the stand-in and the view stay out of the session other tests share
    session.udtf.register("ai_forecast", udtf(_SameWeekdayForecast))
    session.createDataFrame(_costs(60, dt.date(2026, 9, 7))).createOrReplaceTempView("forecast_costs")
    rows = {
        (r["level"], r["workspace_id"]): r.asDict()
        for r in session.sql(forecast_select(lambda _: "forecast_costs")).collect()
    }

    as_of = dt.date(2026, 11, 5)
    month_days = [dt.date(2026, 11, d) for d in range(1, 31)]
    account = rows[("account", None)]
    assert (account["as_of"], account["history_days"], account["method"]) == (as_of, 60, "ai_forecast")
    assert account["month_to_date_usd"] == pytest.approx(sum(WEEK[d.weekday()] * 1.5 for d in month_days if d <= as_of))
    assert account["month_end_usd"] == pytest.approx(sum(WEEK[d.weekday()] * 1.5 for d in month_days))
    ahead = sum(WEEK[(as_of + dt.timedelta(days=k)).weekday()] * 1.5 for k in range(1, 31))
    assert account["next_30_days_usd"] == pytest.approx(ahead)
    assert rows[("workspace", "w2")]["month_end_usd"] == pytest.approx(account["month_end_usd"] / 3)
    assert set(rows) == {("account", None), ("workspace", "w1"), ("workspace", "w2")}
