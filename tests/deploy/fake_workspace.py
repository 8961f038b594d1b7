"""A strictly autospecced WorkspaceClient whose service APIs keep state in memory and enforce what Databricks does.

Every service property is replaced by ``create_autospec(<its API class>, instance=True)``, so a wrong method name or
argument fails the test; the side effects below give the calls a memory, returning real SDK dataclasses, and refuse
what the documented preconditions refuse (each rule cites its documentation where it is enforced):

* a system schema Databricks manages (``MANAGED``) cannot be enabled by hand;
* a catalog needs a managed location when the metastore has no root storage;
* a table must exist before it is added to a share;
* a view's sources must exist, and a view is added to a share only once it exists and never WITH HISTORY;
* a statement's named parameter markers must all be bound;
* a job's wheel must exist in a created volume, and the checkpoint root its tasks run with must lie in one;
* serverless tasks refuse ``processingTime`` triggers.

Databricks checks the last two when a run starts; the fake never runs a job, so it checks them when the job is
created or reset, which is stricter, never looser.
"""

from __future__ import annotations

import inspect
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO
from unittest.mock import create_autospec

import yaml
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import BadRequest, InvalidParameterValue, NotFound
from databricks.sdk.service import catalog, sharing, sql
from databricks.sdk.service import files as fs
from databricks.sdk.service import jobs as jb

from stm.config import load_config
from stm.errors import ConfigError
from tests.deploy.fake_dashboards import FakeDashboards
from tests.deploy.fake_grants import FakeGrants

VOLUME_PATH = re.compile(r"^/Volumes/(\w+)/(\w+)/(\w+)/")
DEFAULT_COLUMNS = [
    catalog.ColumnInfo(name="account_id", type_text="string", position=0),
    catalog.ColumnInfo(name="usage_date", type_text="date", position=1),
    catalog.ColumnInfo(name="amount", type_text="decimal(38,18)", position=2),
]
SOURCE_REF = re.compile(r"(?:FROM|JOIN) `(\w+)`\.`(\w+)`\.`(\w+)`")


def autospec_workspace() -> Any:
    """``create_autospec(WorkspaceClient)`` with each service API autospecced from its own class."""
    ws = create_autospec(WorkspaceClient, instance=True)
    for name, member in inspect.getmembers(WorkspaceClient, lambda m: isinstance(m, property)):
        api_cls = inspect.signature(member.fget).return_annotation
        if inspect.isclass(api_cls) and api_cls.__name__.endswith(("API", "Ext")):
            setattr(ws, name, create_autospec(api_cls, instance=True))
    return ws


def _missing(what: str) -> NotFound:
    return NotFound(f"{what} does not exist")


@dataclass
class FakeWorkspace:
    """In-memory Unity Catalog, files, jobs, shares and SQL views behind an autospecced client."""

    system_schemas: dict[str, str] = field(default_factory=dict)
    catalogs: dict[str, catalog.CatalogInfo] = field(default_factory=dict)
    schemas: dict[str, catalog.SchemaInfo] = field(default_factory=dict)
    volumes: dict[str, catalog.VolumeInfo] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    jobs: dict[int, jb.JobSettings] = field(default_factory=dict)
    shares: dict[str, sharing.ShareInfo] = field(default_factory=dict)
    grants: dict[str, set[str]] = field(default_factory=dict)
    recipients: dict[str, sharing.RecipientInfo] = field(default_factory=dict)
    providers: dict[str, tuple[str, list[str]]] = field(default_factory=dict)  # name -> (global id, shares)
    views: dict[str, catalog.TableInfo] = field(default_factory=dict)
    tables: dict[str, catalog.TableInfo] = field(default_factory=dict)  # full name -> table (not views)
    # (provider, share) -> the "<schema>.<table>" names that share holds, as a catalog created from it shows them
    provider_tables: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    # table name -> its columns as a provider's share shows them (a table not listed has DEFAULT_COLUMNS)
    shared_columns: dict[str, list[catalog.ColumnInfo]] = field(default_factory=dict)
    statements: list[str] = field(default_factory=list)
    key_rows: dict[str, int] = field(default_factory=dict)
    alerts: dict[str, sql.AlertV2] = field(default_factory=dict)  # by id  # rows INSERTed into a table by a statement
    has_metastore: bool = True
    metastore_storage_root: str | None = "s3://metastore-root/m-1"
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(101))
    lakeview: FakeDashboards = field(init=False)
    uc_grants: FakeGrants = field(default_factory=FakeGrants)  # Unity Catalog privileges, the caller's identity

    def __post_init__(self) -> None:
        self.lakeview = FakeDashboards(self._exists)

    def client(self) -> Any:
        ws = autospec_workspace()
        ws.metastores.current.side_effect = self._current
        ws.metastores.summary.side_effect = lambda: catalog.GetMetastoreSummaryResponse(
            metastore_id="m-1", storage_root=self.metastore_storage_root
        )
        ws.system_schemas.list.side_effect = lambda mid, **_: iter(
            catalog.SystemSchemaInfo(schema=k, state=v) for k, v in self.system_schemas.items()
        )
        ws.system_schemas.enable.side_effect = self._enable_system_schema
        ws.catalogs.get.side_effect = lambda name, **_: self._get(self.catalogs, name)
        ws.catalogs.create.side_effect = self._create_catalog
        ws.catalogs.delete.side_effect = lambda name, **_: self._delete(self.catalogs, name)
        ws.schemas.get.side_effect = lambda name, **_: self._get(self.schemas, name)
        ws.schemas.create.side_effect = self._create_schema
        ws.schemas.delete.side_effect = lambda name, **_: self._delete(self.schemas, name)
        ws.volumes.read.side_effect = lambda name, **_: self._get(self.volumes, name)
        ws.volumes.create.side_effect = self._create_volume
        ws.volumes.delete.side_effect = lambda name: self._delete(self.volumes, name)
        ws.files.list_directory_contents.side_effect = self._list_dir
        ws.files.upload.side_effect = self._upload
        ws.files.delete.side_effect = lambda path: self._delete(self.files, path)
        ws.jobs.list.side_effect = lambda **_: iter(
            jb.BaseJob(job_id=i, settings=jb.JobSettings(name=s.name, tags=s.tags)) for i, s in self.jobs.items()
        )
        ws.jobs.get.side_effect = self._get_job
        ws.jobs.create.side_effect = self._create_job
        ws.jobs.reset.side_effect = self._reset_job
        ws.jobs.delete.side_effect = lambda job_id: self._delete(self.jobs, job_id)
        ws.shares.get.side_effect = lambda name, **_: self._get(self.shares, name)
        ws.shares.create.side_effect = self._create_share
        ws.shares.update.side_effect = self._update_share
        ws.shares.delete.side_effect = lambda name: self._delete(self.shares, name)
        ws.shares.share_permissions.side_effect = self._share_permissions
        ws.shares.update_permissions.side_effect = self._update_permissions
        ws.recipients.get.side_effect = lambda name: self._get(self.recipients, name)
        ws.recipients.create.side_effect = self._create_recipient
        ws.recipients.delete.side_effect = lambda name: self._delete(self.recipients, name)
        ws.providers.list.side_effect = lambda data_provider_global_metastore_id=None, **_: iter(
            sharing.ProviderInfo(name=n, data_provider_global_metastore_id=g)
            for n, (g, _s) in self.providers.items()
            if data_provider_global_metastore_id in (None, g)
        )
        ws.providers.list_shares.side_effect = lambda name, **_: iter(
            sharing.ProviderShare(name=s) for s in self.providers[name][1]
        )
        ws.tables.list.side_effect = self._list_tables
        ws.tables.get.side_effect = self._get_table
        ws.providers.list_provider_share_assets.side_effect = lambda provider, share, **_: (
            sharing.ListProviderShareAssetsResponse(
                tables=[
                    sharing.Table(schema=n.split(".")[0], name=n.split(".")[1], share=share)
                    for n in self.provider_tables.get((provider, share), [])
                ]
            )
        )
        ws.statement_execution.execute_statement.side_effect = self._execute
        ws.alerts_v2.list_alerts.side_effect = lambda **_: iter(list(self.alerts.values()))
        ws.alerts_v2.create_alert.side_effect = self._create_alert
        ws.alerts_v2.update_alert.side_effect = self._update_alert
        ws.alerts_v2.trash_alert.side_effect = lambda id, **_: self._delete(self.alerts, id)
        self.lakeview.install(ws)
        self.uc_grants.install(ws, self._securable_exists)
        return ws

    def _securable_exists(self, kind: str, name: str) -> bool:
        if kind == "catalog":
            return name == "system" or name in self.catalogs
        system = name.split(".", 1)[1] if name.startswith("system.") else None
        return (
            self.system_schemas.get(system or "") in ("ENABLE_COMPLETED", "MANAGED") if system else name in self.schemas
        )

    def _check_alert(self, alert: sql.AlertV2) -> None:
        # https://docs.databricks.com/api/workspace/alertsv2/createalert: display_name, query_text, warehouse_id and
        # evaluation are required; the query runs on the warehouse, so every table or view it reads must exist
        if not (alert.display_name and alert.query_text and alert.warehouse_id and alert.evaluation):
            raise InvalidParameterValue("an alert needs display_name, query_text, warehouse_id and evaluation")
        missing = [".".join(r) for r in SOURCE_REF.findall(alert.query_text) if not self._exists(*r)]
        if missing:
            raise InvalidParameterValue(f"[TABLE_OR_VIEW_NOT_FOUND] The table or view {missing[0]} is not found")

    def _create_alert(self, alert: sql.AlertV2) -> sql.AlertV2:
        self._check_alert(alert)
        created = sql.AlertV2.from_dict({**alert.as_dict(), "id": f"alert-{next(self._ids)}"})
        created.lifecycle_state = sql.AlertLifecycleState.ACTIVE
        self.alerts[created.id or ""] = created
        return created

    def _update_alert(self, id: str, alert: sql.AlertV2, update_mask: str) -> sql.AlertV2:
        current = self._get(self.alerts, id)
        self._check_alert(alert)
        fields = {f.strip() for f in update_mask.split(",")}
        merged = {**current.as_dict(), **{k: v for k, v in alert.as_dict().items() if k in fields}}
        self.alerts[id] = sql.AlertV2.from_dict(merged)
        return self.alerts[id]

    def _current(self) -> catalog.MetastoreAssignment:
        if not self.has_metastore:
            raise NotFound("METASTORE_DOES_NOT_EXIST: no metastore assigned to the current workspace")
        return catalog.MetastoreAssignment(workspace_id=1, metastore_id="m-1", default_catalog_name="main")

    @staticmethod
    def _get(store: dict[Any, Any], key: Any) -> Any:
        if key not in store:
            raise _missing(str(key))
        return store[key]

    @staticmethod
    def _delete(store: dict[Any, Any], key: Any) -> None:
        if key not in store:
            raise _missing(str(key))
        del store[key]

    def _enable_system_schema(self, metastore_id: str, schema: str, **_: Any) -> None:
        # https://docs.databricks.com/api/workspace/systemschemas: MANAGED is "Databricks enables the schema
        # automatically"; the emulation refuses a manual enable of it, as a first apply met it
        if self.system_schemas.get(schema) == "MANAGED":
            raise BadRequest(f"system schema {schema} is managed by Databricks and cannot be enabled by hand")
        self.system_schemas[schema] = "ENABLE_COMPLETED"

    def _create_catalog(self, name: str, **kw: Any) -> catalog.CatalogInfo:
        # https://docs.databricks.com/aws/en/catalogs/create-catalog: "If your workspace does not have a metastore-level
        # storage location, you must specify a managed storage location" (a catalog from a share needs none)
        if not (self.metastore_storage_root or kw.get("storage_root") or kw.get("share_name")):
            raise InvalidParameterValue(
                "Metastore storage root URL does not exist. Please provide a storage location for the catalog."
            )
        info = catalog.CatalogInfo(
            name=name,
            owner=self.uc_grants.principal,  # its creator (fake_grants: "Object ownership")
            comment=kw.get("comment"),
            provider_name=kw.get("provider_name"),
            share_name=kw.get("share_name"),
            storage_root=kw.get("storage_root"),
        )
        self.catalogs[name] = info
        return info

    def _create_schema(self, name: str, catalog_name: str, **kw: Any) -> catalog.SchemaInfo:
        full_name, owner = f"{catalog_name}.{name}", self.uc_grants.principal  # its creator owns it
        info = catalog.SchemaInfo(name=name, catalog_name=catalog_name, full_name=full_name, owner=owner, **kw)
        self.schemas[info.full_name or ""] = info
        return info

    def _create_volume(self, cat: str, schema: str, name: str, volume_type: Any, **kw: Any) -> catalog.VolumeInfo:
        info = catalog.VolumeInfo(name=name, full_name=f"{cat}.{schema}.{name}", volume_type=volume_type, **kw)
        self.volumes[info.full_name or ""] = info
        return info

    def _list_dir(self, directory: str, **_: Any) -> Iterator[fs.DirectoryEntry]:
        prefix = directory.rstrip("/") + "/"
        children = sorted({p[len(prefix) :].split("/")[0] for p in self.files if p.startswith(prefix)})
        if not children:
            raise _missing(directory)
        return iter(
            fs.DirectoryEntry(path=prefix + c, name=c, is_directory=prefix + c not in self.files) for c in children
        )

    def _upload(self, path: str, contents: BinaryIO, **_: Any) -> None:
        self.files[path] = contents.read()

    def _get_job(self, job_id: int, **_: Any) -> jb.Job:
        # the server adds defaults of its own (here: format)
        settings = jb.JobSettings.from_dict({**self._get(self.jobs, job_id).as_dict(), "format": "MULTI_TASK"})
        return jb.Job(job_id=job_id, settings=settings)

    def _create_job(self, **kw: Any) -> jb.CreateResponse:
        settings = jb.JobSettings(**kw)
        self._check_job(settings)
        job_id = next(self._ids)
        self.jobs[job_id] = settings
        return jb.CreateResponse(job_id=job_id)

    def _reset_job(self, job_id: int, new_settings: jb.JobSettings) -> None:
        self._get(self.jobs, job_id)
        self._check_job(new_settings)
        self.jobs[job_id] = new_settings

    def _in_volume(self, path: str) -> bool:
        m = VOLUME_PATH.match(path.rstrip("/") + "/")
        return m is not None and ".".join(m.groups()) in self.volumes

    def _check_job(self, settings: jb.JobSettings) -> None:
        """What a run of the job would meet first: its wheel, the checkpoint root of its config, its trigger."""
        # https://docs.databricks.com/aws/en/jobs/python-wheel: the wheel is installed from the path given, which must
        # exist (a workspace file or a Unity Catalog volume file)
        wheels = [d for e in settings.environments or [] if e.spec for d in e.spec.dependencies or []]
        wheels += [lib.whl for t in settings.tasks or [] for lib in t.libraries or [] if lib.whl]
        for path in wheels:
            if path not in self.files or not self._in_volume(path):
                raise InvalidParameterValue(f"Library {path} does not exist in a Unity Catalog volume")
        for task in settings.tasks or []:
            params = (task.python_wheel_task.parameters or []) if task.python_wheel_task else []
            # https://docs.databricks.com/aws/en/compute/serverless/limitations: serverless Structured Streaming
            # supports only Trigger.AvailableNow (and Once): "no support for default or time-based trigger intervals"
            if task.environment_key and any(p.startswith("processingTime") for p in params):
                raise InvalidParameterValue(f"task {task.task_key}: serverless compute supports only availableNow")
            if "--config" in params:
                self._check_checkpoint_root(task.task_key, params[params.index("--config") + 1])

    def _check_checkpoint_root(self, task: str, config_path: str) -> None:
        # https://docs.databricks.com/aws/en/volumes/: files in Unity Catalog are written under a created volume,
        # /Volumes/<catalog>/<schema>/<volume>/...; a checkpoint anywhere else fails at the first write
        if config_path not in self.files:
            raise InvalidParameterValue(f"task {task}: config file {config_path} does not exist")
        try:
            cfg = load_config(extra=yaml.safe_load(self.files[config_path]))
        except ConfigError as exc:
            raise InvalidParameterValue(f"task {task}: {exc}") from None
        root = cfg.databricks.checkpoint_root
        if not self._in_volume(root):
            raise InvalidParameterValue(f"task {task}: checkpoint root {root} is not inside a created volume")

    def _create_share(self, name: str, **kw: Any) -> sharing.ShareInfo:
        self.shares[name] = sharing.ShareInfo(name=name, comment=kw.get("comment"), objects=[])
        return self.shares[name]

    def _update_share(self, name: str, **kw: Any) -> sharing.ShareInfo:
        share = self._get(self.shares, name)
        objects = {o.name: o for o in share.objects or []}
        for up in kw.get("updates") or []:
            if up.action == sharing.SharedDataObjectUpdateAction.REMOVE:
                self._delete(objects, up.data_object.name)
            else:
                obj = up.data_object
                if obj.data_object_type == sharing.SharedDataObjectDataObjectType.VIEW:
                    # https://docs.databricks.com/aws/en/sql/language-manual/sql-ref-syntax-ddl-alter-share: ADD VIEW
                    # takes a view that exists, and has no WITH HISTORY clause (only tables share their history)
                    if obj.name not in self.views:
                        raise NotFound(f"TABLE_OR_VIEW_NOT_FOUND: View '{obj.name}' does not exist.")
                    if obj.history_data_sharing_status is not None:
                        raise InvalidParameterValue(f"view {obj.name}: history sharing applies to tables only")
                # https://docs.databricks.com/aws/en/delta-sharing/create-share: a table added to a share must exist
                # and the caller must hold SELECT on it
                elif obj.name not in self.tables:
                    raise NotFound(f"TABLE_DOES_NOT_EXIST: Table '{obj.name}' does not exist.")
                shared = {o.shared_as for n, o in objects.items() if n != obj.name}
                if obj.shared_as in shared:
                    raise BadRequest(f"a share object is already shared as {obj.shared_as}")
                objects[up.data_object.name] = up.data_object
        share.objects = list(objects.values())
        return share

    def _share_permissions(self, name: str, **_: Any) -> sharing.GetSharePermissionsResponse:
        self._get(self.shares, name)
        return sharing.GetSharePermissionsResponse(
            privilege_assignments=[
                sharing.PrivilegeAssignment(principal=p, privileges=[sharing.Privilege.SELECT])
                for p in sorted(self.grants.get(name, set()))
            ]
        )

    def _update_permissions(self, name: str, **kw: Any) -> sharing.UpdateSharePermissionsResponse:
        for change in kw.get("changes") or []:
            if "SELECT" in (change.add or []):
                self.grants.setdefault(name, set()).add(change.principal)
        return sharing.UpdateSharePermissionsResponse()

    def _create_recipient(self, name: str, authentication_type: Any, **kw: Any) -> sharing.RecipientInfo:
        info = sharing.RecipientInfo(name=name, authentication_type=authentication_type, **kw)
        if authentication_type == sharing.AuthenticationType.TOKEN:
            info.tokens = [sharing.RecipientTokenInfo(activation_url=f"https://example.invalid/activate/{name}")]
        self.recipients[name] = info
        return info

    def _shared_tables(self, cat: str) -> Iterable[tuple[str, str]]:
        """``(schema, table)`` of a catalog created from a share: what its provider's share holds."""
        info = self.catalogs.get(cat)
        if info is None or not info.share_name:
            return []
        names = self.provider_tables.get((info.provider_name or "", info.share_name), [])
        return [(n.split(".")[0], n.split(".")[1]) for n in names]

    def _list_tables(self, cat: str, schema: str, **_: Any) -> Iterator[catalog.TableInfo]:
        prefix = f"{cat}.{schema}."
        shared = [catalog.TableInfo(name=t) for s, t in self._shared_tables(cat) if s == schema]
        own = [v for k, v in {**self.tables, **self.views}.items() if k.startswith(prefix)]
        return iter(own + shared)

    def _get_table(self, full_name: str, **_: Any) -> catalog.TableInfo:
        cat, schema, name = full_name.split(".")
        if (schema, name) in set(self._shared_tables(cat)):
            columns = self.shared_columns.get(name, DEFAULT_COLUMNS)
            return catalog.TableInfo(name=name, catalog_name=cat, schema_name=schema, columns=columns)
        return self._get({**self.tables, **self.views}, full_name)

    def _exists(self, cat: str, schema: str, name: str) -> bool:
        full = f"{cat}.{schema}.{name}"
        return full in self.tables or full in self.views or (schema, name) in set(self._shared_tables(cat))

    def _execute(self, statement: str, warehouse_id: str, **kw: Any) -> sql.StatementResponse:
        self.statements.append(statement)
        created = re.match(r"CREATE OR REPLACE VIEW `(\w+)`\.`(\w+)`\.`(\w+)`\nCOMMENT '((?:[^'\\]|\\.)*)'", statement)
        dropped = re.match(r"DROP VIEW IF EXISTS `(\w+)`\.`(\w+)`\.`(\w+)`", statement)
        table = re.match(
            r"CREATE TABLE IF NOT EXISTS `(\w+)`\.`(\w+)`\.`(\w+)`.*?\nCOMMENT '((?:[^'\\]|\\.)*)'", statement, re.S
        )
        insert = re.match(r"INSERT INTO `(\w+)`\.`(\w+)`\.`(\w+)`", statement)
        # https://docs.databricks.com/aws/en/error-messages/table-or-view-not-found-error-class: every table or view a
        # statement reads must exist
        refs = SOURCE_REF.findall(statement) if created or insert else []
        missing = [".".join(ref) for ref in refs if not self._exists(*ref)]
        # https://docs.databricks.com/api/workspace/statementexecution/executestatement: a named parameter marker
        # (:name) needs a parameter of that name
        bound = {p.name for p in kw.get("parameters") or []}
        unbound = sorted(set(re.findall(r"(?<![:\w]):([A-Za-z_]\w*)", statement)) - bound) if insert else []
        if missing or unbound:
            why = f"The table or view {missing[0]} is not found" if missing else f"unbound parameter :{unbound[0]}"
            error = sql.ServiceError(
                message=f"[{'TABLE_OR_VIEW_NOT_FOUND' if missing else 'UNBOUND_SQL_PARAMETER'}] {why}"
            )
            status = sql.StatementStatus(state=sql.StatementState.FAILED, error=error)
            return sql.StatementResponse(statement_id=f"st-{len(self.statements)}", status=status)
        if created:
            cat, schema, name, comment = created.groups()
            info = catalog.TableInfo(name=name, comment=comment, table_type=catalog.TableType.VIEW)
            self.views[f"{cat}.{schema}.{name}"] = info
        elif dropped:
            self.views.pop(".".join(dropped.groups()), None)
        elif table:
            cat, schema, name, comment = table.groups()
            info = catalog.TableInfo(name=name, comment=comment, table_type=catalog.TableType.MANAGED)
            self.tables.setdefault(f"{cat}.{schema}.{name}", info)
        elif insert:
            full = ".".join(insert.groups())
            if "WHERE NOT EXISTS" not in statement or not self.key_rows.get(full):
                self.key_rows[full] = self.key_rows.get(full, 0) + 1
        ok = created or dropped or table or insert
        state = sql.StatementState.SUCCEEDED if ok else sql.StatementState.FAILED
        return sql.StatementResponse(statement_id=f"st-{len(self.statements)}", status=sql.StatementStatus(state=state))
