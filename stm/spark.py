"""Building the Spark session: the one place (besides test fixtures) that calls ``SparkSession.builder``."""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from stm.config import Config

log = logging.getLogger(__name__)
# Spark settings both engines need. Spark's cache of compiled query code keeps 100 classes by default, fewer than
# one round of streaming apps and gold models uses: every micro-batch would compile them again (and the JVM would
# optimize the new classes again). Static settings: set when the session (or the job cluster) starts.
SESSION_CONF = {"spark.sql.codegen.cache.maxEntries": "2000"}


def local_session(cfg: Config, app_name: str = "stm") -> SparkSession:
    """A ``local[2]`` session configured for the local engine, with the ``stm_delta`` source registered."""
    # Spark's Python workers must run this interpreter (it has deltalake and pyarrow), not the system python3.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # the local engine binds to loopback only
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]")
        .appName(app_name)
        .config("spark.driver.memory", cfg.local.driver_memory)
        .config("spark.sql.shuffle.partitions", str(cfg.local.shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.streaming.stopGracefullyOnShutdown", "true")
        .config("spark.sql.parquet.enableVectorizedReader", "true")
        # the local store names a table's data files itself: past 32 of them Spark would list them in a Spark job
        # (0.3-0.5 s per read of a table), where the driver lists local files in milliseconds
        .config("spark.sql.sources.parallelPartitionDiscovery.threshold", "1000000")
        .config("spark.driver.extraJavaOptions", "-Dlog4j2.level=WARN")
        # Files written by Spark are committed to Delta by delta-rs: standard timestamps, no marker files.
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs", "false")
        .config("spark.hadoop.parquet.enable.summary-metadata", "false")
        .config(map=dict[str, bool | float | int | str | None](SESSION_CONF))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    register_sources(spark)
    return spark


def register_sources(spark: SparkSession) -> None:
    from stm.store.delta_source import DeltaSource

    spark.dataSource.register(DeltaSource)
