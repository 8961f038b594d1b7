"""The dashboard, declared once: its datasets (SQL over the hub's consolidated tables) and its pages. Pure data.

A dataset's SQL names the hub's tables plainly (``all_cost_by_product``): on Databricks the dashboard sets its
default catalog and schema to the hub's; locally ``stm report`` runs it in a Spark session where each hub table is a
temporary view of its own name. Every dataset is one of the report's inputs, under the same name. A dataset over a
table only the local hub writes (``local_only`` says why) is left off the Databricks dashboard.

A panel is one section of the HTML report (same key, same title) and one or more widgets of the Lakeview page;
widgets aggregate their dataset's rows the way Lakeview does (``SUM(`total_cost_usd`)`` per ``usage_date``).
"""

from __future__ import annotations

from dataclasses import dataclass

from stm.names import quote

WIDGET_KINDS = ("counter", "bar", "line", "table")
GRID_WIDTH = 6  # Lakeview's layout grid is six columns wide


@dataclass(frozen=True)
class Dataset:
    name: str  # the report's input name and the Lakeview dataset name
    title: str
    table: str  # the hub table read
    columns: tuple[str, ...]
    local_only: str = ""  # why the Databricks hub has no such table; empty when it has

    @property
    def sql(self) -> str:
        listed = ",\n  ".join(quote(c) for c in self.columns)
        return f"SELECT\n  {listed}\nFROM {quote(self.table)}"


@dataclass(frozen=True)
class Field:
    column: str
    agg: str = ""  # "" (the column itself), SUM, MAX, MIN, AVG or COUNT
    label: str = ""

    @property
    def name(self) -> str:
        return f"{self.agg.lower()}({self.column})" if self.agg else self.column

    @property
    def expression(self) -> str:
        return f"{self.agg}({quote(self.column)})" if self.agg else quote(self.column)

    @property
    def display(self) -> str:
        return self.label or self.column.replace("_", " ").capitalize()


@dataclass(frozen=True)
class Widget:
    kind: str  # one of WIDGET_KINDS
    title: str
    dataset: str
    x: Field | None = None
    y: Field | None = None
    color: Field | None = None
    columns: tuple[Field, ...] = ()  # a table's columns, or a counter's one value
    width: int = GRID_WIDTH // 2

    def fields(self) -> tuple[Field, ...]:
        return tuple(f for f in (self.x, self.y, self.color, *self.columns) if f is not None)


@dataclass(frozen=True)
class Panel:
    key: str  # the report section's key
    title: str
    widgets: tuple[Widget, ...]


@dataclass(frozen=True)
class Page:
    name: str
    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True)
class Dashboard:
    title: str
    datasets: tuple[Dataset, ...]
    pages: tuple[Page, ...]

    def dataset(self, name: str) -> Dataset:
        for d in self.datasets:
            if d.name == name:
                return d
        raise KeyError(f"no dataset {name!r} in the dashboard definition")

    def panel(self, key: str) -> Panel:
        for page in self.pages:
            for p in page.panels:
                if p.key == key:
                    return p
        raise KeyError(f"no panel {key!r} in the dashboard definition")


def _data(name: str, title: str, table: str, columns: str, local_only: str = "") -> Dataset:
    return Dataset(name, title, table, tuple(columns.split()), local_only)


# fmt: off
_IDS = "account_id workspace_id"
_PRICED = "total_cost_usd total_dbus unpriced_rows"
DATASETS = (
    _data("cost_by_product", "Cost by product", "all_cost_by_product",
          f"usage_date {_IDS} source_account source_workspace billing_origin_product {_PRICED}"),
    _data("cost_by_sku", "Cost by SKU", "all_cost_by_sku", f"usage_date {_IDS} sku_name {_PRICED}"),
    _data("cost_by_job", "Cost by job", "all_cost_by_job", f"usage_date {_IDS} job_id job_name {_PRICED} run_count"),
    _data("cost_by_user", "Cost by user", "all_cost_by_user", f"usage_date {_IDS} user_identity {_PRICED}"),
    _data("cost_by_tag", "Cost by tag", "all_cost_by_tag", f"usage_date {_IDS} tag_key tag_value total_cost_usd"),
    _data("job_runs_summary", "Job runs per day", "all_job_runs_summary",
          f"run_date {_IDS} source_account source_workspace job_id total_runs failed_runs"),
    _data("job_success_rate_weekly", "Job success per week", "all_job_success_rate_weekly",
          f"week_start {_IDS} runs successes failures retries"),
    _data("cost_trend_analysis", "Week-over-week cost trends", "all_cost_trend_analysis",
          f"week_start {_IDS} billing_origin_product total_cost_usd previous_week_cost_usd change_percent "
          "threshold_percent exceeds_threshold is_incomplete"),
    _data("query_cost_by_source", "SQL warehouse cost by query source", "all_query_cost_by_source",
          f"usage_date {_IDS} source_type source_id statements cost_usd"),
    _data("query_cost_by_user", "SQL warehouse cost by user", "all_query_cost_by_user",
          f"usage_date {_IDS} executed_by is_idle_warehouse cost_usd"),
    _data("untagged_resources", "Untagged resources", "all_untagged_resources",
          f"{_IDS} resource_type resource_id missing_tag_keys cost_usd"),
    _data("compute_rightsizing", "Compute rightsizing findings", "all_compute_rightsizing",
          f"{_IDS} compute_type compute_id finding cost_usd estimated_saving_usd"),
    _data("serverless_cost", "Serverless cost by budget policy", "all_serverless_cost",
          f"usage_date {_IDS} billing_origin_product budget_policy_id tag_key cost_usd"),
    _data("aiml_executive_summary", "AI/ML spend per day", "all_aiml_executive_summary",
          f"summary_date {_IDS} source_account source_workspace model_serving_cost vector_search_cost "
          "foundation_model_training_cost total_aiml_cost total_requests"),
    _data("workspace_info", "Workspaces", "all_workspace_info", f"{_IDS} workspace_name"),
    _data("jobs_current", "Jobs", "all_jobs_current", "workspace_id job_id name"),
    _data("cost_anomalies", "Cost anomalies", "cost_anomalies",
          f"usage_date series {_IDS} billing_origin_product job_id actual_cost_usd expected_cost_usd deviation_usd "
          "severity"),
    _data("budget_status", "Budgets", "budget_status",
          "budget scope matches as_of budget_usd month_to_date_usd burn_rate_usd_per_day projected_month_end_usd "
          "status"),
    _data("cost_forecast", "Forecast", "cost_forecast",
          "level source_account workspace_id as_of method month_to_date_usd month_end_usd next_30_days_usd"),
    _data("alert_events", "Alert events", "alert_events", "rule period severity message raised_at",
          local_only="written by stm alerts check; on Databricks the rules run as SQL alerts that notify instead"),
    _data("sync_status", "Provider sync", "sync_status", "provider table version rows synced_at status error",
          local_only="written by the local hub's sync; on Databricks the share catalogs are read live"),
)
# fmt: on

_COST = Field("total_cost_usd", "SUM", "Cost (USD)")
_DAY = Field("usage_date", label="Usage date")
_WORKSPACE = Field("source_workspace", label="Workspace")


def _bars(title: str, dataset: str, x: Field, y: Field = _COST, color: Field | None = None, width: int = 3) -> Widget:
    return Widget("bar", title, dataset, x=x, y=y, color=color, width=width)


def _table(title: str, dataset: str, columns: str, width: int = GRID_WIDTH) -> Widget:
    return Widget("table", title, dataset, columns=tuple(Field(c) for c in columns.split()), width=width)


def _counter(title: str, dataset: str, value: Field) -> Widget:
    return Widget("counter", title, dataset, columns=(value,), width=2)


def _panel(key: str, title: str, *widgets: Widget) -> Panel:
    return Panel(key, title, widgets)


# fmt: off
PAGES = (
    Page("cost", "Cost", (
        _panel("kpis", "Headline figures",
               _counter("Total cost", "cost_by_product", _COST),
               _counter("AI/ML spend", "aiml_executive_summary", Field("total_aiml_cost", "SUM", "AI/ML (USD)")),
               _counter("Runs failed", "job_runs_summary", Field("failed_runs", "SUM", "Failed runs"))),
        _panel("daily", "Cost per day by account and workspace",
               _bars("Cost per day by account and workspace", "cost_by_product", _DAY, color=_WORKSPACE,
                     width=GRID_WIDTH)),
        _panel("cost_by_product", "Cost by product",
               _bars("Cost by product", "cost_by_product", Field("billing_origin_product", label="Product"))),
        _panel("cost_by_sku", "Cost by SKU", _bars("Cost by SKU", "cost_by_sku", Field("sku_name", label="SKU"))),
        _panel("cost_by_job", "Top jobs by cost",
               _bars("Top jobs by cost", "cost_by_job", Field("job_name", label="Job"))),
        _panel("cost_by_user", "Top users by cost",
               _bars("Top users by cost", "cost_by_user", Field("user_identity", label="Run as"))),
        _panel("tags", "Untagged share of cost",
               _bars("Cost by tag value", "cost_by_tag", Field("tag_value", label="Tag value"),
                     color=Field("tag_key", label="Tag key"))),
        _panel("queries", "SQL warehouse cost by source and user",
               _bars("SQL warehouse cost by query source", "query_cost_by_source",
                     Field("source_type", label="Source"), Field("cost_usd", "SUM", "Cost (USD)"))),
        _panel("serverless", "Serverless cost by budget policy",
               _bars("Serverless cost by budget policy", "serverless_cost",
                     Field("budget_policy_id", label="Budget policy"), Field("cost_usd", "SUM", "Cost (USD)"),
                     Field("billing_origin_product", label="Product"))),
    )),
    Page("operations", "Operations", (
        _panel("governance", "Untagged resources and right-sizing",
               _table("Untagged resources", "untagged_resources",
                      "workspace_id resource_type resource_id missing_tag_keys cost_usd", width=3),
               _table("Right-sizing", "compute_rightsizing",
                      "workspace_id compute_type compute_id finding cost_usd estimated_saving_usd", width=3)),
        _panel("aiml", "AI/ML spend",
               _bars("AI/ML spend per day", "aiml_executive_summary", Field("summary_date", label="Date"),
                     Field("total_aiml_cost", "SUM", "AI/ML cost (USD)"), _WORKSPACE, width=GRID_WIDTH)),
        _panel("jobs", "Job failure rates",
               _bars("Failed runs per day", "job_runs_summary", Field("run_date", label="Run date"),
                     Field("failed_runs", "SUM", "Failed runs"), _WORKSPACE),
               Widget("line", "Failed runs per week", "job_success_rate_weekly",
                      x=Field("week_start", label="Week from"), y=Field("failures", "SUM", "Failed runs"))),
        _panel("trends", "Week-over-week trend flags",
               _table("Week-over-week cost trends", "cost_trend_analysis",
                      "week_start workspace_id billing_origin_product total_cost_usd previous_week_cost_usd "
                      "change_percent exceeds_threshold")),
        _panel("freshness", "Data freshness",
               _counter("Newest usage date", "cost_by_product", Field("usage_date", "MAX", "Newest usage")),
               _table("Provider sync", "sync_status", "provider table version rows synced_at status", width=4)),
    )),
    Page("finops", "FinOps", (
        _panel("anomalies", "Cost anomalies",
               _table("Cost anomalies", "cost_anomalies",
                      "usage_date series workspace_id billing_origin_product job_id actual_cost_usd "
                      "expected_cost_usd deviation_usd severity")),
        _panel("budgets", "Budgets",
               _table("Budgets", "budget_status",
                      "budget scope as_of budget_usd month_to_date_usd burn_rate_usd_per_day "
                      "projected_month_end_usd status")),
        _panel("forecast", "Forecast",
               _table("Forecast", "cost_forecast",
                      "level source_account workspace_id as_of month_to_date_usd month_end_usd next_30_days_usd")),
        _panel("alerts", "Alerts", _table("Alert events", "alert_events", "raised_at rule period severity message")),
    )),
)
# fmt: on

DASHBOARD = Dashboard("Databricks cost and usage", DATASETS, PAGES)


def section_title(key: str) -> str:
    """The title of the report section ``key``: its panel's."""
    return DASHBOARD.panel(key).title
