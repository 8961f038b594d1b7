"""Cost forecasts on the hub: month end and the next 30 days, per account and per workspace.

Each series is a day's list cost (``all_workspaces_costs``, summed per account or per workspace), days without cost
counted as zero between its first and newest day. The newest day is still arriving (billing lags by hours), so the
model is fitted on the days before it and forecasts from it on. The model is Holt-Winters exponential smoothing
with an additive weekly season (period 7) and a damped additive trend (``statsmodels``' ``ExponentialSmoothing``),
fitted on the last ``HISTORY_DAYS`` days when at least three weeks exist; a shorter series is forecast by the mean of
its last seven days. Negative forecasts are clipped at zero. ``month_end_usd`` is the month's complete days plus the
forecast of the newest day and the rest of the month; ``next_30_days_usd`` the forecast of the 30 days after the
newest one. ``bench/bench_forecast.py`` backtests the method on the simulator's history (the mean absolute
percentage error per series over a held-out week).
"""

from __future__ import annotations

import datetime as dt
import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from stm.config import Config
from stm.forecast_sql import COSTS, HISTORY_DAYS, HORIZON, TABLE

if TYPE_CHECKING:
    from stm.store.delta import TableStore

__all__ = ["COSTS", "HISTORY_DAYS", "HORIZON", "TABLE", "forecast_table", "predict", "write_forecast"]
SEASON = 7
MIN_SEASONAL_DAYS = 3 * SEASON


def predict(daily: np.ndarray, horizon: int) -> tuple[np.ndarray, str]:
    """The next ``horizon`` days of ``daily`` (oldest first) and the method used."""
    history = np.asarray(daily, dtype=float)[-HISTORY_DAYS:]
    if len(history) >= MIN_SEASONAL_DAYS and np.ptp(history) > 0:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence notes on short or flat series; the fit is still usable
            model = ExponentialSmoothing(
                history, trend="add", damped_trend=True, seasonal="add", seasonal_periods=SEASON
            ).fit()
            out = np.asarray(model.forecast(horizon), dtype=float)
        if np.all(np.isfinite(out)):
            return np.clip(out, 0, None), "holt-winters weekly"
    level = float(np.mean(history[-SEASON:])) if len(history) else 0.0
    return np.full(horizon, level), "mean of the last 7 days"


def daily_series(costs: pd.DataFrame, keys: list[str]) -> dict[tuple[str, ...], pd.Series]:
    """Each group's cost per day from its first to the newest day of all (missing days as zero)."""
    newest = costs["usage_date"].max()
    out = {}
    for key, group in costs.groupby(keys):
        per_day = group.groupby("usage_date")["total_cost_usd"].sum()
        days = pd.date_range(per_day.index.min(), newest, freq="D").date
        out[key if isinstance(key, tuple) else (key,)] = per_day.reindex(days, fill_value=0.0)
    return out


def forecast_table(costs: pd.DataFrame) -> pd.DataFrame:
    """One row per account and per workspace: month-to-date, month-end and 30-day forecasts (USD)."""
    costs = costs.assign(usage_date=pd.to_datetime(costs["usage_date"]).dt.date)
    costs = costs.assign(total_cost_usd=pd.to_numeric(costs["total_cost_usd"], errors="coerce").fillna(0.0))
    as_of: dt.date = costs["usage_date"].max()
    month_days = (pd.Timestamp(as_of) + pd.offsets.MonthEnd(0)).day
    rows = []
    for level, keys in (("account", ["source_account"]), ("workspace", ["source_account", "workspace_id"])):
        for key, series in daily_series(costs, keys).items():
            # the newest day is still arriving (billing lags by hours): fit on the days before it, forecast from it
            ahead, method = predict(series.to_numpy()[:-1], HORIZON + 1)
            in_month = [d >= as_of.replace(day=1) for d in series.index]
            month_to_date = float(series[in_month].sum())
            complete = float(series[in_month][:-1].sum())
            rest = month_days - as_of.day + 1  # the newest day and the days after it
            rows.append(
                {
                    "level": level,
                    "source_account": key[0],
                    "workspace_id": key[1] if level == "workspace" else None,
                    "as_of": as_of,
                    "history_days": len(series),
                    "method": method,
                    "month_to_date_usd": round(month_to_date, 2),
                    "month_end_usd": round(complete + float(ahead[:rest].sum()), 2),
                    "next_30_days_usd": round(float(ahead[1:].sum()), 2),
                }
            )
    return pd.DataFrame(rows)


def write_forecast(cfg: Config, store: TableStore) -> int | None:
    """Replace the hub's ``cost_forecast``; its rows (None: the hub has no consolidated costs)."""
    name = f"{cfg.hub.catalog}.{cfg.hub.schema}.{COSTS}"
    if not store.exists(name):
        return None
    columns = ("source_account", "workspace_id", "usage_date", "total_cost_usd")
    costs = pd.DataFrame(store.read(name).select(*columns).toPandas())
    if costs.empty:
        return None
    table = forecast_table(costs)
    schema = (
        "level string, source_account string, workspace_id string, as_of date, history_days int, method string, "
        "month_to_date_usd double, month_end_usd double, next_30_days_usd double"
    )
    store.replace(f"{cfg.hub.catalog}.{cfg.hub.schema}.{TABLE}", store.spark.createDataFrame(table, schema))
    return len(table)
