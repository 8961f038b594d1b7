"""Cost sections: spend per day by account and workspace, by product, SKU, job, user, and the untagged share. Pure."""

from __future__ import annotations

import pandas as pd

from stm.report import charts
from stm.report.charts import Series, money, percent
from stm.report.model import (
    NO_IDENTITY,
    UNTAGGED,
    Chart,
    Labels,
    ReportData,
    Section,
    Table,
    Window,
    day_label,
    need,
    new_section,
    numbers,
    scope_columns,
    top_with_other,
)

COST = "total_cost_usd"
MAX_SERIES = 8


def _costs(data: ReportData, name: str, window: Window, *columns: str) -> tuple[pd.DataFrame | None, str]:
    frame, problem = need(data, name, ("usage_date", COST, *columns))
    if frame is None:
        return None, problem
    selected = window.select(frame, "usage_date")
    extra = [c for c in ("total_dbus", "unpriced_rows", "run_count") if c in selected.columns]
    return numbers(selected, COST, *extra), ""


def _unpriced_note(frame: pd.DataFrame) -> list[str]:
    if "unpriced_rows" not in frame.columns:
        return []
    unpriced = int(frame["unpriced_rows"].fillna(0).sum())
    if not unpriced:
        return []
    return [f"{unpriced:,} usage rows have no list price: they are counted in a data-quality metric, not in cost."]


def _share(value: float, total: float) -> str:
    return percent(value / total) if total else "n/a"


def daily_by_workspace(data: ReportData, window: Window, labels: Labels) -> Section:
    """Cost per day, one stacked series per account and workspace."""
    section = new_section(
        "daily",
        f"List-price cost (USD) per usage date, {window.start:%b %d} to {window.end:%b %d, %Y}, "
        "corrections netted; one colour per workspace.",
    )
    frame, problem = _costs(data, "cost_by_product", window)
    if frame is None:
        section.missing.append(problem)
        return section
    acct, ws = scope_columns(frame)
    frame = frame.assign(_scope=[labels.scope(a, w) for a, w in zip(frame[acct], frame[ws], strict=True)])
    pivot = frame.pivot_table(index="usage_date", columns="_scope", values=COST, aggfunc="sum", fill_value=0.0)
    pivot = pivot.reindex(window.dates(), fill_value=0.0)
    keep = top_with_other(pivot.sum(), MAX_SERIES)
    named = [k for k in keep if k in pivot.columns]
    if len(named) < len(keep):
        pivot["Other"] = pivot.drop(columns=named).sum(axis=1)
    series = [Series(k, pivot[k].tolist(), charts.OTHER_COLOR if k == "Other" else "") for k in keep]
    days = [day_label(d) for d in pivot.index]
    section.charts.append(
        Chart("", charts.stacked_bars(days, series, label=section.title, height=320), charts.legend(series))
    )
    per_ws = frame.groupby([acct, ws], dropna=False)[COST].sum().sort_values(ascending=False)
    total = float(per_ws.sum())
    n_days = len(window.dates())
    last_day = frame[frame["usage_date"] == window.end].groupby([acct, ws])[COST].sum()
    rows: list[list[str]] = []
    for (a, w), cost in per_ws.items():
        rows.append(
            [
                labels.account(a),
                labels.workspace(a, w),
                money(cost),
                money(cost / n_days),
                money(float(last_day.get((a, w), 0.0))),
                _share(cost, total),
            ]
        )
    rows.append(["Total", "", money(total), money(total / n_days), money(float(last_day.sum())), "100.0%"])
    section.tables.append(
        Table(
            ["Account", "Workspace", "Cost", "Avg per day", f"On {window.end:%b %d}", "Share"],
            rows,
            frozenset({2, 3, 4, 5}),
            total_row=True,
        )
    )
    daily_rows = [
        [d.isoformat(), *[money(float(pivot.at[d, k])) for k in keep], money(float(pivot.loc[d].sum()))]
        for d in pivot.index
    ]
    section.tables.append(
        Table(["Date", *keep, "Total"], daily_rows, frozenset(range(1, len(keep) + 2)), "Daily numbers", collapsed=True)
    )
    section.notes.extend(_unpriced_note(frame))
    return section


def _ranked(
    data: ReportData, window: Window, name: str, key: str, description: str
) -> tuple[Section, pd.DataFrame | None]:
    section = new_section(name, description, half=True)
    frame, problem = _costs(data, name, window, key)
    if frame is None:
        section.missing.append(problem)
        return section, None
    section.notes.extend(_unpriced_note(frame))
    return section, frame


def _bar_and_table(
    section: Section, labels_: list[str], costs: list[float], headers: list[str], rows: list[list[str]], color: str
) -> None:
    section.charts.append(Chart("", charts.bar_list(labels_, costs, label=section.title, color=color)))
    section.tables.append(Table(headers, rows, frozenset(range(1, len(headers)))))


def _by_dimension(
    data: ReportData, window: Window, top: int, table: str, key: str, heading: tuple[str, str], color: str
) -> Section:
    """Cost and DBUs per value of ``key``: the ``top`` largest as bars, with the same rows as a table."""
    description, column = heading
    section, frame = _ranked(data, window, table, key, description)
    if frame is None:
        return section
    dbus = frame["total_dbus"] if "total_dbus" in frame.columns else 0.0
    grouped = frame.assign(_dbus=dbus).groupby(key, dropna=False).agg(cost=(COST, "sum"), dbus=("_dbus", "sum"))
    grouped = grouped.sort_values("cost", ascending=False).head(top)
    total = float(frame[COST].sum())
    names = [str(p) for p in grouped.index]
    rows = [
        [n, f"{d:,.1f}", money(c), _share(c, total)]
        for n, c, d in zip(names, grouped["cost"], grouped["dbus"], strict=True)
    ]
    _bar_and_table(section, names, grouped["cost"].tolist(), [column, "DBUs", "Cost", "Share"], rows, color)
    return section


def by_product(data: ReportData, window: Window, top: int) -> Section:
    heading = ("Billing origin product (the product that generated the usage).", "Product")
    return _by_dimension(data, window, top, "cost_by_product", "billing_origin_product", heading, charts.PALETTE[0])


def by_sku(data: ReportData, window: Window, top: int) -> Section:
    heading = (f"The {top} SKUs with the highest cost; share of all SKUs.", "SKU")
    return _by_dimension(data, window, top, "cost_by_sku", "sku_name", heading, charts.PALETTE[4])


def top_jobs(data: ReportData, window: Window, labels: Labels, top: int) -> Section:
    section, frame = _ranked(data, window, "cost_by_job", "job_id", f"The {top} most expensive jobs.")
    if frame is None:
        return section
    acct, ws = scope_columns(frame)
    if "job_name" not in frame.columns:
        frame = frame.assign(job_name=None)
    runs = "run_count" if "run_count" in frame.columns else COST
    grouped = (
        frame.groupby([acct, ws, "job_id"], dropna=False)
        .agg(cost=(COST, "sum"), runs=(runs, "sum"), job_name=("job_name", "last"))
        .sort_values("cost", ascending=False)
        .head(top)
    )
    names, rows = [], []
    for (a, w, job_id), row in grouped.iterrows():
        name = row["job_name"] if isinstance(row["job_name"], str) and row["job_name"] else f"job {job_id}"
        names.append(name)
        run_text = f"{int(row['runs']):,}" if runs != COST else ""
        rows.append([name, labels.workspace(a, w), str(job_id), run_text, money(row["cost"])])
    section.charts.append(
        Chart("", charts.bar_list(names, grouped["cost"].tolist(), label=section.title, color=charts.PALETTE[2]))
    )
    section.tables.append(Table(["Job", "Workspace", "Job id", "Runs", "Cost"], rows, frozenset({3, 4})))
    return section


def top_users(data: ReportData, window: Window, top: int) -> Section:
    section, frame = _ranked(
        data,
        window,
        "cost_by_user",
        "user_identity",
        f"The {top} identities (run as) that spend most.",
    )
    if frame is None:
        return section
    _, ws = scope_columns(frame)
    frame = frame.assign(user_identity=frame["user_identity"].fillna(NO_IDENTITY))
    grouped = (
        frame.groupby("user_identity")
        .agg(cost=(COST, "sum"), workspaces=(ws, "nunique"))
        .sort_values("cost", ascending=False)
    )
    total = float(grouped["cost"].sum())
    head = grouped.head(top)
    names = [str(u) for u in head.index]
    rows = [
        [n, str(int(w)), money(c), _share(c, total)]
        for n, c, w in zip(names, head["cost"], head["workspaces"], strict=True)
    ]
    _bar_and_table(
        section, names, head["cost"].tolist(), ["User", "Workspaces", "Cost", "Share"], rows, charts.PALETTE[5]
    )
    return section


def untagged_share(data: ReportData, window: Window, top: int) -> Section:
    section = new_section(
        "tags",
        "Per tag key, the cost of usage that carries the key (tagged) and of usage that lacks it (untagged).",
    )
    frame, problem = _costs(data, "cost_by_tag", window, "tag_key", "tag_value")
    if frame is None:
        section.missing.append(problem)
        return section
    frame = frame.assign(_untagged=frame["tag_value"] == UNTAGGED)
    by_key = frame.groupby(["tag_key", "_untagged"])[COST].sum().unstack(fill_value=0.0)
    by_key = by_key.reindex(columns=[False, True], fill_value=0.0).sort_index()
    keys = [str(k) for k in by_key.index]
    parts = [[("tagged", float(r[False])), ("untagged", float(r[True]))] for _, r in by_key.iterrows()]
    section.charts.append(
        Chart(
            "",
            charts.share_bars(keys, parts, label=section.title, width=1100),
            charts.legend([Series("tagged", []), Series("untagged", [])]),
        )
    )
    rows = []
    for key, r in by_key.iterrows():
        tagged, untagged = float(r[False]), float(r[True])
        rows.append([str(key), money(tagged), money(untagged), _share(untagged, tagged + untagged)])
    section.tables.append(
        Table(["Tag key", "Tagged cost", "Untagged cost", "Untagged share"], rows, frozenset({1, 2, 3}))
    )
    values = (
        frame[~frame["_untagged"]].groupby(["tag_key", "tag_value"])[COST].sum().sort_values(ascending=False).head(top)
    )
    value_rows = [[str(k), str(v), money(c)] for (k, v), c in values.items()]
    section.tables.append(
        Table(["Tag key", "Value", "Cost"], value_rows, frozenset({2}), f"Top {top} tag values", collapsed=True)
    )
    return section


SOURCE_LABELS = {"idle_warehouse": "idle warehouse", "ad_hoc": "ad hoc", "sql_query": "saved query"}


def warehouse_queries(data: ReportData, window: Window, top: int) -> Section:
    """SQL warehouse cost attributed to statements (``query_cost_by_source``, ``query_cost_by_user``)."""
    section = new_section(
        "queries",
        "Each warehouse-hour's billed cost shared among the statements that ran in it by execution time; hours "
        "without statements stay on the warehouse as idle (docs/ATTRIBUTION.md).",
    )
    columns = ("usage_date", "source_type", "source_id", "cost_usd", "statements")
    frame, problem = need(data, "query_cost_by_source", columns)
    if frame is None:
        section.missing.append(problem)
        return section
    frame = numbers(window.select(frame, "usage_date"), "cost_usd", "statements")
    unbilled = frame[frame["cost_usd"].isna()]
    if len(unbilled):
        count = int(unbilled["statements"].fillna(0).sum())
        section.notes.append(f"{count:,} statements ran in hours not billed yet: their cost is not known yet.")
    frame = frame[frame["cost_usd"].notna()]
    kinds = frame.groupby("source_type")["cost_usd"].sum().sort_values(ascending=False)
    names = [SOURCE_LABELS.get(str(k), str(k)) for k in kinds.index]
    total = float(kinds.sum())
    rows = [[n, money(c), _share(c, total)] for n, c in zip(names, kinds, strict=True)]
    _bar_and_table(section, names, kinds.tolist(), ["Source", "Cost", "Share"], rows, charts.PALETTE[3])
    named = frame[frame["source_type"] != "idle_warehouse"].fillna({"source_id": "-"})
    sources = named.groupby(["source_type", "source_id"]).agg(cost=("cost_usd", "sum"), runs=("statements", "sum"))
    sources = sources.sort_values("cost", ascending=False).head(top)
    source_rows = [
        [SOURCE_LABELS.get(str(k), str(k)), str(i), f"{int(r['runs']):,}", money(r["cost"]), _share(r["cost"], total)]
        for (k, i), r in sources.iterrows()
    ]
    section.tables.append(
        Table(
            ["Source", "Id", "Statements", "Cost", "Share"],
            source_rows,
            frozenset({2, 3, 4}),
            f"Top {top} sources",
            collapsed=True,
        )
    )
    users, _ = need(data, "query_cost_by_user", ("usage_date", "executed_by", "cost_usd", "is_idle_warehouse"))
    if users is not None:
        users = numbers(window.select(users, "usage_date"), "cost_usd")
        by_user = users[~users["is_idle_warehouse"].astype(bool)].groupby("executed_by")["cost_usd"].sum()
        user_rows = [
            [str(u), money(c), _share(c, total)] for u, c in by_user.sort_values(ascending=False).head(top).items()
        ]
        section.tables.append(
            Table(["User", "Cost", "Share"], user_rows, frozenset({1, 2}), f"Top {top} users", collapsed=True)
        )
    return section


def governance(data: ReportData, labels: Labels, top: int) -> Section:
    """The most expensive untagged resources and the right-sizing findings (each table covers its own window)."""
    section = new_section(
        "governance",
        "Resources whose latest usage lacks a required tag key, and idle or oversized compute with the saving if "
        "right-sized, over the last analytics.lookback_days days (docs/ATTRIBUTION.md).",
    )
    untagged, problem = need(
        data, "untagged_resources", ("resource_type", "resource_id", "missing_tag_keys", "cost_usd")
    )
    if untagged is None:
        section.missing.append(problem)
    else:
        acct, ws = scope_columns(untagged)
        frame = numbers(untagged, "cost_usd").sort_values("cost_usd", ascending=False).head(top)
        rows = [
            [str(r["resource_type"]), str(r["resource_id"]), labels.workspace(r[acct], r[ws]),
             ", ".join(str(k) for k in r["missing_tag_keys"]), money(r["cost_usd"])]
            for _, r in frame.iterrows()
        ]  # fmt: skip
        section.tables.append(
            Table(["Type", "Id", "Workspace", "Missing tag keys", "Cost"], rows, frozenset({4}), "Untagged resources")
        )
    findings, problem = need(data, "compute_rightsizing", ("compute_type", "compute_id", "finding", "cost_usd",
                                                           "estimated_saving_usd"))  # fmt: skip
    if findings is None:
        section.missing.append(problem)
        return section
    acct, ws = scope_columns(findings)
    frame = numbers(findings, "cost_usd", "estimated_saving_usd").sort_values("estimated_saving_usd", ascending=False)
    total = float(frame["estimated_saving_usd"].sum())
    if len(frame):
        section.notes.append(f"Estimated saving if right-sized: {money(total)} over {len(frame)} findings.")
    rows = [
        [str(r["compute_type"]), str(r["compute_id"]), labels.workspace(r[acct], r[ws]), str(r["finding"]),
         money(r["cost_usd"]), money(r["estimated_saving_usd"])]
        for _, r in frame.head(top).iterrows()
    ]  # fmt: skip
    section.tables.append(
        Table(["Compute", "Id", "Workspace", "Finding", "Cost", "Saving"], rows, frozenset({4, 5}), "Right-sizing")
    )
    return section


def serverless_policies(data: ReportData, window: Window, top: int) -> Section:
    """Serverless cost per product and budget policy (``serverless_cost``, one tag key's rows: each record once)."""
    section = new_section(
        "serverless",
        "Serverless jobs, notebooks, SQL and other serverless products by budget policy; 'no_policy' is usage no "
        "budget policy covers.",
        half=True,
    )
    frame, problem = need(data, "serverless_cost", ("usage_date", "billing_origin_product", "budget_policy_id",
                                                    "tag_key", "cost_usd"))  # fmt: skip
    if frame is None:
        section.missing.append(problem)
        return section
    frame = numbers(window.select(frame, "usage_date"), "cost_usd")
    first_key = frame["tag_key"].dropna().min() if frame["tag_key"].notna().any() else None
    once = frame[frame["tag_key"] == first_key] if first_key is not None else frame
    grouped = once.groupby(["billing_origin_product", "budget_policy_id"])["cost_usd"].sum()
    grouped = grouped.sort_values(ascending=False).head(top)
    total = float(once["cost_usd"].sum())
    rows = [[str(p), str(b), money(c), _share(c, total)] for (p, b), c in grouped.items()]
    section.tables.append(Table(["Product", "Budget policy", "Cost", "Share"], rows, frozenset({2, 3})))
    return section
