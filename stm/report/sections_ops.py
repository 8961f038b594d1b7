"""Operations sections: job failure rates, AI/ML spend, week-over-week trend flags, data freshness. Pure.

The FinOps sections are in ``sections_finops``."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pandas as pd

from stm.report import charts
from stm.report.charts import Series, money, percent
from stm.report.model import (
    Badge,
    Cell,
    Chart,
    Labels,
    ReportData,
    Section,
    Table,
    Window,
    as_dates,
    day_label,
    need,
    new_section,
    numbers,
    scope_columns,
)

AIML_PARTS = (
    ("model_serving_cost", "Model serving"),
    ("vector_search_cost", "Vector search"),
    ("foundation_model_training_cost", "Foundation model training"),
)
MAX_TREND_ROWS = 12


def _rate(part: float, whole: float) -> float:
    return part / whole if whole else float("nan")


def job_names(data: ReportData) -> dict[tuple[str, str], str]:
    """Job names by ``(workspace_id, job_id)``: the current job table first, else the names in ``cost_by_job``."""
    names: dict[tuple[str, str], str] = {}
    for table, column in (("cost_by_job", "job_name"), ("jobs_current", "name")):
        frame = data.frames.get(table)
        if frame is None or not {"workspace_id", "job_id", column} <= set(frame.columns):
            continue
        for ws, job, name in zip(frame["workspace_id"], frame["job_id"], frame[column], strict=True):
            if isinstance(name, str) and name:
                names[(str(ws), str(job))] = name
    return names


def job_failures(data: ReportData, window: Window, labels: Labels, top: int) -> Section:
    section = new_section("jobs", "Share of finished runs that failed (FAILED, TIMED_OUT, ERROR), per run date.")
    frame, problem = need(data, "job_runs_summary", ("run_date", "job_id", "total_runs", "failed_runs"))
    if frame is None:
        section.missing.append(problem)
    else:
        frame = numbers(window.select(frame, "run_date"), "total_runs", "failed_runs")
        daily = frame.groupby("run_date")[["total_runs", "failed_runs"]].sum().reindex(window.dates(), fill_value=0)
        rates = [_rate(f, t) for f, t in zip(daily["failed_runs"], daily["total_runs"], strict=True)]
        days = [day_label(d) for d in daily.index]
        section.charts.append(
            Chart(
                "Daily failure rate (all jobs)",
                charts.line_chart(days, [Series("failure rate", rates, charts.PALETTE[3])], label="Daily failure rate"),
            )
        )
        acct, ws = scope_columns(frame)
        per_job = frame.groupby([acct, ws, "job_id"])[["total_runs", "failed_runs"]].sum()
        per_job = per_job[per_job["failed_runs"] > 0].assign(rate=lambda f: f["failed_runs"] / f["total_runs"])
        per_job = per_job.sort_values(["rate", "failed_runs"], ascending=False).head(top)
        names = job_names(data)
        rows: list[list[Cell]] = []
        bar_labels = []
        for (a, w, job), r in per_job.iterrows():
            name = names.get((str(w), str(job)), f"job {job}")
            bar_labels.append(name)
            rows.append(
                [
                    name,
                    labels.workspace(a, w),
                    f"{int(r['total_runs']):,}",
                    f"{int(r['failed_runs']):,}",
                    percent(r["rate"]),
                ]
            )
        if rows:
            chart = charts.bar_list(
                bar_labels,
                per_job["rate"].tolist(),
                label="Failure rate by job",
                fmt=percent,
                color=charts.PALETTE[3],
                width=1100,
            )
            section.charts.append(Chart(f"Jobs with failures (top {top} by failure rate)", chart))
            section.tables.append(
                Table(["Job", "Workspace", "Runs", "Failed", "Failure rate"], rows, frozenset({2, 3, 4}))
            )
        else:
            section.notes.append("No job run failed in this period.")
        total, failed = float(daily["total_runs"].sum()), float(daily["failed_runs"].sum())
        section.notes.append(f"{int(failed):,} of {int(total):,} runs failed ({percent(_rate(failed, total))}).")
    section.tables.extend(_weekly_success(data, window))
    section.missing.extend(p for p in _weekly_problem(data) if p)
    return section


def _weekly_problem(data: ReportData) -> list[str]:
    return [need(data, "job_success_rate_weekly", ("week_start", "runs", "successes", "failures"))[1]]


def _weekly_success(data: ReportData, window: Window) -> list[Table]:
    frame, _ = need(data, "job_success_rate_weekly", ("week_start", "runs", "successes", "failures"))
    if frame is None:
        return []
    weeks = as_dates(frame["week_start"])
    frame = frame[(weeks <= window.end) & (weeks + timedelta(days=6) >= window.start)]  # weeks touching the window
    frame = numbers(frame.assign(week_start=as_dates(frame["week_start"])), "runs", "successes", "failures")
    retries = "retries" if "retries" in frame.columns else "runs"
    weekly = frame.groupby("week_start").agg(
        runs=("runs", "sum"), ok=("successes", "sum"), failed=("failures", "sum"), retries=(retries, "sum")
    )
    rows = [
        [
            f"{w:%Y-%m-%d}",
            f"{int(r.runs):,}",
            f"{int(r.ok):,}",
            f"{int(r.failed):,}",
            f"{int(r.retries):,}" if retries == "retries" else "",
            percent(_rate(r.ok, r.runs)),
        ]
        for w, r in weekly.sort_index(ascending=False).iterrows()
    ]
    return [
        Table(
            ["Week from", "Runs", "Succeeded", "Failed", "Retries", "Success rate"],
            rows,
            frozenset({1, 2, 3, 4, 5}),
            "Weekly job success (job_success_rate_weekly)",
        )
    ]


def aiml_spend(data: ReportData, window: Window, labels: Labels) -> Section:
    section = new_section("aiml", "Model serving, vector search and foundation model training, per day.")
    frame, problem = need(data, "aiml_executive_summary", ("summary_date", "total_aiml_cost"))
    if frame is None:
        section.missing.append(problem)
        return section
    parts = [(c, n) for c, n in AIML_PARTS if c in frame.columns]
    frame = numbers(window.select(frame, "summary_date"), "total_aiml_cost", *(c for c, _ in parts))
    frame = frame.assign(
        other_aiml=frame["total_aiml_cost"].fillna(0) - frame[[c for c, _ in parts]].fillna(0).sum(axis=1)
    )
    if frame["other_aiml"].abs().sum() > 0.005:
        parts.append(("other_aiml", "Other AI/ML"))
    daily = frame.groupby("summary_date")[[c for c, _ in parts]].sum().reindex(window.dates(), fill_value=0.0)
    series = [
        Series(n, daily[c].tolist(), charts.PALETTE[(4 + i) % len(charts.PALETTE)]) for i, (c, n) in enumerate(parts)
    ]
    days = [day_label(d) for d in daily.index]
    section.charts.append(
        Chart("", charts.stacked_bars(days, series, label=section.title, height=260), charts.legend(series))
    )
    acct, ws = scope_columns(frame)
    has_requests = "total_requests" in frame.columns
    frame = numbers(frame, "total_requests") if has_requests else frame.assign(total_requests=0)
    per_ws = frame.groupby([acct, ws])[[*(c for c, _ in parts), "total_aiml_cost", "total_requests"]].sum()
    per_ws = per_ws.sort_values("total_aiml_cost", ascending=False)
    rows = []
    for (a, w), r in per_ws.iterrows():
        rows.append(
            [
                labels.workspace(a, w),
                *(money(r[c]) for c, _ in parts),
                money(r["total_aiml_cost"]),
                f"{int(r['total_requests']):,}" if has_requests else "",
            ]
        )
    totals = per_ws.sum()
    rows.append(
        [
            "Total",
            *(money(totals[c]) for c, _ in parts),
            money(totals["total_aiml_cost"]),
            f"{int(totals['total_requests']):,}" if has_requests else "",
        ]
    )
    headers = ["Workspace", *(n for _, n in parts), "Total AI/ML", "Serving requests"]
    section.tables.append(Table(headers, rows, frozenset(range(1, len(headers))), total_row=True))
    return section


TREND_COLUMNS = ("week_start", "exceeds_threshold", "total_cost_usd", "previous_week_cost_usd", "change_percent")


def flagged_trends(data: ReportData, window: Window) -> pd.DataFrame | None:
    """Flagged rows of ``cost_trend_analysis`` for weeks ending in the window: complete weeks first, newest first,
    biggest change first; ``_partial`` marks a week still in progress (its drop is often just missing days)."""
    frame, _ = need(data, "cost_trend_analysis", TREND_COLUMNS)
    if frame is None:
        return None
    frame = frame.assign(week_start=as_dates(frame["week_start"]))
    frame = frame[
        frame["exceeds_threshold"].fillna(False).astype(bool)
        & (frame["week_start"] >= window.start - timedelta(days=6))
    ]
    frame = numbers(frame, "total_cost_usd", "previous_week_cost_usd", "change_percent")
    partial = frame["is_incomplete"].fillna(False).astype(bool) if "is_incomplete" in frame else False
    change = frame["total_cost_usd"] - frame["previous_week_cost_usd"].fillna(0.0)
    frame = frame.assign(_change=change, _abs=change.abs(), _partial=partial)
    return frame.sort_values(["_partial", "week_start", "_abs"], ascending=[True, False, False])


def _change_badge(change_percent: float) -> Badge:
    if math.isnan(change_percent):
        return Badge("\u25b2 new", "bad")
    if change_percent > 0:
        return Badge(f"\u25b2 +{change_percent:.0f}%", "bad")
    return Badge(f"\u25bc {change_percent:.0f}%", "good")


def trend_flags(data: ReportData, window: Window, labels: Labels) -> Section:
    section = new_section("trends", "Weekly cost changes beyond the configured threshold.")
    frame = flagged_trends(data, window)
    if frame is None:
        section.missing.append(need(data, "cost_trend_analysis", TREND_COLUMNS)[1])
        return section
    if "threshold_percent" in frame.columns and len(frame):
        threshold = float(frame["threshold_percent"].max())
        section.description = f"Weekly cost changes beyond \u00b1{threshold:g}% of the week before, newest first."
    acct, ws = scope_columns(frame)
    key = "billing_origin_product" if "billing_origin_product" in frame.columns else None
    rows: list[list[Cell]] = []
    for rec in frame.to_dict("records"):
        partial = bool(rec["_partial"])
        rows.append(
            [
                f"{rec['week_start']:%Y-%m-%d}" + (" (partial week)" if partial else ""),
                labels.workspace(rec[acct], rec[ws]),
                str(rec[key]) if key else "all",
                money(rec["previous_week_cost_usd"]),
                money(rec["total_cost_usd"]),
                money(rec["_change"]),
                _change_badge(float(rec["change_percent"])),
            ]
        )
    headers = ["Week from", "Workspace", "Product", "Week before", "This week", "Change", "Change %"]
    if not rows:
        section.notes.append("No week-over-week change beyond the threshold in this period.")
    capped(section, headers, rows, frozenset({3, 4, 5, 6}), MAX_TREND_ROWS, "flags")
    return section


def capped(
    section: Section, headers: list[str], rows: list[list[Cell]], numeric: frozenset[int], cap: int, noun: str
) -> None:
    """The first ``cap`` rows, and every row in a collapsed table when there are more."""
    section.tables.append(Table(headers, rows[:cap], numeric))
    if len(rows) > cap:
        section.tables.append(Table(headers, rows, numeric, f"All {len(rows)} {noun} in this period", collapsed=True))


def _freshness_badge(newest: date | None, today: date) -> Badge:
    if newest is None:
        return Badge("no data", "bad")
    behind = (today - newest).days
    tone = "good" if behind <= 1 else "warn" if behind <= 3 else "bad"
    return Badge("today" if behind <= 0 else f"{behind} day{'s' if behind != 1 else ''} behind", tone)


def freshness(data: ReportData, labels: Labels) -> Section:
    section = new_section("freshness", "Newest usage date per source, and the last sync of each provider.")
    today = data.generated_at.date()
    newest: dict[tuple[str, str], dict[str, date]] = {}
    for table, column in (("cost_by_product", "usage_date"), ("job_runs_summary", "run_date")):
        frame, problem = need(data, table, (column, "source_account", "source_workspace"))
        if frame is None:
            section.missing.append(problem)
            continue
        dates = frame.assign(_d=as_dates(frame[column])).groupby(["source_account", "source_workspace"])["_d"].max()
        for (a, w), d in dates.items():
            newest.setdefault((str(a), str(w)), {})[table] = d
    rows: list[list[Cell]] = []
    for (a, w), found in sorted(newest.items()):
        usage, runs = found.get("cost_by_product"), found.get("job_runs_summary")
        rows.append(
            [
                labels.account(a),
                labels.workspace(a, w),
                f"{usage:%Y-%m-%d}" if usage else "n/a",
                f"{runs:%Y-%m-%d}" if runs else "n/a",
                _freshness_badge(max((d for d in (usage, runs) if d), default=None), today),
            ]
        )
    if rows:
        section.tables.append(
            Table(
                ["Source account", "Source workspace", "Newest usage date", "Newest job run", "Newest data"],
                rows,
                caption="Newest data per source",
            )
        )
    section.tables.extend(_sync_tables(data, section))
    return section


def _sync_badge(failed: int, missing: int) -> Badge:
    if failed:
        return Badge(f"{failed} failed", "bad")
    if missing:
        return Badge(f"{missing} missing", "warn")
    return Badge("ok", "good")


def _sync_tables(data: ReportData, section: Section) -> list[Table]:
    sync = data.sync
    if sync is None or not {"provider", "synced_at"} <= set(sync.columns):
        if "sync_status" in data.missing:
            section.missing.append("no data: " + data.missing["sync_status"])
        return []
    status = sync["status"].astype(str).str.lower() if "status" in sync.columns else pd.Series("ok", sync.index)
    sync = sync.assign(synced_at=pd.to_datetime(sync["synced_at"], utc=True), _status=status)
    rows: list[list[Cell]] = []
    for provider, group in sync.groupby("provider"):
        failed, absent = group[group["_status"] == "failed"], group[group["_status"] == "missing"]
        errors = failed["error"].dropna() if "error" in failed.columns else pd.Series(dtype=object)
        last = group["synced_at"].max()
        rows.append(
            [
                str(provider),
                "never" if pd.isna(last) else f"{last:%Y-%m-%d %H:%M} UTC",
                str(len(group)),
                _sync_badge(len(failed), len(absent)),
                str(errors.iloc[-1]) if len(errors) else "",
            ]
        )
    detail = [
        [
            str(r.get("provider", "")),
            str(r.get("table", "")),
            str(r.get("version", "")),
            str(r.get("rows", "")),
            "" if pd.isna(r["synced_at"]) else f"{r['synced_at']:%Y-%m-%d %H:%M:%S}",
            str(r.get("status", "")),
        ]
        for r in sync.sort_values(["provider", "synced_at"]).to_dict("records")
    ]
    title = "Last sync per provider" if data.mode == "hub" else "Last write per table (provider lake)"
    return [
        Table(["Provider", "Last sync", "Tables", "Status", "Last error"], rows, frozenset({2}), title),
        Table(
            ["Provider", "Table", "Version", "Rows", "Synced at (UTC)", "Status"],
            detail,
            frozenset({2, 3}),
            "Sync details",
            collapsed=True,
        ),
    ]
