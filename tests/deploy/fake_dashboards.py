"""AI/BI (Lakeview) dashboards and workspace folders for the in-memory workspace, with Databricks' preconditions.

https://docs.databricks.com/api/workspace/lakeview: a dashboard needs a display name and a parent folder that
exists (``RESOURCE_DOES_NOT_EXIST`` otherwise); two dashboards of one name cannot share a folder; listing leaves
out the folder and the body; publishing needs a warehouse. Its datasets run on that warehouse, so every table
or view they read must exist (unqualified names resolve in the dataset catalog and schema given at create or
update), and every widget must query a dataset the dashboard has: a dashboard that breaks either is refused
here, standing for the errors its widgets would show.

What the service does to what it is given, as the Databricks CLI's test server copies it
(databricks/cli ``libs/testserver/dashboards.go``) and its dashboard resource expects it
(databricks/cli ``bundle/direct/dresources/dashboard.go``): the ``/Workspace`` prefix is removed from the parent
folder, and the path is made from that folder; the stored body is re-serialized with ``pageType`` on each page
and the dataset catalog and schema on each dataset; a trashed dashboard moves to its owner's trash folder.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from databricks.sdk.errors import InvalidParameterValue, NotFound, ResourceAlreadyExists
from databricks.sdk.service import dashboards as lv

TABLE_REF = re.compile(r"(?:FROM|JOIN)\s+`(\w+)`(?:\.`(\w+)`\.`(\w+)`)?")
ME = "deployer@example.com"  # the identity the client is authenticated as


def workspace_path(path: str) -> str:
    """A workspace path as Lakeview returns it: without the ``/Workspace`` prefix (cli libs/testserver/dashboards.go,
    "Remove /Workspace prefix from parent_path. This matches the remote behavior"). The workspace API takes a
    folder with or without the prefix, so folders are kept in this form too."""
    return path.removeprefix("/Workspace") if path.startswith("/Workspace/") else path


def _reserialized(body: str, catalog: str | None, schema: str | None) -> str:
    """The body as the service stores it (cli libs/testserver/dashboards.go, transformSerializedDashboard):
    ``pageType`` on each page, the dataset catalog and schema on each dataset, one trailing newline."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return body
    for page in parsed.get("pages", []):
        page["pageType"] = "PAGE_TYPE_CANVAS"
    for dataset in parsed.get("datasets", []):
        dataset.update({k: v for k, v in (("catalog", catalog), ("schema", schema)) if v})
    return json.dumps(parsed) + "\n"


@dataclass
class FakeDashboards:
    exists: Callable[[str, str, str], bool]  # the workspace's table-or-view check
    folders: set[str] = field(default_factory=lambda: {"/", "/Shared", "/Users", f"/Users/{ME}"})
    dashboards: dict[str, lv.Dashboard] = field(default_factory=dict)  # by id
    published: dict[str, str] = field(default_factory=dict)  # id -> warehouse
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def install(self, ws: Any) -> None:
        ws.workspace.mkdirs.side_effect = self._mkdirs
        ws.lakeview.create.side_effect = self._create
        ws.lakeview.update.side_effect = self._update
        ws.lakeview.get.side_effect = self._get
        ws.lakeview.list.side_effect = self._list
        ws.lakeview.publish.side_effect = self._publish
        ws.lakeview.trash.side_effect = self._trash

    def _mkdirs(self, path: str) -> None:
        parts = workspace_path(path.rstrip("/")).split("/")
        self.folders.update("/".join(parts[:i]) for i in range(2, len(parts) + 1))

    def _check(self, d: lv.Dashboard, catalog: str | None, schema: str | None) -> None:
        if not d.display_name or not d.serialized_dashboard:
            raise InvalidParameterValue("a dashboard needs display_name and serialized_dashboard")
        body = json.loads(d.serialized_dashboard)
        names = {ds["name"] for ds in body.get("datasets", [])}
        for ds in body.get("datasets", []):
            for first, sch, tab in TABLE_REF.findall("".join(ds["queryLines"])):
                ref = (first, sch, tab) if tab else (catalog or "", schema or "", first)
                if not all(ref) or not self.exists(*ref):
                    raise InvalidParameterValue(f"[TABLE_OR_VIEW_NOT_FOUND] dataset {ds['name']}: {'.'.join(ref)}")
        for page in body.get("pages", []):
            for item in page.get("layout", []):
                for q in item["widget"].get("queries", []):
                    if q["query"]["datasetName"] not in names:
                        raise InvalidParameterValue(f"widget {item['widget']['name']}: no dataset {q['query']}")

    def _folder_free(self, d: lv.Dashboard, own_id: str | None) -> None:
        if d.parent_path not in self.folders:
            raise NotFound(f"RESOURCE_DOES_NOT_EXIST: Path ({d.parent_path}) doesn't exist.")
        for other_id, other in self.dashboards.items():
            same = other.parent_path == d.parent_path and other.display_name == d.display_name
            if same and other_id != own_id and other.lifecycle_state == lv.LifecycleState.ACTIVE:
                raise ResourceAlreadyExists(f"RESOURCE_ALREADY_EXISTS: {d.display_name} in {d.parent_path}")

    def _create(
        self, dashboard: lv.Dashboard, *, dataset_catalog: str | None = None, dataset_schema: str | None = None
    ) -> lv.Dashboard:
        self._check(dashboard, dataset_catalog, dataset_schema)
        # no parent folder: the caller's home folder (cli libs/testserver/dashboards.go, "matches cloud behavior")
        folder = workspace_path(dashboard.parent_path or f"/Users/{ME}")
        given = lv.Dashboard.from_dict({**dashboard.as_dict(), "parent_path": folder})
        self._folder_free(given, None)
        new_id = f"dash-{next(self._ids)}"
        body = _reserialized(given.serialized_dashboard or "", dataset_catalog, dataset_schema)
        stored = lv.Dashboard.from_dict(
            {
                **given.as_dict(),
                "dashboard_id": new_id,
                "path": f"{folder}/{dashboard.display_name}.lvdash.json",
                "lifecycle_state": "ACTIVE",
                "serialized_dashboard": body,
            }
        )
        self.dashboards[new_id] = stored
        return stored

    def _update(
        self,
        dashboard_id: str,
        dashboard: lv.Dashboard,
        *,
        dataset_catalog: str | None = None,
        dataset_schema: str | None = None,
    ) -> lv.Dashboard:
        current = self._get(dashboard_id)
        self._check(dashboard, dataset_catalog, dataset_schema)
        # parent_path cannot change once made: the CLI's generated resource table marks it immutable, a change
        # recreates (cli bundle/direct/dresources/resources.generated.yml, dashboards: recreate_on_changes)
        if dashboard.parent_path and workspace_path(dashboard.parent_path) != current.parent_path:
            raise InvalidParameterValue(f"parent_path cannot be updated: {dashboard.parent_path}")
        given = {k: v for k, v in dashboard.as_dict().items() if k != "parent_path"}
        body = _reserialized(dashboard.serialized_dashboard or "", dataset_catalog, dataset_schema)
        merged = {**current.as_dict(), **given, "serialized_dashboard": body}
        if dashboard.display_name:  # a rename moves the file within its folder (cli libs/testserver/dashboards.go)
            merged["path"] = f"{current.parent_path}/{dashboard.display_name}.lvdash.json"
        self.dashboards[dashboard_id] = lv.Dashboard.from_dict(merged)
        return self.dashboards[dashboard_id]

    def _get(self, dashboard_id: str) -> lv.Dashboard:
        if dashboard_id not in self.dashboards:
            raise NotFound(f"dashboard {dashboard_id} does not exist")
        return self.dashboards[dashboard_id]

    def _list(self, **_: Any) -> Iterator[lv.Dashboard]:
        for d in list(self.dashboards.values()):
            if d.lifecycle_state == lv.LifecycleState.ACTIVE:
                yield lv.Dashboard(
                    dashboard_id=d.dashboard_id,
                    display_name=d.display_name,
                    warehouse_id=d.warehouse_id,
                    lifecycle_state=d.lifecycle_state,
                )

    def _publish(
        self, dashboard_id: str, *, embed_credentials: bool | None = None, warehouse_id: str | None = None
    ) -> lv.PublishedDashboard:
        d = self._get(dashboard_id)
        if d.lifecycle_state != lv.LifecycleState.ACTIVE or not (warehouse_id or d.warehouse_id):
            raise InvalidParameterValue(f"dashboard {dashboard_id}: trashed, or no warehouse to publish with")
        self.published[dashboard_id] = warehouse_id or d.warehouse_id or ""
        return lv.PublishedDashboard(
            display_name=d.display_name, embed_credentials=embed_credentials, warehouse_id=self.published[dashboard_id]
        )

    def _trash(self, dashboard_id: str) -> None:
        d = self._get(dashboard_id)
        # into its owner's trash, unpublished (cli libs/testserver/dashboards.go, DashboardTrash)
        d.lifecycle_state, d.parent_path = lv.LifecycleState.TRASHED, f"/Users/{ME}/Trash"
        self.published.pop(dashboard_id, None)
