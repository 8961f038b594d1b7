"""Building the Spark session: the one place (besides test fixtures) that calls ``SparkSession.builder``.

Two local execution modes run the same code. ``classic``: a ``local[2]`` session in this process, whose driver runs
every ``foreachBatch`` function. ``connect``: a local Spark Connect server (``SparkSession.builder.remote``), the
execution model of Databricks serverless compute and standard access mode: the client has no ``sparkContext`` and
no JVM, and each ``foreachBatch`` function is pickled and run in a Python worker process of its own, with its own
session. Session settings are changed only through ``set_conf``, which refuses in the Connect mode what serverless
refuses.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING, Literal

from stm.errors import UsageError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from stm.config import Config

log = logging.getLogger(__name__)
SparkMode = Literal["classic", "connect"]
SPARK_MODES: tuple[SparkMode, ...] = ("classic", "connect")
MODE_ENV = "STM_SPARK_MODE"
# Spark settings both engines need. Spark's cache of compiled query code keeps 100 classes by default, fewer than
# one round of streaming apps and gold models uses: every micro-batch would compile them again (and the JVM would
# optimize the new classes again). Static settings: set when the session (or the job cluster) starts.
SESSION_CONF = {"spark.sql.codegen.cache.maxEntries": "2000"}
# Delta Lake's connector in a plain Spark (Databricks Runtime has it built in).
DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}
# The Spark properties a serverless notebook or job may set: "Configure Spark properties for serverless notebooks
# and jobs", https://docs.databricks.com/aws/en/spark/conf#configure-spark-properties-for-serverless-notebooks-and-jobs
# (any other fails there with "Configuration ... is not available"). A Spark Connect session refuses the others
# here too, so code that would fail on serverless fails locally first.
SERVERLESS_SETTABLE = frozenset(
    {
        "spark.databricks.execution.timeout",
        "spark.sql.legacy.timeParserPolicy",
        "spark.sql.session.timeZone",
        "spark.sql.shuffle.partitions",
        "spark.sql.ansi.enabled",
        "spark.sql.files.maxPartitionBytes",
    }
)


def spark_mode(value: str | None) -> SparkMode:
    """The execution mode named by ``--spark-mode`` or ``$STM_SPARK_MODE`` (default classic)."""
    chosen = value or os.environ.get(MODE_ENV) or "classic"
    if chosen not in SPARK_MODES:
        source = "--spark-mode" if value else MODE_ENV
        raise UsageError(f"{source} {chosen!r}: allowed: {', '.join(SPARK_MODES)}")
    return "connect" if chosen == "connect" else "classic"


def is_connect(spark: SparkSession) -> bool:
    """True for a Spark Connect session (serverless, standard access mode, the local connect mode)."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


def set_conf(spark: SparkSession, key: str, value: str | None) -> None:
    """Set (or, with None, unset) one session setting; a Connect session refuses those serverless refuses."""
    if is_connect(spark) and key not in SERVERLESS_SETTABLE:
        raise UsageError(
            f"Spark property {key} cannot be set on serverless compute (settable there: "
            f"{', '.join(sorted(SERVERLESS_SETTABLE))})"
        )
    if value is None:
        spark.conf.unset(key)
    else:
        spark.conf.set(key, value)


def server_conf(cfg: Config, jars: list[str]) -> dict[str, str]:
    """Settings of the local engine, given when it starts (the Connect server takes them the same way)."""
    return {
        "spark.jars": ",".join(jars),
        **DELTA_CONF,
        "spark.driver.memory": cfg.local.driver_memory,
        "spark.sql.shuffle.partitions": str(cfg.local.shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.log.level": "ERROR",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.streaming.stopGracefullyOnShutdown": "true",
        "spark.driver.extraJavaOptions": "-Dlog4j2.level=WARN",
        # Delta reads a table's log state in this many tasks (50 by default, sized for a cluster)
        "spark.databricks.delta.snapshotPartitions": "1",
        # VACUUM lists a table's files in this many tasks (10,000 by default): 97 s for a table of two files on two
        # cores, 3.8 s with one task per core
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": "2",
        # adaptive planning re-plans every stage of the many small jobs a MERGE runs: on two local cores it costs
        # more than it saves (an insert-only MERGE of 100 rows: 4 jobs instead of 6, ~0.3 s less)
        "spark.sql.adaptive.enabled": "false",
        # Derby's metastore would leave metastore_db/ in the working directory: tables here are paths
        "spark.sql.catalogImplementation": "in-memory",
        "spark.sql.warehouse.dir": _warehouse_dir(),
        **SESSION_CONF,
    }


def local_session(cfg: Config, app_name: str = "stm", mode: SparkMode = "classic") -> SparkSession:
    """A ``local[2]`` engine with Delta Lake's own connector (its jars fetched once into this environment): a
    classic session, or a Spark Connect client of a local Connect server."""
    from stm.delta_jars import install

    jars = [str(j) for j in install(quiet=True)]
    # Spark's Python workers must run this interpreter (it has pyarrow), not the system python3.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # the local engine binds to loopback only
    from pyspark.sql import SparkSession

    conf = dict[str, bool | float | int | str | None](server_conf(cfg, jars))
    if mode == "connect":
        _require_connect_client()
        return SparkSession.builder.remote("local[2]").appName(app_name).config(map=conf).getOrCreate()
    spark = SparkSession.builder.master("local[2]").appName(app_name).config(map=conf).getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _require_connect_client() -> None:
    from importlib.util import find_spec

    missing = [m for m in ("grpc", "grpc_status", "zstandard") if find_spec(m) is None]
    if missing:
        raise UsageError(
            f"--spark-mode connect needs the Spark Connect client ({', '.join(missing)} not installed): "
            "pip install 'pyspark[connect]'"
        )


def _warehouse_dir() -> str:
    import tempfile

    return os.path.join(tempfile.gettempdir(), f"stm-spark-warehouse-{os.getuid()}")
