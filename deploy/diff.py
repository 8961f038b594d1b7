"""Desired versus observed state -> the list of actions (pure: no workspace calls)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from databricks.sdk.service import jobs, sharing

from deploy.desired import ProviderDesired
from deploy.grants import grant_actions, needed
from deploy.hub_sql import Statement, create_view_sql, drop_view_sql
from deploy.jobs import TAG_DIGEST, summary
from deploy.masked_sql import KEY_TABLE, key_table_sql, masked_select
from deploy.masked_sql import VIEW_PREFIX as MASKED_PREFIX
from deploy.masked_sql import view_name as masked_view_name
from deploy.model import Action, Change, history_status, is_ours, is_subset, marker
from deploy.observe import ProviderObserved
from stm.errors import UsageError
from stm.specs import STORAGE_URL_FORM

# https://docs.databricks.com/api/workspace/systemschemas: ENABLE_COMPLETED "the schema is enabled", ENABLE_INITIALIZED
# "enablement is in progress", MANAGED "Databricks enables the schema automatically": none of them needs an enable
ENABLED_STATES = {"ENABLE_COMPLETED", "ENABLE_INITIALIZED", "MANAGED"}
NOT_OURS = "exists, not made by stm: left alone"
BY_BUNDLE = "deployed_by: bundle; databricks bundle deploy makes them"
NOT_CREATED_YET = "not created yet: the jobs make it on their first run, the next apply then shares it"


@dataclass(frozen=True)
class NewCatalog:
    comment: str
    storage_root: str | None  # its managed location, where the metastore has no root storage


@dataclass(frozen=True)
class JobReset:
    job_id: int
    settings: jobs.JobSettings


@dataclass(frozen=True)
class RecipientWanted:
    hub_sharing_identifier: str | None  # Databricks-to-Databricks; None: open sharing with a token
    comment: str


@dataclass(frozen=True)
class ShareGrant:
    share: str
    recipient: str


@dataclass(frozen=True)
class MaskKey:
    warehouse_id: str
    create: str  # the key table's CREATE statement
    insert: str  # the INSERT of the key, bound to the pads drawn at apply


def container_action(
    kind: str, name: str, found: object, privilege: str, destroy: bool, purge: bool, target: str
) -> Action:
    """Catalog, schema or volume: created if missing; on destroy removed only if ours and --purge-data."""
    comment = getattr(found, "comment", None)
    if destroy:
        if found is None:
            return Action(kind, name, Change.UNCHANGED, "absent")
        if not is_ours(comment):
            return Action(kind, name, Change.SKIP, NOT_OURS)
        if not purge:
            return Action(kind, name, Change.SKIP, "kept: holds data; destroy --purge-data removes it")
        return Action(kind, name, Change.DELETE, privilege=privilege)
    if found is None:
        return Action(kind, name, Change.CREATE, payload=marker(target), privilege=privilege)
    return Action(kind, name, Change.UNCHANGED, "" if is_ours(comment) else "exists (not made by stm)")


def catalog_action(
    name: str, found: object, storage_root: str | None, has_root: bool, target: str, destroy: bool, purge: bool
) -> Action:
    """Our catalog: created with the target's managed location, which a metastore without root storage requires."""
    action = container_action("catalog", name, found, "CREATE CATALOG on the metastore", destroy, purge, target)
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
    return replace(action, detail=detail, payload=NewCatalog(str(action.payload), storage_root))


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
        if o.access is not None:
            out.extend(grant_actions(needed(d), o.access))
    volume = "USE SCHEMA and CREATE VOLUME"
    containers = [
        catalog_action(loc.catalog, o.catalog, loc.storage_root, o.metastore_has_root, d.target, destroy, purge),
        container_action(
            "schema", f"{loc.catalog}.{loc.schema}", o.schema, "USE CATALOG and CREATE SCHEMA", destroy, purge, d.target
        ),
        container_action(
            "volume", f"{loc.catalog}.{loc.schema}.{loc.volume}", o.volume, volume, destroy, purge, d.target
        ),
        container_action(
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
    out.extend(_job_actions(d, o, destroy))
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
            out.append(Action("recipient", d.recipient, change, "" if ours else NOT_OURS, privilege="recipient owner"))
        if o.share is not None:
            change = Change.DELETE if share_ours else Change.SKIP
            out.append(Action("share", d.share, change, "" if share_ours else NOT_OURS, privilege="share owner"))
        return out + _mask_actions(d, o, destroy=True)
    if not share_ours:
        return [Action("share", d.share, Change.SKIP, NOT_OURS + "; its tables and grants are not managed")]
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
    wanted = _share_objects(d)
    # removals first: a masked view takes over the name its table was shared as
    for name, shared_obj in sorted(current.items()):
        if name not in wanted and is_ours(shared_obj.comment):
            is_view = shared_obj.data_object_type == sharing.SharedDataObjectDataObjectType.VIEW
            gone = ShareObject(d.share, None, False, shared_obj.shared_as or "", is_view)
            out.append(Action("share table", name, Change.DELETE, "no longer declared", gone, create_share))
    out.extend(_mask_actions(d, o, destroy=False))
    for full, (table, with_history, is_view) in wanted.items():
        obj = current.get(full)
        history = history_status(with_history)
        how = (
            "as a masked view (personal data as keyed hashes)"
            if is_view
            else ("WITH HISTORY" if with_history else "WITHOUT HISTORY")
        )
        if obj is None and table not in o.tables:
            # a table must exist before it joins a share: the jobs create it on their first run (the stream job or the
            # daily job, some only once their source has rows); the next apply after that shares it (and, for a
            # masked share, makes its masked view first)
            out.append(Action("share table", full, Change.SKIP, f"{NOT_CREATED_YET} {how}"))
            continue
        if obj is None:
            change, detail = Change.CREATE, how
        elif not is_view and obj.history_data_sharing_status != history:
            change, detail = Change.UPDATE, f"{'enable' if with_history else 'disable'} history sharing"
        else:
            change, detail = Change.UNCHANGED, how
        shared = ShareObject(d.share, marker(target), with_history, f"{d.location.schema}.{table}", is_view)
        out.append(Action("share table", full, change, detail, shared, "SELECT on the table"))
    if d.recipient:
        recipient = _recipient_action(d, o)
        out.append(recipient)
        granted = d.recipient in o.share_grantees and recipient.change == Change.UNCHANGED
        out.append(
            Action(
                "grant",
                f"SELECT ON SHARE {d.share} TO {d.recipient}",
                Change.UNCHANGED if granted else Change.CREATE,
                payload=ShareGrant(d.share, d.recipient),
                privilege="share owner (or metastore admin) and USE RECIPIENT",
            )
        )
    return out


def _recipient_action(d: ProviderDesired, o: ProviderObserved) -> Action:
    assert d.recipient is not None
    kind, name, privilege = "recipient", d.recipient, "CREATE RECIPIENT on the metastore"
    how = f"Databricks-to-Databricks {d.hub_sharing_identifier}" if d.hub_sharing_identifier else "open sharing (token)"
    payload = RecipientWanted(d.hub_sharing_identifier, marker(d.target))
    r = o.recipient
    if r is None:
        return Action(kind, name, Change.CREATE, how, payload, privilege)
    if not is_ours(r.comment):
        return Action(kind, name, Change.SKIP, NOT_OURS)
    auth = getattr(r.authentication_type, "value", None)
    wanted = "DATABRICKS" if d.hub_sharing_identifier else "TOKEN"
    if auth != wanted or (
        d.hub_sharing_identifier and r.data_recipient_global_metastore_id != d.hub_sharing_identifier
    ):
        return Action(kind, name, Change.UPDATE, f"replace: now {how}", payload, privilege)
    return Action(kind, name, Change.UNCHANGED, how)


@dataclass(frozen=True)
class ShareObject:
    """What the executor adds to, updates in or removes from a share."""

    share: str
    comment: str | None
    with_history: bool
    shared_as: str  # the name the recipient sees: <schema>.<table>
    is_view: bool = False


def _share_objects(d: ProviderDesired) -> dict[str, tuple[str, bool, bool]]:
    """The share's objects by full name: ``(table, with history, is a masked view)``."""
    out: dict[str, tuple[str, bool, bool]] = {}
    for full, with_history in d.share_tables.items():
        table = full.rsplit(".", 1)[1]
        if d.mask:
            # a view is shared without history (ALTER SHARE … ADD VIEW has no WITH HISTORY clause)
            out[f"{d.location.catalog}.{d.location.schema}.{masked_view_name(table)}"] = (table, False, True)
        else:
            out[full] = (table, with_history, False)
    return out


def _mask_actions(d: ProviderDesired, o: ProviderObserved, destroy: bool) -> list[Action]:
    """The key table and one masked view per existing shared table; views no longer wanted are dropped."""
    loc, out = d.location, []
    ns = f"{loc.catalog}.{loc.schema}"
    privilege = "USE SCHEMA and CREATE TABLE on the schema"
    wanted: set[str] = set()
    if d.mask and not destroy:
        assert d.warehouse_id is not None  # validated: a masking provider names its warehouse
        if KEY_TABLE in o.tables:
            out.append(Action("mask key", f"{ns}.{KEY_TABLE}", Change.UNCHANGED, "drawn once; never shown"))
        else:
            create, insert = key_table_sql(loc.catalog, loc.schema, marker(d.target))
            detail = "one random HMAC key, drawn at apply and never shown"
            out.append(
                Action(
                    "mask key",
                    f"{ns}.{KEY_TABLE}",
                    Change.CREATE,
                    detail,
                    MaskKey(d.warehouse_id, create, insert),
                    privilege,
                )
            )
        for full in d.share_tables:
            table = full.rsplit(".", 1)[1]
            if table not in o.tables:
                continue
            view = masked_view_name(table)
            wanted.add(view)
            select = masked_select(loc.catalog, loc.schema, table, o.columns.get(table, []))
            statement, comment = create_view_sql(d.target, loc.catalog, loc.schema, view, select)
            current = o.view_comments.get(view, "") if view in o.tables else None
            if current is not None and not is_ours(current):
                out.append(Action("masked view", f"{ns}.{view}", Change.SKIP, NOT_OURS))
                continue
            change = Change.CREATE if current is None else (Change.UNCHANGED if current == comment else Change.UPDATE)
            detail = f"{table} with personal data as keyed hashes"
            make = Statement(d.warehouse_id, statement)
            out.append(Action("masked view", f"{ns}.{view}", change, detail, make, privilege))
    for view, view_comment in sorted(o.view_comments.items()):
        if view.startswith(MASKED_PREFIX) and is_ours(view_comment) and view not in wanted:
            if d.warehouse_id is None:
                out.append(Action("masked view", f"{ns}.{view}", Change.SKIP, "set warehouse_id to drop it"))
                continue
            drop = Statement(d.warehouse_id, drop_view_sql(loc.catalog, loc.schema, view))
            out.append(Action("masked view", f"{ns}.{view}", Change.DELETE, "no longer shared", drop, "view owner"))
    return out


def _job_actions(d: ProviderDesired, o: ProviderObserved, destroy: bool) -> list[Action]:
    """Create, reset or delete our jobs; with ``deployed_by: bundle`` the bundle's jobs (made without the digest tag
    apply sets) are left to it, and the copies apply made before are deleted, so the target has one set of jobs."""
    out: list[Action] = []
    if d.jobs_by_bundle:
        out.append(Action("job", "*", Change.SKIP, f"deployed by the bundle ({BY_BUNDLE})"))
        for job in o.jobs.values():
            tags = (job.settings.tags if job.settings else None) or {}
            if TAG_DIGEST in tags:
                name = job.settings.name if job.settings and job.settings.name else str(job.job_id)
                why = f"job_id {job.job_id}: made by apply, the bundle deploys this target's jobs"
                out.append(Action("job", name, Change.DELETE, why, job.job_id, "CAN_MANAGE on the job"))
        return out
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
            payload = JobReset(current.job_id or 0, settings)
            detail = f"job_id {current.job_id}: {summary(settings)}"
            out.append(Action("job", settings.name or key, Change.UPDATE, detail, payload, "CAN_MANAGE on the job"))
    for key in sorted(set(o.jobs) - (set() if destroy else set(d.jobs))):
        job = o.jobs[key]
        name = job.settings.name if job.settings and job.settings.name else key
        out.append(Action("job", name, Change.DELETE, f"job_id {job.job_id}", job.job_id, "CAN_MANAGE on the job"))
    return out
