"""What the commands share with the layers they run: choosing named things, tables of text, ISO dates and timestamps.

Kept out of ``stm.cli`` so the streaming apps and batch jobs never import the command line.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import date, datetime

from stm.errors import UsageError


def choose(kind: str, plural: str, valid: list[str], names: list[str], all_selected: bool) -> list[str]:
    """Validate a ``NAME... | --all`` selection: the names chosen, or a one-line ``UsageError`` listing ``valid``."""
    if all_selected and names:
        raise UsageError(f"give {kind} names or --all, not both")
    if not all_selected and not names:
        raise UsageError(f"name at least one {kind} or pass --all; {plural}: {', '.join(valid)}")
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise UsageError(f"unknown {kind} {unknown[0]!r}; valid {plural}: {', '.join(valid)}")
    return list(valid) if all_selected else list(names)


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Rows under a header, columns aligned; the last column (a free-text detail) is not padded."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + ("  " + r[-1] if r[-1] else "")
        for r in [header, *rows]
    )


def iso_date(text: str) -> date:
    """An argparse type for dates: ``YYYY-MM-DD``."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def iso_timestamp(text: str, what: str, *, zone_required: bool = False) -> datetime:
    """``text`` as an ISO 8601 timestamp (``2026-11-01T00:00:00Z``, or a date); with ``zone_required`` it must name
    its time zone. Otherwise a ``ValueError`` whose message names ``what`` and the form allowed (never the value: it
    may come from a request)."""
    try:
        ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{what} must be an ISO 8601 timestamp such as 2026-11-01T00:00:00Z") from None
    if zone_required and ts.tzinfo is None:
        raise ValueError(f"{what} must name its time zone, e.g. 2026-11-01T00:00:00Z")
    return ts


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def ensure_logging(verbose: bool = False) -> None:
    """Log to stderr as ``stm`` does, once per process: the command line's, or a worker process that runs a
    micro-batch for a Spark Connect session (it starts with no logging set up)."""
    import logging
    import sys

    if logging.getLogger().handlers:
        return
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format=LOG_FORMAT, datefmt="%H:%M:%S", stream=sys.stderr
    )
    for noisy in ("py4j", "pyspark"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
