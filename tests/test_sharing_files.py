"""File URLs signed with the lake's key (valid across endpoint restarts until they expire) and masking at any depth."""

from __future__ import annotations

import base64
import json
import logging
import stat
from pathlib import Path

import delta_sharing
import pyarrow as pa
import pytest
import requests

from stm.sharing.background import ServerThread
from stm.sharing.files import FileSigner, lake_key
from stm.sharing.masking import Masker
from stm.sharing.personal import MASK_PREFIX
from stm.sharing.recipients import RecipientStore
from stm.sharing.server import create_app
from tests.sharing_fixtures import MASKED, SHARE, provider_lake, serve, sharing_config, write

SCHEMA = "workspace_usage"
TAGS = pa.map_(pa.string(), pa.string())
NESTED = pa.schema(
    [
        pa.field("workspace_id", pa.string()),
        pa.field("request_params", TAGS),
        pa.field("custom_tags", TAGS),
        pa.field("recipients", pa.list_(pa.string())),
        pa.field("notify_emails", pa.list_(pa.string())),
        pa.field("identity", pa.struct([pa.field("extra", TAGS), pa.field("hosts", pa.list_(pa.string()))])),
        pa.field("events", pa.int64()),
    ]
)


def nested_rows() -> pa.Table:
    return pa.table(
        {
            "workspace_id": ["1001", "1001", "1002"],
            "request_params": [
                [("user_email", "ops-team"), ("sourceIp", "10.0.0.1"), ("clusterId", "0101-abc")],
                [("path", "/Workspace/x"), ("time", "12:30:00")],
                None,
            ],
            "custom_tags": [[("owner", "ann@example.com"), ("team", "finops")], [], [("cost_center", "cc-7")]],
            "recipients": [["bob@example.com", "finance"], None, []],
            "notify_emails": [["pager-duty"], ["fd00::1"], None],
            "identity": [
                {"extra": [("ip_address", "abc"), ("note", "2001:db8:0:0:0:0:2:1")], "hosts": ["10.1.2.3"]},
                None,
                {"extra": [("note", "plain")], "hosts": ["db.internal"]},
            ],
            "events": [1, 2, 3],
        },
        schema=NESTED,
    )


def test_masker_reaches_map_values_array_elements_and_nested_structs(tmp_path: Path) -> None:
    masker = Masker(tmp_path)
    got = masker.mask_table(nested_rows()).to_pylist()
    m = masker.mask_value
    assert got[0]["request_params"] == [
        ("user_email", m("ops-team")),  # personal by its key
        ("sourceIp", m("10.0.0.1")),  # personal by its value
        ("clusterId", "0101-abc"),
    ]
    assert got[1]["request_params"] == [("path", "/Workspace/x"), ("time", "12:30:00")]  # a time is no IPv6
    assert got[0]["custom_tags"] == [("owner", m("ann@example.com")), ("team", "finops")]
    assert got[2]["custom_tags"] == [("cost_center", "cc-7")]
    assert got[0]["recipients"] == [m("bob@example.com"), "finance"]
    assert [r["notify_emails"] for r in got] == [[m("pager-duty")], [m("fd00::1")], None]  # personal by name
    assert got[0]["identity"] == {
        "extra": [("ip_address", m("abc")), ("note", m("2001:db8:0:0:0:0:2:1"))],
        "hosts": [m("10.1.2.3")],
    }
    assert got[1]["identity"] is None and got[1]["recipients"] is None and got[2]["request_params"] is None
    assert got[2]["identity"] == {"extra": [("note", "plain")], "hosts": ["db.internal"]}
    assert [r["workspace_id"] for r in got] == ["1001", "1001", "1002"] and [r["events"] for r in got] == [1, 2, 3]
    assert m("ann@example.com").startswith(MASK_PREFIX) and m("ann@example.com") != m("bob@example.com")


def test_masked_share_serves_nested_personal_values_hashed(tmp_path: Path) -> None:
    root = tmp_path / "provider"
    write(root, "user_activity_summary", nested_rows())
    server = serve(root, sharing_config())
    try:
        _r, profile = RecipientStore(root).add("hub", [MASKED], server.endpoint)
        got = delta_sharing.load_as_pandas(f"{profile}#{MASKED}.{SCHEMA}.user_activity_summary")
    finally:
        server.stop()
    m = Masker(root / "_sharing").mask_value  # the lake's key: the values the endpoint served
    assert dict(got["custom_tags"][0]) == {"owner": m("ann@example.com"), "team": "finops"}
    assert list(got["recipients"][0]) == [m("bob@example.com"), "finance"]
    assert "ann@example.com" not in got.to_string() and "10.0.0.1" not in got.to_string()


def _fetch(url: str) -> requests.Response:
    return requests.get(url, headers={"Range": "bytes=0-3"}, timeout=10)


def test_file_url_outlives_an_endpoint_restart_until_it_expires(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    root = provider_lake(tmp_path / "provider")
    cfg = sharing_config()
    first = serve(root, cfg)
    _r, profile = RecipientStore(root).add("hub", [SHARE], first.endpoint)
    token = json.loads(profile.read_text())["bearerToken"]
    resp = requests.post(
        f"{first.endpoint}/shares/{SHARE}/schemas/{SCHEMA}/tables/billing_summary/query",
        json={},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    url = [json.loads(line) for line in resp.text.splitlines()][2]["file"]["url"]
    first.stop()
    second = ServerThread(create_app(root, cfg, RecipientStore(root)), port=first.port).start()  # a new process's app
    try:
        part = _fetch(url)
        assert (part.status_code, part.content) == (206, b"PAR1")
        # the same grant with a later expiry but the old signature: refused
        base, signed = url.rsplit("/", 1)
        payload, sig, ext = signed.split(".")
        doc = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        longer = base64.urlsafe_b64encode(json.dumps({**doc, "e": doc["e"] + 3_600_000}).encode()).decode().rstrip("=")
        tampered = _fetch(f"{base}/{longer}.{sig}.{ext}")
        assert (tampered.status_code, tampered.json()["errorCode"]) == (403, "PERMISSION_DENIED")
        # a URL signed with the lake's key whose expiry has passed: refused
        expired, _ms = FileSigner(root / "_sharing", ttl_seconds=-60).sign(
            "hub", SHARE, "billing_summary", doc["p"], doc["v"]
        )
        late = _fetch(f"{base}/{expired}")
        assert (late.status_code, late.json()) == (
            403,
            {"errorCode": "PERMISSION_DENIED", "message": "the file URL is invalid or has expired"},
        )
    finally:
        second.stop()
    key_file = root / "_sharing" / "keys" / "file_urls.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600 and stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("stm"))  # urllib3 logs URLs
    assert "files/<signed> 206" in ours and "files/<signed> 403" in ours
    assert key_file.read_text().strip() not in ours and signed not in ours


def test_lake_key_is_made_once_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "k.key"
    key = lake_key(path)
    assert len(key) == 32 and lake_key(path) == key
    assert [p.name for p in path.parent.iterdir()] == ["k.key"]  # no temporary file left behind
