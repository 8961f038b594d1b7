"""Recipients of the local sharing endpoint: who may read which shares, known by the hash of their bearer token.

``DIR/_sharing/recipients.json`` holds, per recipient, its shares, a random salt and ``sha256(salt + token)``;
the token itself is written once, to the recipient's profile file ``DIR/_sharing/recipients/NAME.share`` (0600),
and nowhere else.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from stm.errors import UsageError
from stm.names import check_identifier

SHARING_DIR = "_sharing"
STORE_FILE = "recipients.json"
PROFILE_DIR = "recipients"
DEFAULT_PORT = 8470
DEFAULT_ENDPOINT = f"http://127.0.0.1:{DEFAULT_PORT}/delta-sharing"


@dataclass(frozen=True)
class Recipient:
    """A recipient as stored: never its token."""

    name: str
    shares: tuple[str, ...]
    salt: str
    token_hash: str
    created_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "shares": list(self.shares),
            "salt": self.salt,
            "token_hash": self.token_hash,
            "created_at": self.created_at,
        }


def token_hash(salt: str, token: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + token.encode("utf-8")).hexdigest()


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by the owner only, replacing it atomically."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class RecipientStore:
    """The recipients of one lake; re-read when the file changes, so a removed recipient is refused at once."""

    def __init__(self, lake_root: Path) -> None:
        self.dir = Path(lake_root) / SHARING_DIR
        self.path = self.dir / STORE_FILE
        self._stamp: tuple[int, int] | None = None
        self._recipients: dict[str, Recipient] = {}

    def profile_path(self, name: str) -> Path:
        return self.dir / PROFILE_DIR / f"{check_identifier(name, 'recipient name')}.share"

    def _load(self) -> dict[str, Recipient]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._recipients = None, {}
            return self._recipients
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            self._recipients = {
                name: Recipient(name, tuple(r["shares"]), r["salt"], r["token_hash"], r["created_at"])
                for name, r in data.get("recipients", {}).items()
            }
            self._stamp = stamp
        return self._recipients

    def _save(self, recipients: dict[str, Recipient]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        body = {"version": 1, "recipients": {n: r.to_json() for n, r in sorted(recipients.items())}}
        _write_private(self.path, json.dumps(body, indent=2) + "\n")

    def all(self) -> list[Recipient]:
        return sorted(self._load().values(), key=lambda r: r.name)

    def get(self, name: str) -> Recipient | None:
        return self._load().get(name)

    def add(self, name: str, shares: list[str], endpoint: str) -> tuple[Recipient, Path]:
        """Create ``name`` with a fresh token; write its profile file (0600); return it and the profile path."""
        check_identifier(name, "recipient name")
        for share in shares:
            check_identifier(share, "share name")
        recipients = dict(self._load())
        if name in recipients:
            raise UsageError(f"recipient {name!r} already exists: remove it first to issue a new token")
        token = secrets.token_urlsafe(32)
        salt = secrets.token_hex(16)
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        recipient = Recipient(name, tuple(dict.fromkeys(shares)), salt, token_hash(salt, token), created)
        profile = self.profile_path(name)
        profile.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(profile.parent, 0o700)
        doc = {"shareCredentialsVersion": 1, "endpoint": endpoint.rstrip("/"), "bearerToken": token}
        _write_private(profile, json.dumps(doc, indent=2) + "\n")
        recipients[name] = recipient
        self._save(recipients)
        return recipient, profile

    def remove(self, name: str) -> None:
        """Forget ``name`` and delete its profile file; its token stops working at once."""
        recipients = dict(self._load())
        if name not in recipients:
            known = ", ".join(sorted(recipients)) or "none"
            raise UsageError(f"no recipient {name!r}; recipients: {known}")
        del recipients[name]
        self._save(recipients)
        self.profile_path(name).unlink(missing_ok=True)

    def authenticate(self, token: str) -> Recipient | None:
        """The recipient whose token this is, comparing hashes in constant time; ``None`` if nobody's."""
        found: Recipient | None = None
        for recipient in self._load().values():
            if hmac.compare_digest(token_hash(recipient.salt, token), recipient.token_hash):
                found = recipient
        return found
