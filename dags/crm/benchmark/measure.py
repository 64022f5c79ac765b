"""Run a command as a child process and measure it from the OS: wall, CPU (user + sys) and peak RSS.

``os.wait4`` returns the resource usage of that one child, including the descendants it waited for
(dbt's and Airflow's subprocesses), so repetitions do not mix. Peak RSS is the largest *sum* of the
resident sets of the tree's processes alive at one time, sampled from ``/proc`` every
``SAMPLE_SECONDS`` (under Airflow the scheduler, the task runner and the task's own processes run side
by side; ``ru_maxrss`` alone only knows the largest single process), and never less than that
``ru_maxrss``: a stage's memory compares honestly with the single-process pandas peer's.

The command runs under a small launcher process (:data:`LAUNCHER`), which starts it and reports its
``wait4`` usage. Started straight from the harness, a child's ``ru_maxrss`` would begin at the
harness's own high-water mark: Linux carries the RSS peak of the old image over an ``exec``, and
with ``vfork`` (what ``subprocess`` uses) the old image is the parent's. The harness holds the RFM
tables it compares, so every stage measured after the comparison reported at least the harness's
3.3 GB.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

#: How often the process tree's resident sets are summed.
SAMPLE_SECONDS = 0.1

#: Runs argv[2:], then writes its wait4 usage as JSON to argv[1] and exits with its exit status.
#: A fresh, small process: its children's ru_maxrss starts from its few MB, not the harness's peak.
LAUNCHER = """
import json, os, subprocess, sys
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
code = os.waitstatus_to_exitcode(status)
cpu_s = usage.ru_utime + usage.ru_stime
with open(sys.argv[1], "w", encoding="utf-8") as out:
    json.dump({"cpu_s": cpu_s, "maxrss_kib": usage.ru_maxrss}, out)
sys.exit(code if code >= 0 else 128 - code)
"""


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
    usage_path = log_path.with_name(log_path.name + ".usage.json")
    usage_path.unlink(missing_ok=True)
    launched = [sys.executable, "-c", LAUNCHER, str(usage_path), *command]
    with log_path.open("w", encoding="utf-8") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(launched, env=dict(env), cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
        sampler = _TreeSampler(proc.pid)
        sampler.start()
        try:
            _, status, _ = os.wait4(proc.pid, 0)
        finally:
            summed_peak = sampler.stop()
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4: tell Popen not to wait again
    if proc.returncode != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise StageFailed(f"{' '.join(command)} exited {proc.returncode} (log: {log_path}):\n{tail}")
    try:
        usage = json.loads(usage_path.read_text(encoding="utf-8"))
        cpu, maxrss = float(usage["cpu_s"]), int(usage["maxrss_kib"]) * 1024
    except (OSError, ValueError, KeyError) as error:
        raise StageFailed(
            f"{' '.join(command)}: the launcher left no usage in {usage_path} ({error})"
        ) from None
    finally:
        usage_path.unlink(missing_ok=True)
    # the launcher's own few MB are in the sampled sum; its own CPU time is not counted
    return Measurement(wall, cpu, max(summed_peak, maxrss))


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
