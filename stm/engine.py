"""Opening the engine named by the configuration: a Spark session, its table store and the checkpoint root."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from stm.config import Config
from stm.errors import UsageError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from stm.store.delta import TableStore

CHECKPOINTS_DIR = "_checkpoints"


@dataclass
class Engine:
    spark: SparkSession
    store: TableStore
    checkpoint_root: Path


def require_lake_root(lake_root: Path | None) -> Path:
    if lake_root is None:
        raise UsageError("--lake-root DIR (or STM_LAKE_ROOT) is required for the local engine")
    return Path(lake_root).resolve()


def open_engine(cfg: Config, lake_root: Path | None, app_name: str = "stm") -> Engine:
    """Start (or join) the Spark session for ``cfg.engine`` and return it with the table store."""
    if cfg.engine == "local":
        from stm.spark import local_session
        from stm.store.local import LocalTableStore

        root = require_lake_root(lake_root)
        spark = local_session(cfg, app_name)
        return Engine(spark, LocalTableStore(spark, root), root / CHECKPOINTS_DIR)
    from pyspark.sql import SparkSession

    from stm.store.databricks import CatalogTableStore

    spark = SparkSession.builder.getOrCreate()
    return Engine(spark, CatalogTableStore(spark), Path(cfg.databricks.checkpoint_root))
