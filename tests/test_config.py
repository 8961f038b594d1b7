"""Configuration is validated at load: unknown keys, wrong types, bad triggers and hostile names exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from stm.cli import main
from stm.config import load_config, parse_trigger
from stm.errors import ConfigError, InvalidIdentifier
from stm.names import quote, quote_table


def _overlay(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "overlay.yml"
    path.write_text(text)
    return path


def test_config_packaged_defaults_load_with_every_catalog_table(cfg):
    assert cfg.engine == "local"
    assert cfg.output_name("billing_usage_bronze") == "monitoring.workspace_usage.billing_usage_bronze"
    assert cfg.table("billing_usage_bronze").keys == ["record_id"]
    assert set(cfg.tables_in_mode("snapshot", "watermark")) == {
        "list_prices",
        "workspaces_bronze",
        "query_history_bronze",
        "mlflow_experiments_bronze",
        "mlflow_runs_bronze",
    }


@pytest.mark.parametrize(
    ("text", "path", "problem"),
    [
        ("streamin: {}\n", "streamin", "unknown key; allowed keys:"),
        ("streaming: {trigger: 5}\n", "streaming.trigger", "expected a string"),
        ("streaming: {trigger: every minute}\n", "streaming.trigger", "allowed: 'availableNow' or"),
        ("streaming: {max_files_per_trigger: 0}\n", "streaming.max_files_per_trigger", "positive"),
        ("streaming: {gold_writers: 0}\n", "streaming.gold_writers", "from 1 to 32"),
        ("engine: spark\n", "engine", "allowed: 'local', 'databricks'"),
        ("output: {catalog: 'x; DROP TABLE y'}\n", "output.catalog", "invalid name"),
        ("tables: {billing_usage_bronze: {keys: ['a`b']}}\n", "tables.billing_usage_bronze.keys[0]", "invalid"),
        ("tables: {billing_usage_bronze: {merge: upsert}}\n", "tables.billing_usage_bronze.merge", "append-only"),
        ("tables: {billing_usage_bronze: {vacuum_retain_hours: 24}}\n", "vacuum_retain_hours", "at least 168"),
        ("tables: {billing_usage_bronze: {prune_by: 'd;x'}}\n", "tables.billing_usage_bronze.prune_by", "invalid"),
        ("tables: {billing_usage_bronze: {partition_by: sku_name}}\n", "billing_usage_bronze.partition_by", "allowed:"),
        (
            "tables: {billing_usage_bronze: {optimize: {zorder_by: [usage_date]}}}\n",
            "billing_usage_bronze.optimize.zorder_by",
            "must not name the partition column",
        ),
        ("pricing: {discounts: [{percent: 120, product: JOBS}]}\n", "pricing.discounts[0].percent", "< 100"),
        ("pricing: {discounts: [{percent: 10}]}\n", "pricing.discounts[0]", "exactly one of"),
        ("version: 2\n", "version", "allowed: 1"),
        ("targets: {acme_prod_eu: {storage_root: /tmp/x}}\n", "acme_prod_eu.storage_root", "allowed: a cloud storage"),
        ("targets: {acme_prod_eu: {checkpoint_volume: artifacts}}\n", "acme_prod_eu.checkpoint_volume", "of their own"),
    ],
)
def test_config_bad_value_names_field_path_and_allowed_values(tmp_path, text, path, problem):
    with pytest.raises(ConfigError) as info:
        load_config(_overlay(tmp_path, text))
    assert info.value.path.endswith(path)
    assert problem in info.value.problem


def test_config_invalid_yaml_and_missing_file_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(_overlay(tmp_path, "a: [1,\n"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yml")


def test_config_overlay_merges_key_by_key(tmp_path):
    cfg = load_config(_overlay(tmp_path, "streaming: {trigger: availableNow}\noutput: {schema: ops}\n"))
    assert cfg.streaming.trigger == "availableNow"
    assert cfg.streaming.max_files_per_trigger == 1000
    assert cfg.output.catalog == "monitoring" and cfg.output.schema == "ops"


def test_parse_trigger_accepts_the_two_forms():
    assert parse_trigger("availableNow") == {"availableNow": True}
    assert parse_trigger("processingTime=5 minutes") == {"processingTime": "5 minutes"}
    with pytest.raises(ConfigError):
        parse_trigger("processingTime=0 seconds")


def test_quote_rejects_hostile_names_and_quotes_valid_ones():
    assert (
        quote_table("monitoring.workspace_usage.billing_summary") == "`monitoring`.`workspace_usage`.`billing_summary`"
    )
    for bad in ("a`b", "a b", "a;drop", "", "1abc", "a.b"):
        with pytest.raises(InvalidIdentifier):
            quote(bad)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["stream"], "name at least one app or pass --all"),
        (["stream", "nope", "--lake-root", "x"], "unknown app 'nope'; valid apps:"),
        (["stream", "--all", "--trigger", "sometimes", "--lake-root", "x"], "--trigger: got 'sometimes'"),
        (["batch", "nope"], "unknown batch job 'nope'; valid jobs:"),
        (["checkpoint", "reset", "nope", "--lake-root", "x"], "unknown app 'nope'"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        ([], "a command is required; valid commands:"),
    ],
)
def test_cli_bad_usage_exits_2_with_one_line(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1


def test_cli_stream_without_lake_root_exits_2(capsys, monkeypatch):
    monkeypatch.delenv("STM_LAKE_ROOT", raising=False)
    assert main(["stream", "--all", "--trigger", "availableNow"]) == 2
    assert "--lake-root DIR (or STM_LAKE_ROOT) is required" in capsys.readouterr().err


def test_cli_batch_short_vacuum_retention_refused_before_any_work(capsys, tmp_path):
    assert main(["batch", "vacuum", "--retain-hours", "24", "--lake-root", str(tmp_path)]) == 2
    assert "pass --allow-short-retention" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_config_serverless_target_with_processing_time_stream_is_one_line_naming_target_and_modes(tmp_path):
    overlay = _overlay(tmp_path, "targets: {acme_prod_eu: {catch_up_every_minutes: null}}\n")

    with pytest.raises(ConfigError) as info:
        load_config(overlay)

    assert info.value.path == "targets.acme_prod_eu.compute"
    message = str(info.value)
    assert "\n" not in message and "'processingTime=5 minutes'" in message
    assert "serverless with catch_up_every_minutes" in message and "compute 'job_cluster' (continuous)" in message


def test_config_job_cluster_target_may_stream_continuously_with_processing_time(tmp_path):
    cfg = load_config(_overlay(tmp_path, "targets: {globex_dev_us: {catch_up_every_minutes: null}}\n"))

    assert cfg.targets["globex_dev_us"].catch_up_every_minutes is None
