"""Delta Sharing protocol responses built from Delta log actions (pure: dicts in, dicts and bytes out).

Responses use the protocol's parquet format (``PROTOCOL.md``): one JSON object per line, a ``protocol`` line, a
``metaData`` line, then ``file`` lines (a query) or ``add``/``cdf``/``remove`` lines (a changes query). File URLs
are made by the caller (pre-signed, short-lived), so this module never sees a path on disk.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

NDJSON = "application/x-ndjson"
PROTOCOL_ACTION: dict[str, Any] = {"protocol": {"minReaderVersion": 1}}
REFUSED_DELETION_VECTORS = (
    "the table has deletion vectors, which this endpoint cannot apply (its files still hold the deleted rows): "
    "purge them with REORG TABLE ... APPLY (PURGE), or share the table from Databricks"
)

# url_for(data file) -> (pre-signed URL, its expiration in epoch ms, size in bytes of what that URL serves)
UrlFor = Callable[["LogFile"], tuple[str, int, int]]


@dataclass(frozen=True)
class LogFile:
    """A data file named by the Delta log, relative to the table directory."""

    path: str
    size: int
    partition_values: dict[str, str | None] = field(default_factory=dict)
    stats: str | None = None
    version: int | None = None
    timestamp_ms: int | None = None


@dataclass(frozen=True)
class TableMetadata:
    """What a ``metaData`` line says about a table at one version."""

    id: str
    schema_string: str  # Spark StructType JSON
    partition_columns: list[str]
    name: str | None = None
    description: str | None = None
    configuration: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LogCommit:
    """The data changes of one commit: files added, removed and change-data files (``dataChange`` only)."""

    version: int
    timestamp_ms: int
    adds: list[LogFile]
    removes: list[LogFile]
    cdc: list[LogFile]


class ProtocolError(Exception):
    """A request the protocol refuses: HTTP status, protocol error code and a message safe to return."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, str]:
        return {"errorCode": self.code, "message": self.message}


def bad_request(message: str) -> ProtocolError:
    return ProtocolError(400, "INVALID_PARAMETER_VALUE", message)


def not_found(message: str) -> ProtocolError:
    return ProtocolError(404, "RESOURCE_DOES_NOT_EXIST", message)


def file_id(path: str) -> str:
    """A stable id for a data file, not revealing its path."""
    return hashlib.sha256(path.encode("utf-8")).hexdigest()[:32]


def metadata_action(
    meta: TableMetadata, version: int, *, size: int | None = None, files: int | None = None
) -> dict[str, Any]:
    """The ``metaData`` line of a table at ``version``."""
    out: dict[str, Any] = {
        "id": meta.id,
        "format": {"provider": "parquet"},
        "schemaString": meta.schema_string,
        "partitionColumns": list(meta.partition_columns),
        "version": version,
    }
    if meta.name:
        out["name"] = meta.name
    if meta.description:
        out["description"] = meta.description
    if meta.configuration:
        out["configuration"] = dict(meta.configuration)
    if size is not None:
        out["size"] = size
    if files is not None:
        out["numFiles"] = files
    return {"metaData": out}


def _file_body(
    f: LogFile, url_for: UrlFor, version: int | None, timestamp_ms: int | None, stats: bool
) -> dict[str, Any]:
    url, expires, size = url_for(f)
    body: dict[str, Any] = {
        "url": url,
        "id": file_id(f.path),
        "partitionValues": dict(f.partition_values),
        "size": size,
        "expirationTimestamp": expires,
    }
    if stats and f.stats:
        body["stats"] = f.stats
    if version is not None:
        body["version"] = version
    if timestamp_ms is not None:
        body["timestamp"] = timestamp_ms
    return body


def file_actions(files: Iterable[LogFile], url_for: UrlFor, *, stats: bool = True) -> list[dict[str, Any]]:
    """``file`` lines of a snapshot query. ``stats=False`` leaves the files' statistics out: their min/max values
    are the unmasked file's, so a share that masks personal data must not send them."""
    return [{"file": _file_body(f, url_for, f.version, f.timestamp_ms, stats)} for f in files]


def change_actions(commits: Iterable[LogCommit], url_for: UrlFor, *, stats: bool = True) -> list[dict[str, Any]]:
    """``add``/``cdf``/``remove`` lines per commit, oldest first, as Delta's change data feed reads them.

    A commit with change-data files is read from those alone; otherwise its data-changing adds are inserts and
    its data-changing removes deletes (every row of the removed file). OPTIMIZE commits (no data change) emit
    nothing. ``stats`` as in ``file_actions``.
    """
    out: list[dict[str, Any]] = []
    for c in commits:
        if c.cdc:
            out += [{"cdf": _file_body(f, url_for, c.version, c.timestamp_ms, stats)} for f in c.cdc]
            continue
        out += [{"add": _file_body(f, url_for, c.version, c.timestamp_ms, stats)} for f in c.adds]
        out += [{"remove": _file_body(f, url_for, c.version, c.timestamp_ms, stats)} for f in c.removes]
    return out


def ndjson(actions: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(a, separators=(",", ":")).encode("utf-8") + b"\n" for a in actions)


def parse_commit(version: int, actions: list[dict[str, Any]], timestamp_ms: int) -> LogCommit:
    """The data changes of commit ``version`` (committed at ``timestamp_ms``) from its log actions.

    A data change on a file with a deletion vector is refused: the file alone does not say which rows it still
    holds."""
    adds: list[LogFile] = []
    removes: list[LogFile] = []
    cdc: list[LogFile] = []
    for action in actions:
        for kind, bucket in (("add", adds), ("remove", removes), ("cdc", cdc)):
            if kind in action and (kind == "cdc" or action[kind].get("dataChange", True)):
                a = action[kind]
                if a.get("deletionVector"):
                    raise bad_request(REFUSED_DELETION_VECTORS)
                stats = a.get("stats") if kind == "add" else None
                bucket.append(
                    LogFile(
                        a["path"], int(a.get("size") or 0), a.get("partitionValues") or {}, stats, version, timestamp_ms
                    )
                )
    return LogCommit(version, timestamp_ms, adds, removes, cdc)
