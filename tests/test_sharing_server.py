"""The local Delta Sharing endpoint read by the official ``delta_sharing`` client, and refused to everyone else."""

from __future__ import annotations

import json
import logging
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import delta_sharing
import pandas as pd
import pyarrow as pa
import pytest
import requests

# delta-rs, Spark-free: reads the provider's fixtures to compare with what the client got
from deltalake import DeltaTable

from stm.cli import main
from stm.sharing.files import FileSigner
from stm.sharing.recipients import RecipientStore
from stm.sharing.server import create_app
from tests.sharing_fixtures import (
    MASKED,
    OTHER,
    SHARE,
    ServerThread,
    provider_lake,
    sharing_config,
    table_dir,
    write,
)

SCHEMA = "workspace_usage"


@dataclass
class Env:
    root: Path
    server: ServerThread
    signer: FileSigner
    profile: Path
    token: str
    other_token: str

    def url(self, table: str, share: str = SHARE) -> str:
        return f"{self.profile}#{share}.{SCHEMA}.{table}"

    def get(self, path: str, token: str | None = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.get(self.server.endpoint + path, headers=headers, timeout=10)

    def query_lines(self, table: str, body: dict | None = None) -> list[dict]:
        resp = requests.post(
            f"{self.server.endpoint}/shares/{SHARE}/schemas/{SCHEMA}/tables/{table}/query",
            json=body or {},
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
        )
        assert resp.status_code == 200, resp.text
        return [json.loads(line) for line in resp.text.splitlines()]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root = provider_lake(tmp_path_factory.mktemp("provider"))
    write(root, "clusters_current", pa.table({"cluster_id": ["c1", "c2"]}))
    DeltaTable(str(table_dir(root, "clusters_current"))).delete("cluster_id = 'c1'")
    signer = FileSigner(root / "_sharing")
    server = ServerThread(create_app(root, sharing_config(), RecipientStore(root), signer)).start()
    store = RecipientStore(root)
    _r, profile = store.add("hub", [SHARE, MASKED], server.endpoint)
    _r2, other = store.add("other", [OTHER], server.endpoint)
    token = json.loads(profile.read_text())["bearerToken"]
    other_token = json.loads(other.read_text())["bearerToken"]
    yield Env(root, server, signer, profile, token, other_token)
    server.stop()


def provider_table(env: Env, table: str, version: int | None = None) -> pd.DataFrame:
    dt = DeltaTable(str(table_dir(env.root, table)), version=version)
    return dt.to_pyarrow_dataset().to_table(use_threads=False).to_pandas()


def sort(df: pd.DataFrame, key: str) -> pd.DataFrame:
    return df.sort_values(key).reset_index(drop=True)


def test_client_lists_only_granted_shares_and_existing_tables(env: Env) -> None:
    client = delta_sharing.SharingClient(str(env.profile))
    assert [s.name for s in client.list_shares()] == [SHARE, MASKED]
    assert [s.name for s in client.list_schemas(delta_sharing.Share(SHARE))] == [SCHEMA]
    tables = {(t.share, t.name) for t in client.list_all_tables()}
    assert (SHARE, "billing_summary") in tables
    assert (MASKED, "user_activity_summary") in tables
    assert (SHARE, "cost_by_sku") not in tables  # declared but not built yet
    assert all(t.share != OTHER for t in client.list_all_tables())


def test_load_as_pandas_equals_provider_table(env: Env) -> None:
    got = delta_sharing.load_as_pandas(env.url("billing_summary"))
    want = provider_table(env, "billing_summary")
    pd.testing.assert_frame_equal(sort(got, "record_id"), sort(want, "record_id"))
    assert delta_sharing.get_table_version(env.url("billing_summary")) == 1


def test_load_at_version_returns_that_snapshot(env: Env) -> None:
    got = delta_sharing.load_as_pandas(env.url("billing_summary"), version=0)
    assert sorted(got["record_id"]) == ["r1", "r2"]
    after_delete = delta_sharing.load_as_pandas(env.url("clusters_current"))
    assert list(after_delete["cluster_id"]) == ["c2"]


def test_changes_feed_has_inserts_and_deletes_per_commit(env: Env) -> None:
    appended = delta_sharing.load_table_changes_as_pandas(env.url("billing_summary"), starting_version=1)
    assert list(appended["record_id"]) == ["r3"]
    assert set(appended["_change_type"]) == {"insert"}
    assert set(appended["_commit_version"]) == {1}
    changes = delta_sharing.load_table_changes_as_pandas(env.url("clusters_current"), starting_version=0)
    rows = sorted(zip(changes["_commit_version"], changes["_change_type"], changes["cluster_id"], strict=True))
    # the DELETE rewrote the file: its old rows are deleted and the kept row inserted again (no CDC files)
    want = [(0, "insert", "c1"), (0, "insert", "c2"), (1, "delete", "c1"), (1, "delete", "c2"), (1, "insert", "c2")]
    assert rows == want


def test_metadata_and_version_carry_the_table_version_header(env: Env) -> None:
    base = f"/shares/{SHARE}/schemas/{SCHEMA}/tables/billing_summary"
    meta = env.get(f"{base}/metadata", env.token)
    assert meta.headers["delta-table-version"] == "1"
    lines = [json.loads(line) for line in meta.text.splitlines()]
    assert lines[0] == {"protocol": {"minReaderVersion": 1}}
    assert lines[1]["metaData"]["format"] == {"provider": "parquet"}
    assert env.get(f"{base}/version", env.token).headers["delta-table-version"] == "1"
    assert env.get(f"/shares/{SHARE}", env.token).json() == {"share": {"name": SHARE, "id": SHARE}}


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_timestamps_resolve_to_the_versions_committed_then(env: Env) -> None:
    stamps = {h["version"]: h["timestamp"] for h in DeltaTable(str(table_dir(env.root, "billing_summary"))).history()}
    assert stamps[0] < stamps[1]
    for ms, version in ((stamps[0], 0), (stamps[1] - 1, 0), (stamps[1], 1), (stamps[1] + 60_000, 1)):
        assert env.query_lines("billing_summary", {"timestamp": _iso(ms)})[1]["metaData"]["version"] == version
    base = f"/shares/{SHARE}/schemas/{SCHEMA}/tables/billing_summary"
    for ms, version in ((stamps[0] - 60_000, 0), (stamps[0], 0), (stamps[0] + 1, 1), (stamps[1], 1)):
        resp = env.get(f"{base}/version?startingTimestamp={_iso(ms)}", env.token)
        assert resp.headers["delta-table-version"] == str(version)
    too_late = env.get(f"{base}/version?startingTimestamp={_iso(stamps[1] + 1)}", env.token)
    _error(too_late, 400, "INVALID_PARAMETER_VALUE")
    assert "after the latest version" in too_late.json()["message"]
    too_early = requests.post(
        f"{env.server.endpoint}{base}/query",
        json={"timestamp": _iso(stamps[0] - 1)},
        headers={"Authorization": f"Bearer {env.token}"},
        timeout=10,
    )
    _error(too_early, 400, "INVALID_PARAMETER_VALUE")
    assert "before the first version" in too_early.json()["message"]


def test_file_url_supports_range_and_head(env: Env) -> None:
    url = env.query_lines("billing_summary")[2]["file"]["url"]
    part = requests.get(url, headers={"Range": "bytes=0-3"}, timeout=10)
    assert (part.status_code, part.content) == (206, b"PAR1")
    assert part.headers["content-range"].startswith("bytes 0-3/")
    head = requests.head(url, timeout=10)
    assert head.status_code == 200 and int(head.headers["content-length"]) > 4


def _error(resp: requests.Response, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.json()["errorCode"] == code
    assert set(resp.json()) == {"errorCode", "message"}


def test_requests_without_a_valid_token_are_refused(env: Env) -> None:
    _error(env.get("/shares"), 401, "UNAUTHENTICATED")
    _error(env.get("/shares", "not-a-token"), 401, "UNAUTHENTICATED")
    _error(env.get(f"/shares/{SHARE}/all-tables", env.token[:-1]), 401, "UNAUTHENTICATED")
    _error(env.get("/shares/../../etc/passwd"), 404, "RESOURCE_DOES_NOT_EXIST")  # no such route: nothing read


def test_another_recipients_share_looks_like_no_share(env: Env) -> None:
    denied = env.get(f"/shares/{OTHER}/all-tables", env.token)
    missing = env.get("/shares/no_such_share/all-tables", env.token)
    _error(denied, 404, "RESOURCE_DOES_NOT_EXIST")
    assert denied.json()["message"].replace(OTHER, "X") == missing.json()["message"].replace("no_such_share", "X")
    _error(env.get(f"/shares/{SHARE}/schemas", env.other_token), 404, "RESOURCE_DOES_NOT_EXIST")
    assert [s["name"] for s in env.get("/shares", env.other_token).json()["items"]] == [OTHER]


@pytest.mark.parametrize("segment", ["..", "%2e%2e", "a%2Fb", "x'y", "a" * 300, "%00", "billing_summary%20"])
def test_odd_names_in_path_segments_are_refused(env: Env, segment: str) -> None:
    for path in (
        f"/shares/{segment}/schemas",
        f"/shares/{SHARE}/schemas/{segment}/tables",
        f"/shares/{SHARE}/schemas/{SCHEMA}/tables/{segment}/metadata",
    ):
        resp = env.get(path, env.token)
        assert resp.status_code in (400, 404), (path, resp.status_code)
        assert set(resp.json()) == {"errorCode", "message"}
        assert segment not in resp.text and "PAR1" not in resp.text and str(env.root) not in resp.text


def test_oversized_and_malformed_query_bodies_are_refused(env: Env) -> None:
    url = f"{env.server.endpoint}/shares/{SHARE}/schemas/{SCHEMA}/tables/billing_summary/query"
    auth = {"Authorization": f"Bearer {env.token}"}
    big = requests.post(url, data=b"{" + b" " * 200_000 + b"}", headers=auth, timeout=10)
    _error(big, 413, "INVALID_PARAMETER_VALUE")
    _error(requests.post(url, data=b"[1]", headers=auth, timeout=10), 400, "MALFORMED_REQUEST")
    _error(requests.post(url, json={"version": 99}, headers=auth, timeout=10), 400, "INVALID_PARAMETER_VALUE")


def test_table_shared_without_history_serves_its_latest_version_only(env: Env) -> None:
    base = f"{env.server.endpoint}/shares/{MASKED}/schemas/{SCHEMA}/tables/jobs_current"
    auth = {"Authorization": f"Bearer {env.token}"}
    latest = requests.post(f"{base}/query", json={}, headers=auth, timeout=10)
    assert latest.status_code == 200 and '"file"' in latest.text
    for body in ({"version": 0}, {"timestamp": "2026-01-01T00:00:00Z"}):
        refused = requests.post(f"{base}/query", json=body, headers=auth, timeout=10)
        _error(refused, 400, "INVALID_PARAMETER_VALUE")
        assert "shared without" in refused.json()["message"]
    changes = requests.get(f"{base}/changes?startingVersion=0", headers=auth, timeout=10)
    _error(changes, 400, "INVALID_PARAMETER_VALUE")
    assert "changes feed needs table jobs_current shared with history" in changes.json()["message"]


def test_file_urls_outside_the_table_are_refused(env: Env) -> None:
    files = f"{env.server.endpoint}/files/"
    url = env.query_lines("billing_summary")[2]["file"]["url"]
    payload, sig, _ext = url[len(files) :].split(".")
    _error(requests.get(f"{files}{payload}.{sig[:-2]}AA.parquet", timeout=10), 403, "PERMISSION_DENIED")
    _error(requests.get(f"{files}..%2F..%2F_sharing%2Frecipients.json", timeout=10), 404, "RESOURCE_DOES_NOT_EXIST")
    # a correctly signed URL for a file the table's version does not name is still refused
    for rel in ("../../../_sharing/recipients.json", "_delta_log/00000000000000000000.json"):
        token, _exp = env.signer.sign("hub", SHARE, "billing_summary", rel, 1)
        resp = requests.get(files + token, timeout=10)
        _error(resp, 404, "RESOURCE_DOES_NOT_EXIST")
        assert "token_hash" not in resp.text
    token, _exp = env.signer.sign("hub", OTHER, "jobs_current", "x.parquet", 0)
    _error(requests.get(files + token, timeout=10), 403, "PERMISSION_DENIED")


def test_masked_share_serves_hashed_personal_data(env: Env) -> None:
    got = delta_sharing.load_as_pandas(env.url("user_activity_summary", MASKED))
    assert list(got["events"]) == [3, 4]
    assert got["user_email"][0].startswith("masked:") and got["user_email"][1] is None
    assert got["user_identity"][0]["email"] == got["user_email"][0]  # same value, same mask: joins still work
    assert all(v.startswith("masked:") for v in got["source_ip_address"])
    raw = delta_sharing.load_as_pandas(env.url("user_activity_summary"))
    assert raw["user_email"][0] == "ann@example.com"  # the unmasked share is unchanged
    # nor do the files' statistics (their min/max values are the unmasked file's) leave with the listing
    base = f"{env.server.endpoint}/shares/{MASKED}/schemas/{SCHEMA}/tables/user_activity_summary"
    auth = {"Authorization": f"Bearer {env.token}"}
    for resp in (
        requests.post(f"{base}/query", json={}, headers=auth, timeout=10),
        requests.get(f"{base}/changes?startingVersion=0", headers=auth, timeout=10),
    ):
        assert resp.status_code == 200 and '"url"' in resp.text
        assert "ann@example.com" not in resp.text and "10.0.0.1" not in resp.text and '"stats"' not in resp.text
    assert '"stats"' in requests.post(base.replace(MASKED, SHARE) + "/query", json={}, headers=auth, timeout=10).text


def test_no_token_or_signed_url_in_logs(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    delta_sharing.load_as_pandas(env.url("billing_summary"))
    delta_sharing.load_table_changes_as_pandas(env.url("billing_summary"), starting_version=0)
    env.get("/shares", "wrong-token")
    url = env.query_lines("billing_summary")[2]["file"]["url"]
    assert "recipient=hub POST" in caplog.text and "/files/<signed>" in caplog.text
    for secret in (env.token, env.other_token, url.rsplit("/", 1)[1]):
        assert secret not in caplog.text


def test_recipient_cli_writes_private_profile_and_stores_only_a_hash(tmp_path: Path, capsys) -> None:
    assert main(["share", "recipient", "add", "hub2", "--share", SHARE, "--lake-root", str(tmp_path)]) == 0
    profile = tmp_path / "_sharing" / "recipients" / "hub2.share"
    doc = json.loads(profile.read_text())
    assert doc["shareCredentialsVersion"] == 1 and doc["endpoint"] == "http://127.0.0.1:8470/delta-sharing"
    assert stat.S_IMODE(profile.stat().st_mode) == 0o600
    token = doc["bearerToken"]
    store_text = (tmp_path / "_sharing" / "recipients.json").read_text()
    assert token not in store_text and token not in capsys.readouterr().out
    assert RecipientStore(tmp_path).authenticate(token) is not None
    assert main(["share", "recipient", "add", "hub2", "--share", SHARE, "--lake-root", str(tmp_path)]) == 2
    assert main(["share", "recipient", "add", "x", "--share", "nope", "--lake-root", str(tmp_path)]) == 2
    assert main(["share", "recipient", "list", "--lake-root", str(tmp_path)]) == 0
    assert main(["share", "recipient", "remove", "hub2", "--lake-root", str(tmp_path)]) == 0
    assert RecipientStore(tmp_path).authenticate(token) is None and not profile.exists()


def test_removed_recipient_is_refused_at_once(env: Env) -> None:
    store = RecipientStore(env.root)
    _r, profile = store.add("temp", [SHARE], env.server.endpoint)
    token = json.loads(profile.read_text())["bearerToken"]
    assert env.get("/shares", token).status_code == 200
    store.remove("temp")
    _error(env.get("/shares", token), 401, "UNAUTHENTICATED")


# --- tables written by Delta Lake's Spark connector -------------------------------------------------------------
SPARK_ROWS = "account_id string, record_id string, usage_date date, cost decimal(38,18)"


@pytest.fixture(scope="module")
def spark_env(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """billing_summary: 11 Spark appends (a checkpoint at version 10), then a DELETE rewriting the first file;
    clusters_current: deletion vectors on, then a DELETE that writes one."""
    root = tmp_path_factory.mktemp("spark_provider")
    billing = str(table_dir(root, "billing_summary"))
    first = [("acc1", "r0", date(2026, 11, 1), Decimal("1.5")), ("acc1", "r1", date(2026, 11, 1), Decimal("2"))]
    spark.createDataFrame(first, SPARK_ROWS).coalesce(1).write.format("delta").partitionBy("usage_date").save(billing)
    for i in range(2, 12):  # versions 1 to 10
        row = [("acc1", f"r{i}", date(2026, 11, 1 + i % 2), Decimal(i))]
        spark.createDataFrame(row, SPARK_ROWS).write.format("delta").mode("append").save(billing)
    spark.sql(f"DELETE FROM delta.`{billing}` WHERE record_id = 'r1'")  # version 11: r0 copied to a new file
    clusters = str(table_dir(root, "clusters_current"))
    rows = spark.createDataFrame([("c1", 1), ("c2", 2), ("c3", 3)], "cluster_id string, workers long").coalesce(1)
    rows.write.format("delta").option("delta.enableDeletionVectors", "true").save(clusters)
    spark.sql(f"DELETE FROM delta.`{clusters}` WHERE cluster_id = 'c2'")  # a deletion vector, the file kept
    signer = FileSigner(root / "_sharing")
    server = ServerThread(create_app(root, sharing_config(), RecipientStore(root), signer)).start()
    _r, profile = RecipientStore(root).add("hub", [SHARE], server.endpoint)
    yield Env(root, server, signer, profile, json.loads(profile.read_text())["bearerToken"], "")
    server.stop()


def test_spark_table_past_a_checkpoint_serves_each_version_and_its_files_stats(spark: Any, spark_env: Env) -> None:
    log_dir = table_dir(spark_env.root, "billing_summary") / "_delta_log"
    assert (log_dir / f"{10:020d}.checkpoint.parquet").is_file() and (log_dir / "_last_checkpoint").is_file()
    assert (log_dir / f"{11:020d}.crc").is_file()
    url = spark_env.url("billing_summary")
    assert delta_sharing.get_table_version(url) == 11
    got = delta_sharing.load_as_pandas(url)
    want = spark.read.format("delta").load(str(table_dir(spark_env.root, "billing_summary"))).toPandas()
    pd.testing.assert_frame_equal(sort(got[list(want.columns)], "record_id"), sort(want, "record_id"))
    assert sorted(got["record_id"]) == sorted(["r0"] + [f"r{i}" for i in range(2, 12)])
    before_checkpoint = delta_sharing.load_as_pandas(url, version=5)
    assert sorted(before_checkpoint["record_id"]) == sorted(["r0", "r1"] + [f"r{i}" for i in range(2, 7)])
    files = [line["file"] for line in spark_env.query_lines("billing_summary") if "file" in line]
    assert len(files) == 11
    assert {f["partitionValues"]["usage_date"] for f in files} == {"2026-11-01", "2026-11-02"}
    assert sorted(json.loads(f["stats"])["numRecords"] for f in files) == [1] * 11


def test_spark_table_changes_across_a_checkpoint_list_inserts_and_the_rewrite(spark_env: Env) -> None:
    changes = delta_sharing.load_table_changes_as_pandas(spark_env.url("billing_summary"), starting_version=9)
    rows = sorted(zip(changes["_commit_version"], changes["_change_type"], changes["record_id"], strict=True))
    # the DELETE rewrote the file holding r0 and r1: both deleted, r0 inserted again (no change data files)
    want = [(9, "insert", "r10"), (10, "insert", "r11"), (11, "delete", "r0"), (11, "delete", "r1")]
    assert rows == [*want, (11, "insert", "r0")]
    assert set(changes["usage_date"]) == {date(2026, 11, 1), date(2026, 11, 2)}


def test_spark_table_with_deletion_vectors_is_refused_not_served_with_deleted_rows(spark_env: Env) -> None:
    base = f"/shares/{SHARE}/schemas/{SCHEMA}/tables/clusters_current"
    auth = {"Authorization": f"Bearer {spark_env.token}"}
    endpoint = spark_env.server.endpoint
    for resp in (
        requests.post(f"{endpoint}{base}/query", json={}, headers=auth, timeout=10),
        spark_env.get(f"{base}/metadata", spark_env.token),
        spark_env.get(f"{base}/changes?startingVersion=0", spark_env.token),
    ):
        _error(resp, 400, "INVALID_PARAMETER_VALUE")
        assert "deletion vectors" in resp.json()["message"]
    # the version before the DELETE has no deletion vector: it is served
    before_delete = [line["file"] for line in spark_env.query_lines("clusters_current", {"version": 0})[2:]]
    assert [json.loads(f["stats"])["numRecords"] for f in before_delete] == [3]
