"""Invariants across the declarations: what one file names, another must have.

A table, job or app added in one place and forgotten in another fails here, with its name, instead of never running
on Databricks or crashing a command later.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from batch.command import available_jobs, named_jobs
from stm.cli import build_parser
from stm.config import Config, load_config
from stm.errors import ConfigError
from stm.simulate.schemas import SYSTEM_TABLES
from stm.specs import TRIGGER_PLACEHOLDER
from stm.transforms.models import SILVER_BILLING, models
from streaming.apps import all_apps

# ``gold`` recomputes every model, those ``batch_models`` recomputes included: the daily job runs ``gold``
COVERED_BY_GOLD = {"batch_models"}


def _tasks(cfg: Config) -> list[tuple[str, list[str]]]:
    return [
        (f"{job}.{key}", [cfg.streaming.trigger if a == TRIGGER_PLACEHOLDER else a for a in task.command])
        for job, spec in cfg.jobs.items()
        for key, task in spec.tasks.items()
    ]


def unknown_names(cfg: Config) -> dict[str, list[str]]:
    """Per deployed task (``job.task``) that parses with the CLI: the batch jobs or apps it names that do not exist."""
    parser = build_parser()
    jobs, apps = available_jobs(cfg), {a.name for a in all_apps(cfg)}
    out = {}
    for where, command in _tasks(cfg):
        args = parser.parse_args(command)
        assert args.command in ("batch", "stream"), where
        named, known = (named_jobs(cfg, args), jobs) if args.command == "batch" else (args.apps, apps)
        assert named or args.command == "stream", f"{where} runs no batch job"
        if [n for n in named if n not in known]:
            out[where] = [n for n in named if n not in known]
    return out


def test_every_deployed_task_parses_with_the_cli_and_names_jobs_and_apps_that_exist(cfg: Config):
    assert unknown_names(cfg) == {}
    daily = cfg.jobs["daily"]
    task = dataclasses.replace(daily.tasks["rollups"], command=["batch", "cost_weekly_rolup"])
    typo = dataclasses.replace(daily, tasks={**daily.tasks, "rollups": task})
    assert unknown_names(dataclasses.replace(cfg, jobs={**cfg.jobs, "daily": typo})) == {
        "daily.rollups": ["cost_weekly_rolup"]
    }


def _batch_names(cfg: Config) -> list[str]:
    """The batch jobs the deployed tasks run, as ``stm batch`` reads their command lines."""
    parser = build_parser()
    parsed = [parser.parse_args(command) for _, command in _tasks(cfg)]
    return [n for args in parsed if args.command == "batch" for n in named_jobs(cfg, args)]


def test_a_snapshot_table_added_to_the_catalog_alone_runs_in_the_daily_job(cfg: Config):
    table = {"source": "access.audit", "mode": "snapshot", "keys": ["event_id"], "merge": "upsert", "why": "test"}
    with_new = load_config(extra={"tables": {"audit_snapshot_bronze": table}})
    assert "audit_snapshot_bronze" in _batch_names(with_new) and "audit_snapshot_bronze" in available_jobs(with_new)


def test_every_batch_job_runs_in_exactly_one_deployed_task(cfg: Config):
    named = _batch_names(cfg)
    assert sorted(n for n in set(named) if named.count(n) > 1) == []
    assert set(available_jobs(cfg)) - set(named) == COVERED_BY_GOLD
    assert set(named) <= set(available_jobs(cfg))


def test_the_deployed_stream_task_runs_every_app(cfg: Config):
    streams = [c for _, c in _tasks(cfg) if c[0] == "stream"]
    assert streams and all("--all" in c for c in streams)


def test_every_catalog_source_is_a_simulated_system_table(cfg: Config):
    missing = {name: spec.source for name, spec in cfg.tables.items() if spec.source not in SYSTEM_TABLES}
    assert missing == {}


def test_every_model_reads_tables_the_pipeline_makes(cfg: Config):
    made = set(cfg.tables) | {SILVER_BILLING.name} | set(cfg.models) | {"account_prices"}  # optional system table
    for model in (SILVER_BILLING, *models(cfg).values()):
        unknown = [i for i in (*model.inputs, *model.optional_inputs) if i not in made]
        assert unknown == [], f"{model.name} reads {unknown}"
        assert all(d.input in model.inputs for d in model.dated_inputs), model.name


def unmade_outputs(cfg: Config) -> list[str]:
    """Outputs whose maker is neither a batch job nor a streaming app (a current table's maker is its own job)."""
    makers = {*available_jobs(cfg), *(a.name for a in all_apps(cfg))}
    return [n for n, s in cfg.outputs.items() if (s.made_by or n) not in makers]


def test_every_output_is_made_by_a_batch_job_or_app_that_exists(cfg: Config):
    """An output names the job or app that writes it (the dashboard test runs them all and finds every table of the
    provider's schema declared); a current-state table is made by the job of its name."""
    assert unmade_outputs(cfg) == []
    wrong = dataclasses.replace(cfg.outputs["query_cost"], made_by="query_costs")
    assert unmade_outputs(dataclasses.replace(cfg, outputs={**cfg.outputs, "query_cost": wrong})) == ["query_cost"]


def test_a_current_table_declared_in_the_catalog_alone_gets_its_job_and_runs_in_the_daily_job(cfg: Config):
    table = {"current": {"history": "warehouses_bronze", "keys": ["warehouse_id"]}, "why": "One row per warehouse."}
    with_new = load_config(extra={"outputs": {"warehouse_ids_current": table}})
    job = available_jobs(with_new)["warehouse_ids_current"]
    assert job.doc == "One row per warehouse."
    assert "warehouse_ids_current" in _batch_names(with_new) and "warehouse_ids_current" not in _batch_names(cfg)
    with pytest.raises(ConfigError, match="cannot share its name with the job 'optimize'"):
        available_jobs(load_config(extra={"outputs": {"optimize": table}}))


def untested_entries(cfg: Config, tests: dict[str, str]) -> list[str]:
    """Catalog entries no test names (a word in a test module besides this one). Source-fed tables are covered by
    tests/test_delta_logs.py, which checks each one's bronze table; a model or output needs a test of its own."""
    texts = [text for path, text in tests.items() if not path.endswith("test_invariants.py")]
    named = [n for n in cfg.declared() if any(re.search(rf"\b{n}\b", t) for t in texts)]
    return [n for n in cfg.declared() if n not in named and n not in cfg.tables]


def test_every_model_and_output_of_the_catalog_has_a_test(cfg: Config):
    tests = {str(p): p.read_text(encoding="utf-8") for p in Path(__file__).parent.rglob("*.py")}
    assert untested_entries(cfg, tests) == []
    model = {
        "inputs": ["billing_summary"],
        "build": "m.f",
        "keys": ["k"],
        "driver": {"input": "billing_summary", "column": "usage_date"},
    }
    with_new = load_config(extra={"models": {"cost_by_nothing_yet": model}})
    assert untested_entries(with_new, tests) == ["cost_by_nothing_yet"]


def test_batch_ingest_with_all_is_a_one_line_usage_error(capsys: pytest.CaptureFixture[str]):
    from stm.cli import main

    assert main(["batch", "--ingest", "--all"]) == 2
    assert "give --ingest or --all, not both" in capsys.readouterr().err
    assert main(["batch", "--current", "--all"]) == 2
    assert "give --current or --all, not both" in capsys.readouterr().err
