"""Delta Lake's Spark jars for the local engine: fetched once from Maven Central into this environment.

``delta-spark`` on PyPI is only the Python API; the connector itself is ``io.delta:delta-spark_<spark>_2.13``. Maven
resolves it with its runtime dependencies over a small generated pom; the jars that pyspark already ships (Hadoop,
Parquet, Jackson, Scala, ...) are left out, so Spark's own versions stay the only ones on the classpath. Later
sessions run offline from ``<sys.prefix>/share/stm/delta-jars/<delta>-spark<spark>/``. Databricks Runtime ships
Delta: nothing here runs there.

``python -m stm.delta_jars`` installs them (``make setup`` runs it); ``--print`` shows where they are.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from stm.errors import UsageError

log = logging.getLogger(__name__)
MANIFEST = "manifest.json"
_VERSIONED_JAR = re.compile(r"^(?P<artifact>.+?)-(?P<version>\d[\w.\-]*)\.jar$")
POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.stm</groupId>
  <artifactId>delta-jars</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>io.delta</groupId>
      <artifactId>{artifact}</artifactId>
      <version>{version}</version>
    </dependency>
  </dependencies>
</project>
"""


def versions() -> tuple[str, str]:
    """(delta-spark, pyspark) versions installed in this environment."""
    try:
        return metadata.version("delta-spark"), metadata.version("pyspark")
    except metadata.PackageNotFoundError as exc:
        raise UsageError(f"package {exc.name} is not installed: pip install 'system-tables-monitor[local]'") from None


def artifact(spark_version: str) -> str:
    """The Maven artifact of Delta's connector built for this Spark (``delta-spark_4.2_2.13`` for 4.2.x)."""
    major_minor = ".".join(spark_version.split(".")[:2])
    return f"delta-spark_{major_minor}_2.13"


def jar_dir() -> Path:
    delta, spark = versions()
    return Path(sys.prefix) / "share" / "stm" / "delta-jars" / f"{delta}-spark{spark}"


def installed_jars() -> list[Path] | None:
    """The jars to put on Spark's classpath, or None when they are not installed yet."""
    folder = jar_dir()
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return None
    names = json.loads(manifest.read_text(encoding="utf-8"))["jars"]
    jars = [folder / n for n in names]
    return jars if all(j.is_file() for j in jars) else None


def spark_provided() -> set[str]:
    """Artifact names (without version) of the jars pyspark ships."""
    import pyspark

    folder = Path(pyspark.__file__).parent / "jars"
    return {m["artifact"] for p in folder.glob("*.jar") if (m := _VERSIONED_JAR.match(p.name))}


def install(*, quiet: bool = False) -> list[Path]:
    """Resolve the connector with Maven into this environment (once); the jars for ``spark.jars``."""
    jars = installed_jars()
    if jars is not None:
        return jars
    mvn = shutil.which("mvn")
    if mvn is None:
        raise UsageError("Maven (mvn) is needed once to fetch Delta Lake's jars: install it (apt-get install maven)")
    delta, spark = versions()
    folder = jar_dir()
    name = artifact(spark)
    print(f"fetching io.delta:{name}:{delta} and its runtime dependencies into {folder}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="stm-delta-jars-") as tmp:
        work = Path(tmp)
        (work / "pom.xml").write_text(POM.format(artifact=name, version=delta), encoding="utf-8")
        staged = work / "jars"
        cmd = [mvn, "-B", "-q", "dependency:copy-dependencies", "-DincludeScope=runtime", f"-DoutputDirectory={staged}"]
        done = subprocess.run(cmd, cwd=work, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            errors = [line for line in done.stdout.splitlines() if line.startswith("[ERROR]")]
            reason = errors[0] if errors else (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise UsageError(f"Maven could not fetch io.delta:{name}:{delta}: {reason}")
        provided = spark_provided()
        keep = sorted(p for p in staged.glob("*.jar") if _artifact_of(p.name) not in provided)
        if not any(p.name.startswith(name) for p in keep):
            raise UsageError(f"Maven resolved no {name} jar for Delta {delta}")
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        for jar in keep:
            shutil.copy2(jar, partial / jar.name)
        manifest = {"delta": delta, "spark": spark, "artifact": name, "jars": [p.name for p in keep]}
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)  # all or nothing: a half-copied folder is never taken for an installed one
    if not quiet:
        print(f"{len(keep)} jars installed in {folder}", file=sys.stderr)
    jars = installed_jars()
    assert jars is not None
    return jars


def _artifact_of(filename: str) -> str:
    match = _VERSIONED_JAR.match(filename)
    return match["artifact"] if match else filename


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stm.delta_jars",
        description="Fetch Delta Lake's Spark jars once into this environment (needs Maven and network once).",
    )
    parser.add_argument("--print", action="store_true", help="print the installed jars' folder and exit")
    args = parser.parse_args(argv)
    try:
        if args.print:
            jars = installed_jars()
            if jars is None:
                print(f"not installed (would go to {jar_dir()})", file=sys.stderr)
                return 1
            print(jar_dir())
            return 0
        install()
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
