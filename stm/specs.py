"""Declarations of jobs, deploy targets and shares (``conf/jobs.yml``, ``environments.yml``, ``shares.yml``).

Pure data: read by the batch runner, the deploy script and the sharing endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stm.config import Config


@dataclass(frozen=True)
class JobSpec:
    description: str = ""


@dataclass(frozen=True)
class TargetSpec:
    description: str = ""


@dataclass(frozen=True)
class ShareSpec:
    description: str = ""


def validate(cfg: Config) -> None:
    """Cross-field checks of the job, target and share declarations (raise ``ConfigError``)."""
