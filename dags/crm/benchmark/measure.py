"""Run a command as a child process and measure it from the OS: wall, CPU (user + sys) and peak RSS.

``os.wait4`` returns the resource usage of that one child, including the descendants it waited for
(dbt's and Airflow's subprocesses), so repetitions do not mix. Peak RSS is the largest *sum* of the
resident sets of the tree's processes alive at one time, sampled from ``/proc`` every
``SAMPLE_SECONDS`` (under Airflow the scheduler, the task runner and the task's own processes run side
by side; ``ru_maxrss`` alone only knows the largest single process), and never less than that
``ru_maxrss``: a stage's memory compares honestly with the single-process pandas peer's.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

#: How often the process tree's resident sets are summed.
SAMPLE_SECONDS = 0.1


def _rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii", errors="replace").splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):  # the process ended, or no /proc
        pass
    return 0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(child) for child in (task / "children").read_text(encoding="ascii").split()]
    except OSError:  # the process ended, or no /proc
        pass
    return found


def tree_rss_bytes(pid: int) -> int:
    """The summed resident set of ``pid`` and all its descendants now (0 where /proc is missing)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += _rss_bytes(current)
        todo += _children(current)
    return total


class _TreeSampler(threading.Thread):
    """Keeps the largest summed resident set of a process tree until stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak = pid, 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak = max(self.peak, tree_rss_bytes(self.pid))
            self._stop_event.wait(SAMPLE_SECONDS)

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return self.peak


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
        sampler = _TreeSampler(proc.pid)
        sampler.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            summed_peak = sampler.stop()
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4: tell Popen not to wait again
    if proc.returncode != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise StageFailed(f"{' '.join(command)} exited {proc.returncode} (log: {log_path}):\n{tail}")
    return Measurement(wall, usage.ru_utime + usage.ru_stime, max(summed_peak, usage.ru_maxrss * 1024))


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
