"""The hub's consolidated view SQL: golden files, a real CREATE VIEW to sqlglot, hostile names refused or escaped."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from deploy.hub_sql import Source, create_view_sql, drop_view_sql
from stm.errors import InvalidIdentifier
from stm.specs import SharedTableSpec

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "deploy"
SOURCES = [
    Source("acme_prod", "acme_prod_eu", "stm_src_acme_prod_eu", "workspace_usage"),
    Source("acme_prod", "acme_prod_us", "stm_src_acme_prod_us", "workspace_usage"),
    Source("globex_dev", "globex_dev_us", "stm_src_globex_dev_us", "workspace_usage"),
]
CASES = {
    "view_workspace_scope": ("jobs_current", SharedTableSpec()),
    "view_account_dedup_by_key": ("billing_summary", SharedTableSpec("account", ["account_id", "record_id"])),
    "view_account_first_provider": ("cost_by_product", SharedTableSpec("account")),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_view_sql_matches_golden_file_and_parses_as_create_view(case: str):
    table, spec = CASES[case]
    statement, comment = create_view_sql("central_hub", "monitoring_hub", "consolidated", table, spec, SOURCES)

    golden = GOLDEN / f"{case}.sql"
    if os.environ.get("STM_UPDATE_GOLDEN"):
        golden.write_text(statement + "\n", encoding="utf-8")
    assert statement + "\n" == golden.read_text(encoding="utf-8")
    parsed = sqlglot.parse_one(statement, read="databricks")
    assert isinstance(parsed, exp.Create) and parsed.kind == "VIEW"
    assert parsed.this.sql(dialect="databricks") == f"`monitoring_hub`.`consolidated`.`{table}`"
    assert "managed by system-tables-monitor" in comment


def test_account_table_without_key_reads_one_provider_per_account():
    statement, _ = create_view_sql("h", "c", "s", "cost_by_product", SharedTableSpec("account"), SOURCES)

    assert "stm_src_acme_prod_eu" in statement and "stm_src_globex_dev_us" in statement
    assert "stm_src_acme_prod_us" not in statement


def test_account_table_with_key_keeps_the_first_listed_provider_not_the_alphabetically_first():
    listed = [SOURCES[2], SOURCES[0]]  # globex listed before acme
    statement, _ = create_view_sql("h", "c", "s", "t", SharedTableSpec("account", ["record_id"]), listed)

    order = statement.split("ORDER BY ", 1)[1]
    assert order.index("'globex_dev_us' THEN 0") < order.index("'acme_prod_eu' THEN 1")
    assert "ORDER BY source_account" not in statement
    assert isinstance(sqlglot.parse_one(statement, read="databricks"), exp.Create)


@pytest.mark.parametrize("hostile", ["x`; DROP TABLE t; --", "a.b", "", "1abc", "name with space"])
def test_hostile_identifiers_are_refused_before_any_sql(hostile: str):
    with pytest.raises(InvalidIdentifier):
        create_view_sql("h", "c", "s", hostile, SharedTableSpec(), SOURCES)
    with pytest.raises(InvalidIdentifier):
        create_view_sql("h", "c", "s", "t", SharedTableSpec(), [Source("a", "w", hostile, "s")])
    with pytest.raises(InvalidIdentifier):
        drop_view_sql("c", hostile, "v")


@pytest.mark.parametrize("label", ["it's", "back\\slash'); DROP VIEW x; --", "quote''s"])
def test_hostile_labels_are_escaped_as_one_string_literal(label: str):
    statement, _ = create_view_sql("h", "c", "s", "t", SharedTableSpec(), [Source(label, "w", "cat", "sch")])

    parsed = sqlglot.parse_one(statement, read="databricks")
    assert isinstance(parsed, exp.Create)
    select = parsed.find(exp.Union) or parsed.expression
    source_account = next(e for e in select.find_all(exp.Alias) if e.alias == "source_account")
    assert source_account.this.this == label
    assert len(sqlglot.parse(statement, read="databricks")) == 1
