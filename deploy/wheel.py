"""Build the product wheel from the source checkout, outside the work tree, and describe it."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
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
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise UsageError(f"building the wheel failed: {last}")
    return describe(wheels[-1])
