"""The HTML report from small hand-made frames: numbers as money, hostile names escaped, missing tables degrade."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone

import pandas as pd
import pytest

from stm.report import charts
from stm.report.build import build_report
from stm.report.model import ReportData
from stm.report.render import render_html

ACCT = "acct-0001"
HOSTILE = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
GENERATED = datetime(2026, 3, 4, 12, 0, tzinfo=timezone.utc)
D1, D2, D3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)


def _frame(columns: str, rows: list[tuple[object, ...]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns.split())


def sample_frames() -> dict[str, pd.DataFrame]:
    """Two workspaces over three days; workspace, job and tag names include a script tag."""
    return {
        "workspace_info": _frame(
            "account_id workspace_id workspace_name", [(ACCT, "11", "prod-eu"), (ACCT, "22", HOSTILE)]
        ),
        "cost_by_product": _frame(
            "account_id workspace_id usage_date billing_origin_product total_dbus total_cost_usd unpriced_rows",
            [
                (ACCT, "11", D1, "SQL", 100.0, 1000.00, 0),
                (ACCT, "11", D2, "SQL", 100.0, 1200.50, 0),
                (ACCT, "11", D3, "JOBS", 40.0, 300.25, 2),
                (ACCT, "22", D3, "MODEL_SERVING", 10.0, 99.25, 0),
            ],
        ),
        "cost_by_sku": _frame(
            "account_id workspace_id usage_date sku_name total_dbus total_cost_usd",
            [
                (ACCT, "11", D2, "PREMIUM_SQL_PRO_COMPUTE", 200.0, 2200.50),
                (ACCT, "22", D3, "SERVERLESS_REAL_TIME_INFERENCE", 10.0, 99.25),
            ],
        ),
        "cost_by_job": _frame(
            "account_id workspace_id usage_date job_id job_name run_count total_cost_usd",
            [(ACCT, "11", D3, "901", HOSTILE, 3, 300.25), (ACCT, "11", D2, "902", "nightly_etl", 1, 12.0)],
        ),
        "cost_by_user": _frame(
            "account_id workspace_id usage_date user_identity total_cost_usd",
            [(ACCT, "11", D1, "ada@example.com", 1000.0), (ACCT, "11", D3, None, 300.25)],
        ),
        "cost_by_tag": _frame(
            "account_id workspace_id usage_date tag_key tag_value total_cost_usd",
            [(ACCT, "11", D1, "team", "untagged", 750.0), (ACCT, "11", D1, "team", HOSTILE, 250.0)],
        ),
        "job_runs_summary": _frame(
            "account_id workspace_id run_date job_id total_runs successful_runs failed_runs",
            [(ACCT, "11", D2, "901", 3, 2, 1), (ACCT, "11", D3, "902", 1, 1, 0)],
        ),
        "job_success_rate_weekly": _frame(
            "account_id workspace_id job_id week_start runs successes failures retries",
            [(ACCT, "11", "901", date(2026, 2, 23), 4, 3, 1, 1)],
        ),
        "cost_trend_analysis": _frame(
            "account_id workspace_id billing_origin_product week_start total_cost_usd previous_week_cost_usd "
            "change_percent threshold_percent exceeds_threshold is_incomplete",
            [
                (ACCT, "11", "SQL", date(2026, 2, 23), 1500.0, 1000.0, 50.0, 25.0, True, False),
                (ACCT, "11", "JOBS", date(2026, 2, 23), 101.0, 100.0, 1.0, 25.0, False, False),
            ],
        ),
        "aiml_executive_summary": _frame(
            "account_id workspace_id summary_date model_serving_cost vector_search_cost "
            "foundation_model_training_cost total_aiml_cost total_requests",
            [(ACCT, "22", D3, 99.25, 0.0, 0.0, 99.25, 40)],
        ),
        "query_cost_by_source": _frame(
            "account_id workspace_id warehouse_id usage_date source_type source_id is_idle_warehouse statements "
            "execution_seconds cost_usd",
            [
                (ACCT, "11", "w1", D2, "dashboard", HOSTILE, False, 40, 900.0, 600.0),
                (ACCT, "11", "w1", D2, "genie", "g1", False, 10, 300.0, 200.0),
                (ACCT, "11", "w1", D2, "idle_warehouse", None, True, 0, 0.0, 200.0),
                (ACCT, "11", "w1", D1, "ad_hoc", None, False, 5, 60.0, None),  # hour not billed yet
            ],
        ),
        "untagged_resources": _frame(
            "account_id workspace_id resource_type resource_id missing_tag_keys cost_usd",
            [
                (ACCT, "11", "job", "901", ["env", "cost_center"], 300.25),
                (ACCT, "22", "cluster", HOSTILE, ["team"], 5.0),
            ],
        ),
        "compute_rightsizing": _frame(
            "account_id workspace_id compute_type compute_id finding cost_usd estimated_saving_usd",
            [(ACCT, "11", "cluster", "c2", "oversized", 12.0, 7.0), (ACCT, "11", "warehouse", "w1", "idle", 10.0, 3.0)],
        ),
        "serverless_cost": _frame(
            "account_id workspace_id usage_date billing_origin_product budget_policy_id tag_key tag_value cost_usd",
            [
                (ACCT, "11", D3, "JOBS", "bp1", "team", "data", 30.0),
                (ACCT, "11", D3, "JOBS", "bp1", "env", "untagged", 30.0),  # the same usage under another key
                (ACCT, "11", D3, "INTERACTIVE", "no_policy", "team", "untagged", 10.0),
                (ACCT, "11", D3, "INTERACTIVE", "no_policy", "env", "untagged", 10.0),
            ],
        ),
        "query_cost_by_user": _frame(
            "account_id workspace_id warehouse_id usage_date executed_by is_idle_warehouse statements cost_usd",
            [
                (ACCT, "11", "w1", D2, "ada@example.com", False, 50, 800.0),
                (ACCT, "11", "w1", D2, None, True, 0, 200.0),
            ],
        ),
    }


def sample_data(mode: str = "provider", drop: tuple[str, ...] = ()) -> ReportData:
    frames = {k: v for k, v in sample_frames().items() if k not in drop}
    for frame in frames.values():
        frame["source_account"], frame["source_workspace"] = frame["account_id"], frame["workspace_id"]
    schema = "monitoring.workspace_usage" if mode == "provider" else "monitoring_hub.consolidated"
    missing = {name: f"{schema}.{'all_' if mode == 'hub' else ''}{name} not found" for name in drop}
    return ReportData(mode, schema, frames, missing, generated_at=GENERATED)


def _html(data: ReportData) -> str:
    return render_html(build_report(data, days=30, top=10))


def _text(html: str) -> str:
    """The visible text of a fragment, tags removed (entities kept)."""
    return re.sub(r"<[^>]+>", " ", html)


def test_report_totals_products_and_workspaces_shown_as_money():
    html = _html(sample_data())
    text = _text(html)
    assert "$2,600.00" in text  # 1000 + 1200.50 + 300.25 + 99.25 over the three days
    assert "$2,200.50" in text and "$300.25" in text  # SQL, JOBS
    assert "prod-eu" in text and "Mar 01, 2026 to Mar 03, 2026" in text
    assert "2 usage rows have no list price" in text


def test_report_hostile_names_are_escaped_everywhere():
    html = _html(sample_data())
    assert HOSTILE not in html
    assert "<script" not in html.lower()  # the page runs no script at all
    assert html.count(ESCAPED) >= 3  # workspace, job and tag value


def test_report_is_self_contained_without_network_references():
    html = _html(sample_data())
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html and "url(" not in html
    assert "http://www.w3.org/2000/svg" in html  # the SVG namespace, an identifier, not a fetch


def test_report_untagged_share_and_failure_rate_from_the_frames():
    text = _text(_html(sample_data()))
    assert "75.0%" in text  # untagged team cost: 750 of 1000
    assert "25.0%" in text  # job failure rate: 1 of 4 runs
    assert "1 of 4 runs failed" in text
    assert "33.3%" in text  # job 901: 1 of 3 runs failed


def test_report_warehouse_cost_by_source_keeps_idle_and_ranks_sources():
    section = build_report(sample_data(), days=30, top=10).sections
    queries = next(s for s in section if s.key == "queries")
    kinds = queries.tables[0].rows
    # 600 + 200 + 200 attributed (the unbilled ad hoc hour is NULL, not 0): idle stays visible with its share
    assert kinds == [
        ["dashboard", "$600.00", "60.0%"],
        ["genie", "$200.00", "20.0%"],
        ["idle warehouse", "$200.00", "20.0%"],
    ]
    assert queries.notes == ["5 statements ran in hours not billed yet: their cost is not known yet."]
    assert queries.tables[1].rows[0][:3] == ["dashboard", HOSTILE, "40"]
    assert queries.tables[2].rows == [["ada@example.com", "$800.00", "80.0%"]]
    assert HOSTILE not in _html(sample_data())


def test_report_governance_lists_untagged_resources_and_savings_largest_first():
    sections = build_report(sample_data(), days=30, top=10).sections
    section = next(s for s in sections if s.key == "governance")
    untagged, rightsizing = section.tables
    assert untagged.rows[0] == ["job", "901", "prod-eu", "env, cost_center", "$300.25"]
    assert [r[1] for r in rightsizing.rows] == ["c2", "w1"] and rightsizing.rows[0][-1] == "$7.00"
    assert section.notes == ["Estimated saving if right-sized: $10.00 over 2 findings."]


def test_report_serverless_counts_each_record_once_across_tag_keys():
    section = next(s for s in build_report(sample_data(), days=30, top=10).sections if s.key == "serverless")
    assert section.tables[0].rows == [
        ["JOBS", "bp1", "$30.00", "75.0%"],
        ["INTERACTIVE", "no_policy", "$10.00", "25.0%"],
    ]


def test_report_trend_flags_show_only_flagged_weeks():
    html = _html(sample_data())
    section = html[html.index('id="trends"') :]
    section = section[: section.index("</section>")]
    assert "+50%" in section and "$1,500.00" in section and "$500.00" in section
    assert "$101.00" not in section  # the JOBS change stays under the threshold
    assert "beyond \u00b125%" in section


def test_report_aiml_spend_total_and_requests():
    html = _html(sample_data())
    section = html[html.index('id="aiml"') :]
    assert "$99.25" in section[: section.index("</section>")] and "40" in section


@pytest.mark.parametrize(
    "mode,prefix", [("provider", "monitoring.workspace_usage."), ("hub", "monitoring_hub.consolidated.all_")]
)
def test_report_missing_tables_degrade_to_a_note_naming_the_table(mode, prefix):
    data = sample_data(mode, drop=("cost_by_tag", "aiml_executive_summary", "cost_trend_analysis"))
    html = _html(data)
    for name in ("cost_by_tag", "aiml_executive_summary", "cost_trend_analysis"):
        assert f"no data: {prefix}{name} not found" in html
    assert "$2,600.00" in html  # the sections with data still render


def test_report_with_no_tables_at_all_renders_every_section_as_missing():
    data = ReportData("provider", "monitoring.workspace_usage", generated_at=GENERATED)
    html = _html(data)
    assert html.count('class="missing"') >= 9
    assert "monitoring.workspace_usage.cost_by_product not found" in html


def test_report_table_lacking_a_column_says_which():
    data = sample_data()
    data.frames["cost_by_sku"] = data.frames["cost_by_sku"].drop(columns=["total_cost_usd"])
    html = _html(data)
    assert "no data: monitoring.workspace_usage.cost_by_sku lacks column(s) total_cost_usd" in html


def test_report_freshness_shows_failed_syncs_with_escaped_errors():
    data = sample_data("hub")
    data.sync = pd.DataFrame(
        {
            "provider": ["acme_eu", "acme_eu", "globex"],
            "table": ["cost_by_product", "cost_by_job", "cost_by_product"],
            "version": [3, None, 7],
            "rows": [10, None, 4],
            "synced_at": [
                pd.Timestamp("2026-03-04 10:00", tz="UTC"),
                pd.NaT,
                pd.Timestamp("2026-03-04 09:00", tz="UTC"),
            ],
            "status": ["synced", "failed", "unchanged"],
            "error": [None, f"HTTPError: 403 {HOSTILE}", None],
        }
    )
    html = _html(data)
    section = html[html.index('id="freshness"') :]
    assert "1 failed" in section and "2026-03-04 10:00 UTC" in section and f"HTTPError: 403 {ESCAPED}" in section
    assert "2026-03-03" in section and "1 day behind" in section


def test_report_window_is_the_last_days_up_to_the_newest_usage_date():
    report = build_report(sample_data(), days=2)
    assert (report.period_start, report.period_end) == (D2, D3)
    assert "$1,500.75" in render_html(report)  # 1200.50 + 300.25 (+ 99.25 is acct 22 on D3): SQL + JOBS of ws 11


def test_money_formats():
    assert charts.money(1234.5) == "$1,234.50"
    assert charts.money(-5) == "-$5.00"
    assert charts.money(None) == "n/a"
    assert charts.money_short(12_345) == "$12.3K" and charts.money_short(4_560_000) == "$4.56M"
    assert charts.money_short(50) == "$50" and charts.money_short(2.5) == "$2.50"
    assert charts.money_short(1500) == "$1.5K" and charts.money_short(2000) == "$2K"
    assert charts.percent(0.123) == "12.3%" and charts.percent(float("nan")) == "n/a"


def test_nice_ticks_cover_the_top_value_in_round_steps():
    assert charts.nice_ticks(1730) == [0, 500, 1000, 1500, 2000]
    assert charts.nice_ticks(0) == [0.0, 1.0]


def test_charts_escape_labels_and_survive_empty_and_missing_values():
    svg = charts.bar_list([HOSTILE], [5.0], label=HOSTILE)
    assert HOSTILE not in svg and ESCAPED in svg
    assert "<svg" in charts.stacked_bars([], [], label="empty")
    line = charts.line_chart(["a", "b", "c"], [charts.Series("s", [0.1, float("nan"), 0.2])], label="gaps")
    assert line.count("<circle") == 2 and "<polyline" not in line  # the gap splits the line into single points
    assert ESCAPED in charts.legend([charts.Series(HOSTILE, [])])


def test_report_weekly_job_success_includes_the_week_in_progress():
    data = sample_data()
    weekly = data.frames["job_success_rate_weekly"]
    current = weekly.assign(week_start=date(2026, 3, 2), runs=8, successes=6, failures=2)
    data.frames["job_success_rate_weekly"] = pd.concat([weekly, current], ignore_index=True)
    html = _html(data)
    section = html[html.index('id="jobs"') :]
    section = section[: section.index("</section>")]
    assert "2026-03-02" in section and "75.0%" in section  # the week ending after the newest usage date
    assert "2026-02-23" in section


def test_report_cost_anomalies_newest_first_with_job_names_and_severity():
    data = sample_data("hub")
    data.frames["cost_anomalies"] = _frame(
        "series source_account account_id workspace_id billing_origin_product job_id usage_date actual_cost_usd "
        "expected_cost_usd deviation_usd score severity",
        [
            ("workspace_product", ACCT, ACCT, "11", "SQL", None, D2, 1200.5, 300.0, 900.5, 9.0, "high"),
            ("job", ACCT, ACCT, "11", None, "902", D3, 60.0, 12.0, 48.0, 5.0, "low"),
        ],
    )
    html = _html(data)
    section = html[html.index('id="anomalies"') :]
    section = _text(section[: section.index("</section>")])
    assert section.index("job nightly_etl") < section.index("SQL")  # newest first
    assert "$900.50" in section and "$48.00" in section and "high" in section


def test_report_cost_anomalies_on_a_provider_lake_say_they_live_on_the_hub():
    html = _html(sample_data("provider"))
    section = html[html.index('id="anomalies"') :]
    assert "no data: monitoring.workspace_usage.cost_anomalies not found" in section[: section.index("</section>")]


def test_report_budgets_over_first_with_projection():
    data = sample_data("hub")
    data.frames["budget_status"] = _frame(
        "budget scope matches as_of month_start budget_usd month_to_date_usd burn_rate_usd_per_day "
        "projected_month_end_usd status",
        [
            ("all", "all", "all spend", D3, D1, 30000.0, 2600.0, 866.67, 26000.0, "ok"),
            ("acme", "account", "acme", D3, D1, 2000.0, 2600.0, 866.67, 26000.0, "over"),
        ],
    )
    html = _html(data)
    section = _text(html[html.index('id="budgets"') :].split("</section>")[0])
    assert section.index("acme") < section.index("all spend")  # over budget first
    assert "$26,000.00" in section and "$866.67" in section and "over" in section and "account acme" in section


def test_report_alerts_newest_first_with_severity():
    data = sample_data("hub")
    data.frames["alert_events"] = _frame(
        "rule alert_key period severity message raised_at",
        [
            ("budget_over", "acme", "2026-03", "high", "Budget acme is over", pd.Timestamp("2026-03-02T08:00Z")),
            ("cost_anomaly", "w/SQL", "2026-03-01", "high", HOSTILE, pd.Timestamp("2026-03-03T08:00Z")),
        ],
    )
    html = _html(data)
    section = html[html.index('id="alerts"') :].split("</section>")[0]
    assert HOSTILE not in section and ESCAPED in section
    assert section.index("cost_anomaly") < section.index("budget_over")  # newest first


def test_report_forecast_per_account_then_workspaces():
    data = sample_data("hub")
    data.frames["cost_forecast"] = _frame(
        "level source_account workspace_id as_of month_to_date_usd month_end_usd next_30_days_usd method",
        [
            ("workspace", ACCT, "11", D3, 1000.0, 3100.0, 3000.0, "holt-winters weekly"),
            ("account", ACCT, None, D3, 1500.0, 4650.0, 4500.0, "holt-winters weekly"),
        ],
    )
    section = _text(_html(data).split('id="forecast"')[1].split("</section>")[0])
    assert section.index("all workspaces") < section.index("prod-eu")
    assert "$4,650.00" in section and "$3,000.00" in section
