"""The grants preflight: an online provider plan checks the jobs' identity's effective privileges on every system
schema the pipeline reads and on the target catalog and schema, and names each missing GRANT."""

from __future__ import annotations

from databricks.sdk.service import catalog

from deploy.command import make_plan
from deploy.model import Change
from deploy.wheel import Wheel
from stm.config import Config
from tests.deploy.conftest import PROVIDER
from tests.deploy.fake_grants import DEPLOYER, FakeGrants
from tests.deploy.fake_workspace import FakeWorkspace

ENABLED = {"billing": "ENABLE_COMPLETED", "compute": "MANAGED", "access": "ENABLE_COMPLETED", "query": "AVAILABLE"}


def grant_lines(cfg: Config, fake: FakeWorkspace, wheel: Wheel) -> dict[str, tuple[Change, str]]:
    plan = make_plan(cfg, PROVIDER, fake.client(), wheel)
    return {a.name: (a.change, a.detail) for a in plan.actions if a.kind == "privileges"}


def test_fake_effective_grants_inherit_from_catalog_to_schema_for_the_principal_asked():
    fake = FakeWorkspace(system_schemas=ENABLED)
    fake.uc_grants.grant("schema", "system.billing", "someone@example.com", "SELECT")
    listed = fake.client().grants.get_effective("schema", "system.billing", principal=DEPLOYER)
    (assignment,) = listed.privilege_assignments
    assert assignment.principal == DEPLOYER
    assert [(p.privilege, p.inherited_from_type, p.inherited_from_name) for p in assignment.privileges] == [
        (catalog.Privilege.SELECT, catalog.SecurableType.CATALOG, "system"),
        (catalog.Privilege.USE_CATALOG, catalog.SecurableType.CATALOG, "system"),
        (catalog.Privilege.USE_SCHEMA, catalog.SecurableType.CATALOG, "system"),
    ]


def test_plan_with_every_grant_held_shows_each_securable_unchanged(cfg: Config, wheel: Wheel):
    lines = grant_lines(cfg, FakeWorkspace(system_schemas=ENABLED), wheel)
    schemas = sorted({spec.source_schema for spec in cfg.tables.values()})
    assert sorted(lines) == sorted(
        [
            "catalog system",
            *(f"schema system.{s}" for s in schemas),
            "catalog monitoring",
            "schema monitoring.workspace_usage",
        ]
    )
    assert {change for change, _ in lines.values()} == {Change.UNCHANGED}
    assert lines["schema system.billing"][1] == f"{DEPLOYER} has USE_SCHEMA, SELECT"


def test_plan_without_select_on_a_system_schema_names_the_missing_grant(cfg: Config, wheel: Wheel):
    grants = FakeGrants(granted={("catalog", "system"): {DEPLOYER: {"USE_CATALOG"}}})
    grants.grant("schema", "system.compute", DEPLOYER, "USE_SCHEMA", "SELECT")
    lines = grant_lines(cfg, FakeWorkspace(system_schemas=ENABLED, uc_grants=grants), wheel)
    assert lines["catalog system"][0] == Change.UNCHANGED
    assert lines["schema system.compute"][0] == Change.UNCHANGED
    assert lines["schema system.billing"] == (
        Change.SKIP,
        f"the jobs' identity lacks it: GRANT USE SCHEMA ON SCHEMA system.billing TO `{DEPLOYER}`; "
        f"GRANT SELECT ON SCHEMA system.billing TO `{DEPLOYER}`",
    )


def test_plan_on_a_target_catalog_owned_by_another_names_the_write_grants(cfg: Config, wheel: Wheel):
    fake = FakeWorkspace(system_schemas=ENABLED)
    fake.catalogs["monitoring"] = catalog.CatalogInfo(name="monitoring", owner="platform-admins")
    fake.uc_grants.grant("catalog", "monitoring", DEPLOYER, "USE_CATALOG", "USE_SCHEMA", "SELECT")
    lines = grant_lines(cfg, fake, wheel)
    assert lines["catalog monitoring"][0] == Change.UNCHANGED
    assert lines["schema monitoring.workspace_usage"][0] == Change.UNCHANGED  # not made yet: this deploy will own it
    fake.schemas["monitoring.workspace_usage"] = catalog.SchemaInfo(
        name="workspace_usage",
        catalog_name="monitoring",
        full_name="monitoring.workspace_usage",
        owner="platform-admins",
    )
    lines = grant_lines(cfg, fake, wheel)
    assert lines["schema monitoring.workspace_usage"] == (
        Change.SKIP,
        f"the jobs' identity lacks it: GRANT CREATE TABLE ON SCHEMA monitoring.workspace_usage TO `{DEPLOYER}`; "
        f"GRANT MODIFY ON SCHEMA monitoring.workspace_usage TO `{DEPLOYER}`",
    )
