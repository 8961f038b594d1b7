"""Pre-signed, short-lived file URLs, and the lake's private keys.

A file URL carries who may read which file of which table, listed at which table version, until when, signed with
the lake's URL key (``DIR/_sharing/keys/file_urls.key``, 0600 in a 0700 folder): a recipient can fetch exactly the
files a query listed for it, and nothing else, until the URL expires, from this endpoint process or the next one
serving the same lake. A key is made on first use and never logged; deleting the key file revokes every URL issued.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from stm.errors import JobFailed
from stm.sharing.protocol import ProtocolError

URL_TTL_SECONDS = 900
MAX_TOKEN_CHARS = 4096
KEY_DIR = "keys"
URL_KEY_FILE = "file_urls.key"
KEY_BYTES = 32


@dataclass(frozen=True)
class FileGrant:
    """What a signed URL allows: one recipient reading one data file of one shared table, as listed at a version."""

    recipient: str
    share: str
    table: str
    path: str
    version: int  # the table version whose snapshot or commit named the file
    expires_ms: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _refused() -> ProtocolError:
    # one answer for every bad URL: a forged, altered, expired or revoked one all look the same
    return ProtocolError(403, "PERMISSION_DENIED", "the file URL is invalid or has expired")


def lake_key(path: Path) -> bytes:
    """The secret in ``path``, made on first use.

    A new key is written whole to a private temporary file and then hard-linked into place, which fails if the
    key exists: two processes starting together agree on one key, and none reads a half-written file.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(secrets.token_hex(KEY_BYTES))
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            tmp.unlink()
    try:
        key = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except ValueError:
        key = b""
    if len(key) < KEY_BYTES:
        raise JobFailed(f"{path} is not a key file this product wrote: remove it to make a new key")
    return key


_GRANT_FIELDS = {"r": str, "s": str, "t": str, "p": str, "v": int, "e": int}


def _grant_fields_valid(doc: dict[str, object]) -> bool:
    """Every field of a grant present with its type (a JSON true is not a version)."""
    return all(isinstance(doc.get(k), t) and not isinstance(doc.get(k), bool) for k, t in _GRANT_FIELDS.items())


class FileSigner:
    """Signs file grants with the lake's URL key; a URL is valid until ``ttl_seconds`` after it was issued."""

    def __init__(self, sharing_dir: Path, ttl_seconds: int = URL_TTL_SECONDS) -> None:
        self.key_file = sharing_dir / KEY_DIR / URL_KEY_FILE
        self.ttl_seconds = ttl_seconds
        self._key: bytes | None = None

    def _sig(self, payload: str) -> str:
        if self._key is None:
            self._key = lake_key(self.key_file)
        return _b64(hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest())

    def sign(self, recipient: str, share: str, table: str, path: str, version: int) -> tuple[str, int]:
        """``(token, expiration epoch ms)``; the token is one URL path segment ending in ``.parquet``."""
        expires = int((time.time() + self.ttl_seconds) * 1000)
        doc = {"r": recipient, "s": share, "t": table, "p": path, "v": version, "e": expires}
        payload = _b64(json.dumps(doc, separators=(",", ":")).encode("utf-8"))
        return f"{payload}.{self._sig(payload)}.parquet", expires

    def verify(self, token: str) -> FileGrant:
        if len(token) > MAX_TOKEN_CHARS or not token.isascii() or not token.endswith(".parquet"):
            raise _refused()
        parts = token[: -len(".parquet")].split(".")
        if len(parts) != 2 or not hmac.compare_digest(self._sig(parts[0]), parts[1]):
            raise _refused()
        try:
            doc = json.loads(_unb64(parts[0]))
        except ValueError:  # not base64, not UTF-8 or not JSON
            raise _refused() from None
        if not isinstance(doc, dict) or not _grant_fields_valid(doc):
            raise _refused()  # e.g. signed by an endpoint before URLs named their version: no longer honoured
        grant = FileGrant(doc["r"], doc["s"], doc["t"], doc["p"], doc["v"], doc["e"])
        if grant.expires_ms < time.time() * 1000:
            raise _refused()
        return grant
