"""Hostile and mistaken input, table-driven: every case exits 2 with one ``error:`` line naming what is wrong, no
traceback, and creates nothing (no file appears anywhere under the working directory it runs in).

Each case runs ``stm`` in this process and fails before any Spark session starts. Placeholders in an argv:
``{dir}`` the case's working directory, ``{file}`` a plain file there, ``{ro}`` a directory this user cannot write,
``{yml:NAME}`` one of the overlay files below."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stm.cli import main

OVERLAYS = {
    "latin1": b"version: 1\nanalytics: {tag_keys: [caf\xe9]}\n",  # not UTF-8
    "dupkey": b"streaming:\n  trigger: availableNow\n  trigger: processingTime=1 minute\n",
    "duptop": b"version: 1\nversion: 1\n",
    "list": b"- a\n- b\n",
    "scalar": b"just a string\n",
    "badyaml": b"streaming: {trigger: [unclosed\n",
    "unknown": b"streaming: {trigers: availableNow}\n",
    "unknowntop": b"frobnicate: 1\n",
    "badtype": b"streaming: {max_files_per_trigger: many}\n",
    "zero_files": b"streaming: {max_files_per_trigger: 0}\n",
    "writers": b"streaming: {gold_writers: 99}\n",
    "trigger": b"streaming: {trigger: sometimes}\n",
    "trigger_long": b"streaming: {trigger: processingTime=25 hours}\n",
    "catalog_tick": b"output: {catalog: 'a`b'}\n",
    "schema_semicolon": b"output: {schema: 'x; DROP TABLE y'}\n",
    "system_dot": b"system_catalog: 'sys.tem'\n",
    "version": b"version: 2\n",
    "currency": b"pricing: {currency: EUR}\n",
    "discount": b"pricing: {discounts: [{percent: 100, product: SQL}]}\n",
    "discount_both": b"pricing: {discounts: [{percent: 10, product: SQL, sku_pattern: 'X%'}]}\n",
    "idle": b"analytics: {idle_cpu_percent: 101}\n",
    "trend": b"analytics: {trend_threshold_percent: 0}\n",
    "tagkey": b"analytics: {tag_keys: ['']}\n",
    "vacuum": b"tables: {billing_usage_bronze: {vacuum_retain_hours: 24}}\n",
    "keys": b"tables: {billing_usage_bronze: {keys: []}}\n",
    "key_hostile": b"tables: {billing_usage_bronze: {keys: ['id`) OR 1=1 --']}}\n",
    "source": b"tables: {billing_usage_bronze: {source: usage}}\n",
    "partition": b"tables: {billing_usage_bronze: {partition_by: workspace_id}}\n",
    "merge": b"tables: {billing_usage_bronze: {merge: upsert}}\n",
    "hub_profile": b"hub: {providers: {p1: {profile: '', share: stm_monitoring, account: a, workspace: w}}}\n",
    "hub_share": b"hub: {providers: {p1: {profile: x.share, share: nope, account: a, workspace: w}}}\n",
    "hub_label": b"hub: {providers: {p1: {profile: x.share, share: stm_monitoring, account: 'a b', workspace: w}}}\n",
    "hub_missing": b"hub: {providers: {p1: {profile: gone.share, share: stm_monitoring, account: a, workspace: w}}}\n",
}

CASES: list[tuple[str, list[str], str]] = [
    # --- overlay files (--config) -----------------------------------------------------------------------------
    ("config-not-utf8", ["stream", "--all", "--config", "{yml:latin1}"], "is not UTF-8 text"),
    ("config-duplicate-key", ["stream", "--all", "--config", "{yml:dupkey}"], "duplicate key 'trigger' (line 3)"),
    ("config-duplicate-top-key", ["batch", "--list", "--config", "{yml:duptop}"], "duplicate key 'version'"),
    ("config-list", ["stream", "--all", "--config", "{yml:list}"], "the top level must be a mapping"),
    ("config-scalar", ["stream", "--all", "--config", "{yml:scalar}"], "the top level must be a mapping"),
    ("config-bad-yaml", ["stream", "--all", "--config", "{yml:badyaml}"], "not valid YAML"),
    ("config-unknown-key", ["stream", "--all", "--config", "{yml:unknown}"], "streaming.trigers"),
    ("config-unknown-top-key", ["stream", "--all", "--config", "{yml:unknowntop}"], "frobnicate"),
    ("config-wrong-type", ["stream", "--all", "--config", "{yml:badtype}"], "streaming.max_files_per_trigger"),
    ("config-zero-files", ["stream", "--all", "--config", "{yml:zero_files}"], "streaming.max_files_per_trigger"),
    ("config-gold-writers", ["stream", "--all", "--config", "{yml:writers}"], "streaming.gold_writers"),
    ("config-trigger", ["stream", "--all", "--config", "{yml:trigger}"], "streaming.trigger: got 'sometimes'"),
    ("config-trigger-too-long", ["stream", "--all", "--config", "{yml:trigger_long}"], "at most 24 hours"),
    ("config-catalog-backtick", ["stream", "--all", "--config", "{yml:catalog_tick}"], "output.catalog"),
    ("config-schema-injection", ["stream", "--all", "--config", "{yml:schema_semicolon}"], "output.schema"),
    ("config-system-catalog-dot", ["stream", "--all", "--config", "{yml:system_dot}"], "system_catalog"),
    ("config-version", ["stream", "--all", "--config", "{yml:version}"], "version: got 2, allowed: 1"),
    ("config-currency", ["report", "--config", "{yml:currency}"], "pricing.currency"),
    ("config-discount-100", ["report", "--config", "{yml:discount}"], "pricing.discounts[0].percent"),
    ("config-discount-both", ["report", "--config", "{yml:discount_both}"], "exactly one of 'product'"),
    ("config-idle-percent", ["report", "--config", "{yml:idle}"], "analytics.idle_cpu_percent"),
    ("config-trend-threshold", ["report", "--config", "{yml:trend}"], "analytics.trend_threshold_percent"),
    ("config-empty-tag-key", ["report", "--config", "{yml:tagkey}"], "analytics.tag_keys[0]"),
    ("config-short-vacuum", ["batch", "--list", "--config", "{yml:vacuum}"], "vacuum_retain_hours"),
    ("config-no-keys", ["batch", "--list", "--config", "{yml:keys}"], "billing_usage_bronze.keys"),
    ("config-hostile-key", ["batch", "--list", "--config", "{yml:key_hostile}"], "billing_usage_bronze.keys[0]"),
    ("config-bad-source", ["batch", "--list", "--config", "{yml:source}"], "billing_usage_bronze.source"),
    ("config-partition", ["batch", "--list", "--config", "{yml:partition}"], "billing_usage_bronze.partition_by"),
    ("config-stream-upsert", ["batch", "--list", "--config", "{yml:merge}"], "billing_usage_bronze.merge"),
    ("config-missing-file", ["stream", "--all", "--config", "{dir}/nope.yml"], "does not exist"),
    ("config-is-directory", ["stream", "--all", "--config", "{dir}"], "does not exist"),
    ("hub-empty-profile", ["hub", "sync", "--lake-root", "{dir}/hub", "--config", "{yml:hub_profile}"], "profile"),
    ("hub-unknown-share", ["hub", "sync", "--lake-root", "{dir}/hub", "--config", "{yml:hub_share}"], ".share"),
    ("hub-bad-label", ["hub", "sync", "--lake-root", "{dir}/hub", "--config", "{yml:hub_label}"], ".account"),
    (
        "hub-missing-profile-file",
        ["hub", "sync", "--lake-root", "{dir}/hub", "--config", "{yml:hub_missing}"],
        "hub.providers.p1.profile: file 'gone.share' does not exist",
    ),
    ("hub-no-providers", ["hub", "sync", "--lake-root", "{dir}/hub"], "hub.providers: no providers"),
    # --- command-line arguments -------------------------------------------------------------------------------
    ("no-command", [], "a command is required"),
    ("unknown-command", ["frobnicate"], "invalid choice: 'frobnicate'"),
    ("stream-no-apps", ["stream", "--lake-root", "{dir}/lake"], "name at least one app or pass --all"),
    ("stream-apps-and-all", ["stream", "billing_summary", "--all"], "not both"),
    ("stream-unknown-app", ["stream", "nope", "--lake-root", "{dir}/lake"], "unknown app 'nope'"),
    ("stream-hostile-app", ["stream", "x`; DROP TABLE y", "--lake-root", "{dir}/lake"], "unknown app"),
    ("stream-unicode-app", ["stream", "bi\u200bling", "--lake-root", "{dir}/lake"], "unknown app"),
    ("stream-empty-app", ["stream", "", "--lake-root", "{dir}/lake"], "unknown app ''"),
    ("stream-trigger-word", ["stream", "--all", "--trigger", "sometimes"], "--trigger: got 'sometimes'"),
    ("stream-trigger-zero", ["stream", "--all", "--trigger", "processingTime=0 seconds"], "--trigger"),
    ("stream-trigger-negative", ["stream", "--all", "--trigger", "processingTime=-5 seconds"], "--trigger"),
    ("stream-trigger-huge", ["stream", "--all", "--trigger", "processingTime=99999999999999999999 hours"], "24 h"),
    ("stream-trigger-25h", ["stream", "--all", "--trigger", "processingTime=25 hours"], "at most 24 hours"),
    ("stream-trigger-unit", ["stream", "--all", "--trigger", "processingTime=5 days"], "--trigger"),
    ("stream-files-zero", ["stream", "--all", "--max-files-per-trigger", "0", "--lake-root", "{dir}/l"], "got 0"),
    ("stream-files-negative", ["stream", "--all", "--max-files-per-trigger", "-3", "--lake-root", "{dir}/l"], "-3"),
    ("stream-files-word", ["stream", "--all", "--max-files-per-trigger", "many"], "invalid int value"),
    ("stream-lake-is-file", ["stream", "--all", "--lake-root", "{file}"], "is a file, not a directory"),
    ("stream-no-lake-root", ["stream", "--all"], "--lake-root DIR (or STM_LAKE_ROOT) is required"),
    ("batch-unknown-job", ["batch", "nope"], "unknown batch job 'nope'"),
    ("batch-short-retention", ["batch", "vacuum", "--retain-hours", "24", "--lake-root", "{dir}/l"], "short-retention"),
    ("batch-bad-date", ["batch", "--all", "--from", "2026-13-01"], "expected a date YYYY-MM-DD"),
    ("batch-lake-is-file", ["batch", "--all", "--lake-root", "{file}"], "is a file, not a directory"),
    ("checkpoint-unknown-app", ["checkpoint", "reset", "nope", "--lake-root", "{dir}/l"], "unknown app 'nope'"),
    ("checkpoint-no-action", ["checkpoint"], "stm checkpoint"),
    ("simulate-lake-is-file", ["simulate", "--days", "1", "--lake-root", "{file}"], "is a file, not a directory"),
    ("simulate-read-only", ["simulate", "--days", "1", "--lake-root", "{ro}/lake"], "is not writable"),
    ("simulate-append-read-only", ["simulate", "--days", "1", "--append", "--lake-root", "{ro}"], "is not writable"),
    ("simulate-under-a-file", ["simulate", "--days", "1", "--lake-root", "{file}/lake"], "is a file"),
    ("simulate-days-zero", ["simulate", "--days", "0", "--lake-root", "{dir}/l"], "--days"),
    ("simulate-days-huge", ["simulate", "--days", "100000", "--lake-root", "{dir}/l"], "--days"),
    ("simulate-accounts", ["simulate", "--days", "1", "--accounts", "0", "--lake-root", "{dir}/l"], "--accounts"),
    ("simulate-seed", ["simulate", "--days", "1", "--seed", "-1", "--lake-root", "{dir}/l"], "--seed"),
    ("simulate-end-date", ["simulate", "--days", "1", "--end-date", "tomorrow", "--lake-root", "{dir}/l"], "date"),
    (
        "share-read-only-add",
        ["share", "recipient", "add", "bob", "--share", "stm_monitoring", "--lake-root", "{ro}"],
        "is not writable",
    ),
    ("share-lake-is-file", ["share", "recipient", "list", "--lake-root", "{file}"], "is a file, not a directory"),
    ("share-no-verb", ["share", "recipient", "--lake-root", "{dir}"], "give add, list or remove"),
    ("share-no-name", ["share", "recipient", "add", "--lake-root", "{dir}"], "the recipient NAME is required"),
    (
        "share-hostile-name",
        ["share", "recipient", "add", "b`ob", "--share", "stm_monitoring", "--lake-root", "{dir}"],
        "recipient name",
    ),
    ("share-unknown-share", ["share", "recipient", "add", "bob", "--share", "nope", "--lake-root", "{dir}"], "'nope'"),
    (
        "share-bad-endpoint",
        [
            "share",
            "recipient",
            "add",
            "bob",
            "--share",
            "stm_monitoring",
            "--endpoint",
            "ftp://x",
            "--lake-root",
            "{dir}",
        ],
        "--endpoint",
    ),
    ("share-serve-bad-endpoint", ["share", "serve", "--endpoint", "x", "--lake-root", "{dir}"], "--endpoint"),
    ("share-serve-bad-port", ["share", "serve", "--port", "70000", "--lake-root", "{dir}"], "--port"),
    ("report-lake-is-file", ["report", "--lake-root", "{file}"], "is a file, not a directory"),
    ("deploy-unknown-target", ["deploy", "plan", "--target", "nope", "--offline"], "nope"),
    ("deploy-no-target", ["deploy", "plan"], "--target"),
]


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The case's working directory, its files, and a directory this user cannot write."""
    (tmp_path / "plain.txt").write_text("not a directory\n")
    for name, body in OVERLAYS.items():
        (tmp_path / f"{name}.yml").write_bytes(body)
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o555)
    if os.access(read_only, os.W_OK):  # the superuser writes anywhere a permission bit allows: use a kernel directory
        read_only = Path("/proc/1")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STM_LAKE_ROOT", raising=False)
    return {"dir": str(tmp_path), "file": str(tmp_path / "plain.txt"), "ro": str(read_only)}


def _argv(template: list[str], places: dict[str, str]) -> list[str]:
    out = []
    for arg in template:
        for name in OVERLAYS:
            arg = arg.replace(f"{{yml:{name}}}", f"{places['dir']}/{name}.yml")
        out.append(arg.format(**places))
    return out


def test_hostile_cases_are_many_and_distinct():
    assert len(CASES) >= 61
    assert len({name for name, _, _ in CASES}) == len(CASES)


@pytest.mark.parametrize(("argv", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_input_exits_2_with_one_line_and_creates_nothing(workdir, capsys, argv, message):
    root = Path(workdir["dir"])
    before = _tree(root)
    assert main(_argv(argv, workdir)) == 2
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: ") and "Traceback" not in captured.err
    assert message in lines[0]
    assert _tree(root) == before
