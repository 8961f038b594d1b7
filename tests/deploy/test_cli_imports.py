"""The CLI's help and the job tasks' command lines work in a venv holding the wheel and its base requirements only:
no pyspark, no delta-rs, no Arrow, no databricks-sdk, no Java on the PATH; they load nothing from deploy. An offline
deploy plan works once the deploy extra is added, and ``stm deploy`` without it says what to install."""

from __future__ import annotations

import json
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

from deploy.jobs import Artifacts, all_job_settings
from stm.config import Config

LOCAL_ONLY = ("pyspark", "delta", "deltalake", "pyarrow", "pandas", "statsmodels")
DEPLOY_ONLY = ("deploy", "databricks")  # what a job task must not load: our deploy package and databricks-sdk
TASKS = ("stream", "batch", "checkpoint")


def wheel_closure(wheel_path: Path, extras: tuple[str, ...] = ()) -> set[str]:
    """The distributions the wheel's install with ``extras`` needs, from the metadata of this environment."""
    with zipfile.ZipFile(wheel_path) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        lines = zf.read(meta).decode().splitlines()
    pending = [Requirement(line.split(":", 1)[1].strip()) for line in lines if line.startswith("Requires-Dist:")]
    seen: set[str] = set()
    while pending:
        req = pending.pop()
        if req.marker is not None and not any(req.marker.evaluate({"extra": e}) for e in ("", *extras)):
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


def make_venv(root: Path, wheel: object, extras: tuple[str, ...]) -> Path:
    """A venv holding the wheel (unpacked, as pip installs it) and the closure of its requirements with ``extras``."""
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
    for name in sorted(wheel_closure(wheel_path, extras)):
        link_distribution(name, site)
    assert site != Path(sysconfig.get_paths()["purelib"])
    return python


@pytest.fixture(scope="module")
def core_python(tmp_path_factory: pytest.TempPathFactory, wheel: object) -> Path:
    """The wheel and its base requirements: what a job task gets on Databricks."""
    return make_venv(tmp_path_factory.mktemp("core-venv"), wheel, ())


@pytest.fixture(scope="module")
def deploy_python(tmp_path_factory: pytest.TempPathFactory, wheel: object) -> Path:
    """The wheel with its deploy extra: what runs ``stm deploy``."""
    return make_venv(tmp_path_factory.mktemp("deploy-venv"), wheel, ("deploy",))


def run_isolated(python: Path, code: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -c code args`` with no PYTHONPATH into the source tree or the dev venv and no Java: only the core
    venv's bin on the PATH."""
    keep = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "LC_ALL", "TMPDIR", "DATABRICKS_CONFIG_FILE")}
    env = {**keep, "PATH": str(python.parent), "JAVA_HOME": "/nonexistent", "PYTHONNOUSERSITE": "1"}
    cmd = [str(python), "-c", code, *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env, timeout=120, check=False)


def loaded_modules(done: subprocess.CompletedProcess[str]) -> list[str]:
    return done.stdout.rsplit("MODULES", 1)[1].split()


def run_stm(python: Path, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``stm args`` in ``python``'s venv; the modules loaded are printed at exit, after --help's SystemExit too."""
    code = (
        "import atexit, sys\natexit.register(lambda: print('MODULES', *sorted(sys.modules)))\n"
        "from stm.cli import main\nsys.exit(main(sys.argv[1:]))"
    )
    return run_isolated(python, code, args, cwd)


def test_core_venv_lacks_the_local_extra_and_the_sdk(core_python: Path, tmp_path: Path):
    probe = "import importlib.util as u, sys; print(*[m for m in sys.argv[1:] if u.find_spec(m)])"
    done = run_isolated(core_python, probe, [*LOCAL_ONLY, "yaml", "databricks", "stm.cli"], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["yaml", "stm.cli"]


def test_deploy_venv_has_the_sdk(deploy_python: Path, tmp_path: Path):
    probe = "import importlib.util as u, sys; print(*[m for m in sys.argv[1:] if u.find_spec(m)])"
    done = run_isolated(deploy_python, probe, [*LOCAL_ONLY, "databricks.sdk"], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["databricks.sdk"]


@pytest.mark.parametrize("argv", [["--help"], *([task, "--help"] for task in TASKS)])
def test_help_without_the_sdk_loads_nothing_of_deploy(argv: list[str], core_python: Path, tmp_path: Path):
    done = run_stm(core_python, argv, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    loaded = loaded_modules(done)
    assert not [m for m in loaded if m.split(".")[0] in (*LOCAL_ONLY, *DEPLOY_ONLY)]
    assert "stm.cli" in loaded
    if argv == ["--help"]:  # every command is listed; deploy says what to install
        assert "deploy needs pip install 'system-tables-monitor[deploy]'" in " ".join(done.stdout.split())


def test_job_task_command_lines_parse_without_the_sdk(cfg: Config, core_python: Path, tmp_path: Path):
    artifacts = Artifacts(wheel="/Volumes/c/s/artifacts/stm.whl", config="/Volumes/c/s/artifacts/conf.yml")
    command_lines = [
        list(task.python_wheel_task.parameters or [])
        for target, spec in cfg.targets.items()
        if spec.role == "provider"
        for settings in all_job_settings(cfg, target, artifacts).values()
        for task in settings.tasks or []
        if task.python_wheel_task is not None
    ]
    assert {argv[0] for argv in command_lines} == {"stream", "batch"}
    code = (
        "import json, sys\nfrom stm.cli import build_parser\n"
        "for argv in json.loads(sys.argv[1]):\n    print('COMMAND', build_parser(argv).parse_args(argv).command)\n"
        "print('MODULES', *sorted(sys.modules))"
    )
    done = run_isolated(core_python, code, [json.dumps(command_lines)], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert [line.split()[1] for line in done.stdout.splitlines() if line.startswith("COMMAND")] == [
        argv[0] for argv in command_lines
    ]
    loaded = loaded_modules(done)
    assert not [m for m in loaded if m.split(".")[0] in (*LOCAL_ONLY, *DEPLOY_ONLY)]


def test_deploy_without_the_sdk_exits_2_naming_the_extra(core_python: Path, tmp_path: Path):
    done = run_stm(core_python, ["deploy", "plan", "--target", "central_hub", "--offline"], tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: stm deploy needs databricks-sdk, which is not installed: pip install 'system-tables-monitor[deploy]'"
    ]


@pytest.mark.parametrize(
    "argv",
    [
        ["deploy", "--help"],
        ["deploy", "plan", "--target", "central_hub", "--offline"],
        ["deploy", "plan", "--target", "acme_prod_eu", "--offline", "--wheel", "{wheel}"],
    ],
)
def test_offline_plans_run_with_the_deploy_extra_only(
    argv: list[str], wheel: object, deploy_python: Path, tmp_path: Path
):
    args = [str(getattr(wheel, "path", "")) if a == "{wheel}" else a for a in argv]
    done = run_stm(deploy_python, args, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    loaded = loaded_modules(done)
    assert not [m for m in loaded if m.split(".")[0] in LOCAL_ONLY]
    assert "deploy.command" in loaded
