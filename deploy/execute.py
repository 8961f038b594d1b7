"""Carry out a plan against a workspace: one SDK call per action, transient errors retried, a full report."""

from __future__ import annotations

import functools
import io
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

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
from databricks.sdk.service import catalog, sharing, sql

from deploy.diff import ShareObject
from deploy.hub_alerts import UPDATE_MASK
from deploy.hub_dashboard import FOLDER, DashboardWanted
from deploy.hub_sql import Column, PendingView, Source
from deploy.model import Action, Change, Plan, history_status
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
    content = a.payload
    if isinstance(content, Wheel):
        with content.path.open("rb") as fh:
            w.files.upload(a.name, fh, overwrite=True)
    else:
        w.files.upload(a.name, io.BytesIO(content), overwrite=True)
    return ""


def _share_table(w: WorkspaceClient, a: Action) -> str:
    obj: ShareObject = a.payload
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
    hub_id, comment = a.payload
    if a.change == Change.UPDATE:
        w.recipients.delete(a.name)
    if hub_id:
        w.recipients.create(
            a.name, sharing.AuthenticationType.DATABRICKS, data_recipient_global_metastore_id=hub_id, comment=comment
        )
        return ""
    info = w.recipients.create(a.name, sharing.AuthenticationType.TOKEN, comment=comment)
    links = [t.activation_url for t in info.tokens or [] if t.activation_url]
    return f"activation link (open once, keep the profile file secret): {links[0]}" if links else ""


def _dashboard(w: WorkspaceClient, a: Action) -> str:
    """Create or update the hub's dashboard in its folder (made if missing), then publish it."""
    dashboard_id, want = a.payload if a.change == Change.UPDATE else (None, a.payload)
    assert isinstance(want, DashboardWanted)
    where = {"dataset_catalog": want.catalog, "dataset_schema": want.schema}
    if dashboard_id is None:
        w.workspace.mkdirs(FOLDER)
        dashboard_id = w.lakeview.create(want.dashboard, **where).dashboard_id
    else:
        w.lakeview.update(dashboard_id, want.dashboard, **where)
    w.lakeview.publish(dashboard_id or "", embed_credentials=False, warehouse_id=want.dashboard.warehouse_id)
    return f"published, id {dashboard_id}"


def _volume(w: WorkspaceClient, a: Action) -> None:
    cat, schema, name = _split(a.name)
    w.volumes.create(cat, schema, name, catalog.VolumeType.MANAGED, comment=a.payload)


def _catalog_from_share(w: WorkspaceClient, a: Action) -> str:
    provider, share, comment = a.payload
    if not provider:
        raise DeployFailed(f"no provider visible for {a.detail}: apply the provider target first")
    w.catalogs.create(a.name, provider_name=provider, share_name=share, comment=comment)
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
    def view(w: WorkspaceClient, a: Action) -> None:
        warehouse, statement = a.payload
        if isinstance(statement, PendingView):
            statement = statement.statement([_columns(w, s, statement.table) for s in statement.sources])
        run_statement(w, warehouse, statement, sleep)

    def mask_key(w: WorkspaceClient, a: Action) -> None:
        warehouse, create, insert = a.payload
        ipad, opad = hmac_pads(secrets.token_bytes(32))
        run_statement(w, warehouse, create, sleep)
        run_statement(w, warehouse, insert, sleep, {"ipad": ipad.hex(), "opad": opad.hex()})

    def statement(w: WorkspaceClient, a: Action) -> None:
        run_statement(w, a.payload[0], a.payload[1], sleep)

    return {
        ("system schema", Change.CREATE): lambda w, a: w.system_schemas.enable(a.payload, a.name),
        ("catalog", Change.CREATE): lambda w, a: w.catalogs.create(
            a.name, comment=a.payload[0], storage_root=a.payload[1]
        ),
        ("catalog", Change.DELETE): lambda w, a: w.catalogs.delete(a.name, force=True),
        ("schema", Change.CREATE): lambda w, a: w.schemas.create(
            _split(a.name)[1], _split(a.name)[0], comment=a.payload
        ),
        ("schema", Change.DELETE): lambda w, a: w.schemas.delete(a.name, force=True),
        ("volume", Change.CREATE): _volume,
        ("volume", Change.DELETE): lambda w, a: w.volumes.delete(a.name),
        ("file", Change.CREATE): _upload,
        ("file", Change.DELETE): lambda w, a: w.files.delete(a.name),
        ("job", Change.CREATE): lambda w, a: w.jobs.create(**a.payload.as_shallow_dict()),
        ("job", Change.UPDATE): lambda w, a: w.jobs.reset(a.payload[0], a.payload[1]),
        ("job", Change.DELETE): lambda w, a: w.jobs.delete(a.payload),
        ("share", Change.CREATE): lambda w, a: w.shares.create(a.name, comment=a.payload),
        ("share", Change.DELETE): lambda w, a: w.shares.delete(a.name),
        ("share table", Change.CREATE): _share_table,
        ("share table", Change.UPDATE): _share_table,
        ("share table", Change.DELETE): _share_table,
        ("recipient", Change.CREATE): _recipient,
        ("recipient", Change.UPDATE): _recipient,
        ("recipient", Change.DELETE): lambda w, a: w.recipients.delete(a.name),
        ("grant", Change.CREATE): lambda w, a: w.shares.update_permissions(
            a.payload[0], changes=[sharing.PermissionsChange(principal=a.payload[1], add=["SELECT"])]
        ),
        ("catalog from share", Change.CREATE): _catalog_from_share,
        ("catalog from share", Change.DELETE): lambda w, a: w.catalogs.delete(a.name, force=True),
        ("view", Change.CREATE): view,
        ("view", Change.UPDATE): view,
        ("view", Change.DELETE): view,
        ("mask key", Change.CREATE): mask_key,
        ("alert", Change.CREATE): lambda w, a: w.alerts_v2.create_alert(a.payload),
        ("alert", Change.UPDATE): lambda w, a: w.alerts_v2.update_alert(a.payload[0], a.payload[1], UPDATE_MASK),
        ("alert", Change.DELETE): lambda w, a: w.alerts_v2.trash_alert(a.payload),
        ("dashboard", Change.CREATE): _dashboard,
        ("dashboard", Change.UPDATE): _dashboard,
        ("dashboard", Change.DELETE): lambda w, a: w.lakeview.trash(a.payload),
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
