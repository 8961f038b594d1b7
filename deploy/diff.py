"""Desired versus observed state -> the list of actions (pure: no workspace calls)."""

from __future__ import annotations

from dataclasses import replace

from deploy.desired import HubDesired, ProviderDesired
from deploy.hub_sql import (
    Column,
    PendingView,
    Provided,
    Source,
    create_view_sql,
    derived_selects,
    drop_view_sql,
    view_name,
    view_select,
)
from deploy.jobs import TAG_DIGEST, summary
from deploy.model import Action, Change, history_status, is_ours, is_subset, marker
from deploy.observe import HubObserved, ProviderObserved
from stm.errors import UsageError
from stm.specs import STORAGE_URL_FORM

# https://docs.databricks.com/api/workspace/systemschemas: ENABLE_COMPLETED "the schema is enabled", ENABLE_INITIALIZED
# "enablement is in progress", MANAGED "Databricks enables the schema automatically": none of them needs an enable
ENABLED_STATES = {"ENABLE_COMPLETED", "ENABLE_INITIALIZED", "MANAGED"}
HUB_ID = "hub sharing identifier"
_NOT_OURS = "exists, not made by stm: left alone"
NOT_CREATED_YET = "not created yet: the jobs make it on their first run, the next apply then shares it"


def _container(kind: str, name: str, found: object, privilege: str, destroy: bool, purge: bool, target: str) -> Action:
    """Catalog, schema or volume: created if missing; on destroy removed only if ours and --purge-data."""
    comment = getattr(found, "comment", None)
    if destroy:
        if found is None:
            return Action(kind, name, Change.UNCHANGED, "absent")
        if not is_ours(comment):
            return Action(kind, name, Change.SKIP, _NOT_OURS)
        if not purge:
            return Action(kind, name, Change.SKIP, "kept: holds data; destroy --purge-data removes it")
        return Action(kind, name, Change.DELETE, privilege=privilege)
    if found is None:
        return Action(kind, name, Change.CREATE, payload=marker(target), privilege=privilege)
    return Action(kind, name, Change.UNCHANGED, "" if is_ours(comment) else "exists (not made by stm)")


def _catalog(
    name: str, found: object, storage_root: str | None, has_root: bool, target: str, destroy: bool, purge: bool
) -> Action:
    """Our catalog: created with the target's managed location, which a metastore without root storage requires."""
    action = _container("catalog", name, found, "CREATE CATALOG on the metastore", destroy, purge, target)
    if action.change != Change.CREATE:
        return action
    if storage_root is None and not has_root:
        # https://docs.databricks.com/aws/en/catalogs/create-catalog: without metastore-level storage a catalog needs
        # a managed location
        raise UsageError(
            f"target {target}: catalog {name} needs a managed location, the metastore has no root storage: set "
            f"targets.{target}.storage_root ({STORAGE_URL_FORM}) on an external location you may use"
        )
    detail = f"managed location {storage_root}" if storage_root else ""
    return replace(action, detail=detail, payload=(action.payload, storage_root))


def provider_actions(
    d: ProviderDesired, o: ProviderObserved, destroy: bool = False, purge: bool = False
) -> list[Action]:
    loc = d.location
    out: list[Action] = []
    if not destroy:
        for schema in d.system_schemas:
            state = o.system_schemas.get(schema)
            if o.system_schemas_unreadable:
                why = f"cannot list system schemas, needs metastore admin: {o.system_schemas_unreadable}"
                out.append(Action("system schema", schema, Change.SKIP, why))
            elif state in ENABLED_STATES:
                out.append(Action("system schema", schema, Change.UNCHANGED, "enabled"))
            elif state == "UNAVAILABLE":
                out.append(Action("system schema", schema, Change.SKIP, "not available in this cloud or region"))
            else:
                out.append(
                    Action(
                        "system schema",
                        schema,
                        Change.CREATE,
                        "enable",
                        payload=o.metastore_id,
                        soft=True,
                        privilege="metastore admin (or account admin) to enable system schemas",
                    )
                )
    volume = "USE SCHEMA and CREATE VOLUME"
    containers = [
        _catalog(loc.catalog, o.catalog, loc.storage_root, o.metastore_has_root, d.target, destroy, purge),
        _container(
            "schema", f"{loc.catalog}.{loc.schema}", o.schema, "USE CATALOG and CREATE SCHEMA", destroy, purge, d.target
        ),
        _container("volume", f"{loc.catalog}.{loc.schema}.{loc.volume}", o.volume, volume, destroy, purge, d.target),
        _container(
            "volume",
            f"{loc.catalog}.{loc.schema}.{loc.checkpoint_volume}",
            o.checkpoint_volume,
            volume,
            destroy,
            purge,
            d.target,
        ),
    ]
    out.extend(containers if not destroy else [])
    write_files = "WRITE VOLUME on the artifacts volume"
    for path, content in ({} if destroy else d.files).items():
        change = Change.UNCHANGED if path in o.files else Change.CREATE
        out.append(Action("file", path, change, payload=content, privilege=write_files))
    for path in sorted(o.files - (set() if destroy else set(d.files))):
        out.append(Action("file", path, Change.DELETE, "no longer used", privilege=write_files))
    for key, settings in ({} if destroy else d.jobs).items():
        current = o.jobs.get(key)
        if current is None:
            out.append(Action("job", settings.name or key, Change.CREATE, summary(settings), settings, "create jobs"))
            continue
        cur = current.settings.as_dict() if current.settings else {}
        same = (cur.get("tags") or {}).get(TAG_DIGEST) == (settings.tags or {}).get(TAG_DIGEST)
        if same and is_subset(settings.as_dict(), cur):
            out.append(Action("job", settings.name or key, Change.UNCHANGED, f"job_id {current.job_id}"))
        else:
            payload = (current.job_id, settings)
            detail = f"job_id {current.job_id}: {summary(settings)}"
            out.append(Action("job", settings.name or key, Change.UPDATE, detail, payload, "CAN_MANAGE on the job"))
    for key in sorted(set(o.jobs) - (set() if destroy else set(d.jobs))):
        job = o.jobs[key]
        name = job.settings.name if job.settings and job.settings.name else key
        out.append(Action("job", name, Change.DELETE, f"job_id {job.job_id}", job.job_id, "CAN_MANAGE on the job"))
    out.extend(_sharing_actions(d, o, destroy))
    if destroy:
        out.extend(reversed(containers))
    return out


def _sharing_actions(d: ProviderDesired, o: ProviderObserved, destroy: bool) -> list[Action]:
    out: list[Action] = []
    if d.share is None:
        return out
    target = d.target
    share_ours = o.share is None or is_ours(o.share.comment)
    create_share = "CREATE SHARE on the metastore (and SELECT on the tables)"
    if destroy:
        if d.recipient and o.recipient is not None:
            ours = is_ours(o.recipient.comment)
            change = Change.DELETE if ours else Change.SKIP
            out.append(Action("recipient", d.recipient, change, "" if ours else _NOT_OURS, privilege="recipient owner"))
        if o.share is not None:
            change = Change.DELETE if share_ours else Change.SKIP
            out.append(Action("share", d.share, change, "" if share_ours else _NOT_OURS, privilege="share owner"))
        return out
    if not share_ours:
        return [Action("share", d.share, Change.SKIP, _NOT_OURS + "; its tables and grants are not managed")]
    out.append(
        Action(
            "share",
            d.share,
            Change.UNCHANGED if o.share else Change.CREATE,
            payload=marker(target),
            privilege=create_share,
        )
    )
    current = {obj.name: obj for obj in (o.share.objects if o.share else None) or []}
    for full, with_history in d.share_tables.items():
        obj = current.get(full)
        history = history_status(with_history)
        shared_as = "WITH HISTORY" if with_history else "WITHOUT HISTORY"
        if obj is None and full.rsplit(".", 1)[1] not in o.tables:
            # a table must exist before it joins a share: the jobs create it on their first run (the stream job or the
            # daily job, some only once their source has rows); the next apply after that shares it
            out.append(Action("share table", full, Change.SKIP, f"{NOT_CREATED_YET} {shared_as}"))
            continue
        if obj is None:
            change, detail = Change.CREATE, shared_as
        elif obj.history_data_sharing_status != history:
            change, detail = Change.UPDATE, f"{'enable' if with_history else 'disable'} history sharing"
        else:
            change, detail = Change.UNCHANGED, shared_as
        payload = (d.share, marker(target), with_history)
        out.append(Action("share table", full, change, detail, payload, "SELECT on the table"))
    for name, obj in sorted(current.items()):
        if name not in d.share_tables and is_ours(obj.comment):
            gone: tuple[str, str | None, bool] = (d.share, None, False)
            out.append(Action("share table", name, Change.DELETE, "no longer declared", gone, create_share))
    if d.recipient:
        recipient = _recipient_action(d, o)
        out.append(recipient)
        granted = d.recipient in o.share_grantees and recipient.change == Change.UNCHANGED
        out.append(
            Action(
                "grant",
                f"SELECT ON SHARE {d.share} TO {d.recipient}",
                Change.UNCHANGED if granted else Change.CREATE,
                payload=(d.share, d.recipient),
                privilege="share owner (or metastore admin) and USE RECIPIENT",
            )
        )
    return out


def _recipient_action(d: ProviderDesired, o: ProviderObserved) -> Action:
    assert d.recipient is not None
    kind, name, privilege = "recipient", d.recipient, "CREATE RECIPIENT on the metastore"
    how = f"Databricks-to-Databricks {d.hub_sharing_identifier}" if d.hub_sharing_identifier else "open sharing (token)"
    payload = (d.hub_sharing_identifier, marker(d.target))
    r = o.recipient
    if r is None:
        return Action(kind, name, Change.CREATE, how, payload, privilege)
    if not is_ours(r.comment):
        return Action(kind, name, Change.SKIP, _NOT_OURS)
    auth = getattr(r.authentication_type, "value", None)
    wanted = "DATABRICKS" if d.hub_sharing_identifier else "TOKEN"
    if auth != wanted or (
        d.hub_sharing_identifier and r.data_recipient_global_metastore_id != d.hub_sharing_identifier
    ):
        return Action(kind, name, Change.UPDATE, f"replace: now {how}", payload, privilege)
    return Action(kind, name, Change.UNCHANGED, how)


def hub_actions(d: HubDesired, o: HubObserved, destroy: bool = False, purge: bool = False) -> list[Action]:
    out: list[Action] = []
    containers = [
        _catalog(d.catalog, o.catalog, d.storage_root, o.metastore_has_root, d.target, destroy, purge),
        _container(
            "schema", f"{d.catalog}.{d.schema}", o.schema, "USE CATALOG and CREATE SCHEMA", destroy, purge, d.target
        ),
    ]
    if not destroy:
        out.extend(containers)
    by_table: dict[str, list[tuple[Source, tuple[Column, ...] | None]]] = {}  # columns None: not readable yet
    for src in d.sources:
        found = o.source_catalogs.get(src.catalog)
        provider = o.providers.get(src.global_metastore_id)
        what = f"share {src.share} of provider {provider or src.global_metastore_id}"
        privilege = "CREATE CATALOG and USE PROVIDER"
        if destroy:
            if found is not None:
                ours = is_ours(found.comment)
                change = Change.DELETE if ours else Change.SKIP
                out.append(Action("catalog from share", src.catalog, change, what, privilege=privilege))
            continue
        if found is not None:
            ok = is_ours(found.comment) or found.share_name == src.share
            out.append(
                Action(
                    "catalog from share",
                    src.catalog,
                    Change.UNCHANGED if ok else Change.SKIP,
                    what if ok else _NOT_OURS,
                )
            )
            if not ok:
                continue
        elif not o.offline and (provider is None or src.share not in o.provider_shares.get(provider, set())):
            out.append(
                Action(
                    "catalog from share",
                    src.catalog,
                    Change.SKIP,
                    f"{what} not visible yet: apply provider target {src.target} first",
                )
            )
            continue
        else:
            payload = (provider, src.share, marker(d.target))
            out.append(Action("catalog from share", src.catalog, Change.CREATE, what, payload, privilege))
        source = Source(src.account, src.workspace, src.catalog, src.schema)
        shared = o.shared_tables.get(src.catalog, set())
        known = o.columns.get(src.catalog, {})
        for table in src.tables:
            # a view may read only what the provider shares already (its jobs create a table before it is shared)
            if o.offline or f"{src.schema}.{table}" in shared:
                by_table.setdefault(table, []).append((source, known.get(f"{src.schema}.{table}")))
    views: set[str] = set()
    for table, spec in ({} if destroy else d.views).items():
        view = view_name(table)
        if table not in by_table:
            why = (
                "no provider shares this table yet: the next apply after a provider's apply shared it creates the view"
            )
            out.append(Action("view", f"{d.catalog}.{d.schema}.{view}", Change.SKIP, why))
            continue
        views.add(view)
        sources = by_table[table]
        detail = f"UNION ALL over {len(sources)} provider(s), by column name"
        if any(columns is None for _, columns in sources):
            pending = PendingView(d.target, d.catalog, d.schema, table, spec, tuple(s for s, _ in sources))
            out.append(_view_action(d, o, view, pending, PENDING))
        else:
            select = view_select(table, spec, [Provided(s, c) for s, c in sources if c is not None])
            out.append(_view_action(d, o, view, select, detail))
    for view, select in derived_selects(d.catalog, d.schema, views).items():
        views.add(view)
        out.append(_view_action(d, o, view, select, "over the consolidated billing and job runs"))
    for name, info in sorted(o.views.items()):
        if is_ours(info.comment) and (destroy or name not in views):
            sql = drop_view_sql(d.catalog, d.schema, name)
            out.append(
                Action("view", f"{d.catalog}.{d.schema}.{name}", Change.DELETE, "", (d.warehouse_id, sql), "view owner")
            )
    if destroy:
        out = [*[a for a in out if a.kind == "view"], *[a for a in out if a.kind != "view"], *reversed(containers)]
    return out


PENDING = "its columns are read from the providers' tables once this apply made their catalogs"


def _view_action(d: HubDesired, o: HubObserved, view: str, select: str | PendingView, detail: str) -> Action:
    """Create, update or leave a view; a pending view's statement is built when it is made."""
    full = f"{d.catalog}.{d.schema}.{view}"
    current = o.views.get(view)
    if current is not None and not is_ours(current.comment):
        return Action("view", full, Change.SKIP, _NOT_OURS)
    privilege = "USE SCHEMA and CREATE TABLE"
    if isinstance(select, PendingView):
        change = Change.CREATE if current is None else Change.UPDATE
        return Action("view", full, change, detail, (d.warehouse_id, select), privilege)
    sql, comment = create_view_sql(d.target, d.catalog, d.schema, view, select)
    change = Change.CREATE if current is None else (Change.UNCHANGED if current.comment == comment else Change.UPDATE)
    return Action("view", full, change, detail, (d.warehouse_id, sql), privilege)
