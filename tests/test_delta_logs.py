"""The pipeline's tables are Delta Lake's own: every commit of every bronze table written by Delta's engine, each
streamed micro-batch committed with only add actions (insert-only MERGEs) and no session-wide transaction marker
(serverless refuses setting one; a replayed MERGE is idempotent by its keys)."""

from __future__ import annotations

from tests.cost_lake import base_lake
from tests.delta_log import commits, data_commits


def test_bronze_tables_are_written_by_delta_append_only_without_session_markers(tmp_path_factory, spark, cfg):
    lake = base_lake(tmp_path_factory, spark, cfg)
    streamed = cfg.tables_in_mode("stream")
    checked = []
    for name in streamed:
        table = lake / cfg.output.catalog / cfg.output.schema / name
        if not table.is_dir():
            continue
        every = commits(table)
        assert every, name
        for _, actions in every:
            info = next(a["commitInfo"] for a in actions if "commitInfo" in a)
            assert "Delta-Lake/" in info["engineInfo"], (name, info["engineInfo"])
        for actions in data_commits(table):  # compactions (they change no data) checked and passed over
            assert not [a for a in actions if "txn" in a], name
            assert not [a for a in actions if "remove" in a], name  # append-only: downstream streams see every row
        checked.append(name)
    assert {"billing_usage_bronze", "audit_logs_bronze", "jobs_bronze"} <= set(checked)


def test_every_source_table_of_the_catalog_lands_in_bronze_each_key_once(tmp_path_factory, spark, cfg):
    """Every catalog table fed from a system table (streamed, snapshot or watermark), as the shared lake's pipeline
    made it: each key of the source is in bronze, once (redeliveries, in-place updates and deletes included)."""
    from pyspark.sql import functions as F

    lake = base_lake(tmp_path_factory, spark, cfg)
    found = {}
    for name, spec in cfg.tables.items():
        source = lake.joinpath(cfg.system_catalog, *spec.source.split("."))
        bronze = lake / cfg.output.catalog / cfg.output.schema / name
        keys = list(spec.keys)
        source_keys = spark.read.format("delta").load(str(source)).select(*keys).distinct().withColumn("_src", F.lit(1))
        copies = spark.read.format("delta").load(str(bronze)).groupBy(*keys).count()
        census = (
            source_keys.join(copies, keys, "full")
            .agg(  # one query per table: source keys, missing, doubled
                F.coalesce(F.sum("_src"), F.lit(0)).alias("source"),
                F.count(F.when(F.col("_src").isNotNull() & F.col("count").isNull(), 1)).alias("missing"),
                F.count(F.when(F.col("count") > 1, 1)).alias("twice"),
            )
            .first()
        )
        assert census is not None
        found[name] = (census["source"] > 0, census["missing"], census["twice"])
    assert found == {name: (True, 0, 0) for name in cfg.tables}
