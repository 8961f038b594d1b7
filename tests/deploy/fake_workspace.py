"""A strictly autospecced WorkspaceClient whose service APIs keep state in memory.

Every service property is replaced by ``create_autospec(<its API class>, instance=True)``, so a wrong method name or
argument fails the test; the side effects below only give the calls a memory, returning real SDK dataclasses.
"""

from __future__ import annotations

import inspect
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO
from unittest.mock import create_autospec

from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotFound
from databricks.sdk.service import catalog, sharing, sql
from databricks.sdk.service import files as fs
from databricks.sdk.service import jobs as jb


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
    statements: list[str] = field(default_factory=list)
    has_metastore: bool = True
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(101))

    def client(self) -> Any:
        ws = autospec_workspace()
        ws.metastores.current.side_effect = self._current
        ws.system_schemas.list.side_effect = lambda mid, **_: iter(
            catalog.SystemSchemaInfo(schema=k, state=v) for k, v in self.system_schemas.items()
        )
        ws.system_schemas.enable.side_effect = lambda mid, schema, **_: self.system_schemas.__setitem__(
            schema, "ENABLE_COMPLETED"
        )
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
        ws.jobs.reset.side_effect = lambda job_id, new_settings: self.jobs.__setitem__(job_id, new_settings)
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
        ws.tables.list.side_effect = lambda cat, schema, **_: iter(
            v for k, v in self.views.items() if k.startswith(f"{cat}.{schema}.")
        )
        ws.statement_execution.execute_statement.side_effect = self._execute
        return ws

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

    def _create_catalog(self, name: str, **kw: Any) -> catalog.CatalogInfo:
        info = catalog.CatalogInfo(
            name=name, comment=kw.get("comment"), provider_name=kw.get("provider_name"), share_name=kw.get("share_name")
        )
        self.catalogs[name] = info
        return info

    def _create_schema(self, name: str, catalog_name: str, **kw: Any) -> catalog.SchemaInfo:
        info = catalog.SchemaInfo(name=name, catalog_name=catalog_name, full_name=f"{catalog_name}.{name}", **kw)
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
        job_id = next(self._ids)
        self.jobs[job_id] = jb.JobSettings(**kw)
        return jb.CreateResponse(job_id=job_id)

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

    def _execute(self, statement: str, warehouse_id: str, **_: Any) -> sql.StatementResponse:
        self.statements.append(statement)
        created = re.match(r"CREATE OR REPLACE VIEW `(\w+)`\.`(\w+)`\.`(\w+)`\nCOMMENT '((?:[^'\\]|\\.)*)'", statement)
        dropped = re.match(r"DROP VIEW IF EXISTS `(\w+)`\.`(\w+)`\.`(\w+)`", statement)
        if created:
            cat, schema, name, comment = created.groups()
            self.views[f"{cat}.{schema}.{name}"] = catalog.TableInfo(name=name, comment=comment)
        elif dropped:
            self.views.pop(".".join(dropped.groups()), None)
        state = sql.StatementState.SUCCEEDED if created or dropped else sql.StatementState.FAILED
        return sql.StatementResponse(statement_id=f"st-{len(self.statements)}", status=sql.StatementStatus(state=state))
