"""Building the report model from the input frames: KPI tiles, then every section in reading order. Pure."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from stm.report import DEFAULT_DAYS, DEFAULT_TOP
from stm.report.charts import money, money_short, percent
from stm.report.model import UNTAGGED, Kpi, Labels, Report, ReportData, Window, make_window, need, numbers
from stm.report.sections_cost import (
    by_product,
    by_sku,
    daily_by_workspace,
    governance,
    serverless_policies,
    top_jobs,
    top_users,
    untagged_share,
    warehouse_queries,
)
from stm.report.sections_finops import alerts, budgets, cost_anomalies, forecasts
from stm.report.sections_ops import aiml_spend, flagged_trends, freshness, job_failures, trend_flags


def build_report(data: ReportData, *, days: int = DEFAULT_DAYS, top: int = DEFAULT_TOP) -> Report:
    """The whole dashboard for the ``days`` days ending on the newest usage date in ``data``."""
    window = make_window(data, days)
    labels = Labels(data.frames.get("workspace_info"))
    sections = [
        daily_by_workspace(data, window, labels),
        by_product(data, window, top),
        by_sku(data, window, top),
        top_jobs(data, window, labels, top),
        top_users(data, window, top),
        untagged_share(data, window, top),
        warehouse_queries(data, window, top),
        serverless_policies(data, window, top),
        governance(data, labels, top),
        aiml_spend(data, window, labels),
        job_failures(data, window, labels, top),
        trend_flags(data, window, labels),
        cost_anomalies(data, window, labels),
        budgets(data),
        forecasts(data, labels),
        alerts(data),
        freshness(data, labels),
    ]
    source = f"{'hub' if data.mode == 'hub' else 'provider lake'} {data.schema}"
    return Report(
        title="Databricks cost and usage",
        source=source,
        period_start=window.start,
        period_end=window.end,
        generated_at=data.generated_at,
        kpis=kpis(data, window),
        sections=sections,
    )


def _window_sum(data: ReportData, name: str, date_col: str, value: str, window: Window) -> pd.DataFrame | None:
    frame, _ = need(data, name, (date_col, value))
    if frame is None:
        return None
    return numbers(window.select(frame, date_col), value)


def kpis(data: ReportData, window: Window) -> list[Kpi]:
    """Headline figures; a tile whose input is missing says so instead of showing a number."""
    tiles: list[Kpi] = []
    costs = _window_sum(data, "cost_by_product", "usage_date", "total_cost_usd", window)
    if costs is None:
        tiles.append(Kpi("Total cost", "n/a", "cost_by_product not found", "warn"))
    else:
        n_days = (window.end - window.start).days + 1
        total = float(costs["total_cost_usd"].sum())
        tiles.append(Kpi("Total cost", money_short(total), f"{money(total)} over {n_days} days"))
        tiles.append(_week_over_week(costs, window))
    aiml = _window_sum(data, "aiml_executive_summary", "summary_date", "total_aiml_cost", window)
    if aiml is not None:
        tiles.append(
            Kpi("AI/ML spend", money_short(float(aiml["total_aiml_cost"].sum())), "serving, vector search, training")
        )
    tags = _window_sum(data, "cost_by_tag", "usage_date", "total_cost_usd", window)
    if tags is not None and {"tag_key", "tag_value"} <= set(tags.columns) and len(tags):
        by_key = tags.assign(_u=tags["tag_value"] == UNTAGGED).groupby(["tag_key", "_u"])["total_cost_usd"].sum()
        shares = {k: by_key.get((k, True), 0.0) / t for k, t in by_key.groupby(level=0).sum().items() if t}
        if shares:
            worst = max(shares, key=lambda k: shares[k])
            tone = "bad" if shares[worst] > 0.5 else "warn" if shares[worst] > 0.2 else "good"
            tiles.append(Kpi("Untagged cost", percent(shares[worst], 0), f"of cost lacks tag '{worst}'", tone))
    runs = _window_sum(data, "job_runs_summary", "run_date", "total_runs", window)
    if runs is not None and "failed_runs" in runs.columns:
        total_runs, failed = float(runs["total_runs"].sum()), float(pd.to_numeric(runs["failed_runs"]).sum())
        rate = failed / total_runs if total_runs else 0.0
        tone = "bad" if rate > 0.1 else "warn" if rate > 0.03 else "good"
        tiles.append(Kpi("Job failure rate", percent(rate), f"{int(failed):,} of {int(total_runs):,} runs", tone))
    trends = flagged_trends(data, window)
    if trends is not None:
        flags, in_partial = int((~trends["_partial"]).sum()), int(trends["_partial"].sum())
        detail = "week-over-week cost changes" + (f" (+{in_partial} in partial weeks)" if in_partial else "")
        tiles.append(Kpi("Trend flags", str(flags), detail, "warn" if flags else "good"))
    generated = f"{window.end:%Y}; report generated {data.generated_at:%Y-%m-%d %H:%M} UTC"
    tiles.append(Kpi("Newest usage date", f"{window.end:%b %d}", generated))
    return tiles


def _week_over_week(costs: pd.DataFrame, window: Window) -> Kpi:
    last_start = window.end - timedelta(days=6)
    prev_start = last_start - timedelta(days=7)
    last = float(costs.loc[costs["usage_date"] >= last_start, "total_cost_usd"].sum())
    prev_mask = (costs["usage_date"] >= prev_start) & (costs["usage_date"] < last_start)
    prev = float(costs.loc[prev_mask, "total_cost_usd"].sum())
    if prev_start < window.start or not prev:
        return Kpi("Last 7 days", money_short(last), "no full week before to compare")
    change = (last - prev) / prev
    arrow = "\u25b2" if change > 0 else "\u25bc"
    tone = "bad" if change > 0.25 else "warn" if change > 0.05 else "good"
    return Kpi("Last 7 days", money_short(last), f"{arrow} {percent(abs(change))} vs the 7 days before", tone)
