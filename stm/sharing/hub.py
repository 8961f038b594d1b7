"""``stm hub sync``: read every provider's share with the official ``delta-sharing`` client and consolidate.

Per provider and table, the hub asks the table version and reads the table only when it changed since the last
sync (versions, row counts and schema digests kept in ``HUB/_hub/state.json``). A table of a provider sharing WITH
HISTORY (``hub.providers.<name>.history``, the default) is read from its changes feed, from the version after the
last synced one to the new one, and the rows it adds and removes are applied to the hub's copy in one commit
(``hub_changes.py``; status ``changes``, ``changed_rows`` says how many). The table is reloaded in full at its new
version instead (status ``reloaded``, the reason in ``error`` and in the log) when the provider does not share history,
the schema changed, the versions are no longer in the provider's history, the feed is refused or disagrees with
the copy, or the files it lists are larger than the table (an upsert rewriting most files lists each of them
twice, as deleted and as inserted rows, so reading the table moves less). A first load has status ``synced``.
The feed is listed first (its file sizes, no data) and then read: two ``changes`` requests.

Each provider's copy is a Delta table ``<hub.catalog>.src_<provider>.<table>``: a provider that is down keeps its
last good copy, which still feeds the consolidated tables, and the failure is reported in ``sync_status`` (and
exit code 1). Every commit to a copy carries the provider version it brings the copy to, as a Delta app
transaction (``stm-hub/<provider>/<table>``), in the same commit as the data. The sync state is saved once, at the
end: when a sync dies between the two, the next one finds the copy ahead of the state and reloads that table rather
than applying its changes a second time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa

# Spark-free: the hub's rows come from the official delta-sharing Python client as Arrow, and a sync starts no JVM
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from requests import HTTPError

from stm.config import Config
from stm.errors import StmError
from stm.sharing.hub_changes import FeedMismatch, appended_rows, apply_changes
from stm.sharing.hub_config import HubProvider
from stm.sharing.hub_reader import ProviderReader
from stm.sharing.hub_tables import ProviderData, consolidate, cross_account_dashboard, workspaces_costs
from stm.store.local import is_delta_table

log = logging.getLogger(__name__)
STATE_FILE = Path("_hub") / "state.json"
BILLING = "billing_summary"
RUNS = "job_runs_summary"
STATUS_SCHEMA = pa.schema(
    [
        pa.field("provider", pa.string()),
        pa.field("table", pa.string()),
        pa.field("version", pa.int64()),
        pa.field("rows", pa.int64()),
        pa.field("synced_at", pa.timestamp("us", tz="UTC")),
        pa.field("status", pa.string()),
        pa.field("error", pa.string()),
        pa.field("changed_rows", pa.int64()),
    ]
)


@dataclass
class TableStatus:
    provider: str
    table: str
    version: int | None
    rows: int | None
    synced_at: datetime | None
    status: str  # synced | changes | reloaded | unchanged | failed | missing
    error: str | None = None  # why it failed, or why a changed table was reloaded rather than read as changes
    changed_rows: int | None = None  # rows a changes feed added and removed (status changes)


class Hub:
    """The hub lake at ``root``: provider copies, consolidated tables, sync state."""

    def __init__(self, root: Path, cfg: Config, retries: int = 2) -> None:
        self.root = Path(root)
        self.cfg = cfg
        self.hub = cfg.hub
        self.retries = retries
        self.state_path = self.root / STATE_FILE

    def path(self, schema: str, table: str) -> Path:
        return self.root / self.hub.catalog / schema / table

    def source_path(self, provider: str, table: str) -> Path:
        return self.path(f"src_{provider}", table)

    def load_state(self) -> dict[str, Any]:
        if not self.state_path.exists():
            return {"providers": {}}
        data: dict[str, Any] = json.loads(self.state_path.read_text(encoding="utf-8"))
        return data

    def save_state(self, state: dict[str, Any]) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, self.state_path)

    def write(self, path: Path, table: pa.Table, marker: Transaction | None = None) -> None:
        """Replace the table at ``path``; ``marker``: the app transaction committed with it (a provider copy's)."""
        path.mkdir(parents=True, exist_ok=True)
        props = CommitProperties(app_transactions=[marker]) if marker is not None else None
        write_deltalake(str(path), table, mode="overwrite", schema_mode="overwrite", commit_properties=props)

    @staticmethod
    def copy_marker(provider: str, table: str, version: int) -> Transaction:
        """The app transaction of a provider copy holding ``version`` of the provider's table."""
        return Transaction(app_id=_copy_app_id(provider, table), version=version)

    @staticmethod
    def copy_version(path: Path, provider: str, table: str) -> int | None:
        """The provider version the copy at ``path`` holds, from its last marked commit (None: no marker yet)."""
        if not is_delta_table(path):
            return None
        version: int | None = DeltaTable(str(path)).transaction_version(_copy_app_id(provider, table))
        return version

    @staticmethod
    def read(path: Path) -> pa.Table | None:
        if not is_delta_table(path):
            return None
        # single-threaded: a delta-rs process reading parquet on pyarrow's pool may abort at exit
        return DeltaTable(str(path)).to_pyarrow_dataset().to_table(use_threads=False)

    # --- sync -----------------------------------------------------------------------------------------------
    def sync_provider(self, name: str, p: HubProvider, state: dict[str, Any]) -> tuple[list[TableStatus], set[str]]:
        """Read this provider's changed tables; returns their statuses and the tables that changed."""
        seen = state["providers"].setdefault(name, {"tables": {}})["tables"]
        share = self.cfg.shares[p.share]
        statuses: list[TableStatus] = []
        changed: set[str] = set()
        try:
            reader = ProviderReader(p.profile, self.retries)
            offered = set(reader.tables(p.share))
        except Exception as exc:  # any client failure marks this provider failed; the others go on
            reason = _reason(exc)
            log.error("provider=%s unreachable: %s", name, reason)
            return [TableStatus(name, t, _v(seen, t), None, None, "failed", reason) for t in share.tables], changed
        try:
            for table in share.tables:
                if table not in offered:
                    statuses.append(TableStatus(name, table, None, None, None, "missing", "not in the share"))
                    continue
                try:
                    status = self.sync_table(reader, name, p, table, seen)
                except Exception as exc:  # one table failing keeps the provider's other tables
                    reason = _reason(exc)
                    log.error("provider=%s table=%s failed: %s", name, table, reason)
                    status = TableStatus(name, table, _v(seen, table), None, None, "failed", reason)
                statuses.append(status)
                if status.status in ("synced", "reloaded") or (status.status == "changes" and status.changed_rows):
                    changed.add(table)
        finally:
            reader.close()
        return statuses, changed

    def sync_table(
        self, reader: ProviderReader, name: str, p: HubProvider, table: str, seen: dict[str, Any]
    ) -> TableStatus:
        """Bring the hub's copy of one provider table to the provider's latest version."""
        schema = self.cfg.output.schema
        path = self.source_path(name, table)
        last = seen.get(table)
        held = self.copy_version(path, name, table)
        interrupted = held is not None and (last is None or held != int(last["version"]))
        version = reader.version(p.share, schema, table)
        if last is not None and not interrupted and version == last["version"] and is_delta_table(path):
            synced_at = datetime.fromisoformat(last["synced_at"])
            return TableStatus(name, table, version, last.get("rows"), synced_at, "unchanged")
        meta = reader.metadata(p.share, schema, table)
        version, schema_string = meta.version, meta.schema_string
        digest = hashlib.sha256(schema_string.encode("utf-8")).hexdigest()[:32]
        why_not = _no_feed(p, last, version, digest) if is_delta_table(path) else "no copy yet"
        if interrupted:
            why_not = f"an earlier sync stopped after updating the copy to version {held} and before saving its state"
        if why_not is None and last is not None:
            start = last["version"] + 1
            try:
                feed = reader.change_bytes(p.share, schema, table, start, version)
                if meta.size is not None and feed > meta.size:
                    # rewrites list whole files as deleted and inserted: reading the table is cheaper
                    raise FeedTooLarge(f"the changes ({feed} bytes) are larger than the table ({meta.size} bytes)")
                changes = reader.changes(p.share, schema, table, start, version, schema_string)
                rows, changed = self.apply(path, changes, self.copy_marker(name, table, version))
                got = TableStatus(name, table, version, rows, datetime.now(timezone.utc), "changes")
                got.changed_rows = changed
                return self._record(seen, got, digest)
            except HTTPError as exc:
                why_not = f"changes feed refused: {_protocol_reason(exc)}"
            except (FeedMismatch, FeedTooLarge) as exc:
                why_not = str(exc)
        data = reader.load(p.share, schema, table, version, schema_string)
        self.write(path, data, self.copy_marker(name, table, version))
        now = datetime.now(timezone.utc)
        if last is None and not interrupted:
            return self._record(seen, TableStatus(name, table, version, len(data), now, "synced"), digest)
        log.warning("provider=%s table=%s reloaded in full: %s", name, table, why_not)
        return self._record(seen, TableStatus(name, table, version, len(data), now, "reloaded", why_not), digest)

    @staticmethod
    def _record(seen: dict[str, Any], s: TableStatus, digest: str) -> TableStatus:
        """Keep what this sync read of a table in the sync state, and log it."""
        assert s.version is not None and s.synced_at is not None
        seen[s.table] = {"version": s.version, "rows": s.rows, "schema": digest, "synced_at": s.synced_at.isoformat()}
        changed = "" if s.changed_rows is None else f" changed_rows={s.changed_rows}"
        log.info(
            "provider=%s table=%s version=%d rows=%s status=%s%s",
            s.provider,
            s.table,
            s.version,
            s.rows,
            s.status,
            changed,
        )
        return s

    def apply(self, path: Path, changes: pa.Table, marker: Transaction) -> tuple[int, int]:
        """Apply a changes feed to the copy at ``path`` in one commit marked with ``marker``; returns the copy's rows
        and the rows changed. A feed that only adds rows is appended without reading the copy."""
        if not is_delta_table(path):
            raise FeedMismatch("the hub's copy of the table is gone")
        appended = appended_rows(changes)
        if appended is not None:
            # an empty feed still commits: the marker records that the copy holds the new version
            props = CommitProperties(app_transactions=[marker])
            write_deltalake(str(path), appended, mode="append", commit_properties=props)
            return DeltaTable(str(path)).count(), len(appended)
        current = self.read(path)
        assert current is not None
        applied = apply_changes(current, changes)
        self.write(path, applied.table, marker)
        return len(applied.table), applied.rows_changed

    def sources(self, table: str) -> list[ProviderData]:
        out = []
        for name, p in self.hub.providers.items():
            data = self.read(self.source_path(name, table))
            if data is not None:
                out.append(ProviderData(name, p.account, p.workspace, data))
        return out

    def consolidate(self, changed: set[str], force: bool) -> None:
        """Rebuild ``all_<table>`` for changed tables, then the cross-provider billing tables."""
        specs: dict[str, Any] = {}
        for p in self.hub.providers.values():
            for table, spec in self.cfg.shared_tables(p.share).items():
                specs.setdefault(table, spec)
        out_schema = self.hub.schema
        for table, spec in specs.items():
            target = self.path(out_schema, f"all_{table}")
            if table not in changed and (is_delta_table(target) or not force):
                continue
            sources = self.sources(table)
            if sources:
                self.write(target, consolidate(spec, sources))
        if BILLING in changed or RUNS in changed or force:
            billing = self.read(self.path(out_schema, f"all_{BILLING}"))
            if billing is None:
                return
            self.write(self.path(out_schema, "all_workspaces_billing"), billing)
            self.write(self.path(out_schema, "all_workspaces_costs"), workspaces_costs(billing))
            runs = self.read(self.path(out_schema, f"all_{RUNS}"))
            self.write(self.path(out_schema, "cross_account_dashboard"), cross_account_dashboard(billing, runs))

    def sync(self) -> list[TableStatus]:
        """One sync of every provider; statuses of every (provider, table)."""
        state = self.load_state()
        first = not (self.root / self.hub.catalog / self.hub.schema).exists()
        statuses: list[TableStatus] = []
        changed: set[str] = set()
        for name, p in self.hub.providers.items():
            s, c = self.sync_provider(name, p, state)
            statuses += s
            changed |= c
        self.consolidate(changed, force=first)
        self.save_state(state)
        self.write(self.path(self.hub.schema, "sync_status"), status_table(statuses))
        return statuses


def status_table(statuses: list[TableStatus]) -> pa.Table:
    cols: dict[str, list[Any]] = {f.name: [] for f in STATUS_SCHEMA}
    for s in statuses:
        for f in STATUS_SCHEMA:
            cols[f.name].append(getattr(s, f.name))
    return pa.table(cols, schema=STATUS_SCHEMA)


def _v(seen: dict[str, Any], table: str) -> int | None:
    entry = seen.get(table)
    return None if entry is None else int(entry["version"])


class FeedTooLarge(StmError):
    """Reading the changes feed would move more data than reading the table."""


def _copy_app_id(provider: str, table: str) -> str:
    return f"stm-hub/{provider}/{table}"


def _no_feed(p: HubProvider, last: dict[str, Any] | None, version: int, digest: str) -> str | None:
    """Why the changes since the last sync cannot be read from the feed; ``None`` when they can."""
    if last is None:
        return "no version synced yet"
    if not p.history:
        return "the provider does not share history (hub.providers.<name>.history: false)"
    if version <= int(last["version"]):
        return f"the table went back from version {last['version']} to {version}"
    if last.get("schema") != digest:
        return "the table schema changed"
    return None


def _protocol_reason(exc: HTTPError) -> str:
    """The protocol error of a refused request: status, errorCode and message; never a header or a URL."""
    resp = exc.response
    if resp is None:
        return "no response"
    try:
        body = resp.json()
        return f"{resp.status_code} {body.get('errorCode')}: {str(body.get('message', ''))[:300]}"
    except ValueError:
        return f"HTTP {resp.status_code}"


def _reason(exc: Exception) -> str:
    """A one-line reason; never a header or a profile's content."""
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {first}"[:500]
