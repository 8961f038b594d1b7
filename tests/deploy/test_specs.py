"""Job, target and share declarations are checked at load: bad input names the field and what is allowed."""

from __future__ import annotations

from typing import Any

import pytest

from stm.config import load_config
from stm.errors import ConfigError

HUB_ID = "aws:us-west-2:19a85dee-54bc-43a2-87ab-023d0ec16013"


def _error(extra: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(extra=extra)
    return info.value


def test_shipped_declarations_load(cfg):
    assert set(cfg.jobs) == {"stream", "daily", "maintenance"}
    assert {t.role for t in cfg.targets.values()} == {"provider", "hub"}


@pytest.mark.parametrize(
    ("extra", "path", "words"),
    [
        ({"jobs": {"daily": {"schedule": "0 2 * * *"}}}, "jobs.daily.schedule", "Quartz cron"),
        ({"jobs": {"daily": {"schedule": "0 0 2 * * 1"}}}, "jobs.daily.schedule", "must be '?'"),
        ({"jobs": {"daily": {"continuous": True}}}, "jobs.daily", "exactly one of"),
        (
            {"jobs": {"daily": {"tasks": {"rollups": {"depends_on": ["nope"]}}}}},
            "jobs.daily.tasks.rollups.depends_on[0]",
            "no task 'nope'",
        ),
        (
            {"jobs": {"daily": {"tasks": {"x": {"command": ["batch"], "bogus": 1}}}}},
            "jobs.daily.tasks.x.bogus",
            "allowed keys",
        ),
        (
            {"targets": {"acme_prod_eu": {"hub_sharing_identifier": "19a85dee"}}},
            "targets.acme_prod_eu.hub_sharing_identifier",
            "<cloud>:<region>:<metastore uuid>",
        ),
        ({"targets": {"acme_prod_eu": {"compute": "job_cluster"}}}, "targets.acme_prod_eu.cluster", "required"),
        ({"targets": {"acme_prod_eu": {"compute": "gpu"}}}, "targets.acme_prod_eu.compute", "'serverless'"),
        ({"targets": {"acme_prod_eu": {"open_sharing": True}}}, "targets.acme_prod_eu", "exactly one of"),
        ({"targets": {"acme_prod_eu": {"catalog": "bad-name"}}}, "targets.acme_prod_eu.catalog", "invalid"),
        (
            {"targets": {"acme_prod_eu": {"catch_up_every_minutes": 7}}},
            "targets.acme_prod_eu.catch_up_every_minutes",
            "allowed",
        ),
        ({"targets": {"central_hub": {"sources": ["nope"]}}}, "targets.central_hub.sources[0]", "no provider target"),
        ({"targets": {"central_hub": {"warehouse_id": None}}}, "targets.central_hub.warehouse_id", "required"),
        (
            {"targets": {"x": {"role": "provider", "account": "a", "workspace": "w"}}},
            "targets.x",
            "'host' or 'profile'",
        ),
        (
            {"outputs": {"jobs_current": {"share": {"dedup_by": ["job_id"]}}}},
            "outputs.jobs_current.share.dedup_by",
            "account-wide",
        ),
        (  # how a table is shared is declared once, in the catalog
            {"shares": {"stm_monitoring": {"tables": {"jobs_current": {"scope": "account"}}}}},
            "shares.stm_monitoring.tables",
            "a list",
        ),
        ({"shares": {"x": {"tables": ["jobs_current", "nope"]}}}, "shares.x.tables[1]", "no catalog table 'nope'"),
        ({"shares": {"x": {"tables": ["jobs_current", "jobs_current"]}}}, "shares.x.tables[1]", "listed twice"),
        (
            {"shares": {"x": {"tables": ["jobs_current"], "without_history": ["cost_by_job"]}}},
            "shares.x.without_history[0]",
            "not one of the share's tables",
        ),
        (
            {"outputs": {"jobs_current": {"made_by": "jobs_current"}}},
            "outputs.jobs_current",
            "exactly one of 'made_by'",
        ),
        (
            {"outputs": {"x_current": {"current": {"history": "nope", "keys": ["id"]}, "why": "w"}}},
            "outputs.x_current.current.history",
            "no table 'nope'",
        ),
        ({"outputs": {"jobs_bronze": {"made_by": "x", "why": "w"}}}, "outputs.jobs_bronze", "declare each table once"),
        (
            {"models": {"cost_by_sku": {"optimize": {"zorder_by": ["bad col"]}}}},
            "models.cost_by_sku.optimize.zorder_by[0]",
            "invalid",
        ),
        (
            {"outputs": {"query_cost": {"vacuum_retain_hours": 24}}},
            "outputs.query_cost.vacuum_retain_hours",
            "at least 168",
        ),
    ],
)
def test_bad_declaration_names_the_field(extra: dict[str, Any], path: str, words: str):
    err = _error(extra)

    assert err.path == path
    assert words in err.problem
