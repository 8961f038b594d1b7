"""The provider pipeline through the command line, twice, in one process of one execution mode.

``python -m tests.pipeline_modes MODE LAKE SECOND_SYSTEM [--maintenance]``: with the lake's system catalog as it is,
run the ingest jobs, every streaming app (availableNow) and every batch job but the weekly maintenance; then put the
system catalog at ``SECOND_SYSTEM`` in its place (the same tables with newer commits: a day appended) and run them
all again; with ``--maintenance``, OPTIMIZE and VACUUM every table last (they change no rows). Each step is ``stm``'s
own ``main``, so the commands are the ones a user or a job task runs; one process keeps one Spark session (a
Connect server starts once). Prints one line per step with its exit code and seconds; returns the first failing
code.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

MAINTENANCE = ("optimize", "vacuum")


def steps(round_: int, maintenance: bool) -> list[tuple[str, ...]]:
    from batch.command import available_jobs
    from stm.config import load_config

    jobs = [n for n in available_jobs(load_config()) if n not in MAINTENANCE]
    run = [("batch", "--ingest"), ("stream", "--all", "--trigger", "availableNow"), ("batch", *jobs)]
    return [*run, ("batch", *MAINTENANCE)] if round_ == 2 and maintenance else run


def run(mode: str, lake: Path, second_system: Path, maintenance: bool = False) -> int:
    from stm.cli import main

    for round_ in (1, 2):
        if round_ == 2:
            shutil.rmtree(lake / "system")
            shutil.copytree(second_system, lake / "system")
        for step in steps(round_, maintenance):
            started = time.monotonic()
            code = main([*step, "--lake-root", str(lake), "--spark-mode", mode])
            print(f"round {round_} {' '.join(step[:3])}: exit {code} in {time.monotonic() - started:.1f} s", flush=True)
            if code != 0:
                return code
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), "--maintenance" in sys.argv[4:]))
