"""Opening the engine named by the configuration: a Spark session, its table store and the checkpoint root."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from stm.config import Config
from stm.errors import UsageError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from stm.store.delta import TableStore

CHECKPOINTS_DIR = "_checkpoints"
# The local hub's commands (finops, alerts, report) and the demo, which runs a hub, use a classic session: on
# Databricks the hub is SQL views, dashboards and alerts, so no hub code runs on serverless.
LOCAL_HUB_MODE = "classic"


@dataclass
class Engine:
    spark: SparkSession
    store: TableStore
    checkpoint_root: Path


def require_lake_root(lake_root: Path | None, *, writable: bool = False) -> Path:
    """The lake root as an absolute path: a directory (or a path one can be made at); with ``writable``, one this
    process may write, checked before anything is created."""
    if lake_root is None:
        raise UsageError("--lake-root DIR (or STM_LAKE_ROOT) is required for the local engine")
    root = Path(lake_root).resolve()
    if root.exists() and not root.is_dir():
        raise UsageError(f"--lake-root {str(root)!r} is a file, not a directory")
    if writable:
        require_writable(root, "--lake-root")
    return root


def require_writable(path: Path, what: str) -> None:
    """``path`` (or, if it does not exist yet, its nearest existing parent) is a directory this process may write."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{what} {str(path)!r}: {str(existing)!r} is a file, not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{what} {str(path)!r}: directory {str(existing)!r} is not writable by this user")


def add_spark_mode(parser: argparse.ArgumentParser) -> None:
    """``--spark-mode``, for every command that starts Spark."""
    parser.add_argument(
        "--spark-mode",
        default=None,
        metavar="MODE",
        help="local execution mode: 'classic' (one local Spark process) or 'connect' (a local Spark Connect server: "
        "foreachBatch runs in a worker process of its own, as on serverless); default $STM_SPARK_MODE or classic. "
        "On Databricks the runtime's own session is used",
    )


def open_engine(cfg: Config, lake_root: Path | None, app_name: str = "stm", mode: str | None = None) -> Engine:
    """Start (or join) the Spark session for ``cfg.engine`` (locally in the execution ``mode``: classic or connect)
    and return it with the table store."""
    if cfg.engine == "local":
        from stm.spark import local_session, spark_mode
        from stm.store.local import LocalTableStore

        chosen = spark_mode(mode)  # checked before the lake root, so a bad mode is named first
        root = require_lake_root(lake_root)
        spark = local_session(cfg, app_name, chosen)
        return Engine(spark, LocalTableStore(spark, root), root / CHECKPOINTS_DIR)
    from pyspark.sql import SparkSession

    from stm.store.databricks import CatalogTableStore

    spark = SparkSession.builder.getOrCreate()
    return Engine(spark, CatalogTableStore(spark), Path(cfg.databricks.checkpoint_root))
