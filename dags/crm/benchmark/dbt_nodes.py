"""Where a ``dbt build`` spends its time: thread time per kind, the costliest nodes, the critical path.

Read from the run's ``run_results.json`` (each node's execution window) and ``manifest.json`` (what
each node waits for). Under ``dbt build`` a node starts after its parents and after the tests of
its parents (a failing test skips the children), so those are the edges of the critical path: from
the node that finished last, step back to whichever of its blockers finished last, until a node
has none. Wall time is then the sum of the path's nodes plus the gaps in which the path waited for
a thread (or for dbt itself).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

#: Node kinds that run SQL or Python on a thread (hooks and exposures are not on the graph's paths).
RUNNABLE = ("model", "test", "unit_test", "snapshot", "seed")
#: Tests faster than this are counted apart: their time is mostly dbt's per-node overhead.
SMALL_TEST_S = 0.3


@dataclass(frozen=True)
class NodeTime:
    name: str  # unique_id without the project prefix, e.g. model.fct_sales
    seconds: float


@dataclass(frozen=True)
class DbtRunProfile:
    elapsed_s: float
    thread_s: dict[str, float]  # model / test / unit_test / snapshot / seed -> summed seconds
    nodes: int
    small_tests: int
    small_tests_s: float
    costliest: list[NodeTime] = field(default_factory=list)
    critical_path: list[NodeTime] = field(default_factory=list)
    critical_path_waiting_s: float = 0.0


@dataclass(frozen=True)
class _Window:
    uid: str
    kind: str
    start: dt.datetime
    end: dt.datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def _short(uid: str) -> str:
    kind, _, rest = uid.partition(".")
    name = rest.split(".", 1)[1] if "." in rest else rest
    if kind == "test" and "." in name:  # test.project.name.hash -> test.name
        name = name.rsplit(".", 1)[0]
    return f"{kind}.{name}"


def _stamp(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _windows(run_results: dict) -> dict[str, _Window]:
    windows: dict[str, _Window] = {}
    for result in run_results["results"]:
        timing = {t["name"]: t for t in result.get("timing", [])}
        if "execute" not in timing or not timing["execute"].get("completed_at"):
            continue  # skipped or errored before running
        begin = timing.get("compile", timing["execute"])
        uid = result["unique_id"]
        if uid.split(".", 1)[0] not in RUNNABLE:
            continue
        windows[uid] = _Window(
            uid, uid.split(".", 1)[0], _stamp(begin["started_at"]), _stamp(timing["execute"]["completed_at"])
        )
    return windows


def _blockers(manifest: dict) -> dict[str, set[str]]:
    """For every node, the nodes ``dbt build`` waits for before starting it."""
    nodes = {**manifest.get("nodes", {}), **manifest.get("unit_tests", {})}
    parents = {uid: set(node.get("depends_on", {}).get("nodes", [])) for uid, node in nodes.items()}
    tests_of: dict[str, set[str]] = defaultdict(set)
    for uid, deps in parents.items():
        if uid.startswith(("test.", "unit_test.")):
            for dep in deps:
                tests_of[dep].add(uid)
    blockers: dict[str, set[str]] = {}
    for uid, deps in parents.items():
        waits = set(deps)
        if not uid.startswith(("test.", "unit_test.")):
            for dep in deps:
                # a test on a parent and on this node too (relationships) runs after this node
                waits |= {t for t in tests_of.get(dep, set()) if uid not in parents[t]}
        blockers[uid] = waits
    return blockers


def critical_path(windows: dict[str, _Window], blockers: dict[str, set[str]]) -> list[_Window]:
    """The chain of nodes ending at the last to finish, each started after the one before it."""
    if not windows:
        return []
    node = max(windows.values(), key=lambda w: (w.end, w.uid))
    path, seen = [node], {node.uid}
    while True:
        # a blocker finished before the node started (same clock: dbt stamps both)
        ran = [
            windows[b]
            for b in blockers.get(node.uid, ())
            if b in windows and b not in seen and windows[b].end <= node.start
        ]
        if not ran:
            break
        node = max(ran, key=lambda w: (w.end, w.uid))
        path.append(node)
        seen.add(node.uid)
    return path[::-1]


def profile_run(target_dir: Path, top: int = 12) -> DbtRunProfile:
    """Profile the last dbt invocation whose artifacts are in ``target_dir``."""
    run_results = json.loads((target_dir / "run_results.json").read_text(encoding="utf-8"))
    manifest = json.loads((target_dir / "manifest.json").read_text(encoding="utf-8"))
    windows = _windows(run_results)
    thread_s: dict[str, float] = defaultdict(float)
    small = [w for w in windows.values() if w.kind == "test" and w.seconds < SMALL_TEST_S]
    for w in windows.values():
        thread_s[w.kind] += w.seconds
    path = critical_path(windows, _blockers(manifest))
    on_path = sum(w.seconds for w in path)
    span = (path[-1].end - path[0].start).total_seconds() if path else 0.0
    costliest = sorted(windows.values(), key=lambda w: (-w.seconds, w.uid))[:top]
    return DbtRunProfile(
        elapsed_s=float(run_results.get("elapsed_time", 0.0)),
        thread_s={k: round(v, 2) for k, v in sorted(thread_s.items())},
        nodes=len(windows),
        small_tests=len(small),
        small_tests_s=round(sum(w.seconds for w in small), 2),
        costliest=[NodeTime(_short(w.uid), round(w.seconds, 2)) for w in costliest],
        critical_path=[NodeTime(_short(w.uid), round(w.seconds, 2)) for w in path],
        critical_path_waiting_s=round(max(span - on_path, 0.0), 2),
    )
