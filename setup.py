"""Packaging for system-tables-monitor: one wheel, console entry point ``stm``."""

from pathlib import Path

from setuptools import setup

HERE = Path(__file__).parent
VERSION = (HERE / "stm" / "VERSION").read_text().strip()

setup(
    name="system-tables-monitor",
    version=VERSION,
    description="Cost, usage and activity monitoring for Databricks system tables across workspaces and accounts",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=[
        "stm",
        "stm.store",
        "stm.simulate",
        "stm.conf",
        "stm.sharing",
        "stm.report",
        "stm.dashboard",
        "stm.transforms",
        "streaming",
        "batch",
        "deploy",
    ],
    package_dir={"stm.conf": "conf"},
    package_data={"stm": ["VERSION"], "stm.conf": ["*.yml"]},
    # Databricks Runtime ships pyspark and delta-spark: the base install must not pull them in. The base install is
    # what every job task gets on a cluster or serverless environment; only `stm deploy` needs databricks-sdk.
    install_requires=[
        "pyyaml>=6",
    ],
    extras_require={
        "deploy": [
            "databricks-sdk>=0.162,<0.200",
        ],
        "local": [
            # Delta Lake's own Spark connector; its jars (io.delta:delta-spark_4.2_2.13, same version) are fetched
            # once into the environment by ``python -m stm.delta_jars`` (make setup does it)
            # with the Spark Connect client (grpcio, grpcio-status, googleapis-common-protos, zstandard): the local
            # connect mode, the execution model of serverless compute and standard access mode
            "pyspark[connect]==4.2.0",
            "delta-spark==4.4.0",
            # delta-rs: the Spark-free reader of the sharing endpoint and the fast writer of the simulator
            "deltalake>=1.6,<1.7",
            "pyarrow>=20",
            # the hub's cost forecasts (Holt-Winters with a weekly season)
            "statsmodels>=0.14,<0.16",
            "pandas>=2.2,<3",
            "psutil>=5.9",
            "starlette>=0.40",
            "uvicorn>=0.30",
            "delta-sharing>=1.4,<2",
        ],
        "dev": [
            "pytest>=8",
            "ruff>=0.15",
            "mypy>=1.15",
            "types-pyyaml",
            "sqlglot>=30",
            "minilake>=1.9,<2",
            "jsonschema>=4.18,<5",  # validates generated Asset Bundles against the Databricks CLI schema
            # Lakeview's dashboard model (databricks.labs.lsql.lakeview.model): the hub dashboard is checked against it;
            # 0.17 caps sqlglot below 30.12, so with sqlglot>=30 pip takes 0.16 (the same model)
            "databricks-labs-lsql>=0.16,<0.18",
        ],
    },
    entry_points={"console_scripts": ["stm=stm.cli:entry"]},
)
