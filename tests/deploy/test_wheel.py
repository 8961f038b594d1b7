"""Building the wheel: a failed build says why in one line, and missing build tools are named before pip runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.wheel import build_wheel, missing_build_tool
from stm.errors import UsageError


def test_build_wheel_failure_names_the_cause_not_pips_hint(tmp_path: Path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "setup.py").write_text('raise RuntimeError("setup.py cannot read VERSION")\n', encoding="utf-8")

    with pytest.raises(UsageError) as info:
        build_wheel(tmp_path / "out", source)

    message = str(info.value)
    assert "\n" not in message and "See above for details" not in message
    assert message.startswith("building the wheel failed: RuntimeError: setup.py cannot read VERSION")
    assert message.endswith("fix that or pass --wheel FILE")


def test_missing_build_tool_names_wheel_when_setuptools_has_no_bdist_wheel():
    def old_setuptools_without_wheel(name: str) -> object | None:
        return None if name in ("setuptools.command.bdist_wheel", "wheel") else object()

    assert missing_build_tool(old_setuptools_without_wheel) == "wheel"
    assert missing_build_tool(lambda name: None) == "setuptools"
    assert missing_build_tool(lambda name: object()) is None
