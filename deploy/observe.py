"""Read what a workspace holds now (reads only; ``None`` / empty for what is missing)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from databricks.sdk import WorkspaceClient, errors
from databricks.sdk.errors import NotFound, PermissionDenied
from databricks.sdk.service import catalog as uc
from databricks.sdk.service import dashboards as lakeview
from databricks.sdk.service import jobs, sharing
from databricks.sdk.service import sql as dbsql

from deploy.desired import HubDesired, Location, ProviderDesired
from deploy.grants import Access, observe_access
from deploy.hub_dashboard import display_name, in_folder
from deploy.hub_sql import Column
from deploy.jobs import TAG_DIGEST, TAG_JOB, TAG_OWNER, TAG_TARGET
from deploy.model import PRODUCT
from stm.errors import UsageError

T = TypeVar("T")


@dataclass
class ProviderObserved:
    metastore_id: str | None = None
    metastore_has_root: bool = True  # read only when our catalog is missing
    system_schemas: dict[str, str] = field(default_factory=dict)
    system_schemas_unreadable: str = ""
    catalog: uc.CatalogInfo | None = None
    schema: uc.SchemaInfo | None = None
    volume: uc.VolumeInfo | None = None
    checkpoint_volume: uc.VolumeInfo | None = None
    tables: set[str] = field(default_factory=set)  # names of the tables and views in our schema
    # tables: their columns as Spark JSON struct fields; views: their comment (read for masked shares)
    columns: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    view_comments: dict[str, str | None] = field(default_factory=dict)
    files: set[str] = field(default_factory=set)
    jobs: dict[str, jobs.Job] = field(default_factory=dict)
    share: sharing.ShareInfo | None = None
    recipient: sharing.RecipientInfo | None = None
    share_grantees: set[str] = field(default_factory=set)
    access: Access | None = None  # the jobs' identity's privileges (None offline)


@dataclass
class HubObserved:
    catalog: uc.CatalogInfo | None = None
    metastore_has_root: bool = True  # read only when our catalog is missing
    schema: uc.SchemaInfo | None = None
    providers: dict[str, str] = field(default_factory=dict)  # global metastore id -> provider name
    provider_shares: dict[str, set[str]] = field(default_factory=dict)  # provider name -> share names
    source_catalogs: dict[str, uc.CatalogInfo] = field(default_factory=dict)
    shared_tables: dict[str, set[str]] = field(default_factory=dict)  # source catalog -> "<schema>.<table>" shared
    # source catalog -> "<schema>.<table>" -> its columns in table order (read once the catalog exists)
    columns: dict[str, dict[str, tuple[Column, ...]]] = field(default_factory=dict)
    views: dict[str, uc.TableInfo] = field(default_factory=dict)
    alerts: dict[str, dbsql.AlertV2] = field(default_factory=dict)  # by display name, this target's only
    dashboard: lakeview.Dashboard | None = None  # the one of our name in our folder, with its serialized form
    offline: bool = False


def _get(fn: Callable[..., T], *args: object) -> T | None:
    try:
        return fn(*args)
    except NotFound:
        return None


def metastore_id(w: WorkspaceClient) -> str:
    """The workspace's metastore; a workspace without Unity Catalog is a usage error (nothing to deploy to)."""
    assignment = _get(w.metastores.current)
    if assignment is None or not assignment.metastore_id:
        raise UsageError("this workspace has no Unity Catalog metastore assigned: assign one, then deploy")
    return assignment.metastore_id


def _files(w: WorkspaceClient, root: str) -> set[str]:
    """Every file under our folder of the volume (two levels: wheels/<digest>/<file>, conf/<file>)."""
    found: set[str] = set()
    pending = [root]
    while pending:
        directory = pending.pop()
        for entry in _get(lambda d=directory: list(w.files.list_directory_contents(d))) or []:
            if entry.path is None:
                continue
            if entry.is_directory:
                pending.append(entry.path.rstrip("/"))
            else:
                found.add(entry.path)
    return found


def _has_root_storage(w: WorkspaceClient) -> bool:
    """Whether the metastore has root storage, where a catalog without a managed location puts its data."""
    return bool(w.metastores.summary().storage_root)


def our_jobs(w: WorkspaceClient, target: str) -> dict[str, jobs.Job]:
    """Jobs tagged as ours for this target, by the declared job key. A second job of one key (a bundle's copy beside
    apply's) is kept under ``<key> (job_id N)``, so the plan sees it, apply's copy (with its digest tag) first."""
    found: dict[str, jobs.Job] = {}
    for base in w.jobs.list():
        tags = (base.settings.tags if base.settings else None) or {}
        if tags.get(TAG_OWNER) == PRODUCT and tags.get(TAG_TARGET) == target and base.job_id is not None:
            key, job = tags.get(TAG_JOB, str(base.job_id)), w.jobs.get(base.job_id)
            if key in found:
                held = found[key]
                if TAG_DIGEST in tags and TAG_DIGEST not in ((held.settings.tags if held.settings else None) or {}):
                    found[key], job = job, held
                key = f"{key} (job_id {job.job_id})"
            found[key] = job
    return found


def observe_provider(w: WorkspaceClient, desired: ProviderDesired) -> ProviderObserved:
    loc: Location = desired.location
    metastore = metastore_id(w)
    obs = ProviderObserved(metastore_id=metastore)
    try:
        obs.system_schemas = {s.schema: s.state for s in w.system_schemas.list(metastore)}
    except (PermissionDenied, errors.NotImplemented) as exc:
        obs.system_schemas_unreadable = (str(exc).splitlines() or ["no access"])[0]
    obs.catalog = _get(w.catalogs.get, loc.catalog)
    obs.metastore_has_root = obs.catalog is not None or _has_root_storage(w)
    obs.schema = _get(w.schemas.get, f"{loc.catalog}.{loc.schema}") if obs.catalog else None
    if obs.schema is not None:
        obs.volume = _get(w.volumes.read, f"{loc.catalog}.{loc.schema}.{loc.volume}")
        obs.checkpoint_volume = _get(w.volumes.read, f"{loc.catalog}.{loc.schema}.{loc.checkpoint_volume}")
        for t in w.tables.list(loc.catalog, loc.schema):
            if not t.name:
                continue
            obs.tables.add(t.name)
            if t.table_type == uc.TableType.VIEW:
                obs.view_comments[t.name] = t.comment
            elif desired.mask:
                obs.columns[t.name] = [json.loads(c.type_json) for c in t.columns or [] if c.type_json]
    obs.access = observe_access(w, desired, obs.catalog, obs.schema)
    obs.files = _files(w, loc.root) if obs.volume else set()
    obs.jobs = our_jobs(w, desired.target)
    if desired.share:
        obs.share = _get(lambda: w.shares.get(desired.share or "", include_shared_data=True))
        if obs.share is not None:
            perms = w.shares.share_permissions(desired.share)
            obs.share_grantees = {
                p.principal
                for p in perms.privilege_assignments or []
                if p.principal and "SELECT" in {getattr(x, "value", x) for x in p.privileges or []}
            }
    if desired.recipient:
        obs.recipient = _get(w.recipients.get, desired.recipient)
    return obs


def _columns(w: WorkspaceClient, catalog: str, tables: set[str]) -> dict[str, tuple[Column, ...]]:
    """The columns of each shared table of a catalog created from a share, in table order."""
    out: dict[str, tuple[Column, ...]] = {}
    for name in sorted(tables):
        info = _get(w.tables.get, f"{catalog}.{name}")
        if info is not None and info.columns:
            ordered = sorted(info.columns, key=lambda c: c.position or 0)
            out[name] = tuple(Column(c.name or "", c.type_text or "") for c in ordered)
    return out


def observe_hub(w: WorkspaceClient, desired: HubDesired) -> HubObserved:
    metastore_id(w)
    obs = HubObserved()
    obs.catalog = _get(w.catalogs.get, desired.catalog)
    obs.metastore_has_root = obs.catalog is not None or _has_root_storage(w)
    obs.schema = _get(w.schemas.get, f"{desired.catalog}.{desired.schema}") if obs.catalog else None
    for src in desired.sources:
        for p in w.providers.list(data_provider_global_metastore_id=src.global_metastore_id):
            if p.name and p.data_provider_global_metastore_id == src.global_metastore_id:
                obs.providers[src.global_metastore_id] = p.name
                obs.provider_shares[p.name] = {s.name for s in w.providers.list_shares(p.name) if s.name}
                if src.share in obs.provider_shares[p.name]:
                    assets = w.providers.list_provider_share_assets(p.name, src.share)
                    obs.shared_tables[src.catalog] = {f"{t.schema}.{t.name}" for t in assets.tables or [] if t.name}
        found = _get(w.catalogs.get, src.catalog)
        if found is not None:
            obs.source_catalogs[src.catalog] = found
            obs.columns[src.catalog] = _columns(w, src.catalog, obs.shared_tables.get(src.catalog, set()))
    if obs.schema is not None:
        obs.views = {t.name: t for t in w.tables.list(desired.catalog, desired.schema) if t.name}
    prefix = f"stm-{desired.target}-"
    obs.alerts = {
        a.display_name: a
        for a in w.alerts_v2.list_alerts()
        if a.display_name
        and a.display_name.startswith(prefix)
        and a.lifecycle_state != dbsql.AlertLifecycleState.DELETED
    }
    obs.dashboard = _our_dashboard(w, display_name(desired.target))
    return obs


def _our_dashboard(w: WorkspaceClient, name: str) -> lakeview.Dashboard | None:
    """The dashboard named ``name`` in ``FOLDER`` (listing leaves out the folder and the body: each is read)."""
    for listed in w.lakeview.list():
        if listed.display_name != name or not listed.dashboard_id:
            continue
        found = w.lakeview.get(listed.dashboard_id)
        trashed = found.lifecycle_state == lakeview.LifecycleState.TRASHED
        if not trashed and in_folder(found):
            return found
    return None
