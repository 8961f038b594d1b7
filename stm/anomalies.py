"""Daily cost anomalies on the hub: one SQL definition, run by local Spark and deployed as a Databricks hub view.

Two kinds of series, each a day's list cost: per (account, workspace, product) from ``all_workspaces_costs`` and per
(account, workspace, job) from ``all_cost_by_job``. A day is judged against its own series' previous 28 days that had
cost (at least five of them; days without cost have no row):

* expected cost: the median of those days, or, when the series has a weekly pattern (the median of the same weekday
  in the previous four weeks, at least three of them, is more than twice or less than half the 28-day median), that
  same-weekday median: a weekend that always costs a fifth of a weekday is judged against weekends;
* spread: the median absolute deviation (MAD) of the days' log costs, at least ``anomaly_floor_percent``; costs
  grow and shrink by factors, so spikes are judged on the log scale;
* score: (ln actual - ln expected) / (1.4826 x spread), the MAD's normal-consistent z-score;
* an anomaly: score >= ``anomaly_score``, actual >= ``anomaly_min_ratio`` x expected, actual >=
  ``anomaly_peak_ratio`` x the usual high (the 90th percentile of the 28 days, or the highest of the same weekdays
  for a weekly series: a series that often bursts must burst beyond its bursts) and actual - expected >=
  ``anomaly_min_usd``; severity ``high`` from twice the score threshold, ``medium`` from 1.5 times, else ``low``.

A drop is not judged, nor a series' first days; medians make an earlier spike in the history count for little, so
one spike does not hide the next. ``bench/bench_anomalies.py`` measures precision and recall on simulated spikes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stm.config import AnalyticsConfig, Config

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from stm.store.delta import TableStore

COSTS, JOBS = "all_workspaces_costs", "all_cost_by_job"
TABLE = "cost_anomalies"
COLUMNS = (
    "series",
    "source_account",
    "account_id",
    "workspace_id",
    "billing_origin_product",
    "job_id",
    "usage_date",
    "actual_cost_usd",
    "expected_cost_usd",
    "deviation_usd",
    "score",
    "severity",
    "baseline",
    "baseline_days",
)


@dataclass(frozen=True)
class Series:
    name: str
    table: str
    key: str  # the series' own key column beside account and workspace


SERIES = (Series("workspace_product", COSTS, "billing_origin_product"), Series("job", JOBS, "job_id"))
KEYS = ("source_account", "account_id", "workspace_id")


def _series_select(series: Series, cfg: AnalyticsConfig) -> str:
    using = f"({', '.join([*KEYS, series.key])}, usage_date)"
    product = "billing_origin_product" if series.key == "billing_origin_product" else "CAST(NULL AS STRING)"
    job = "job_id" if series.key == "job_id" else "CAST(NULL AS STRING)"
    score = float(cfg.anomaly_score)
    floor = math.log(1 + float(cfg.anomaly_floor_percent) / 100.0)
    n = series.name
    return f"""SELECT '{n}' AS series, {", ".join(KEYS)}, {product} AS billing_origin_product, {job} AS job_id,
  usage_date, actual_cost_usd, expected_cost_usd, deviation_usd, score,
  CASE WHEN score >= {2 * score} THEN 'high' WHEN score >= {1.5 * score} THEN 'medium' ELSE 'low' END AS severity,
  baseline, baseline_days
FROM (
  SELECT d.*, m.baseline, m.baseline_days, CAST(m.expected AS DECIMAL(38, 6)) AS expected_cost_usd,
    CAST(d.actual_cost_usd - m.expected AS DECIMAL(38, 6)) AS deviation_usd,
    (ln(CAST(d.actual_cost_usd AS DOUBLE)) - ln(m.expected)) / (1.4826 * GREATEST(s.mad, {floor})) AS score,
    CAST(d.actual_cost_usd AS DOUBLE) / m.expected AS ratio, CAST(d.actual_cost_usd AS DOUBLE) / m.usual_high AS peak
  FROM {n}_daily AS d
  JOIN {n}_expected AS m USING {using}
  JOIN {n}_mad AS s USING {using}
) AS judged
WHERE score >= {score} AND ratio >= {float(cfg.anomaly_min_ratio)} AND peak >= {float(cfg.anomaly_peak_ratio)}
  AND deviation_usd >= {float(cfg.anomaly_min_usd)}"""


def _series_ctes(series: Series, ref: str) -> str:
    columns = [*KEYS, series.key]
    keys = ", ".join(columns)
    on = " AND ".join(f"h.{k} = d.{k}" for k in columns)
    using = f"({keys}, usage_date)"
    n = series.name
    return f"""{n}_daily AS (
  SELECT {keys}, usage_date, SUM(total_cost_usd) AS actual_cost_usd
  FROM {ref}
  WHERE {" IS NOT NULL AND ".join(columns)} IS NOT NULL
  GROUP BY {keys}, usage_date
  HAVING SUM(total_cost_usd) > 0
),
{n}_history AS (
  SELECT d.{", d.".join(columns)}, d.usage_date, CAST(h.actual_cost_usd AS DOUBLE) AS past,
    datediff(d.usage_date, h.usage_date) % 7 = 0 AS same_weekday
  FROM {n}_daily AS d JOIN {n}_daily AS h
    ON {on} AND h.usage_date BETWEEN date_sub(d.usage_date, 28) AND date_sub(d.usage_date, 1)
),
{n}_levels AS (
  SELECT {keys}, usage_date, CAST(count(*) AS INT) AS days, count_if(same_weekday) AS weekdays,
    percentile(past, 0.5) AS median_all, percentile(CASE WHEN same_weekday THEN past END, 0.5) AS median_weekday,
    percentile(ln(past), 0.5) AS median_log, percentile(past, 0.9) AS high_all,
    max(CASE WHEN same_weekday THEN past END) AS high_weekday
  FROM {n}_history GROUP BY {keys}, usage_date
  HAVING count(*) >= 5
),
{n}_expected AS (
  SELECT {keys}, usage_date, days AS baseline_days,
    CASE WHEN weekly THEN 'same weekday, 4 weeks' ELSE 'previous 28 days' END AS baseline,
    CASE WHEN weekly THEN median_weekday ELSE median_all END AS expected,
    CASE WHEN weekly THEN high_weekday ELSE high_all END AS usual_high
  FROM (
    SELECT *, weekdays >= 3 AND (median_weekday > 2 * median_all OR median_weekday < median_all / 2) AS weekly
    FROM {n}_levels
  ) AS levels
),
{n}_mad AS (
  SELECT {", ".join(f"h.{k}" for k in columns)}, h.usage_date, percentile(abs(ln(h.past) - l.median_log), 0.5) AS mad
  FROM {n}_history AS h JOIN {n}_levels AS l USING {using}
  GROUP BY {", ".join(f"h.{k}" for k in columns)}, h.usage_date
)"""


def anomalies_select(ref: Callable[[str], str], cfg: AnalyticsConfig, tables: set[str] | None = None) -> str:
    """The ``cost_anomalies`` SELECT; ``ref(name)`` gives how a hub table is named in SQL (quoted, qualified).

    ``tables``: the hub tables that exist (None: both); a series whose table is missing is left out."""
    chosen = [s for s in SERIES if tables is None or s.table in tables]
    if not chosen:
        raise ValueError(f"cost anomalies need {COSTS} or {JOBS}")
    ctes = ",\n".join(_series_ctes(s, ref(s.table)) for s in chosen)
    selects = "\nUNION ALL\n".join(_series_select(s, cfg) for s in chosen)
    return f"WITH {ctes}\n{selects}"


def detect(cfg: Config, store: TableStore) -> DataFrame | None:
    """The anomalies of the hub ``cfg.hub`` as a frame (None when the hub has neither costs table yet).

    The hub's tables are named in the SQL through temporary views of a session of its own, so nothing is left
    behind in the caller's session."""
    session, present = store.view_session(cfg.hub.catalog, cfg.hub.schema, (COSTS, JOBS))
    if not present:
        return None
    return session.sql(anomalies_select(lambda t: t, cfg.analytics, present))


def write_anomalies(cfg: Config, store: TableStore) -> dict[str, int] | None:
    """Replace the hub's ``cost_anomalies`` table; the anomalies written per severity (None: no costs table)."""
    found = detect(cfg, store)
    if found is None:
        return None
    store.replace(f"{cfg.hub.catalog}.{cfg.hub.schema}.{TABLE}", found)
    counts = {"high": 0, "medium": 0, "low": 0}
    for row in store.read(f"{cfg.hub.catalog}.{cfg.hub.schema}.{TABLE}").groupBy("severity").count().collect():
        counts[row["severity"]] = row["count"]
    return counts
