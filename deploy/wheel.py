"""Build the product wheel from the source checkout, outside the work tree, and describe it."""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stm.errors import UsageError

SOURCE_ROOT = Path(__file__).resolve().parent.parent
_COPY = ("setup.py", "pyproject.toml", "README.md", "stm", "conf", "streaming", "batch", "deploy")
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")


@dataclass(frozen=True)
class Wheel:
    path: Path
    digest: str

    @property
    def filename(self) -> str:
        return self.path.name


def content_digest(path: Path) -> str:
    """Digest of the files inside the wheel, not the zip (whose timestamps change on every build)."""
    h = hashlib.sha256()
    with zipfile.ZipFile(path) as zf:
        for name in sorted(zf.namelist()):
            if name.endswith(".dist-info/RECORD"):
                continue
            h.update(name.encode())
            h.update(zf.read(name))
    return h.hexdigest()[:12]


def describe(path: Path) -> Wheel:
    if not path.is_file() or path.suffix != ".whl":
        raise UsageError(f"--wheel {str(path)!r}: not a .whl file")
    return Wheel(path=path, digest=content_digest(path))


def build_wheel(out_dir: Path, source: Path = SOURCE_ROOT) -> Wheel:
    """``pip wheel --no-deps`` over a copy of the source tree (so no build/ lands in the checkout)."""
    if not (source / "setup.py").is_file():
        raise UsageError(f"no setup.py under {source}: run from a source checkout or pass --wheel FILE")
    tool = missing_build_tool()
    if tool is not None:
        raise UsageError(
            f"building the wheel needs the {tool!r} package in {sys.executable}: "
            f"{sys.executable} -m pip install {tool}, or pass --wheel FILE"
        )
    with tempfile.TemporaryDirectory(prefix="stm-wheel-src-") as tmp:
        for name in _COPY:
            src = source / name
            if src.is_dir():
                shutil.copytree(src, Path(tmp) / name, ignore=_IGNORE)
            elif src.is_file():
                shutil.copy2(src, Path(tmp) / name)
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out_dir), tmp]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wheels = sorted(out_dir.glob("system_tables_monitor-*.whl"))
    if done.returncode != 0 or not wheels:
        raise UsageError(f"building the wheel failed: {build_failure(done.stderr)}; fix that or pass --wheel FILE")
    return describe(wheels[-1])


def missing_build_tool(find_spec: Callable[[str], object] = importlib.util.find_spec) -> str | None:
    """What this Python lacks to build a wheel without build isolation (setuptools, and bdist_wheel), if anything."""
    if find_spec("setuptools") is None:
        return "setuptools"
    # setuptools >= 70.1 has bdist_wheel of its own; older ones take it from the wheel package
    if find_spec("setuptools.command.bdist_wheel") is None and find_spec("wheel") is None:
        return "wheel"
    return None


def build_failure(stderr: str) -> str:
    """The cause of a failed ``pip wheel`` in one line: the build's own last words and pip's error, not its hints."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    cause = ""
    if "[end of output]" in lines:
        inner = lines[: lines.index("[end of output]")]
        cause = inner[-1] if inner and not inner[-1].startswith("╰─>") else ""
    errors = [line for line in lines if line.lower().startswith("error:") and "subprocess-exited" not in line]
    found = [part for part in (cause, errors[-1] if errors else "") if part]
    if found:
        return " (".join(found) + (")" if len(found) == 2 else "")
    useful = [line for line in lines if not line.startswith(("hint:", "note:"))]
    return (useful or ["pip wheel failed without output"])[-1]
