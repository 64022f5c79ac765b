"""Run a command as a child process and measure it from the OS: wall, CPU (user + sys) and peak RSS.

``os.wait4`` returns the resource usage of that one child, including the descendants it waited for
(dbt's and Airflow's subprocesses), so repetitions do not mix. Peak RSS is the largest resident set
of any single process in the tree (Linux ``ru_maxrss``), not the sum of concurrent processes.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


class StageFailed(RuntimeError):
    """A measured command exited non-zero; the message names the command and the tail of its log."""


@dataclass(frozen=True)
class Measurement:
    wall_s: float
    cpu_s: float
    peak_rss_bytes: int


def run_measured(
    command: Sequence[str], *, env: Mapping[str, str], cwd: Path | None = None, log_path: Path
) -> Measurement:
    """Run ``command`` to completion (output to ``log_path``); raise StageFailed when it fails."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w", encoding="utf-8") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(command, env=dict(env), cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4: tell Popen not to wait again
    if proc.returncode != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise StageFailed(f"{' '.join(command)} exited {proc.returncode} (log: {log_path}):\n{tail}")
    return Measurement(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024)


@dataclass(frozen=True)
class Summary:
    """Median and spread (min..max) over the repetitions of one stage."""

    runs: int
    wall_median_s: float
    wall_min_s: float
    wall_max_s: float
    cpu_median_s: float
    peak_rss_bytes: int

    @classmethod
    def of(cls, measurements: Sequence[Measurement]) -> Summary:
        if not measurements:
            raise ValueError("a stage summary needs at least one measurement")
        walls = [m.wall_s for m in measurements]
        return cls(
            runs=len(measurements),
            wall_median_s=statistics.median(walls),
            wall_min_s=min(walls),
            wall_max_s=max(walls),
            cpu_median_s=statistics.median(m.cpu_s for m in measurements),
            peak_rss_bytes=max(m.peak_rss_bytes for m in measurements),
        )

    @classmethod
    def of_sums(cls, parts: Sequence[Sequence[Measurement]]) -> Summary:
        """Summary of a stage made of several commands per repetition (e.g. ingest + dbt build)."""
        combined = [
            Measurement(
                sum(m.wall_s for m in rep), sum(m.cpu_s for m in rep), max(m.peak_rss_bytes for m in rep)
            )
            for rep in parts
        ]
        return cls.of(combined)
