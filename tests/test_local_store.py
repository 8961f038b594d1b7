"""The table store contract on the local adapter: keyed MERGEs, replay, evolution, append-only commits, guards."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stm.errors import TableNotFound, UsageError
from stm.store import delta_log
from stm.store.base import Txn
from stm.store.local import LocalTableStore

T = "monitoring.workspace_usage.things"


def _df(spark: Any, rows: list[tuple[str, int]], extra: str | None = None) -> Any:
    df = spark.createDataFrame(rows, "id string, n long")
    return df.selectExpr("*", f"'{extra}' AS note") if extra else df


def _rows(store: LocalTableStore) -> list[tuple]:
    return sorted(tuple(r) for r in store.read(T).collect())


def _log(store: LocalTableStore, version: int) -> list[dict]:
    path = store.path(T) / "_delta_log" / f"{version:020d}.json"
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def store(spark: Any, tmp_path: Path) -> LocalTableStore:
    return LocalTableStore(spark, tmp_path)


def test_store_insert_only_keeps_first_row_per_key_and_commits_only_adds(spark, store):
    first = store.merge(T, _df(spark, [("a", 1), ("b", 2)]), ["id"], insert_only=True, txn=Txn("app", 0))
    second = store.merge(T, _df(spark, [("b", 99), ("c", 3)]), ["id"], insert_only=True, txn=Txn("app", 1))
    assert (first.inserted, second.inserted, second.updated) == (2, 1, 0)
    assert _rows(store) == [("a", 1), ("b", 2), ("c", 3)]
    actions = _log(store, 1)
    assert not [a for a in actions if "remove" in a]
    assert any(a.get("txn", {}).get("appId") == "app" and a["txn"]["version"] == 1 for a in actions)


def test_store_replayed_transaction_is_skipped(spark, store):
    store.merge(T, _df(spark, [("a", 1)]), ["id"], insert_only=True, txn=Txn("app", 5))
    version = store.version(T)
    again = store.merge(T, _df(spark, [("z", 9)]), ["id"], insert_only=True, txn=Txn("app", 5))
    assert again.replay_skipped and store.version(T) == version
    other_app = store.merge(T, _df(spark, [("z", 9)]), ["id"], insert_only=True, txn=Txn("other", 5))
    assert other_app.inserted == 1


def test_store_upsert_updates_matched_and_inserts_new(spark, store):
    store.merge(T, _df(spark, [("a", 1), ("b", 2)]), ["id"], insert_only=False)
    result = store.merge(T, _df(spark, [("b", 20), ("c", 3)]), ["id"], insert_only=False)
    assert (result.inserted, result.updated) == (1, 1)
    assert _rows(store) == [("a", 1), ("b", 20), ("c", 3)]


def test_store_new_source_column_reaches_target_old_rows_null(spark, store):
    store.merge(T, _df(spark, [("a", 1)]), ["id"], insert_only=True)
    store.merge(T, _df(spark, [("b", 2)], extra="new"), ["id"], insert_only=True)
    assert store.read(T).columns == ["id", "n", "note"]
    assert _rows(store) == [("a", 1, None), ("b", 2, "new")]


def test_store_empty_batch_writes_no_commit(spark, store):
    store.merge(T, _df(spark, [("a", 1)]), ["id"], insert_only=True)
    version = store.version(T)
    result = store.merge(T, _df(spark, [("a", 1)]), ["id"], insert_only=True)
    assert result.inserted == 0 and store.version(T) == version


def test_store_vacuum_guard_and_missing_table(spark, store):
    store.merge(T, _df(spark, [("a", 1)]), ["id"], insert_only=True)
    with pytest.raises(UsageError, match="below 168 h"):
        store.vacuum(T, 1)
    assert store.vacuum(T, 168) == 0
    with pytest.raises(TableNotFound):
        store.read("monitoring.workspace_usage.nope")
    assert not store.exists("monitoring.workspace_usage.nope")


def test_store_replace_rewrites_only_the_given_dates_in_one_commit(spark, store):
    rows = [("a", 1), ("b", 2), ("c", 3)]
    store.replace(T, _df(spark, rows))
    assert _rows(store) == rows
    version = store.version(T)
    store.replace(T, _df(spark, [("b", 20), ("d", 4)], extra="x"), column="id", values=["b", "d"])
    assert store.version(T) == version + 1
    assert _rows(store) == [("a", 1, None), ("b", 20, "x"), ("c", 3, None), ("d", 4, "x")]
    store.replace(T, _df(spark, [("z", 0)]))
    assert _rows(store) == [("z", 0)]
    assert store.read(T).columns == ["id", "n"]


def test_store_list_tables_names_only_delta_tables(spark, store, tmp_path):
    store.merge(T, _df(spark, [("a", 1)]), ["id"], insert_only=True)
    (tmp_path / "monitoring" / "workspace_usage" / "not_a_table").mkdir()
    assert store.list_tables("monitoring", "workspace_usage") == ["things"]
    assert store.list_tables("monitoring", "nothing_here") == []


def test_store_replace_by_date_partition_rewrites_only_those_dates(spark, store):
    from datetime import date

    def frame(rows: list[tuple[str, date, int]]) -> Any:
        return spark.createDataFrame(rows, "k string, day date, n long")

    d1, d2, d3 = date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 3)
    store.replace(T, frame([("a", d1, 1), ("b", d2, 2), ("c", d3, 3)]), column="day")
    assert (store.path(T) / "day=2026-10-02").is_dir()
    store.replace(T, frame([("b", d2, 20), ("x", d2, 9)]), column="day", values=[d2, d3])
    assert sorted(tuple(r) for r in store.read(T).collect()) == [("a", d1, 1), ("b", d2, 20), ("x", d2, 9)]
    actions = _log(store, store.version(T) or 0)
    removed = {a["remove"]["path"].split("/")[0] for a in actions if "remove" in a}
    assert removed == {"day=2026-10-02", "day=2026-10-03"}  # day 1's file untouched


@pytest.mark.parametrize("small", [False, True])
def test_store_replace_small_rows_written_by_arrow_read_back_like_spark_written(spark, store, small):
    from datetime import date
    from decimal import Decimal

    schema = "k string, day date, cost decimal(38,18), tags map<string,string>, at timestamp"
    at = spark.sql("SELECT TIMESTAMP'2026-10-01 12:00:00' AS t").first()[0]
    d1, d2 = date(2026, 10, 1), date(2026, 10, 2)
    rows = [("a", d1, Decimal("1.5"), {"team": "x"}, at), ("b", None, None, None, None), ("c", d2, Decimal(2), {}, at)]
    assert store.replace(T, spark.createDataFrame(rows, schema), column="day", small=small) == 3
    assert sorted(store.read(T).collect(), key=lambda r: r.k) == sorted(rows)
    assert {p.name for p in store.path(T).iterdir() if p.is_dir()} == {
        "_delta_log", "day=2026-10-01", "day=2026-10-02", "day=__HIVE_DEFAULT_PARTITION__",
    }  # fmt: skip
    late = spark.createDataFrame([("d", d2, None, None, None)], schema)
    store.replace(T, late, column="day", values=[d2], small=True)
    assert sorted(r.k for r in store.read(T).collect()) == ["a", "b", "d"]
    adds = [a["add"] for a in _log(store, store.version(T) or 0) if "add" in a]
    assert [a["partitionValues"] for a in adds] == [{"day": "2026-10-02"}]


@pytest.mark.parametrize("small", [False, True])
def test_store_insert_only_into_date_partitioned_table_reads_only_the_batch_dates(spark, store, small):
    """Also with ``small`` rows written by Arrow: the same files, partition values and append-only commits."""
    from datetime import date

    def frame(rows: list[tuple[str, date, int]]) -> Any:
        return spark.createDataFrame(rows, "k string, day date, n long")

    d1, d2 = date(2026, 10, 1), date(2026, 10, 2)
    store.merge(T, frame([("a", d1, 1), ("b", d2, 2)]), ["k", "day"], insert_only=True, cluster_by="day", small=small)
    assert delta_log.partition_columns(store.path(T)) == ["day"]
    version = store.version(T) or 0
    # a replayed key of day 2 is found; day 1's file is not read (it is made unreadable to prove it)
    (next((store.path(T) / "day=2026-10-01").glob("*.parquet"))).write_bytes(b"not parquet")
    result = store.merge(T, frame([("b", d2, 99), ("c", d2, 3)]), ["k", "day"], insert_only=True, small=small)
    assert (result.inserted, store.version(T)) == (1, version + 1)
    assert [a for a in _log(store, version + 1) if "remove" in a] == []
    assert sorted(tuple(r) for r in store.read(T).where("day = DATE'2026-10-02'").collect()) == [
        ("b", d2, 2), ("c", d2, 3),
    ]  # fmt: skip


def _source_batch(spark: Any, store: LocalTableStore, name: str) -> Any:
    """A micro-batch of the local source over every file of ``name``, as the ``emit=files`` stream gives it."""
    path = store.path(name)
    files, _meta = delta_log.snapshot(path, delta_log.latest_version(path))
    return spark.createDataFrame([(f.path,) for f in files], "path string")


def test_store_insert_batch_rows_by_identity_into_a_partitioned_table(spark, store):
    from pyspark.sql import functions as F
    from pyspark.sql.types import LongType, StructField

    from stm.store.base import ROW_FILE, ROW_INDEX
    from tests.lakes import append, events

    src = "system.access.events"
    append(store.path(src), events(["a", "b", "c"]))
    append(store.path(src), events(["d"], hour=1))
    first = store.read(src).where("event_id = 'a'").withColumn("_batch_id", F.lit(0).cast("long"))
    store.merge(T, first, ["event_id"], insert_only=True, cluster_by="workspace_id")
    batch = _source_batch(spark, store, src)
    ids = store.batch_row_ids(src, batch, ["event_id"])
    assert ids is not None and ids.count() == 4
    drop = ids.where("event_id = 'c'").select(ROW_FILE, ROW_INDEX)
    extra = [(StructField("_batch_id", LongType()), 7)]
    result = store.insert_batch_rows(T, src, ids, ["event_id"], drop=drop, extra=extra, txn=Txn("app", 1))
    assert (result.inserted, result.updated) == (2, 0)  # "a" is in the table, "c" dropped
    assert sorted((r.event_id, r._batch_id) for r in store.read(T).collect()) == [("a", 0), ("b", 7), ("d", 7)]
    adds = [a["add"] for a in _log(store, 1) if "add" in a]
    assert adds and all(a["partitionValues"] == {"workspace_id": "1001"} for a in adds)
    assert all(a["path"].startswith("workspace_id=1001/") for a in adds)
    again = store.insert_batch_rows(T, src, ids, ["event_id"], drop=drop, extra=extra, txn=Txn("app", 1))
    assert again.replay_skipped and store.version(T) == 1


def test_store_insert_batch_rows_failing_midway_leaves_no_files(spark, store, monkeypatch):
    from pyspark.sql.types import LongType, StructField

    import stm.store.local as local
    from tests.lakes import append, events

    src = "system.access.events"
    append(store.path(src), events(["a", "b"]))
    append(store.path(src), events(["c"], hour=1))
    ids = store.batch_row_ids(src, _source_batch(spark, store, src), ["event_id"])
    assert ids is not None
    copy = local._copy_file
    copied: list[str] = []

    def second_fails(file: str, *args: Any) -> Any:
        if copied:
            raise OSError(f"disk full writing the copy of {file}")
        copied.append(file)
        return copy(file, *args)

    monkeypatch.setattr(local, "_copy_file", second_fails)
    extra = [(StructField("_batch_id", LongType()), 1)]
    with pytest.raises(OSError, match="disk full"):
        store.insert_batch_rows(T, src, ids, ["event_id"], drop=None, extra=extra)
    assert len(copied) == 1  # the first file was copied, then removed
    assert not store.exists(T)
    assert not [p for p in store.path(T).rglob("*") if p.is_file()]
