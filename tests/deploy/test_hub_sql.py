"""The hub's consolidated view SQL: golden files, a real CREATE VIEW to sqlglot, hostile names refused or escaped."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from deploy.hub_sql import Column, Provided, Source, create_view_sql, derived_selects, drop_view_sql, view_select
from stm.config import AnalyticsConfig
from stm.errors import InvalidIdentifier
from stm.specs import SharedTableSpec

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "deploy"
SOURCES = [
    Source("acme_prod", "acme_prod_eu", "stm_src_acme_prod_eu", "workspace_usage"),
    Source("acme_prod", "acme_prod_us", "stm_src_acme_prod_us", "workspace_usage"),
    Source("globex_dev", "globex_dev_us", "stm_src_globex_dev_us", "workspace_usage"),
]
BILLING = (Column("account_id", "string"), Column("record_id", "string"), Column("net_cost_usd", "decimal(38,18)"))
# the second provider runs an older release: no net_cost_usd yet, and a column the others lack
OLDER = (Column("record_id", "string"), Column("account_id", "string"), Column("legacy_flag", "boolean"))
CASES = {
    "view_workspace_scope": ("jobs_current", SharedTableSpec(), [BILLING, BILLING, BILLING]),
    "view_account_dedup_by_key": (
        "billing_summary",
        SharedTableSpec("account", ["account_id", "record_id"]),
        [BILLING, OLDER, BILLING],
    ),
    "view_account_first_provider": ("cost_by_product", SharedTableSpec("account"), [BILLING, BILLING, BILLING]),
}


def provided(columns: Sequence[tuple[Column, ...]], sources: list[Source] = SOURCES) -> list[Provided]:
    return [Provided(s, c) for s, c in zip(sources, columns, strict=True)]


def statement_for(table: str, spec: SharedTableSpec, sources: list[Provided], view: str | None = None) -> str:
    select = view_select(table, spec, sources)
    return create_view_sql("central_hub", "monitoring_hub", "consolidated", view or f"all_{table}", select)[0]


@pytest.mark.parametrize("case", sorted(CASES))
def test_view_sql_matches_golden_file_and_parses_as_create_view(case: str):
    table, spec, columns = CASES[case]
    select = view_select(table, spec, provided(columns))
    statement, comment = create_view_sql("central_hub", "monitoring_hub", "consolidated", f"all_{table}", select)

    golden = GOLDEN / f"{case}.sql"
    if os.environ.get("STM_UPDATE_GOLDEN"):
        golden.write_text(statement + "\n", encoding="utf-8")
    assert statement + "\n" == golden.read_text(encoding="utf-8")
    parsed = sqlglot.parse_one(statement, read="databricks")
    assert isinstance(parsed, exp.Create) and parsed.kind == "VIEW"
    assert parsed.this.sql(dialect="databricks") == f"`monitoring_hub`.`consolidated`.`all_{table}`"
    assert "managed by system-tables-monitor" in comment


def test_account_table_without_key_reads_one_provider_per_account():
    statement = statement_for("cost_by_product", SharedTableSpec("account"), provided([BILLING] * 3))

    assert "stm_src_acme_prod_eu" in statement and "stm_src_globex_dev_us" in statement
    assert "stm_src_acme_prod_us" not in statement


def test_account_table_with_key_keeps_the_first_listed_provider_not_the_alphabetically_first():
    listed = [SOURCES[2], SOURCES[0]]  # globex listed before acme
    statement = statement_for("t", SharedTableSpec("account", ["record_id"]), provided([BILLING] * 2, listed))

    order = statement.split("ORDER BY ", 1)[1]
    assert order.index("'globex_dev_us' THEN 0") < order.index("'acme_prod_eu' THEN 1")
    assert "ORDER BY source_account" not in statement
    assert isinstance(sqlglot.parse_one(statement, read="databricks"), exp.Create)


@pytest.mark.parametrize("hostile", ["x`; DROP TABLE t; --", "a.b", "", "1abc", "name with space"])
def test_hostile_identifiers_are_refused_before_any_sql(hostile: str):
    with pytest.raises(InvalidIdentifier):
        view_select(hostile, SharedTableSpec(), provided([BILLING] * 3))
    with pytest.raises(InvalidIdentifier):
        create_view_sql("h", "c", "s", hostile, "SELECT 1")
    with pytest.raises(InvalidIdentifier):
        view_select("t", SharedTableSpec(), [Provided(Source("a", "w", hostile, "s"), BILLING)])
    with pytest.raises(InvalidIdentifier):
        Column(hostile, "string")
    with pytest.raises(InvalidIdentifier):
        derived_selects("c", hostile, {"all_billing_summary"}, AnalyticsConfig())
    with pytest.raises(InvalidIdentifier):
        drop_view_sql("c", hostile, "v")


@pytest.mark.parametrize("label", ["it's", "back\\slash'); DROP VIEW x; --", "quote''s"])
def test_hostile_labels_are_escaped_as_one_string_literal(label: str):
    statement = statement_for("t", SharedTableSpec(), [Provided(Source(label, "w", "cat", "sch"), BILLING)])

    parsed = sqlglot.parse_one(statement, read="databricks")
    assert isinstance(parsed, exp.Create)
    select = parsed.find(exp.Union) or parsed.expression
    source_account = next(e for e in select.find_all(exp.Alias) if e.alias == "source_account")
    assert source_account.this.this == label
    assert len(sqlglot.parse(statement, read="databricks")) == 1


@pytest.mark.parametrize("hostile", ["string) AS x FROM t; DROP TABLE t; --", "int`", "string'"])
def test_hostile_column_types_are_refused(hostile: str):
    with pytest.raises(InvalidIdentifier, match="not a Databricks SQL type"):
        Column("c", hostile)


def test_columns_are_listed_by_name_and_a_provider_lacking_one_contributes_null():
    table, spec, columns = CASES["view_account_dedup_by_key"]
    statement = statement_for(table, spec, provided(columns))

    assert "*" not in statement.replace("SELECT *, ROW_NUMBER()", "")
    older = statement.split("FROM `stm_src_acme_prod_us`")[0].rsplit("SELECT ", 1)[1]
    assert "`account_id`, `record_id`, CAST(NULL AS decimal(38,18)) AS `net_cost_usd`, `legacy_flag`" in older
    first = statement.split("FROM `stm_src_acme_prod_eu`")[0].rsplit("SELECT ", 1)[1]
    assert first.rstrip().endswith("`net_cost_usd`, CAST(NULL AS boolean) AS `legacy_flag`")


def test_a_table_may_not_bring_its_own_source_columns():
    clash = (*BILLING, Column("source_account", "string"))
    with pytest.raises(InvalidIdentifier, match="source_account"):
        view_select("t", SharedTableSpec(), provided([BILLING, clash, BILLING]))


def test_cost_forecast_view_matches_golden_file_parses_and_has_the_local_tables_columns():
    selects = derived_selects("monitoring_hub", "consolidated", {"all_billing_summary"}, AnalyticsConfig())
    statement, _ = create_view_sql(
        "central_hub", "monitoring_hub", "consolidated", "cost_forecast", selects["cost_forecast"]
    )

    golden = GOLDEN / "view_cost_forecast.sql"
    if os.environ.get("STM_UPDATE_GOLDEN"):
        golden.write_text(statement + "\n", encoding="utf-8")
    assert statement + "\n" == golden.read_text(encoding="utf-8")
    parsed = sqlglot.parse_one(statement, read="databricks")
    assert isinstance(parsed, exp.Create) and parsed.kind == "VIEW"
    query = parsed.expression
    assert isinstance(query, exp.Select)
    local = (
        "level source_account workspace_id as_of history_days method month_to_date_usd month_end_usd next_30_days_usd"
    )
    assert query.named_selects == local.split()  # write_forecast's schema, in its order
    (call,) = [f for f in parsed.find_all(exp.Anonymous) if f.name.lower() == "ai_forecast"]
    named = {e.this.name: e.expression.sql(dialect="databricks") for e in call.expressions if isinstance(e, exp.Kwarg)}
    assert named == {
        "horizon": "DATE_ADD(CURRENT_DATE, 32)",
        "time_col": "'usage_date'",
        "value_col": "'cost'",
        "group_col": "'series'",
        "frequency": "'D'",
    }
    tables = {t.name for t in parsed.find_all(exp.Table)}
    assert "all_workspaces_costs" in tables and "date_sub(as_of, 91)" in statement
