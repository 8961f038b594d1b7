"""What counts as personal data, and the keyed hash that replaces it: one rule for the local sharing endpoint
(``stm.sharing.masking``, over Arrow) and the masked views a Databricks provider shares (``deploy.masked_sql``).

Standard library only: the deploy, which runs without the local extra, uses it too.
"""

from __future__ import annotations

import hashlib
import hmac

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
NAME_PARTS = ("email", "ip_address")
PERSONAL_PARENT = "user_identity"
MASK_PREFIX = "masked:"
MASK_HEX_CHARS = 24
# whole values only (RE2 and Java regex syntax alike): an email, an IPv4 address, an IPv6 address with at least two
# groups
PERSONAL_VALUE = (
    r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
    r"|^(?:[0-9]{1,3}\.){3}[0-9]{1,3}$"
    r"|^(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}$"
    r"|^[0-9A-Fa-f:]*::[0-9A-Fa-f:.]*$"
)
_BLOCK = 64  # SHA-256's block size in bytes (RFC 2104)


def is_personal(name: str, parent: str = "") -> bool:
    """A column, struct field or map key named as personal (``parent``: the struct a field sits in)."""
    lowered = name.lower()
    return any(p in lowered for p in NAME_PARTS) or lowered in PERSONAL_COLUMNS or parent == PERSONAL_PARENT


def mask_value(key: bytes, value: str) -> str:
    return MASK_PREFIX + hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:MASK_HEX_CHARS]


def hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """HMAC-SHA256's inner and outer padded keys (RFC 2104), so SQL can compute the same hash with ``sha2`` alone:
    ``sha2(opad || unhex(sha2(ipad || value)))``."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)
