"""The table store contract, run on both namings: path-based Delta tables under a lake root (local) and catalog
names (Spark's session catalog here, Unity Catalog on Databricks). Keyed MERGEs, replay, evolution, append-only
commits, date replaces, guards: the same Delta code on both."""

from __future__ import annotations

import json
import uuid
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from stm.errors import TableNotFound, UsageError
from stm.store.base import Bound
from stm.store.databricks import CatalogTableStore
from stm.store.delta import TableStore
from stm.store.local import LocalTableStore
from tests.delta_log import commits, data_commits, operation


def _df(spark: Any, rows: list[tuple[str, int]], extra: str | None = None) -> Any:
    df = spark.createDataFrame(rows, "id string, n long")
    return df.selectExpr("*", f"'{extra}' AS note") if extra else df


def _dated(spark: Any, rows: list[tuple[str, date | None, int]]) -> Any:
    return spark.createDataFrame(rows, "k string, day date, n long")


class Case:
    def __init__(self, store: TableStore, catalog: str, schema: str) -> None:
        self.store, self.catalog, self.schema = store, catalog, schema
        self.table = f"{catalog}.{schema}.things"

    def rows(self) -> list[tuple]:
        return sorted(tuple(r) for r in self.store.read(self.table).collect())

    def folder(self) -> Path:
        detail = self.store.spark.sql(f"DESCRIBE DETAIL {self.store.table_ref(self.table)}").first()
        assert detail is not None
        return Path(urlparse(detail["location"]).path)

    def log(self, version: int) -> list[dict]:
        path = self.folder() / "_delta_log" / f"{version:020d}.json"
        return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def no_auto_compaction(spark: Any) -> Any:
    """Auto compaction off in this session (the conf overrides the table property): for tests that lay out files."""
    spark.conf.set("spark.databricks.delta.autoCompact.enabled", "false")
    yield
    spark.conf.unset("spark.databricks.delta.autoCompact.enabled")


@pytest.fixture(params=["path", "catalog"])
def case(request: pytest.FixtureRequest, spark: Any, tmp_path: Path) -> Case:
    if request.param == "path":
        return Case(LocalTableStore(spark, tmp_path), "monitoring", "workspace_usage")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    spark.sql(f"CREATE DATABASE {schema} LOCATION '{tmp_path / schema}'")
    return Case(CatalogTableStore(spark), "spark_catalog", schema)


def test_store_insert_only_keeps_first_row_per_key_and_commits_only_adds(spark, case):
    store, t = case.store, case.table
    first = store.merge(t, _df(spark, [("a", 1), ("b", 2)]), ["id"], insert_only=True)
    second = store.merge(t, _df(spark, [("b", 99), ("c", 3)]), ["id"], insert_only=True)
    assert (first.inserted, second.inserted, second.updated) == (2, 1, 0)
    assert case.rows() == [("a", 1), ("b", 2), ("c", 3)]
    _, actions = data_commits(case.folder())
    assert not [a for a in actions if "remove" in a]
    assert actions[0]["commitInfo"]["engineInfo"].split()[1].startswith("Delta-Lake/")


def test_store_replayed_insert_only_batch_inserts_nothing_and_commits_nothing(spark, case):
    """A micro-batch replayed after a crash between its MERGE and its checkpoint commit: the keys are there, so the
    MERGE matches them all, adds no row and writes no commit; no session-wide marker is needed (serverless refuses
    setting one)."""
    store, t = case.store, case.table
    store.merge(t, _df(spark, [("a", 1)]), ["id"], insert_only=True)
    batch = _df(spark, [("b", 1), ("c", 2)])
    assert store.merge(t, batch, ["id"], insert_only=True).inserted == 2
    version = store.version(t)
    again = store.merge(t, batch, ["id"], insert_only=True)
    assert (again.inserted, again.updated, store.version(t)) == (0, 0, version)
    assert case.rows() == [("a", 1), ("b", 1), ("c", 2)]
    assert spark.conf.get("spark.databricks.delta.write.txnAppId", None) is None


def test_store_replace_carries_its_tag_as_commit_user_metadata(spark, case):
    store, t = case.store, case.table
    assert store.replace(t, _dated(spark, [("a", date(2026, 10, 1), 1)]), column="day", values=None) == 1
    rows = _dated(spark, [("b", date(2026, 10, 1), 2)])
    assert store.replace(t, rows, column="day", values=[date(2026, 10, 1)], tag="stm:app:3") == 1
    newest = store.history(t, 1)[0]
    assert (newest["operation"], newest["userMetadata"]) == ("WRITE", "stm:app:3")
    assert [tuple(r) for r in store.read(t).collect()] == [("b", date(2026, 10, 1), 2)]


def test_store_upsert_updates_matched_and_inserts_new(spark, case):
    store, t = case.store, case.table
    store.merge(t, _df(spark, [("a", 1), ("b", 2)]), ["id"], insert_only=False)
    result = store.merge(t, _df(spark, [("b", 20), ("c", 3)]), ["id"], insert_only=False)
    assert (result.inserted, result.updated) == (1, 1)
    assert case.rows() == [("a", 1), ("b", 20), ("c", 3)]


def test_store_new_source_column_reaches_target_old_rows_null(spark, case):
    store, t = case.store, case.table
    store.merge(t, _df(spark, [("a", 1)]), ["id"], insert_only=True)
    store.merge(t, _df(spark, [("b", 2)], extra="new"), ["id"], insert_only=True)
    assert store.read(t).columns == ["id", "n", "note"]
    assert case.rows() == [("a", 1, None), ("b", 2, "new")]


def test_store_batch_of_known_keys_inserts_nothing(spark, case):
    store, t = case.store, case.table
    store.merge(t, _df(spark, [("a", 1)]), ["id"], insert_only=True)
    result = store.merge(t, _df(spark, [("a", 1)]), ["id"], insert_only=True)
    assert result.inserted == 0 and case.rows() == [("a", 1)]


def test_store_vacuum_guard_and_missing_table(spark, case):
    store, t = case.store, case.table
    store.merge(t, _df(spark, [("a", 1)]), ["id"], insert_only=True)
    with pytest.raises(UsageError, match="below 168 h"):
        store.vacuum(t, 1)
    assert store.vacuum(t, 168) == 0
    store.replace(t, _df(spark, [("b", 2)]))  # the first file is now unreferenced
    live = {Path(urlparse(f).path).name for f in store.read(t).inputFiles()}
    on_disk = {p.name for p in case.folder().glob("*.parquet")}
    assert live < on_disk
    assert store.vacuum(t, 0, allow_short_retention=True) >= len(on_disk - live)
    assert {p.name for p in case.folder().glob("*.parquet")} == live
    assert case.rows() == [("b", 2)]
    missing = f"{case.catalog}.{case.schema}.nope"
    with pytest.raises(TableNotFound):
        store.read(missing)
    assert not store.exists(missing)


def test_store_optimize_zorder_compacts_files(spark, case):
    store, t = case.store, case.table
    for i in range(3):
        store.merge(t, _df(spark, [(f"k{i}", i)]), ["id"], insert_only=True)
    metrics = store.optimize(t, ["n"])
    assert metrics["numFilesRemoved"] >= 3 and metrics["numFilesAdded"] == 1
    assert store.history(t, 1)[0]["operation"] == "OPTIMIZE"
    assert case.rows() == [("k0", 0), ("k1", 1), ("k2", 2)]


def test_store_replace_rewrites_only_the_given_keys_in_one_commit(spark, case):
    store, t = case.store, case.table
    rows = [("a", 1), ("b", 2), ("c", 3)]
    assert store.replace(t, _df(spark, rows)) == 3
    version = store.version(t)
    store.replace(t, _df(spark, [("b", 20), ("d", 4)], extra="x"), column="id", values=["b", "d"])
    assert store.version(t) == (version or 0) + 1
    assert case.rows() == [("a", 1, None), ("b", 20, "x"), ("c", 3, None), ("d", 4, "x")]
    store.replace(t, _df(spark, [("z", 0)]))
    assert case.rows() == [("z", 0)]
    assert store.read(t).columns == ["id", "n"]


def test_store_list_tables_names_only_delta_tables(spark, case):
    case.store.merge(case.table, _df(spark, [("a", 1)]), ["id"], insert_only=True)
    assert case.store.list_tables(case.catalog, case.schema) == ["things"]
    assert case.store.list_tables(case.catalog, "nothing_here") == []


def test_store_replace_by_date_partition_rewrites_only_those_dates(spark, case):
    store, t = case.store, case.table
    d1, d2, d3 = date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 3)
    store.replace(t, _dated(spark, [("a", d1, 1), ("b", d2, 2), ("c", d3, 3), ("n", None, 0)]), column="day")
    assert store.partition_columns(t) == ["day"]
    store.replace(t, _dated(spark, [("b", d2, 20), ("x", d2, 9)]), column="day", values=[d2, d3])
    assert case.rows() == sorted([("a", d1, 1), ("b", d2, 20), ("x", d2, 9), ("n", None, 0)], key=str)
    actions = case.log(store.version(t) or 0)
    removed = {a["remove"]["partitionValues"]["day"] for a in actions if "remove" in a}
    assert removed == {"2026-10-02", "2026-10-03"}  # day 1's and the NULL day's files untouched


def test_store_insert_only_into_date_partitioned_table_reads_only_the_batch_dates(spark, case):
    store, t = case.store, case.table
    d1, d2 = date(2026, 10, 1), date(2026, 10, 2)
    store.merge(t, _dated(spark, [("a", d1, 1), ("b", d2, 2)]), ["k", "day"], insert_only=True, partition_by="day")
    version = store.version(t) or 0
    # a replayed key of day 2 is found; day 1's file is not read (it is made unreadable to prove it)
    (next((case.folder() / "day=2026-10-01").glob("*.parquet"))).write_bytes(b"not parquet")
    result = store.merge(t, _dated(spark, [("b", d2, 99), ("c", d2, 3)]), ["k", "day"], insert_only=True)
    (merged,) = data_commits(case.folder(), after=version)
    assert result.inserted == 1 and [a for a in merged if "remove" in a] == []
    assert sorted(tuple(r) for r in store.read(t).where("day = DATE'2026-10-02'").collect()) == [
        ("b", d2, 2), ("c", d2, 3),
    ]  # fmt: skip


def test_store_merged_table_compacts_its_small_files_without_changing_data(spark, case):
    store, t = case.store, case.table
    for n in range(3):  # three micro-batches of two files each (two local slices) into one (unpartitioned) table
        store.merge(t, _df(spark, [(f"a{n}", n), (f"b{n}", n)]), ["id"], insert_only=True)
    compactions = [a for _, a in commits(case.folder()) if operation(a) == "OPTIMIZE"]
    assert compactions and all(
        next(x["commitInfo"] for x in a if "commitInfo" in x)["operationParameters"]["auto"] in (True, "true")
        for a in compactions
    )
    merges = data_commits(case.folder())  # checks every compaction changes no data
    assert len(merges) == 3 and not [a for m in merges for a in m if "remove" in a]
    live = spark.sql(f"DESCRIBE DETAIL {store.table_ref(t)}").first()
    assert live is not None and live["numFiles"] < 6
    assert len(case.rows()) == 6


def test_store_insert_only_with_bound_reads_only_files_overlapping_the_range(spark, case, no_auto_compaction):
    store, t = case.store, case.table
    d1, d2, d3 = date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 3)
    store.merge(t, _dated(spark, [("a", d1, 1)]).coalesce(1), ["k"], insert_only=True)
    old = {p.name for p in case.folder().glob("*.parquet")}
    store.merge(t, _dated(spark, [("b", d2, 2), ("n", None, 0)]).coalesce(1), ["k"], insert_only=True)
    version = store.version(t) or 0
    # day 1's file lies outside the batch's range: it is not read (made unreadable to prove it)
    (old_file,) = old
    (case.folder() / old_file).write_bytes(b"not parquet")
    batch = _dated(spark, [("b", d2, 99), ("n", None, 9), ("c", d3, 3), ("m", None, 4)])
    result = store.merge(t, batch, ["k"], insert_only=True, bound=Bound("day", d2, d3, nulls=True))
    assert (result.inserted, store.version(t)) == (2, version + 1)  # b and n were found, c and m are new
    assert [a for a in case.log(version + 1) if "remove" in a] == []
    rows = sorted((tuple(r) for r in store.read(t).where("day IS NULL OR day > DATE'2026-10-01'").collect()), key=str)
    assert rows == sorted([("b", d2, 2), ("c", d3, 3), ("m", None, 4), ("n", None, 0)], key=str)


def test_store_bound_to_another_session_writes_with_that_session(spark, case):
    other = spark.newSession()
    bound = case.store.bound(other)
    assert bound.spark is other and case.store.spark is spark
    bound.merge(case.table, _df(other, [("a", 1)]), ["id"], insert_only=True)
    assert case.rows() == [("a", 1)]
    # and a frame of another session MERGEd by a store of this one (the hub's view sessions do it)
    assert case.store.merge(case.table, _df(other, [("b", 2)]), ["id"], insert_only=True).inserted == 1
    assert case.rows() == [("a", 1), ("b", 2)]


@pytest.mark.parametrize("bad", ["a.b", "a.b.c; DROP TABLE x", "a.`b`.c", "a.b.c.d", "../x.y.z"])
def test_store_rejects_hostile_table_names(spark, case, bad):
    from stm.errors import InvalidIdentifier

    with pytest.raises(InvalidIdentifier, match="invalid table name"):
        case.store.exists(bad)


def test_store_rejects_hostile_key_names(spark, case):
    from stm.errors import InvalidIdentifier

    case.store.merge(case.table, _df(spark, [("a", 1)]), ["id"], insert_only=True)
    with pytest.raises(InvalidIdentifier, match="invalid name"):
        case.store.merge(case.table, _df(spark, [("b", 1)]), ["id` = 1 OR `n"], insert_only=True)


def test_store_merge_creating_a_partitioned_table_writes_one_file_per_partition_and_no_compaction(spark, case):
    store, t = case.store, case.table
    days = [date(2026, 10, d) for d in range(1, 6)]
    rows = _dated(spark, [(f"k{i}", days[i % 5], i) for i in range(400)]).repartition(8)  # 8 tasks, every day each
    store.merge(t, rows, ["k", "day"], insert_only=True, partition_by="day")
    (creating,) = [operation(a) for _, a in commits(case.folder())]  # no compaction commit after it
    assert creating in ("WRITE", "CREATE TABLE AS SELECT")
    files = sorted(p.parent.name for p in case.folder().glob("day=*/*.parquet"))
    assert files == [f"day={d.isoformat()}" for d in days]
    assert len(case.rows()) == 400
