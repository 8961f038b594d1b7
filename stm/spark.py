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
# Delta Lake's connector in a plain Spark (Databricks Runtime has it built in).
DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}


def local_session(cfg: Config, app_name: str = "stm") -> SparkSession:
    """A ``local[2]`` session with Delta Lake's own connector (its jars fetched once into this environment)."""
    from stm.delta_jars import install

    jars = install(quiet=True)
    # Spark's Python workers must run this interpreter (it has pyarrow), not the system python3.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # the local engine binds to loopback only
    from pyspark.sql import SparkSession

    partitions = str(cfg.local.shuffle_partitions)
    spark = (
        SparkSession.builder.master("local[2]")
        .appName(app_name)
        .config("spark.jars", ",".join(str(j) for j in jars))
        .config(map=dict[str, bool | float | int | str | None](DELTA_CONF))
        .config("spark.driver.memory", cfg.local.driver_memory)
        .config("spark.sql.shuffle.partitions", partitions)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.streaming.stopGracefullyOnShutdown", "true")
        .config("spark.driver.extraJavaOptions", "-Dlog4j2.level=WARN")
        # Delta reads a table's log state in this many tasks (50 by default, sized for a cluster)
        .config("spark.databricks.delta.snapshotPartitions", "1")
        # VACUUM lists a table's files in this many tasks (10,000 by default): 97 s for a table of two files on two
        # cores, 3.8 s with one task per core
        .config("spark.sql.sources.parallelPartitionDiscovery.parallelism", "2")
        # adaptive planning re-plans every stage of the many small jobs a MERGE runs: on two local cores it costs
        # more than it saves (an insert-only MERGE of 100 rows: 4 jobs instead of 6, ~0.3 s less)
        .config("spark.sql.adaptive.enabled", "false")
        # Derby's metastore would leave metastore_db/ in the working directory: tables here are paths
        .config("spark.sql.catalogImplementation", "in-memory")
        .config("spark.sql.warehouse.dir", str(_warehouse_dir()))
        .config(map=dict[str, bool | float | int | str | None](SESSION_CONF))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _warehouse_dir() -> str:
    import tempfile

    return os.path.join(tempfile.gettempdir(), f"stm-spark-warehouse-{os.getuid()}")
