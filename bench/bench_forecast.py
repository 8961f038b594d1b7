"""Cost forecast backtest on the simulator's history: the mean absolute percentage error (MAPE) per series.

Simulates 2 accounts x 4 workspaces x 60 days (no injected spikes), runs the billing apps, and for every account and
workspace series of daily list cost holds out the 7 days before the newest (which is still arriving, as on a real
hub), forecasts them from the days before with
``stm.forecast.predict`` and prints the MAPE of each series, the method used and the median over the series, beside
the MAPE of the naive forecast (the same weekday a week earlier) for reference.

Run: ``.venv/bin/python bench/bench_forecast.py [--days N] [--seed N] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
from bench_cost import stream
from harness import PeakMemory, bench_main, simulate_lake, timed

from stm.config import load_config
from stm.engine import open_engine
from stm.forecast import daily_series, predict

HOLDOUT = 7


def mape(actual: np.ndarray, forecast: np.ndarray) -> float:
    mask = actual > 0
    return float(np.mean(np.abs(forecast[mask] - actual[mask]) / actual[mask])) if mask.any() else float("nan")


def run(root: Path, args: argparse.Namespace, memory: PeakMemory) -> None:
    from batch.command import available_jobs
    from batch.registry import BatchContext, run_jobs

    shape = {"accounts": 2, "workspaces": 4, "days": args.days, "seed": args.seed, "billing_rows_per_day": 200}
    timed("simulate (subprocess)", lambda: simulate_lake(root, memory, **shape))
    cfg = load_config()
    engine = open_engine(cfg, root, "stm-bench-forecast")

    def build() -> None:
        results = run_jobs(BatchContext(cfg, engine.spark, engine.store), [available_jobs(cfg)["list_prices"]])
        assert results["list_prices"].status == "ok", results["list_prices"].detail
        stream(cfg, engine, ["billing_usage_bronze"])
        stream(cfg, engine, ["billing_summary"])

    timed("provider: list_prices, bronze, billing_summary", build)
    billing = engine.store.read(cfg.output_name("billing_summary"))
    costs = pd.DataFrame(
        billing.groupBy("account_id", "workspace_id", "usage_date")
        .sum("estimated_cost_usd")
        .withColumnRenamed("sum(estimated_cost_usd)", "total_cost_usd")
        .withColumnRenamed("account_id", "source_account")
        .toPandas()
    )
    costs["total_cost_usd"] = costs["total_cost_usd"].astype(float)
    ours, naive = [], []
    for keys in (["source_account"], ["source_account", "workspace_id"]):
        for key, series in daily_series(costs, keys).items():
            values = series.to_numpy()
            if len(values) <= HOLDOUT + 7:
                continue
            # the newest day is still arriving (as on a real hub): the held-out week ends the day before it
            train, actual = values[: -HOLDOUT - 1], values[-HOLDOUT - 1 : -1]
            forecast, method = predict(train, HOLDOUT)
            ours.append(mape(actual, forecast))
            naive.append(mape(actual, train[-7:][:HOLDOUT]))
            label = "/".join(str(k)[:8] for k in key)
            print(f"  {label:<20} MAPE {ours[-1]:6.1%}  (naive same weekday {naive[-1]:6.1%})  {method}")
    print(f"series: {len(ours)}; median MAPE {statistics.median(ours):.1%} (naive {statistics.median(naive):.1%})")


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=int, default=60, help="days to simulate")
    parser.add_argument("--seed", type=int, default=5, help="simulation seed")


if __name__ == "__main__":
    bench_main(__doc__, "bench-forecast-", run, add_options)
