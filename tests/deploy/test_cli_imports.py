"""The CLI's help and an offline deploy plan work in a venv without the local extra: the wheel and its base
requirements only, no pyspark, no delta-rs, no Arrow, no Java on the PATH."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

LOCAL_ONLY = ("pyspark", "delta", "deltalake", "pyarrow", "pandas", "statsmodels")


def base_closure(wheel_path: Path) -> set[str]:
    """The distributions the wheel's base install needs (no extras), from the metadata of this environment."""
    with zipfile.ZipFile(wheel_path) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        lines = zf.read(meta).decode().splitlines()
    pending = [Requirement(line.split(":", 1)[1].strip()) for line in lines if line.startswith("Requires-Dist:")]
    seen: set[str] = set()
    while pending:
        req = pending.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        seen.add(name)
        pending.extend(Requirement(r) for r in metadata.distribution(name).requires or ())
    return seen


def link_distribution(name: str, site: Path) -> None:
    """Make the distribution ``name`` of this environment importable in ``site`` (its top-level entries linked)."""
    dist = metadata.distribution(name)
    tops = {Path(str(f)).parts[0] for f in dist.files or () if not str(f).startswith("..")}
    for top in tops:
        source = Path(str(dist.locate_file(top)))
        if source.exists() and not (site / top).exists():
            (site / top).symlink_to(source)


@pytest.fixture(scope="module")
def core_python(tmp_path_factory: pytest.TempPathFactory, wheel: object) -> Path:
    """A venv holding the wheel (unpacked, as pip installs it) and the closure of its base requirements."""
    root = tmp_path_factory.mktemp("core-venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120)
    python = root / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    wheel_path = Path(str(wheel.path))  # type: ignore[attr-defined]
    with zipfile.ZipFile(wheel_path) as zf:
        zf.extractall(site)
    for name in sorted(base_closure(wheel_path)):
        link_distribution(name, site)
    assert site != Path(sysconfig.get_paths()["purelib"])
    return python


def run_isolated(python: Path, code: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -c code args`` with no PYTHONPATH into the source tree or the dev venv and no Java: only the core
    venv's bin on the PATH."""
    keep = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "LC_ALL", "TMPDIR", "DATABRICKS_CONFIG_FILE")}
    env = {**keep, "PATH": str(python.parent), "JAVA_HOME": "/nonexistent", "PYTHONNOUSERSITE": "1"}
    cmd = [str(python), "-c", code, *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env, timeout=120, check=False)


def test_core_venv_lacks_the_local_extra(core_python: Path, tmp_path: Path):
    probe = "import importlib.util as u, sys; print(*[m for m in sys.argv[1:] if u.find_spec(m)])"
    done = run_isolated(core_python, probe, [*LOCAL_ONLY, "yaml", "databricks.sdk", "stm.cli"], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["yaml", "databricks.sdk", "stm.cli"]


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["stream", "--help"],
        ["batch", "--help"],
        ["checkpoint", "--help"],
        ["deploy", "plan", "--target", "central_hub", "--offline"],
        ["deploy", "plan", "--target", "acme_prod_eu", "--offline", "--wheel", "{wheel}"],
    ],
)
def test_help_and_offline_plans_run_without_the_local_extra(
    argv: list[str], wheel: object, core_python: Path, tmp_path: Path
):
    args = [str(getattr(wheel, "path", "")) if a == "{wheel}" else a for a in argv]
    code = (  # the modules loaded are printed at exit, after --help's SystemExit too
        "import atexit, sys\natexit.register(lambda: print('MODULES', *sorted(sys.modules)))\n"
        "from stm.cli import main\nsys.exit(main(sys.argv[1:]))"
    )
    done = run_isolated(core_python, code, args, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    loaded = done.stdout.rsplit("MODULES", 1)[1].split()
    assert not [m for m in loaded if m.split(".")[0] in LOCAL_ONLY]
    assert "stm.cli" in loaded
