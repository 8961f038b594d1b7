"""Probes of the sharing endpoint as an attacker on loopback sends them: malformed signed file URLs (even correctly
signed ones), hostile bodies and headers, a spoofed Host. Each gets 400, 403, 404, 411, 413 or 431, never 500;
file URLs never point where the request says; no token reaches a log."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from stm.sharing.files import FileSigner, lake_key
from stm.sharing.recipients import RecipientStore
from stm.sharing.server import create_app
from tests.sharing_fixtures import SHARE, ServerThread, provider_lake, sharing_config

SCHEMA = "workspace_usage"
QUERY = f"/shares/{SHARE}/schemas/{SCHEMA}/tables/billing_summary/query"


@dataclass
class Probe:
    root: Path
    server: ServerThread
    signer: FileSigner
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def signed(self, doc: object) -> str:
        """A file URL whose payload is ``doc``, signed with the lake's own key (as only the server can)."""
        payload = base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")
        return self.signed_raw(payload)

    def signed_raw(self, payload: str) -> str:
        key = lake_key(self.signer.key_file)
        sig = base64.urlsafe_b64encode(hmac.new(key, payload.encode(), hashlib.sha256).digest()).decode().rstrip("=")
        return f"{self.server.endpoint}/files/{payload}.{sig}.parquet"

    def raw(self, request: bytes) -> int:
        """Send ``request`` as is (no client fixes its headers); the response's status code."""
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=10) as conn:
            conn.sendall(request)
            head = conn.recv(4096).decode("latin-1")
        return int(head.split(" ", 2)[1])


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Probe]:
    root = provider_lake(tmp_path_factory.mktemp("probes"))
    signer = FileSigner(root / "_sharing")
    server = ServerThread(create_app(root, sharing_config(), RecipientStore(root), signer)).start()
    _r, profile = RecipientStore(root).add("hub", [SHARE], server.endpoint)
    yield Probe(root, server, signer, json.loads(profile.read_text())["bearerToken"])
    server.stop()


GOOD = {"r": "hub", "s": SHARE, "t": "billing_summary", "p": "x.parquet", "v": 0, "e": 4_102_444_800_000}
SIGNED_PAYLOADS = {
    "missing-version": {k: v for k, v in GOOD.items() if k != "v"},
    "missing-expiry": {k: v for k, v in GOOD.items() if k != "e"},
    "missing-recipient": {k: v for k, v in GOOD.items() if k != "r"},
    "version-string": GOOD | {"v": "0"},
    "version-bool": GOOD | {"v": True},
    "version-float": GOOD | {"v": 0.5},
    "expiry-null": GOOD | {"e": None},
    "path-list": GOOD | {"p": ["x.parquet"]},
    "share-object": GOOD | {"s": {"name": SHARE}},
    "json-list": [GOOD],
    "json-string": "hub",
    "json-number": 7,
    "expired": GOOD | {"e": 1},
    "unknown-recipient": GOOD | {"r": "mallory"},
}


@pytest.mark.parametrize("doc", list(SIGNED_PAYLOADS.values()), ids=list(SIGNED_PAYLOADS))
def test_signed_file_url_with_a_malformed_payload_is_refused_403(probe: Probe, doc: object) -> None:
    resp = requests.get(probe.signed(doc), timeout=10)
    assert resp.status_code == 403, resp.text
    assert resp.json()["errorCode"] == "PERMISSION_DENIED"


@pytest.mark.parametrize("payload", ["!!!", "bm90IGpzb24", "_w", "", "a.b"], ids=["not-b64", "not-json", "not-utf8",
                                                                                   "empty", "dotted"])  # fmt: skip
def test_signed_file_url_that_is_not_base64_json_is_refused_403(probe: Probe, payload: str) -> None:
    assert requests.get(probe.signed_raw(payload), timeout=10).status_code == 403


def test_expired_url_from_the_signer_is_refused_403(probe: Probe) -> None:
    lines = requests.post(probe.server.endpoint + QUERY, json={}, headers=probe.auth, timeout=10).text.splitlines()
    url = json.loads(lines[2])["file"]["url"]
    assert requests.get(url, timeout=10).status_code == 200
    stale = FileSigner(probe.root / "_sharing", ttl_seconds=-1)
    token, expires = stale.sign("hub", SHARE, "billing_summary", url.rsplit("/", 1)[1], 0)
    assert expires < time.time() * 1000
    assert requests.get(f"{probe.server.endpoint}/files/{token}", timeout=10).status_code == 403


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000, b"\xff\xfe", b'{"version": {}}'],
    ids=["nested-list", "nested-object", "not-utf8", "version-object"],
)
def test_hostile_query_body_is_refused_400_never_500(probe: Probe, body: bytes) -> None:
    resp = requests.post(probe.server.endpoint + QUERY, data=body, headers=probe.auth, timeout=10)
    assert resp.status_code in (400, 413), resp.text
    assert set(resp.json()) == {"errorCode", "message"}


@pytest.mark.parametrize(
    ("length", "status"), [("abc", 400), ("-1", 400), ("1e3", 400), ("٣", 400), (str(10**30), 413)]
)
def test_query_with_an_invalid_content_length_is_not_served(probe: Probe, length: str, status: int) -> None:
    request = (
        f"POST /delta-sharing{QUERY} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {probe.token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n{{}}"
    ).encode()
    assert probe.raw(request) in (status, 400)  # the HTTP layer may refuse it first: never 200 or 500


def test_oversized_header_is_refused_not_served(probe: Probe) -> None:
    resp = requests.get(probe.server.endpoint + "/shares", headers=probe.auth | {"X-Pad": "a" * 70_000}, timeout=10)
    assert resp.status_code in (400, 431)


def test_file_urls_come_from_the_endpoint_never_the_host_header(probe: Probe) -> None:
    spoofed = probe.auth | {"Host": "attacker.example:9999", "X-Forwarded-Host": "attacker.example"}
    resp = requests.post(probe.server.endpoint + QUERY, json={}, headers=spoofed, timeout=10)
    assert resp.status_code == 200, resp.text
    urls = [json.loads(line)["file"]["url"] for line in resp.text.splitlines() if '"file"' in line]
    assert urls and all(u.startswith(f"{probe.server.endpoint}/files/") for u in urls)
    assert "attacker" not in resp.text


def test_configured_public_endpoint_names_the_file_urls(probe: Probe) -> None:
    public = "https://sharing.example.com/delta-sharing"
    app = create_app(probe.root, sharing_config(), RecipientStore(probe.root), probe.signer, endpoint=public + "/")
    server = ServerThread(app).start()
    try:
        resp = requests.post(server.endpoint + QUERY, json={}, headers=probe.auth, timeout=10)
    finally:
        server.stop()
    urls = [json.loads(line)["file"]["url"] for line in resp.text.splitlines() if '"file"' in line]
    assert urls and all(u.startswith(f"{public}/files/") for u in urls)


def test_probes_leave_no_token_in_the_log(probe: Probe, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    requests.get(probe.server.endpoint + "/shares", headers={"Authorization": "Bearer guess-1234"}, timeout=10)
    url = probe.signed(GOOD | {"v": "0"})
    requests.get(url, timeout=10)
    requests.post(probe.server.endpoint + QUERY, data=b"[" * 10_000, headers=probe.auth, timeout=10)
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith(("stm", "uvicorn")))
    assert "POST" in ours and "/files/<signed>" in ours  # the client's own debug log is not the endpoint's
    for secret in (probe.token, "guess-1234", url.rsplit("/", 1)[1]):
        assert secret not in ours
