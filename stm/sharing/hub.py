"""``stm hub sync``: read every provider's share with the official ``delta-sharing`` client and consolidate.

Per provider and table, the hub asks the table version and reloads the table in full, at that version, only when
it changed since the last sync (versions kept in ``HUB/_hub/state.json``). A full reload rather than the changes
feed because curated tables are rewritten in place by their upserts, so a change feed would carry whole files
of deletes and inserts anyway, and a reload at a pinned version is simply right. Each provider's copy is a Delta
table ``<hub.catalog>.src_<provider>.<table>``: a provider that is down keeps its last good copy, which still
feeds the consolidated tables, and the failure is reported in ``sync_status`` (and exit code 1).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
from deltalake import DeltaTable, Schema, write_deltalake

from stm.config import Config
from stm.sharing.hub_config import HubProvider
from stm.sharing.hub_tables import ProviderData, consolidate, cross_account_dashboard, workspaces_costs
from stm.store import delta_log

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
    ]
)


@dataclass
class TableStatus:
    provider: str
    table: str
    version: int | None
    rows: int | None
    synced_at: datetime | None
    status: str  # synced | unchanged | failed | missing
    error: str | None = None


class ProviderReader:
    """The official client's REST client and reader for one provider profile (few retries: fail fast)."""

    def __init__(self, profile: str, retries: int) -> None:
        from delta_sharing.protocol import DeltaSharingProfile
        from delta_sharing.rest_client import DataSharingRestClient

        self.client = DataSharingRestClient(DeltaSharingProfile.read_from_file(profile), num_retries=retries)

    def tables(self, share: str) -> list[str]:
        from delta_sharing.protocol import Share

        names: list[str] = []
        token: str | None = None
        while True:
            resp = self.client.list_all_tables(Share(share), page_token=token)
            names += [t.name for t in resp.tables]
            token = resp.next_page_token
            if not token:
                return names

    def version(self, share: str, schema: str, table: str) -> int:
        from delta_sharing.protocol import Table

        return int(self.client.query_table_version(Table(table, share, schema)).delta_table_version)

    def load(self, share: str, schema: str, table: str, version: int) -> pa.Table:
        from delta_sharing.protocol import Table
        from delta_sharing.reader import DeltaSharingReader

        t = Table(table, share, schema)
        meta = self.client.query_table_metadata(t).metadata
        arrow_schema = pa.schema(Schema.from_json(meta.schema_string).to_arrow())
        pdf = DeltaSharingReader(t, self.client, version=version, use_delta_format=False).to_pandas()
        return pa.Table.from_pandas(pdf, schema=arrow_schema, preserve_index=False)

    def close(self) -> None:
        self.client.close()


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

    def write(self, path: Path, table: pa.Table) -> None:
        path.mkdir(parents=True, exist_ok=True)
        write_deltalake(str(path), table, mode="overwrite", schema_mode="overwrite")

    @staticmethod
    def read(path: Path) -> pa.Table | None:
        if not delta_log.is_delta_table(path):
            return None
        # single-threaded: a delta-rs process reading parquet on pyarrow's pool may abort at exit
        return DeltaTable(str(path)).to_pyarrow_dataset().to_table(use_threads=False)

    # --- sync -----------------------------------------------------------------------------------------------
    def sync_provider(self, name: str, p: HubProvider, state: dict[str, Any]) -> tuple[list[TableStatus], set[str]]:
        """Reload this provider's changed tables; returns their statuses and the tables that changed."""
        seen = state["providers"].setdefault(name, {"tables": {}})["tables"]
        share = self.cfg.shares[p.share]
        schema = self.cfg.output.schema
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
                    version = reader.version(p.share, schema, table)
                    if version == _v(seen, table) and delta_log.is_delta_table(self.source_path(name, table)):
                        last = datetime.fromisoformat(seen[table]["synced_at"])
                        statuses.append(TableStatus(name, table, version, seen[table].get("rows"), last, "unchanged"))
                        continue
                    data = reader.load(p.share, schema, table, version)
                    self.write(self.source_path(name, table), data)
                    now = datetime.now(timezone.utc)
                    seen[table] = {"version": version, "rows": len(data), "synced_at": now.isoformat()}
                    changed.add(table)
                    statuses.append(TableStatus(name, table, version, len(data), now, "synced"))
                    log.info("provider=%s table=%s version=%d rows=%d", name, table, version, len(data))
                except Exception as exc:  # one table failing keeps the provider's other tables
                    reason = _reason(exc)
                    log.error("provider=%s table=%s failed: %s", name, table, reason)
                    statuses.append(TableStatus(name, table, _v(seen, table), None, None, "failed", reason))
        finally:
            reader.close()
        return statuses, changed

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
            for table, spec in self.cfg.shares[p.share].tables.items():
                specs.setdefault(table, spec)
        out_schema = self.hub.schema
        for table, spec in specs.items():
            target = self.path(out_schema, f"all_{table}")
            if table not in changed and (delta_log.is_delta_table(target) or not force):
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


def _reason(exc: Exception) -> str:
    """A one-line reason; never a header or a profile's content."""
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {first}"[:500]
