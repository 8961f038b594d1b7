"""The Databricks adapter emits SQL and API calls; checked against golden files, sqlglot and a recording fake."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest
import sqlglot
from sqlglot import exp

from stm.errors import InvalidIdentifier, UsageError
from stm.store.base import StreamOptions, Txn
from stm.store.databricks import DatabricksTableStore, merge_sql, optimize_sql, replace_where, vacuum_sql

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

GOLDEN = Path(__file__).parent / "golden" / "store"
TARGET = "monitoring.workspace_usage.billing_usage_bronze"


def _golden(name: str) -> str:
    return (GOLDEN / name).read_text().rstrip("\n")


def test_merge_sql_insert_only_matches_golden_and_parses_as_merge():
    sql = merge_sql(TARGET, "stm_src_1", ["record_id"], insert_only=True)
    assert sql == _golden("merge_insert_only.sql")
    parsed = sqlglot.parse_one(sql.replace("WITH SCHEMA EVOLUTION ", ""), read="databricks")
    assert isinstance(parsed, exp.Merge)
    assert "WHEN MATCHED" not in sql


def test_merge_sql_upsert_matches_golden_and_parses_as_merge():
    sql = merge_sql(TARGET, "stm_src_1", ["workspace_id", "job_id", "change_time"], insert_only=False)
    assert sql == _golden("merge_upsert.sql")
    assert isinstance(sqlglot.parse_one(sql.replace("WITH SCHEMA EVOLUTION ", ""), read="databricks"), exp.Merge)


def test_maintenance_sql_matches_golden():
    assert optimize_sql(TARGET, ["usage_date", "workspace_id"]) == _golden("optimize.sql")
    assert optimize_sql(TARGET, []) == "OPTIMIZE `monitoring`.`workspace_usage`.`billing_usage_bronze`"
    assert vacuum_sql(TARGET, 168) == _golden("vacuum.sql")


@pytest.mark.parametrize("bad", ["monitoring.workspace_usage.x`; DROP TABLE y", "a.b", "a.b.c d", "a.b.c.d"])
def test_sql_builders_reject_hostile_table_names(bad):
    with pytest.raises(InvalidIdentifier):
        merge_sql(bad, "v", ["record_id"], insert_only=True)
    with pytest.raises(InvalidIdentifier):
        optimize_sql(bad, [])


def test_merge_sql_rejects_hostile_key_names():
    with pytest.raises(InvalidIdentifier):
        merge_sql(TARGET, "v", ["record_id = s.record_id OR 1=1 --"], insert_only=True)


# -- a recording fake of the parts of SparkSession the adapter touches -----------------------------------------------
@dataclass
class FakeConf:
    values: dict[str, str] = field(default_factory=dict)
    history: list[tuple[str, str, str | None]] = field(default_factory=list)

    def set(self, key: str, value: str) -> None:
        self.values[key] = value
        self.history.append(("set", key, value))

    def unset(self, key: str) -> None:
        self.values.pop(key, None)
        self.history.append(("unset", key, None))


@dataclass
class FakeReader:
    options: dict[str, str] = field(default_factory=dict)
    table_name: str | None = None

    def option(self, key: str, value: str) -> FakeReader:
        self.options[key] = value
        return self

    def table(self, name: str) -> str:
        self.table_name = name
        return f"stream of {name}"


class FakeRow:
    def __init__(self, **values: Any) -> None:
        self.values = values

    def asDict(self, recursive: bool = False) -> dict[str, Any]:
        return dict(self.values)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]


class FakeResult:
    def __init__(self, rows: list[FakeRow]) -> None:
        self.rows = rows

    def collect(self) -> list[FakeRow]:
        return self.rows


class FakeCatalog:
    def __init__(self) -> None:
        self.dropped: list[str] = []

    def tableExists(self, name: str) -> bool:
        return True

    def dropTempView(self, name: str) -> None:
        self.dropped.append(name)


class FakeSpark:
    def __init__(self) -> None:
        self.conf = FakeConf()
        self.readStream = FakeReader()
        self.catalog = FakeCatalog()
        self.statements: list[tuple[str, dict[str, str]]] = []

    def sql(self, statement: str) -> FakeResult:
        self.statements.append((statement, dict(self.conf.values)))
        if statement.startswith("MERGE"):
            return FakeResult([FakeRow(num_affected_rows=3, num_inserted_rows=2, num_updated_rows=1)])
        return FakeResult([])


@dataclass
class FakeWriter:
    options: dict[str, str] = field(default_factory=dict)
    saved: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    conf: FakeConf | None = None

    def format(self, name: str) -> FakeWriter:
        self.options["format"] = name
        return self

    def mode(self, name: str) -> FakeWriter:
        self.options["mode"] = name
        return self

    def option(self, key: str, value: str) -> FakeWriter:
        self.options[key] = value
        return self

    def saveAsTable(self, name: str) -> None:
        self.saved.append((name, dict(self.conf.values) if self.conf else {}))


class FakeFrame:
    def __init__(self, conf: FakeConf | None = None) -> None:
        self.views: list[str] = []
        self.write = FakeWriter(conf=conf)

    def createOrReplaceTempView(self, name: str) -> None:
        self.views.append(name)


def test_databricks_read_stream_sets_skip_change_commits_and_start_options():
    spark = FakeSpark()
    store = DatabricksTableStore(cast("SparkSession", spark))
    out = store.read_stream("system.billing.usage", StreamOptions(starting_version=12, max_files_per_trigger=500))
    assert out == "stream of system.billing.usage"
    assert spark.readStream.options == {
        "skipChangeCommits": "true",
        "startingVersion": "12",
        "maxFilesPerTrigger": "500",
    }


def test_databricks_merge_runs_under_txn_settings_then_clears_them():
    spark = FakeSpark()
    store = DatabricksTableStore(cast("SparkSession", spark))
    frame = FakeFrame()
    result = store.merge(TARGET, cast("DataFrame", frame), ["record_id"], insert_only=True, txn=Txn("stm:app:q1", 7))
    (view,) = frame.views
    create, merge = spark.statements
    assert create[0].startswith("CREATE TABLE IF NOT EXISTS `monitoring`.`workspace_usage`.`billing_usage_bronze`")
    assert merge[0] == merge_sql(TARGET, view, ["record_id"], insert_only=True)
    assert merge[1]["spark.databricks.delta.write.txnAppId"] == "stm:app:q1"
    assert merge[1]["spark.databricks.delta.write.txnVersion"] == "7"
    assert "spark.databricks.delta.write.txnAppId" not in spark.conf.values
    assert spark.catalog.dropped == [view]
    assert (result.inserted, result.updated) == (2, 1)


def test_databricks_merge_without_txn_leaves_the_session_settings_alone():
    spark = FakeSpark()
    spark.conf.set("spark.databricks.delta.write.txnAppId", "another-writer")
    store = DatabricksTableStore(cast("SparkSession", spark))
    store.merge(TARGET, cast("DataFrame", FakeFrame()), ["record_id"], insert_only=False)
    assert spark.conf.values == {"spark.databricks.delta.write.txnAppId": "another-writer"}


def test_databricks_replace_carries_its_txn_as_writer_options_not_session_settings():
    spark = FakeSpark()
    store = DatabricksTableStore(cast("SparkSession", spark))
    frame = FakeFrame(spark.conf)
    store.replace(TARGET, cast("DataFrame", frame), column="usage_date", values=["2026-10-01"], txn=Txn("a", 3))
    ((name, session),) = frame.write.saved
    assert name == TARGET
    assert session == {}
    assert frame.write.options["txnAppId"] == "a"
    assert frame.write.options["txnVersion"] == "3"
    assert frame.write.options["replaceWhere"] == replace_where("usage_date", ["2026-10-01"])


def test_databricks_vacuum_below_retention_refused_without_override():
    spark = FakeSpark()
    store = DatabricksTableStore(cast("SparkSession", spark))
    with pytest.raises(UsageError, match="below 168 h"):
        store.vacuum(TARGET, 24)
    assert spark.statements == []
    store.vacuum(TARGET, 168)
    assert spark.statements[-1][0] == vacuum_sql(TARGET, 168)
