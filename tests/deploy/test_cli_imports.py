"""The CLI's help and an offline deploy plan work where pyspark cannot be imported (no local extra, no Java)."""

from __future__ import annotations

import subprocess
import sys

import pytest

BLOCK = "import sys; sys.modules['pyspark'] = None; sys.modules['deltalake'] = None; sys.modules['pyarrow'] = None\n"


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
def test_help_and_offline_plans_import_neither_pyspark_nor_arrow(argv: list[str], wheel: object):
    args = [str(getattr(wheel, "path", "")) if a == "{wheel}" else a for a in argv]
    code = BLOCK + f"from stm.cli import main\nsys.exit(main({args!r}))\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
