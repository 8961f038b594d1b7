"""A file layer that refuses, under one folder, what a Unity Catalog volume refuses, so the checkpoint lock and
reset are tested against it rather than against a local disk that allows everything.

Volumes do not support "direct-append or non-sequential (random) writes"
(https://docs.databricks.com/aws/en/volumes/volume-files, limitations): an open for appending, a read-write open,
or a write open of an existing file that neither truncates it nor creates it new is refused. Two more refusals are
this product's rules for object storage, not documented refusals: ``flock`` (a lock on one node guards nothing on
another) and renaming a folder (on object storage it is a copy of every file, no single step).

The checks run in a Python audit hook (``sys.addaudithook``: the events ``open``, ``fcntl.flock`` and
``os.rename`` that ``os.open``, ``open``, ``fcntl.flock``, ``os.rename`` and ``os.replace`` raise); a hook cannot be
removed, so it is installed once and checks only while ``volume_like`` is active, for paths under its folder.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_ROOTS: list[Path] = []
_INSTALLED: list[bool] = []


def _under(path: Any) -> bool:
    if not isinstance(path, (str, bytes, os.PathLike)):
        return False
    p = Path(os.fsdecode(path)).resolve()
    return any(p == r or r in p.parents for r in _ROOTS)


def _refuse(what: str) -> None:
    raise OSError(errno.EOPNOTSUPP, f"not supported on a volume: {what}")


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if not _ROOTS:
        return
    if event == "fcntl.flock":
        _refuse("flock")
    elif event == "open" and _under(args[0]) and isinstance(args[2], int):
        flags = args[2]
        if flags & os.O_APPEND:
            _refuse(f"append to {args[0]}")
        if flags & os.O_RDWR:
            _refuse(f"read-write open of {args[0]}")
        if flags & os.O_WRONLY and not flags & (os.O_TRUNC | os.O_EXCL) and os.path.exists(args[0]):
            _refuse(f"write in place to {args[0]}")
    elif event == "os.rename" and _under(args[0]) and os.path.isdir(args[0]):
        _refuse(f"rename of the folder {args[0]}")


@contextmanager
def volume_like(root: Path) -> Iterator[Path]:
    """While active, file operations under ``root`` are refused as a volume refuses them."""
    if not _INSTALLED:
        sys.addaudithook(_hook)
        _INSTALLED.append(True)
    root.mkdir(parents=True, exist_ok=True)
    _ROOTS.append(root.resolve())
    try:
        yield root
    finally:
        _ROOTS.remove(root.resolve())
