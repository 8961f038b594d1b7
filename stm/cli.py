"""The one console entry point: ``stm <command>``. Each command lives in its own module with ``register``."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from stm import __version__
from stm.console import ensure_logging
from stm.errors import StmError, UsageError

# command name -> module that defines ``register(subparsers, parent)``; the module sets ``func`` on its parser.
COMMANDS: dict[str, str] = {
    "simulate": "stm.simulate.command",
    "deploy": "deploy.command",
    "stream": "streaming.command",
    "checkpoint": "streaming.checkpoint_command",
    "batch": "batch.command",
    "demo": "stm.demo",
    "report": "stm.report.command",
    "share": "stm.sharing.command",
    "hub": "stm.sharing.hub_command",
    "export": "stm.export",
    "alerts": "stm.alerts_command",
}
# command name -> (extra, distribution, its top-level package): a command whose module needs an optional extra. Only
# the command being run is imported, so the job tasks (stream, batch, checkpoint) load nothing from deploy or the SDK.
EXTRAS: dict[str, tuple[str, str, str]] = {"deploy": ("deploy", "databricks-sdk", "databricks")}
PACKAGE = "system-tables-monitor"

log = logging.getLogger(__name__)


class _Parser(argparse.ArgumentParser):
    """argparse that raises ``UsageError`` (exit 2, one line) instead of printing usage and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def common_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--lake-root",
        type=Path,
        default=os.environ.get("STM_LAKE_ROOT") or None,
        help="local lake directory (default: $STM_LAKE_ROOT); catalog.schema.table maps to DIR/catalog/schema/table",
    )
    parent.add_argument("--config", type=Path, default=None, help="YAML overlay merged onto the packaged conf/")
    parent.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parent


def install_hint(extra: str) -> str:
    return f"pip install '{PACKAGE}[{extra}]'"


def _command_module(name: str) -> ModuleType:
    """The module of command ``name``; a missing optional extra is a usage error naming what to install."""
    extra, distribution, package = EXTRAS.get(name, ("", "", ""))
    if extra and importlib.util.find_spec(package) is None:
        raise UsageError(f"stm {name} needs {distribution}, which is not installed: {install_hint(extra)}")
    return importlib.import_module(COMMANDS[name])


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser for ``argv``: only the named command's module is imported; without a known command (``--help``,
    or ``argv`` None), every command whose requirements are installed."""
    parser = _Parser(prog="stm", description="Databricks system tables monitor: streams, batch jobs, deploy.")
    parser.add_argument("--version", action="version", version=f"stm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    parent = common_options()
    named = next((a for a in argv or () if not a.startswith("-")), None)
    if named is not None and named in COMMANDS:
        _command_module(named).register(sub, parent)
        return parser
    for name in COMMANDS:
        try:
            _command_module(name).register(sub, parent)
        except UsageError:  # listed, so that `stm --help` says what to install
            sub.add_parser(name, help=f"needs {install_hint(EXTRAS[name][0])}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``stm``; returns the exit code (0 ok, 1 a job failed, 2 bad usage or config)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser(args_list)
        args = parser.parse_args(args_list)
        if not getattr(args, "func", None):
            names = ", ".join(sorted(COMMANDS))
            raise UsageError(f"stm: a command is required; valid commands: {names}")
        ensure_logging(getattr(args, "verbose", False))
        code: int = args.func(args)
        return code
    except StmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (PermissionError, IsADirectoryError, NotADirectoryError) as exc:  # a path the user gave cannot be used
        print(f"error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def entry() -> None:
    """Console script entry point."""
    sys.exit(main())
