"""The provider pipeline through the command line, twice, in one process of one execution mode.

``python -m tests.pipeline_modes MODE LAKE SECOND_SYSTEM``: with the lake's system catalog as it is, run the ingest
jobs, every streaming app (availableNow) and every batch job; then put the system catalog at ``SECOND_SYSTEM`` in
its place (the same tables with newer commits: a day appended) and run them all again. Each step is ``stm``'s own
``main``, so the commands are the ones a user or a job task runs; one process keeps one Spark session (a Connect
server starts once). Prints one line per step with its exit code and seconds; exits with the first failing code.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

STEPS = (
    ("batch", "--ingest"),
    ("stream", "--all", "--trigger", "availableNow"),
    ("batch", "--all"),
)


def run(mode: str, lake: Path, second_system: Path) -> int:
    from stm.cli import main

    for round_ in (1, 2):
        if round_ == 2:
            shutil.rmtree(lake / "system")
            shutil.copytree(second_system, lake / "system")
        for step in STEPS:
            started = time.monotonic()
            code = main([*step, "--lake-root", str(lake), "--spark-mode", mode])
            print(f"round {round_} {' '.join(step)}: exit {code} in {time.monotonic() - started:.1f} s", flush=True)
            if code != 0:
                return code
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])))
