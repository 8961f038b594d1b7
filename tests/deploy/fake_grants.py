"""Unity Catalog's effective privileges for the emulated workspace: who the caller is, what is granted on catalogs
and schemas, and what a principal holds on a securable once inheritance is applied.

* ``current_user.me`` names the caller; deploy creates the jobs, so the jobs run as it
  (https://docs.databricks.com/api/workspace/jobs/create, ``run_as``).
* Privileges are inherited downward: one granted on a catalog holds on each of its schemas
  (https://docs.databricks.com/aws/en/data-governance/unity-catalog/manage-privileges/, "Privilege inheritance"),
  and ``grants.get_effective`` lists it there with ``inherited_from_type``/``inherited_from_name``
  (databricks-sdk ``catalog.EffectivePrivilege``).
* The principal that creates an object owns it (same page, "Object ownership"); ownership is not a grant, so
  ``get_effective`` does not list it: deploy reads the owner from the catalog or schema itself.
* A securable that does not exist is ``NotFound``; a system schema exists once listed by ``system_schemas``.

Not modelled: group membership (a privilege granted to a group the caller belongs to) and admin roles: no page was
found saying that an account or metastore admin reads system schemas without grants, so admins get nothing implicit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from databricks.sdk.errors import NotFound
from databricks.sdk.service import catalog, iam

DEPLOYER = "deployer@example.com"
# the deployer may read every system schema: granted once on the system catalog, inherited by its schemas
SYSTEM_READER = {("catalog", "system"): {DEPLOYER: {"USE_CATALOG", "USE_SCHEMA", "SELECT"}}}


@dataclass
class FakeGrants:
    """Grants by securable (type, full name) -> principal -> privileges, and the caller's identity."""

    principal: str = DEPLOYER
    granted: dict[tuple[str, str], dict[str, set[str]]] = field(
        default_factory=lambda: {k: {p: set(v) for p, v in g.items()} for k, g in SYSTEM_READER.items()}
    )

    def grant(self, securable_type: str, full_name: str, principal: str, *privileges: str) -> None:
        self.granted.setdefault((securable_type, full_name), {}).setdefault(principal, set()).update(privileges)

    def install(self, ws: Any, exists: Any) -> None:
        """Give the autospecced ``ws`` this memory; ``exists(type, full_name)`` says whether a securable exists."""
        ws.current_user.me.side_effect = lambda **_: iam.User(user_name=self.principal)
        ws.grants.get_effective.side_effect = lambda securable_type, full_name, **kw: self._effective(
            securable_type.lower(), full_name, kw.get("principal"), exists
        )

    def _effective(
        self, kind: str, full_name: str, principal: str | None, exists: Any
    ) -> catalog.EffectivePermissionsList:
        if not exists(kind, full_name):
            raise NotFound(f"{kind.capitalize()} '{full_name}' does not exist.")
        levels = [(kind, full_name)]
        if kind == "schema":
            levels.append(("catalog", full_name.split(".", 1)[0]))
        held: dict[str, list[catalog.EffectivePrivilege]] = {}
        for level in levels:
            inherited = level != (kind, full_name)
            for who, privileges in self.granted.get(level, {}).items():
                if principal is not None and who != principal:
                    continue
                held.setdefault(who, []).extend(
                    catalog.EffectivePrivilege(
                        privilege=catalog.Privilege(p),
                        inherited_from_type=catalog.SecurableType(level[0].upper()) if inherited else None,
                        inherited_from_name=level[1] if inherited else None,
                    )
                    for p in sorted(privileges)
                )
        return catalog.EffectivePermissionsList(
            privilege_assignments=[
                catalog.EffectivePrivilegeAssignment(principal=p, privileges=v) for p, v in held.items()
            ]
        )
