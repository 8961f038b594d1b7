"""Pre-signed, short-lived file URLs, and the masked copies of data files served by masking shares.

A file URL carries who may read which file of which table until when, signed with a key that lives only in the
server process: a recipient can fetch exactly the files a query listed for it, and nothing else.

Masking (``mask_personal_data: true`` on a share) replaces personal data with a keyed hash before the file
leaves the provider: string columns whose name contains ``email`` or ``ip_address``, or is one of
``PERSONAL_COLUMNS``, at the top level or inside a struct (``user_identity.email``). The key is the lake's own
(``DIR/_sharing/mask.key``, 0600), so a value masks the same way in every table and every sync (joins still work)
while a recipient cannot reverse it by hashing guesses.
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

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from stm.sharing.protocol import ProtocolError

URL_TTL_SECONDS = 900
MAX_TOKEN_CHARS = 4096
PERSONAL_COLUMNS = frozenset(
    {
        "run_as",
        "executed_by",
        "requester",
        "created_by",
        "owned_by",
        "user_name",
        "creator_user_name",
        "run_as_user_name",
        "requester_email",
    }
)
MASK_PREFIX = "masked:"


@dataclass(frozen=True)
class FileGrant:
    """What a signed URL allows: one recipient reading one data file of one shared table."""

    recipient: str
    share: str
    table: str
    path: str
    expires_ms: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _refused() -> ProtocolError:
    # one answer for every bad URL: a forged, altered, expired or revoked one all look the same
    return ProtocolError(403, "PERMISSION_DENIED", "the file URL is invalid or has expired")


class FileSigner:
    """Signs file grants with a key made at start-up; URLs die with the server or after ``ttl_seconds``."""

    def __init__(self, ttl_seconds: int = URL_TTL_SECONDS) -> None:
        self._key = secrets.token_bytes(32)
        self.ttl_seconds = ttl_seconds

    def _sig(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest())

    def sign(self, recipient: str, share: str, table: str, path: str) -> tuple[str, int]:
        """``(token, expiration epoch ms)``; the token is one URL path segment ending in ``.parquet``."""
        expires = int((time.time() + self.ttl_seconds) * 1000)
        doc = {"r": recipient, "s": share, "t": table, "p": path, "e": expires}
        payload = _b64(json.dumps(doc, separators=(",", ":")).encode("utf-8"))
        return f"{payload}.{self._sig(payload)}.parquet", expires

    def verify(self, token: str) -> FileGrant:
        if len(token) > MAX_TOKEN_CHARS or not token.endswith(".parquet"):
            raise _refused()
        parts = token[: -len(".parquet")].split(".")
        if len(parts) != 2 or not hmac.compare_digest(self._sig(parts[0]), parts[1]):
            raise _refused()
        doc = json.loads(_unb64(parts[0]))
        grant = FileGrant(doc["r"], doc["s"], doc["t"], doc["p"], int(doc["e"]))
        if grant.expires_ms < time.time() * 1000:
            raise _refused()
        return grant


def is_personal(name: str, parent: str = "") -> bool:
    lowered = name.lower()
    return "email" in lowered or "ip_address" in lowered or lowered in PERSONAL_COLUMNS or parent == "user_identity"


class Masker:
    """Writes masked copies of data files under ``DIR/_sharing/masked`` and returns their paths."""

    def __init__(self, sharing_dir: Path) -> None:
        self.dir = sharing_dir / "masked"
        self._key_file = sharing_dir / "mask.key"
        self._key: bytes | None = None

    def key(self) -> bytes:
        if self._key is None:
            if not self._key_file.exists():
                self._key_file.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self._key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(secrets.token_hex(32))
            self._key = bytes.fromhex(self._key_file.read_text().strip())
        return self._key

    def mask_value(self, value: str) -> str:
        return MASK_PREFIX + hmac.new(self.key(), value.encode("utf-8"), hashlib.sha256).hexdigest()[:24]

    def _mask_array(self, arr: pa.Array) -> pa.Array:
        values = [None if v is None else self.mask_value(v) for v in arr.to_pylist()]
        return pa.array(values, type=pa.string())

    def _mask_column(self, col: pa.Array, field: pa.Field, parent: str) -> tuple[pa.Array, pa.Field]:
        if pa.types.is_struct(field.type):
            children = [
                self._mask_column(col.field(i), field.type.field(i), field.name) for i in range(col.type.num_fields)
            ]
            arrays = [c[0] for c in children]
            fields = [c[1] for c in children]
            masked = pa.StructArray.from_arrays(arrays, fields=fields, mask=pc.is_null(col))
            return masked, pa.field(field.name, masked.type, field.nullable, field.metadata)
        is_text = pa.types.is_string(field.type) or pa.types.is_large_string(field.type)
        if is_text and is_personal(field.name, parent):
            return self._mask_array(col.cast(pa.string())), pa.field(field.name, pa.string(), field.nullable)
        return col, field

    def mask_table(self, table: pa.Table) -> pa.Table:
        arrays, fields = [], []
        for i, field in enumerate(table.schema):
            arr, f = self._mask_column(table.column(i).combine_chunks(), field, "")
            arrays.append(arr)
            fields.append(f)
        return pa.Table.from_arrays(arrays, schema=pa.schema(fields))

    def masked_file(self, source: Path) -> Path:
        """The masked copy of ``source`` (made once; data files are immutable)."""
        digest = hashlib.sha256(str(source).encode("utf-8")).hexdigest()[:40]
        target = self.dir / f"{digest}.parquet"
        if not target.exists():
            self.dir.mkdir(parents=True, exist_ok=True)
            table = pq.read_table(source, use_threads=False)
            tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
            pq.write_table(self.mask_table(table), tmp)
            os.replace(tmp, target)
        return target
