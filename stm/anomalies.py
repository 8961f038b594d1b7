"""Daily cost anomalies on the hub: one SQL definition, run by local Spark and deployed as a Databricks hub view.

Two kinds of series, each a day's list cost: per (account, workspace, product) from ``all_workspaces_costs`` and per
(account, workspace, job) from ``all_cost_by_job``. A day is judged against its own series' history in the 28 days
before it:

* baseline: the same weekday of the previous four weeks when at least three of them have cost (weekly seasonality),
  else the previous seven days when at least five of them have cost; with less history the day is not judged;
* expected cost: the median of the baseline days; spread: the median absolute deviation (MAD) of the baseline days
  from it, floored at ``anomaly_floor_percent`` of the expected cost (a flat series still has a scale);
* score: (actual - expected) / (1.4826 x spread), the MAD's normal-consistent z-score;
* an anomaly: score >= ``anomaly_score`` and actual - expected >= ``anomaly_min_usd``; severity ``high`` from twice
  the score threshold, ``medium`` from 1.5 times, else ``low``.

Days without cost are absent from a series (no row), so a drop to zero is not judged, and a series that spends for the
first time has no baseline: the table reports spikes over a known level. Medians and MADs are robust to an earlier
spike in the baseline: one spike does not hide the next.
"""

from __future__ import annotations

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
    score, floor = float(cfg.anomaly_score), float(cfg.anomaly_floor_percent) / 100.0
    return f"""SELECT '{series.name}' AS series, {", ".join(KEYS)},
  {product} AS billing_origin_product, {job} AS job_id,
  usage_date, actual_cost_usd, expected_cost_usd, deviation_usd, score,
  CASE WHEN score >= {2 * score} THEN 'high' WHEN score >= {1.5 * score} THEN 'medium' ELSE 'low' END AS severity,
  baseline, baseline_days
FROM (
  SELECT d.*, m.baseline, m.baseline_days, CAST(m.expected AS DECIMAL(38, 6)) AS expected_cost_usd,
    CAST(d.actual_cost_usd - m.expected AS DECIMAL(38, 6)) AS deviation_usd,
    (CAST(d.actual_cost_usd AS DOUBLE) - m.expected) / (1.4826 * GREATEST(s.mad, {floor} * m.expected, 1e-9)) AS score
  FROM {series.name}_daily AS d
  JOIN {series.name}_median AS m USING {using}
  JOIN {series.name}_mad AS s USING {using}
) AS judged
WHERE score >= {score} AND deviation_usd >= {float(cfg.anomaly_min_usd)}"""


def _series_ctes(series: Series, ref: str) -> str:
    keys = ", ".join([*KEYS, series.key])
    on = " AND ".join(f"h.{k} = d.{k}" for k in [*KEYS, series.key])
    using = f"({keys}, usage_date)"
    n = series.name
    return f"""{n}_daily AS (
  SELECT {keys}, usage_date, SUM(total_cost_usd) AS actual_cost_usd
  FROM {ref}
  WHERE total_cost_usd IS NOT NULL AND {" IS NOT NULL AND ".join([*KEYS, series.key])} IS NOT NULL
  GROUP BY {keys}, usage_date
),
{n}_history AS (
  SELECT d.{", d.".join([*KEYS, series.key])}, d.usage_date, CAST(h.actual_cost_usd AS DOUBLE) AS past,
    datediff(d.usage_date, h.usage_date) AS lag_days
  FROM {n}_daily AS d JOIN {n}_daily AS h
    ON {on} AND h.usage_date BETWEEN date_sub(d.usage_date, 28) AND date_sub(d.usage_date, 1)
),
{n}_counts AS (
  SELECT {keys}, usage_date, count_if(lag_days % 7 = 0) AS weekly_n, count_if(lag_days <= 7) AS recent_n
  FROM {n}_history GROUP BY {keys}, usage_date
),
{n}_baseline AS (
  SELECT h.*, CASE WHEN c.weekly_n >= 3 THEN 'same weekday, 4 weeks' ELSE 'previous 7 days' END AS baseline
  FROM {n}_history AS h JOIN {n}_counts AS c USING {using}
  WHERE (c.weekly_n >= 3 AND h.lag_days % 7 = 0) OR (c.weekly_n < 3 AND c.recent_n >= 5 AND h.lag_days <= 7)
),
{n}_median AS (
  SELECT {keys}, usage_date, first(baseline) AS baseline, CAST(count(*) AS INT) AS baseline_days,
    percentile(past, 0.5) AS expected
  FROM {n}_baseline GROUP BY {keys}, usage_date
),
{n}_mad AS (
  SELECT b.{", b.".join([*KEYS, series.key])}, b.usage_date, percentile(abs(b.past - m.expected), 0.5) AS mad
  FROM {n}_baseline AS b JOIN {n}_median AS m USING {using}
  GROUP BY b.{", b.".join([*KEYS, series.key])}, b.usage_date
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
    session = store.spark.newSession()
    mine = store.bound(session)
    present = set()
    for table in (COSTS, JOBS):
        name = f"{cfg.hub.catalog}.{cfg.hub.schema}.{table}"
        if mine.exists(name):
            mine.read(name).createOrReplaceTempView(table)
            present.add(table)
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
