"""The Unity Catalog privileges the job identity needs, as the GRANT statements that give them (pure).

Reading a table needs USE CATALOG on its catalog, USE SCHEMA on its schema and SELECT on it; SELECT granted on the
schema covers its tables (https://docs.databricks.com/aws/en/data-governance/unity-catalog/manage-privileges/ :
privileges are inherited downward, from a catalog to its schemas and from a schema to its tables).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Needed:
    """One privilege on one securable (``securable_type`` as the grants API names it: catalog, schema)."""

    securable_type: str
    full_name: str
    privilege: str  # the API's spelling: USE_CATALOG, USE_SCHEMA, SELECT, ...

    def grant(self, principal: str) -> str:
        """The statement a catalog owner or metastore admin runs to give it."""
        what = self.privilege.replace("_", " ")
        grantee = "`" + principal.replace("`", "``") + "`"  # a user's e-mail, a group or an application id
        return f"GRANT {what} ON {self.securable_type.upper()} {self.full_name} TO {grantee}"


def to_read_schema(catalog: str, schema: str) -> list[Needed]:
    """What reading every table of ``catalog.schema`` needs."""
    return [
        Needed("catalog", catalog, "USE_CATALOG"),
        Needed("schema", f"{catalog}.{schema}", "USE_SCHEMA"),
        Needed("schema", f"{catalog}.{schema}", "SELECT"),
    ]


def to_write_schema(catalog: str, schema: str) -> list[Needed]:
    """What the jobs need to create, read and write the tables of their output schema."""
    on_schema = ("USE_SCHEMA", "CREATE_TABLE", "SELECT", "MODIFY")
    return [Needed("catalog", catalog, "USE_CATALOG"), *(Needed("schema", f"{catalog}.{schema}", p) for p in on_schema)]


def read_grants_hint(table: str, principal: str = "<job identity>") -> str:
    """The grants that let ``principal`` read ``table`` (catalog.schema.table), for a failure message."""
    catalog, schema, _ = table.split(".", 2)
    return "; ".join(n.grant(principal) for n in to_read_schema(catalog, schema))
