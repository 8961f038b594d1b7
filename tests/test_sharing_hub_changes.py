"""``stm hub sync`` reads changed tables from the changes feed when history is shared, and reloads when it cannot."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest

# delta-rs, Spark-free: fast provider fixtures (updates, deletes, change data) and reads of the hub's copies
from deltalake import DeltaTable, write_deltalake

from stm.config import load_config
from stm.sharing.hub import Hub, TableStatus
from stm.sharing.hub_changes import FeedMismatch, apply_changes
from stm.sharing.recipients import RecipientStore
from tests.sharing_fixtures import (
    SHARE,
    ServerThread,
    billing_rows,
    provider_lake,
    serve,
    sharing_config,
    table_dir,
    write,
)

CLUSTERS = pa.schema(
    [
        pa.field("cluster_id", pa.string()),
        pa.field("state", pa.string()),
        pa.field("tags", pa.map_(pa.string(), pa.string())),
        pa.field("workers", pa.int64()),
    ]
)


@dataclass
class Provider:
    root: Path
    server: ServerThread
    hub_root: Path
    entry: dict

    def hub(self, **options: object) -> Hub:
        cfg = load_config(extra={"hub": {"providers": {"acme": {**self.entry, **options}}}})
        return Hub(self.hub_root, cfg, retries=0)

    def copy(self, table: str) -> list[dict]:
        return rows(self.hub_root / "monitoring_hub" / "src_acme" / table)

    def table(self, table: str) -> list[dict]:
        return rows(table_dir(self.root, table))


def rows(path: Path) -> list[dict]:
    """Every row, duplicates kept, in a stable order."""
    data = DeltaTable(str(path)).to_pyarrow_dataset().to_table(use_threads=False).to_pylist()
    return sorted(data, key=repr)


def status(statuses: list[TableStatus], table: str) -> TableStatus:
    return next(s for s in statuses if s.table == table)


def requests_for(caplog: pytest.LogCaptureFixture, table: str, kind: str) -> int:
    return sum(f"/tables/{table}/{kind} " in r.getMessage() for r in caplog.records if r.name == "stm.sharing.server")


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[Provider]:
    root = provider_lake(tmp_path / "acme")
    server = serve(root, sharing_config())
    _r, profile = RecipientStore(root).add("hub", [SHARE], server.endpoint)
    entry = {"profile": str(profile), "share": SHARE, "account": "acc1", "workspace": "1001"}
    yield Provider(root, server, tmp_path / "hub", entry)
    server.stop()


def test_hub_sync_after_an_append_applies_only_the_new_rows_from_the_feed(
    provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    hub = provider.hub()
    assert status(hub.sync(), "billing_summary").status == "synced"
    write(provider.root, "billing_summary", billing_rows("acc1", "1001", ["r4"], day=3))
    caplog.set_level(logging.INFO, logger="stm.sharing.server")
    got = status(hub.sync(), "billing_summary")
    assert (got.status, got.version, got.rows, got.changed_rows) == ("changes", 2, 4, 1)
    assert requests_for(caplog, "billing_summary", "changes") == 2  # its size, then its rows
    assert requests_for(caplog, "billing_summary", "query") == 0
    assert provider.copy("billing_summary") == provider.table("billing_summary")
    copy_log = provider.hub_root / "monitoring_hub" / "src_acme" / "billing_summary" / "_delta_log"
    commit = [json.loads(line) for line in (copy_log / "00000000000000000001.json").read_text().splitlines()]
    assert not any("remove" in a for a in commit) and sum("add" in a for a in commit) == 1  # one append commit
    assert not (copy_log / "00000000000000000002.json").exists()
    billing = DeltaTable(str(provider.hub_root / "monitoring_hub" / "consolidated" / "all_workspaces_billing"))
    assert sorted(billing.to_pyarrow_dataset().to_table(use_threads=False)["record_id"].to_pylist()) == [
        "r1",
        "r2",
        "r3",
        "r4",
    ]


def clusters(ids: list[str], state: str = "RUNNING") -> pa.Table:
    n = len(ids)
    return pa.table(
        {
            "cluster_id": ids,
            "state": [state] * n,
            "tags": [None if i == "c3" else [("team", "finops"), ("owner", i)] for i in ids],
            "workers": [None if i == "c1" else 2 for i in ids],
        },
        schema=CLUSTERS,
    )


@pytest.mark.parametrize("change_data_feed", [False, True], ids=["file-rewrites", "cdc-files"])
def test_hub_sync_after_in_place_updates_and_deletes_reads_the_feed_unless_larger_than_the_table(
    provider: Provider, caplog: pytest.LogCaptureFixture, change_data_feed: bool
) -> None:
    path = str(table_dir(provider.root, "clusters_current"))
    config = {"delta.enableChangeDataFeed": "true"} if change_data_feed else None
    # exact duplicate rows: c1 (updated below) and c9 (in the same file, rewritten unchanged by that update)
    write_deltalake(path, clusters(["c1", "c1", "c9", "c9"]), configuration=config)
    for ids in (["c2"], ["c3"], ["c4"], ["c5"], ["c6"], ["c7"], ["c8"]):  # one file each
        write_deltalake(path, clusters(ids), mode="append")
    hub = provider.hub()
    hub.sync()
    dt = DeltaTable(path)
    dt.update(predicate="cluster_id = 'c1'", updates={"state": "'TERMINATED'"})  # both copies
    dt.delete("cluster_id = 'c3'")
    write_deltalake(path, clusters(["c2"]), mode="append")  # c2 again, unchanged: now a duplicate
    caplog.set_level(logging.INFO, logger="stm.sharing.server")
    got = status(hub.sync(), "clusters_current")
    assert (got.status, got.version) == ("changes", 10)
    assert requests_for(caplog, "clusters_current", "changes") == 2  # its size, then its rows
    assert requests_for(caplog, "clusters_current", "query") == 0
    want = provider.table("clusters_current")
    assert got.rows == len(want) and got.changed_rows is not None and got.changed_rows > 0
    assert [(r["cluster_id"], r["state"]) for r in want][:4] == [
        ("c1", "TERMINATED"),
        ("c1", "TERMINATED"),
        ("c2", "RUNNING"),
        ("c2", "RUNNING"),
    ]
    assert provider.copy("clusters_current") == want and len(want) == 11
    assert status(hub.sync(), "clusters_current").status == "unchanged"
    # a change to every row lists more bytes than the table holds: reading the table is cheaper
    DeltaTable(path).update(updates={"workers": "3"})
    got = status(hub.sync(), "clusters_current")
    assert got.status == "reloaded" and got.error is not None and "larger than the table" in got.error
    assert provider.copy("clusters_current") == provider.table("clusters_current")


def test_hub_sync_beyond_the_provider_history_reloads_the_table(provider: Provider) -> None:
    hub = provider.hub()
    hub.sync()
    for record in ("r4", "r5"):
        write(provider.root, "billing_summary", billing_rows("acc1", "1001", [record], day=3))
    DeltaTable(str(table_dir(provider.root, "billing_summary"))).create_checkpoint()
    for version in range(3):  # the provider's log cleaned up up to its checkpoint at version 3
        (table_dir(provider.root, "billing_summary") / "_delta_log" / f"{version:020d}.json").unlink()
    got = status(hub.sync(), "billing_summary")
    assert (got.status, got.version, got.rows) == ("reloaded", 3, 5)
    assert got.error is not None and "version 2 is no longer in the table history" in got.error
    assert provider.copy("billing_summary") == provider.table("billing_summary")


def test_hub_sync_of_a_provider_without_history_reloads_changed_tables(
    provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    hub = provider.hub(history=False)
    hub.sync()
    write(provider.root, "billing_summary", billing_rows("acc1", "1001", ["r4"], day=3))
    caplog.set_level(logging.INFO, logger="stm.sharing.server")
    got = status(hub.sync(), "billing_summary")
    assert (got.status, got.rows) == ("reloaded", 4)
    assert got.error is not None and "does not share history" in got.error
    assert requests_for(caplog, "billing_summary", "changes") == 0
    assert provider.copy("billing_summary") == provider.table("billing_summary")


def test_hub_sync_after_a_schema_change_reloads_the_table(provider: Provider) -> None:
    hub = provider.hub()
    hub.sync()
    wider = billing_rows("acc1", "1001", ["r4"], day=3).append_column("sku_name", pa.array(["JOBS_COMPUTE"]))
    write_deltalake(str(table_dir(provider.root, "billing_summary")), wider, mode="append", schema_mode="merge")
    got = status(hub.sync(), "billing_summary")
    assert (got.status, got.error) == ("reloaded", "the table schema changed")
    assert provider.copy("billing_summary") == provider.table("billing_summary")


def _changes(kinds: list[str], values: list[str]) -> pa.Table:
    return pa.table({"v": values, "_change_type": kinds})


def test_apply_changes_removes_one_copy_per_delete_and_cancels_rows_added_then_removed() -> None:
    current = pa.table({"v": ["a", "a", "a", "b"]})
    feed = _changes(["delete", "insert", "insert", "delete", "update_preimage", "update_postimage"], list("aczcbd"))
    applied = apply_changes(current, feed)
    assert sorted(applied.table["v"].to_pylist()) == ["a", "a", "d", "z"]
    assert (applied.inserted, applied.deleted) == (3, 3)
    with pytest.raises(FeedMismatch, match="does not hold"):
        apply_changes(current, _changes(["delete"] * 4, ["a"] * 4))  # three copies to remove, not four
