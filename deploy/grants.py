"""The grants preflight of a provider: the job identity's effective privileges on every system schema the pipeline
reads and on the target catalog and schema it writes, and the GRANT that each missing one needs.

The jobs declare no ``run_as``, so they run as the identity that creates them, the one deploying
(https://docs.databricks.com/api/workspace/jobs/create, ``run_as``: "If not specified, the job runs as the user who
created the job"). An object's owner has all privileges on it and privileges are inherited downward, catalog to
schema (https://docs.databricks.com/aws/en/data-governance/unity-catalog/manage-privileges/); the effective
permissions API returns what is granted on a securable or inherited from its parents
(databricks-sdk ``GrantsAPI.get_effective``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotFound, PermissionDenied
from databricks.sdk.service import catalog as uc

from deploy.desired import ProviderDesired
from deploy.model import Action, Change
from stm.privileges import Needed, to_read_schema, to_write_schema

SYSTEM_CATALOG = "system"
ALL = "ALL_PRIVILEGES"


@dataclass
class Access:
    """What the job identity holds on each securable the jobs use; ``None`` where its grants could not be read."""

    principal: str
    held: dict[tuple[str, str], set[str] | None] = field(default_factory=dict)
    unreadable: dict[tuple[str, str], str] = field(default_factory=dict)


def needed(d: ProviderDesired) -> list[Needed]:
    """Every privilege the jobs need: read each system schema of the catalog, write the target schema."""
    out = [n for schema in d.system_schemas for n in to_read_schema(SYSTEM_CATALOG, schema)]
    out += to_write_schema(d.location.catalog, d.location.schema)
    return list(dict.fromkeys(out))


def _effective(w: WorkspaceClient, securable_type: str, full_name: str, principal: str) -> set[str]:
    listed = w.grants.get_effective(securable_type, full_name, principal=principal)
    return {
        p.privilege.value
        for a in listed.privilege_assignments or []
        if a.principal == principal
        for p in a.privileges or []
        if p.privilege is not None
    }


def observe_access(
    w: WorkspaceClient, d: ProviderDesired, our_catalog: uc.CatalogInfo | None, our_schema: uc.SchemaInfo | None
) -> Access:
    """The identity's privileges on each securable of ``needed(d)``; a target catalog or schema still to be made is
    made by this identity, its owner."""
    principal = w.current_user.me().user_name or ""
    access = Access(principal)
    ours: dict[tuple[str, str], uc.CatalogInfo | uc.SchemaInfo | None] = {
        ("catalog", d.location.catalog): our_catalog,
        ("schema", f"{d.location.catalog}.{d.location.schema}"): our_schema,
    }
    for securable in dict.fromkeys((n.securable_type, n.full_name) for n in needed(d)):
        if securable in ours:
            info = ours[securable]
            if info is None or info.owner == principal:  # made by this deploy, or already this identity's
                access.held[securable] = {ALL}
                continue
        try:
            try:
                access.held[securable] = _effective(w, *securable, principal)
            except NotFound:  # a system schema not enabled yet: it will inherit what its catalog grants
                parent = ("catalog", securable[1].split(".", 1)[0])
                access.held[securable] = _effective(w, *parent, principal) if securable[0] == "schema" else set()
        except NotFound:
            access.held[securable] = set()
        except PermissionDenied as exc:
            access.held[securable] = None
            access.unreadable[securable] = (str(exc).splitlines() or ["no access"])[0]
    return access


def grant_actions(needs: list[Needed], access: Access) -> list[Action]:
    """One line per securable: unchanged when every privilege is held, else skip naming each missing GRANT."""
    out: list[Action] = []
    for securable in dict.fromkeys((n.securable_type, n.full_name) for n in needs):
        held = access.held.get(securable)
        name = f"{securable[0]} {securable[1]}"
        if held is None:
            why = f"cannot read the effective grants of {access.principal}: {access.unreadable.get(securable, '')}"
            out.append(Action("privileges", name, Change.SKIP, why))
            continue
        wanted = [n for n in needs if (n.securable_type, n.full_name) == securable]
        missing = [n for n in wanted if ALL not in held and n.privilege not in held]
        if missing:
            statements = "; ".join(n.grant(access.principal) for n in missing)
            out.append(Action("privileges", name, Change.SKIP, f"the jobs' identity lacks it: {statements}"))
        else:
            out.append(
                Action(
                    "privileges",
                    name,
                    Change.UNCHANGED,
                    f"{access.principal} has {', '.join(n.privilege for n in wanted)}",
                )
            )
    return out
