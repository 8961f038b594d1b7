"""Carry out a plan against a workspace: one SDK call per action, transient errors retried, a full report."""

from __future__ import annotations

import functools
import io
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import (
    Aborted,
    DatabricksError,
    DeadlineExceeded,
    InternalError,
    PermissionDenied,
    RequestLimitExceeded,
    ResourceExhausted,
    TemporarilyUnavailable,
    TooManyRequests,
)
from databricks.sdk.service import catalog, jobs, sharing, sql

from deploy.diff import JobReset, MaskKey, NewCatalog, RecipientWanted, ShareGrant, ShareObject
from deploy.diff_hub import ShareCatalog
from deploy.hub_alerts import UPDATE_MASK, AlertUpdate
from deploy.hub_dashboard import FOLDER, DashboardUpdate, DashboardWanted
from deploy.hub_sql import Column, PendingView, Source, Statement
from deploy.model import Action, Change, Plan, history_status, payload_of
from deploy.wheel import Wheel
from stm.errors import StmError
from stm.retry import Backoff, retry
from stm.sharing.personal import hmac_pads

log = logging.getLogger(__name__)

TRANSIENT = (
    Aborted,
    DeadlineExceeded,
    InternalError,
    RequestLimitExceeded,
    ResourceExhausted,
    TemporarilyUnavailable,
    TooManyRequests,
)
TERMINAL = {
    sql.StatementState.SUCCEEDED,
    sql.StatementState.FAILED,
    sql.StatementState.CANCELED,
    sql.StatementState.CLOSED,
}
Sleep = Callable[[float], None]
RETRY_HINT = "fix what FAILED says, then apply again: every step checks the workspace first and continues from there"


class DeployFailed(StmError):
    """An apply or destroy stopped part-way; the report says what was done and what was not."""


@dataclass
class Report:
    done: list[tuple[Action, str]] = field(default_factory=list)
    failed: list[tuple[Action, str]] = field(default_factory=list)
    not_attempted: list[Action] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def render(self) -> str:
        lines = [f"done ({len(self.done)}):"]
        lines += [f"  {a.change.value} {a.kind} {a.name}" + (f": {note}" if note else "") for a, note in self.done]
        if self.failed:
            lines.append(f"FAILED ({len(self.failed)}):")
            lines += [f"  {a.change.value} {a.kind} {a.name}: {why}" for a, why in self.failed]
        if self.not_attempted:
            lines.append(f"not attempted ({len(self.not_attempted)}):")
            lines += [f"  {a.change.value} {a.kind} {a.name}" for a in self.not_attempted]
        if self.failed:
            lines.append(RETRY_HINT)
        return "\n".join(lines)


def _split(name: str) -> list[str]:
    return name.split(".")


def _upload(w: WorkspaceClient, a: Action) -> str:
    if isinstance(a.payload, Wheel):
        with a.payload.path.open("rb") as fh:
            w.files.upload(a.name, fh, overwrite=True)
    else:
        w.files.upload(a.name, io.BytesIO(payload_of(a, bytes)), overwrite=True)
    return ""


def _share_table(w: WorkspaceClient, a: Action) -> str:
    obj = payload_of(a, ShareObject)
    op = {
        Change.CREATE: sharing.SharedDataObjectUpdateAction.ADD,
        Change.UPDATE: sharing.SharedDataObjectUpdateAction.UPDATE,
        Change.DELETE: sharing.SharedDataObjectUpdateAction.REMOVE,
    }[a.change]
    kind = sharing.SharedDataObjectDataObjectType
    data = sharing.SharedDataObject(name=a.name, data_object_type=kind.VIEW if obj.is_view else kind.TABLE)
    if a.change != Change.DELETE:
        if not obj.is_view:
            data.history_data_sharing_status = history_status(obj.with_history)
        data.shared_as = obj.shared_as
        data.comment = obj.comment
    w.shares.update(obj.share, updates=[sharing.SharedDataObjectUpdate(action=op, data_object=data)])
    return ""


def _recipient(w: WorkspaceClient, a: Action) -> str:
    want = payload_of(a, RecipientWanted)
    if a.change == Change.UPDATE:
        w.recipients.delete(a.name)
    if want.hub_sharing_identifier:
        databricks = sharing.AuthenticationType.DATABRICKS
        hub_id = want.hub_sharing_identifier
        w.recipients.create(a.name, databricks, data_recipient_global_metastore_id=hub_id, comment=want.comment)
        return ""
    info = w.recipients.create(a.name, sharing.AuthenticationType.TOKEN, comment=want.comment)
    links = [t.activation_url for t in info.tokens or [] if t.activation_url]
    return f"activation link (open once, keep the profile file secret): {links[0]}" if links else ""


def _dashboard(w: WorkspaceClient, a: Action) -> str:
    """Create or update the hub's dashboard in its folder (made if missing), then publish it."""
    if a.change == Change.UPDATE:
        update = payload_of(a, DashboardUpdate)
        dashboard_id, want = update.dashboard_id, update.want
    else:
        dashboard_id, want = None, payload_of(a, DashboardWanted)
    where = {"dataset_catalog": want.catalog, "dataset_schema": want.schema}
    if dashboard_id is None:
        w.workspace.mkdirs(FOLDER)
        dashboard_id = w.lakeview.create(want.dashboard, **where).dashboard_id
    else:  # its folder is set once, at create (an update naming another one is refused): the update leaves it out
        w.lakeview.update(dashboard_id, replace(want.dashboard, parent_path=None), **where)
    w.lakeview.publish(dashboard_id or "", embed_credentials=False, warehouse_id=want.dashboard.warehouse_id)
    return f"published, id {dashboard_id}"


def _volume(w: WorkspaceClient, a: Action) -> None:
    cat, schema, name = _split(a.name)
    w.volumes.create(cat, schema, name, catalog.VolumeType.MANAGED, comment=payload_of(a, str))


def _catalog_from_share(w: WorkspaceClient, a: Action) -> str:
    want = payload_of(a, ShareCatalog)
    if not want.provider:
        raise DeployFailed(f"no provider visible for {a.detail}: apply the provider target first")
    w.catalogs.create(a.name, provider_name=want.provider, share_name=want.share, comment=want.comment)
    return ""


def run_statement(
    w: WorkspaceClient, warehouse_id: str, statement: str, sleep: Sleep, params: dict[str, str] | None = None
) -> None:
    """Run one statement on a warehouse and wait for it (polling, for statements past the 30 s wait); ``params``
    bind its named ``:markers`` as strings, apart from the statement's text."""
    resp = w.statement_execution.execute_statement(
        statement,
        warehouse_id,
        wait_timeout="30s",
        on_wait_timeout=sql.ExecuteStatementRequestOnWaitTimeout.CONTINUE,
        parameters=[sql.StatementParameterListItem(name=k, value=v, type="STRING") for k, v in (params or {}).items()]
        or None,
    )
    delay = 1.0
    while resp.status is None or resp.status.state not in TERMINAL:
        sleep(delay)
        delay = min(delay * 2, 10.0)
        resp = w.statement_execution.get_statement(resp.statement_id or "")
    if resp.status.state != sql.StatementState.SUCCEEDED:
        error = resp.status.error.message if resp.status.error else resp.status.state.value
        raise DeployFailed(f"statement failed: {error}")


def _columns(w: WorkspaceClient, source: Source, table: str) -> tuple[Column, ...]:
    name = f"{source.catalog}.{source.schema}.{table}"
    columns = sorted(w.tables.get(name).columns or [], key=lambda c: c.position or 0)
    if not columns:
        raise DeployFailed(f"table {name} shows no columns: check that the share still holds it")
    return tuple(Column(c.name or "", c.type_text or "") for c in columns)


def _handlers(sleep: Sleep) -> dict[tuple[str, Change], Callable[[WorkspaceClient, Action], object]]:
    def statement(w: WorkspaceClient, a: Action) -> None:
        run = payload_of(a, Statement)
        sql_text = run.sql
        if isinstance(sql_text, PendingView):
            sql_text = sql_text.statement([_columns(w, s, sql_text.table) for s in sql_text.sources])
        run_statement(w, run.warehouse_id, sql_text, sleep)

    def mask_key(w: WorkspaceClient, a: Action) -> None:
        key = payload_of(a, MaskKey)
        ipad, opad = hmac_pads(secrets.token_bytes(32))
        run_statement(w, key.warehouse_id, key.create, sleep)
        run_statement(w, key.warehouse_id, key.insert, sleep, {"ipad": ipad.hex(), "opad": opad.hex()})

    def new_catalog(w: WorkspaceClient, a: Action) -> None:
        want = payload_of(a, NewCatalog)
        w.catalogs.create(a.name, comment=want.comment, storage_root=want.storage_root)

    def grant(w: WorkspaceClient, a: Action) -> None:
        want = payload_of(a, ShareGrant)
        add = [sharing.PermissionsChange(principal=want.recipient, add=["SELECT"])]
        w.shares.update_permissions(want.share, changes=add)

    def update_alert(w: WorkspaceClient, a: Action) -> None:
        want = payload_of(a, AlertUpdate)
        w.alerts_v2.update_alert(want.alert_id, want.alert, UPDATE_MASK)

    def reset_job(w: WorkspaceClient, a: Action) -> None:
        want = payload_of(a, JobReset)
        w.jobs.reset(want.job_id, want.settings)

    return {
        ("system schema", Change.CREATE): lambda w, a: w.system_schemas.enable(payload_of(a, str), a.name),
        ("catalog", Change.CREATE): new_catalog,
        ("catalog", Change.DELETE): lambda w, a: w.catalogs.delete(a.name, force=True),
        ("schema", Change.CREATE): lambda w, a: w.schemas.create(
            _split(a.name)[1], _split(a.name)[0], comment=payload_of(a, str)
        ),
        ("schema", Change.DELETE): lambda w, a: w.schemas.delete(a.name, force=True),
        ("volume", Change.CREATE): _volume,
        ("volume", Change.DELETE): lambda w, a: w.volumes.delete(a.name),
        ("file", Change.CREATE): _upload,
        ("file", Change.DELETE): lambda w, a: w.files.delete(a.name),
        ("job", Change.CREATE): lambda w, a: w.jobs.create(**payload_of(a, jobs.JobSettings).as_shallow_dict()),
        ("job", Change.UPDATE): reset_job,
        ("job", Change.DELETE): lambda w, a: w.jobs.delete(payload_of(a, int)),
        ("share", Change.CREATE): lambda w, a: w.shares.create(a.name, comment=payload_of(a, str)),
        ("share", Change.DELETE): lambda w, a: w.shares.delete(a.name),
        ("share table", Change.CREATE): _share_table,
        ("share table", Change.UPDATE): _share_table,
        ("share table", Change.DELETE): _share_table,
        ("recipient", Change.CREATE): _recipient,
        ("recipient", Change.UPDATE): _recipient,
        ("recipient", Change.DELETE): lambda w, a: w.recipients.delete(a.name),
        ("grant", Change.CREATE): grant,
        ("catalog from share", Change.CREATE): _catalog_from_share,
        ("catalog from share", Change.DELETE): lambda w, a: w.catalogs.delete(a.name, force=True),
        ("view", Change.CREATE): statement,
        ("view", Change.UPDATE): statement,
        ("view", Change.DELETE): statement,
        ("mask key", Change.CREATE): mask_key,
        ("alert", Change.CREATE): lambda w, a: w.alerts_v2.create_alert(payload_of(a, sql.AlertV2)),
        ("alert", Change.UPDATE): update_alert,
        ("alert", Change.DELETE): lambda w, a: w.alerts_v2.trash_alert(payload_of(a, str)),
        ("dashboard", Change.CREATE): _dashboard,
        ("dashboard", Change.UPDATE): _dashboard,
        ("dashboard", Change.DELETE): lambda w, a: w.lakeview.trash(payload_of(a, str)),
        ("masked view", Change.CREATE): statement,
        ("masked view", Change.UPDATE): statement,
        ("masked view", Change.DELETE): statement,
    }


def _with_retries(fn: Callable[[], object], sleep: Sleep, attempts: int) -> object:
    backoff = Backoff(attempts=attempts, first_seconds=1.0, max_seconds=60.0, sleep=sleep)
    return retry("transient error", fn, lambda exc: isinstance(exc, TRANSIENT), backoff)


def _why(exc: Exception, action: Action) -> str:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if isinstance(exc, PermissionDenied):
        return f"permission denied, needs {action.privilege or 'more privileges'} ({first})"
    return first


def execute(w: WorkspaceClient, plan: Plan, *, sleep: Sleep = time.sleep, attempts: int = 4) -> Report:
    """Apply every change of the plan in order; a failure stops the rest unless the action is soft."""
    handlers = _handlers(sleep)
    report = Report()
    changes = plan.changes
    for i, action in enumerate(changes):
        handler = handlers[(action.kind, action.change)]
        try:
            note = _with_retries(functools.partial(handler, w, action), sleep, attempts)
        except (DatabricksError, StmError) as exc:
            report.failed.append((action, _why(exc, action)))
            if action.soft:
                continue
            report.not_attempted = changes[i + 1 :]
            break
        report.done.append((action, note if isinstance(note, str) else ""))
    return report
