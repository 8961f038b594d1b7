"""The report model: what the dashboard shows, as plain data, and the helpers the section builders share. Pure.

Input is a ``ReportData`` (pandas frames keyed by provider table name, with ``source_account`` and
``source_workspace`` on every row); output is a ``Report`` of KPI tiles and sections, each with charts (SVG markup
from ``charts``), tables of exact numbers (plain text, escaped when rendered) and a note for every missing input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import pandas as pd

from stm.dashboard.definition import section_title

HUB_PREFIX = "all_"
# the hub's own tables (not all_-prefixed), and the command that writes each
HUB_ONLY_WRITERS = {
    "cost_anomalies": "stm hub finops",
    "budget_status": "stm hub finops",
    "cost_forecast": "stm hub finops",
    "alert_events": "stm alerts check",
}
HUB_ONLY = tuple(HUB_ONLY_WRITERS)
SYNC_STATUS = "sync_status"
UNTAGGED = "untagged"
NO_IDENTITY = "(no identity)"


@dataclass
class ReportData:
    """The frames a report is made from, keyed by provider table name, and what was not found."""

    mode: str  # "hub" or "provider"
    schema: str  # the schema read, as catalog.schema
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)  # name -> "<qualified table> not found" (or why unread)
    absent: dict[str, list[str]] = field(default_factory=dict)  # dataset -> its columns the table lacks
    sync: pd.DataFrame | None = None  # sync_status rows (hub) or last commit per table (provider)
    generated_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def qualified(self, name: str) -> str:
        own_name = name in (SYNC_STATUS, *HUB_ONLY) or self.mode == "provider"
        table = name if own_name else HUB_PREFIX + name
        return f"{self.schema}.{table}"


@dataclass(frozen=True)
class Badge:
    """A table cell shown as a coloured pill; ``tone`` is good, warn, bad or neutral."""

    text: str
    tone: str = "neutral"


Cell = str | Badge


@dataclass
class Table:
    headers: list[str]
    rows: Sequence[Sequence[Cell]]
    numeric: frozenset[int] = frozenset()  # right-aligned column indexes
    caption: str = ""
    collapsed: bool = False  # shown inside a <details> element
    total_row: bool = False  # the last row is a total, shown apart and bold


@dataclass
class Chart:
    title: str
    svg: str  # trusted markup built by ``charts`` (every data value already escaped)
    legend: str = ""


@dataclass
class Section:
    key: str
    title: str
    description: str
    charts: list[Chart] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    half: bool = False  # half width on wide screens


def new_section(key: str, description: str, *, half: bool = False) -> Section:
    """The report section ``key``, titled as its panel of the dashboard definition."""
    return Section(key, section_title(key), description, half=half)


@dataclass
class Kpi:
    label: str
    value: str
    detail: str = ""
    tone: str = "neutral"


@dataclass
class Report:
    title: str
    source: str
    period_start: date | None
    period_end: date | None
    generated_at: datetime
    kpis: list[Kpi]
    sections: list[Section]


@dataclass(frozen=True)
class Window:
    """The reporting period: ``days`` days ending on the newest usage date."""

    start: date
    end: date

    def dates(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    def select(self, frame: pd.DataFrame, column: str) -> pd.DataFrame:
        days = as_dates(frame[column])
        return frame[(days >= self.start) & (days <= self.end)].assign(**{column: days})


def as_dates(column: pd.Series) -> pd.Series:
    """Any date-like column (dates, datetimes, ISO strings) as ``datetime.date`` values."""
    return pd.to_datetime(column, utc=True).dt.date


def need(data: ReportData, name: str, columns: Sequence[str]) -> tuple[pd.DataFrame | None, str]:
    """The frame ``name`` if present with ``columns``, else ``(None, "no data: ... ")`` saying what is missing."""
    frame = data.frames.get(name)
    if frame is None:
        return None, "no data: " + data.missing.get(name, f"{data.qualified(name)} not found")
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        return None, f"no data: {data.qualified(name)} lacks column(s) {', '.join(absent)}"
    return frame, ""


def numbers(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """A copy with ``columns`` as floats (NULL costs stay NaN and are left out of sums)."""
    out = frame.copy()
    for c in columns:
        out[c] = pd.to_numeric(out[c], errors="coerce").astype("float64")
    return out


def usage_span(data: ReportData) -> tuple[date, date] | None:
    """The first and newest usage dates in the cost tables (the newest is the end of the reporting window)."""
    for name in ("cost_by_product", "cost_by_sku", "cost_by_user"):
        frame = data.frames.get(name)
        if frame is not None and "usage_date" in frame.columns:
            days = as_dates(frame["usage_date"]).dropna()
            if len(days):
                return days.min(), days.max()
    return None


def make_window(data: ReportData, days: int) -> Window:
    """``days`` days ending on the newest usage date, starting no earlier than the data does."""
    first, end = usage_span(data) or (None, data.generated_at.date())
    start = end - timedelta(days=max(1, days) - 1)
    return Window(max(start, first) if first else start, end)


class Labels:
    """Display names for accounts and workspaces (``workspace_info`` names where known, else the ids)."""

    def __init__(self, workspace_info: pd.DataFrame | None) -> None:
        self.names: dict[tuple[str, str], str] = {}
        if workspace_info is not None and {"account_id", "workspace_id", "workspace_name"} <= set(workspace_info):
            for row in workspace_info.itertuples(index=False):
                if isinstance(row.workspace_name, str) and row.workspace_name:
                    self.names[(str(row.account_id), str(row.workspace_id))] = row.workspace_name

    @staticmethod
    def account(account_id: object) -> str:
        text = str(account_id)
        return text[:8] if len(text) > 12 else text

    def workspace(self, account_id: object, workspace_id: object) -> str:
        return self.names.get((str(account_id), str(workspace_id)), str(workspace_id))

    def scope(self, account_id: object, workspace_id: object) -> str:
        return f"{self.workspace(account_id, workspace_id)} \u00b7 {self.account(account_id)}"


def scope_columns(frame: pd.DataFrame) -> tuple[str, str]:
    """The columns naming a row's account and workspace: its own ids, else the hub's source columns."""
    if {"account_id", "workspace_id"} <= set(frame.columns):
        return "account_id", "workspace_id"
    return "source_account", "source_workspace"


def top_with_other(totals: pd.Series, n: int, other: str = "Other") -> list[str]:
    """The ``n`` largest keys of ``totals``; the caller folds the rest into ``other``."""
    ordered = totals.sort_values(ascending=False)
    keep = list(ordered.index[: n if len(ordered) > n + 1 else len(ordered)])
    return keep + ([other] if len(ordered) > len(keep) else [])


def day_label(day: date) -> str:
    return day.strftime("%b %d")
