"""Build and test the whole dbt project on one engine, in phases around the identity step.

``python -m crm.engines.build --target postgres [--vars '{...}'] [--warehouse raw.duckdb]``

On DuckDB this is one ``dbt build``: dbt-duckdb runs the identity Python models itself. Elsewhere
the project runs in-process through dbt's programmatic API (``dbtRunner``; Spark's identity step and
dbt must share one SparkSession) as:

1. ``dbt build`` of the sources' tests and everything upstream of int_identity__scored_pairs;
2. identity scoring (:func:`crm.engines.identity_step.run_scoring`);
3. ``dbt build`` of int_identity__scored_pairs (publishes the step's table) and everything else
   upstream of int_identity__record_clusters;
4. identity clustering (:func:`crm.engines.identity_step.run_clustering`);
5. ``dbt build`` of everything else: int_identity__record_clusters, the marts, the snapshot, the
   seeds nothing upstream of the identity steps reads, and their tests and unit tests. (A seed
   used only by relationships tests must be selected together with the tested model: in an
   earlier phase the test would wait for the model, and later it would not be "buildable".)

Each dbt phase selects resource nodes by name with ``--indirect-selection buildable``: a data test
runs in the first phase in which all its parents are built (selected now or upstream of a selected
node, hence built earlier), so a test joining a phase-1 table to a phase-3 table waits for phase 3.
After the last phase the executed unique_ids are checked against the manifest: the phases together
must run every seed, model, snapshot, data test and unit test exactly once, as ``dbt build`` does.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crm.engines import load_engine
from crm.engines.base import Engine
from crm.engines.identity_step import (
    CONTACT_RECORDS,
    MATCH_EDGES,
    RECORD_CLUSTERS,
    SCORED_PAIRS,
    identity_config,
    model_relation,
    run_clustering,
    run_scoring,
)

log = logging.getLogger(__name__)

DBT_PROJECT_DIR = Path(__file__).resolve().parents[3] / "dbt_project"
#: Node kinds a ``dbt build`` executes (exposures, sources and analyses do not run).
EXECUTED_KINDS = frozenset({"model", "seed", "snapshot", "test", "unit_test"})
OK_STATUSES = frozenset({"success", "pass"})


class BuildError(RuntimeError):
    """A phase failed, or the phases did not run exactly what ``dbt build`` runs."""


@dataclass
class PhaseResult:
    name: str
    seconds: float
    executed: list[str] = field(default_factory=list)
    detail: str = ""


@dataclass
class BuildReport:
    engine: str
    phases: list[PhaseResult]

    @property
    def seconds(self) -> float:
        return sum(phase.seconds for phase in self.phases)

    def executed(self) -> set[str]:
        return {uid for phase in self.phases for uid in phase.executed}

    def summary(self) -> str:
        lines = [f"{self.engine}: {self.seconds:.1f} s"]
        lines += [
            f"  {p.name:<28} {p.seconds:7.1f} s  {len(p.executed):4d} nodes  {p.detail}".rstrip()
            for p in self.phases
        ]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "seconds": round(self.seconds, 2),
            "phases": [
                {"name": p.name, "seconds": round(p.seconds, 2), "nodes": len(p.executed), "detail": p.detail}
                for p in self.phases
            ],
        }


@dataclass(frozen=True)
class Phases:
    """Resource node names (models, seeds, snapshots) per dbt phase."""

    upstream_of_scoring: list[str]
    between_steps: list[str]
    rest: list[str]


def _parents(manifest: Any) -> dict[str, list[str]]:
    graph: dict[str, list[str]] = {}
    for uid, node in manifest.nodes.items():
        graph[uid] = list(getattr(node.depends_on, "nodes", []))
    return graph


def _ancestors(graph: Mapping[str, list[str]], start: str) -> set[str]:
    seen: set[str] = set()
    stack = list(graph.get(start, []))
    while stack:
        uid = stack.pop()
        if uid in seen:
            continue
        seen.add(uid)
        stack.extend(graph.get(uid, []))
    return seen


def _model_id(manifest: Any, name: str) -> str:
    for uid, node in manifest.nodes.items():
        if node.resource_type == "model" and node.name == name:
            return uid
    raise BuildError(f"the dbt manifest has no enabled model {name!r}")


def plan_phases(manifest: Any) -> Phases:
    """Split the resource nodes into the three dbt phases around the two identity steps."""
    graph = _parents(manifest)
    resources = {
        uid: node
        for uid, node in manifest.nodes.items()
        if node.resource_type in ("model", "seed", "snapshot")
    }
    scored, clusters = _model_id(manifest, SCORED_PAIRS), _model_id(manifest, RECORD_CLUSTERS)
    first = {uid for uid in _ancestors(graph, scored) if uid in resources}
    second = ({uid for uid in _ancestors(graph, clusters) if uid in resources} | {scored}) - first
    if clusters in first | second:
        raise BuildError(f"{RECORD_CLUSTERS} is upstream of the scoring step: the phases cannot be ordered")
    rest = set(resources) - first - second

    def names(uids: Iterable[str]) -> list[str]:
        return sorted(resources[uid].name for uid in uids)

    return Phases(names(first), names(second), names(rest))


def expected_nodes(manifest: Any) -> set[str]:
    """Every node a full ``dbt build`` executes."""
    nodes = {uid for uid, node in manifest.nodes.items() if node.resource_type in EXECUTED_KINDS}
    return nodes | set(getattr(manifest, "unit_tests", {}))


class DbtSession:
    """dbt's programmatic API for one project, target and set of vars (parsed once)."""

    def __init__(
        self,
        target: str,
        vars_: Mapping[str, Any] | None = None,
        project_dir: Path = DBT_PROJECT_DIR,
        target_path: Path | None = None,
        *,
        full_refresh: bool = False,
    ) -> None:
        from dbt.cli.main import dbtRunner

        self.full_refresh = full_refresh

        self.common = [
            "--project-dir",
            str(project_dir),
            "--profiles-dir",
            str(project_dir),
            "--target",
            target,
        ]
        if vars_:
            self.common += ["--vars", json.dumps(dict(vars_))]
        if target_path is not None:
            self.common += ["--target-path", str(target_path)]
        parsed = dbtRunner().invoke(["parse", *self.common])
        if not parsed.success or parsed.result is None:
            raise BuildError(f"dbt parse failed for target {target}: {parsed.exception}")
        self.manifest = parsed.result
        self._runner = dbtRunner(manifest=self.manifest)

    def build(self, phase: str, args: list[str]) -> list[str]:
        """Run ``dbt build <args>``; the executed unique_ids; BuildError naming failures."""
        refresh = ["--full-refresh"] if self.full_refresh else []
        result = self._runner.invoke(["build", *refresh, *args, *self.common])
        run = result.result
        outcomes = [(r.node.unique_id, str(r.status), r.message) for r in getattr(run, "results", None) or []]
        failed = [f"{uid}: {status} {(message or '')[:300]}" for uid, status, message in outcomes
                  if status not in OK_STATUSES and not uid.startswith("exposure.")]  # fmt: skip
        if failed or not result.success:
            detail = "\n  ".join(failed) or str(result.exception)
            raise BuildError(f"phase {phase!r} failed ({len(failed)} nodes):\n  {detail}")
        return [uid for uid, _, _ in outcomes if uid.split(".")[0] in EXECUTED_KINDS]


def _timed(phases: list[PhaseResult], name: str, work: Callable[[], tuple[list[str], str]]) -> None:
    started = time.perf_counter()
    log.info("phase %s ...", name)
    executed, detail = work()
    phases.append(PhaseResult(name, time.perf_counter() - started, executed, detail))
    log.info("phase %s done in %.1f s", name, phases[-1].seconds)


def build(
    engine: Engine,
    vars_: Mapping[str, Any] | None = None,
    *,
    full_refresh: bool = False,
    target_path: Path | None = None,
    project_dir: Path = DBT_PROJECT_DIR,
) -> BuildReport:
    """Run every seed, model, snapshot, data test and unit test on the engine's dbt target
    (``full_refresh``: rebuild incremental models and seeds from scratch in every phase)."""
    os.environ.update(engine.dbt_env())
    phases: list[PhaseResult] = []
    started = time.perf_counter()
    session = DbtSession(engine.dbt_target, vars_, project_dir, target_path, full_refresh=full_refresh)
    phases.append(PhaseResult("0 dbt parse", time.perf_counter() - started))
    manifest = session.manifest
    if engine.runs_python_models:
        _timed(phases, "dbt build", lambda: (session.build("dbt build", []), ""))
    else:
        plan = plan_phases(manifest)
        selection = ["--indirect-selection", "buildable", "--select"]
        io = engine.identity_io()
        try:
            contact_records = model_relation(manifest, CONTACT_RECORDS)
            _timed(
                phases,
                "1 dbt: upstream of scoring",
                lambda: (session.build("1", [*selection, "source:*", *plan.upstream_of_scoring]), ""),
            )
            _timed(
                phases,
                "2 identity scoring",
                lambda: ([], f"{run_scoring(io, contact_records, identity_config(manifest))} pairs"),
            )
            _timed(
                phases,
                "3 dbt: between the steps",
                lambda: (session.build("3", [*selection, *plan.between_steps]), ""),
            )
            _timed(
                phases,
                "4 identity clustering",
                lambda: (
                    [],
                    f"{run_clustering(io, contact_records, model_relation(manifest, MATCH_EDGES))} records",
                ),
            )
        finally:
            io.close()
        _timed(phases, "5 dbt: everything else", lambda: (session.build("5", [*selection, *plan.rest]), ""))
    report = BuildReport(engine.name, phases)
    check_complete(report, expected_nodes(manifest))
    return report


def check_complete(report: BuildReport, expected: set[str]) -> None:
    """The phases ran every node of a full ``dbt build`` exactly once."""
    runs = [uid for phase in report.phases for uid in phase.executed]
    executed = set(runs)
    repeated = sorted({uid for uid in runs if runs.count(uid) > 1})
    missing, extra = sorted(expected - executed), sorted(executed - expected)
    if missing or extra or repeated:
        raise BuildError(
            f"the phases on {report.engine} differ from a full dbt build: "
            f"{len(missing)} never ran {missing[:20]}, {len(extra)} unexpected {extra[:20]}, "
            f"{len(repeated)} ran twice {repeated[:20]}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build and test the dbt project on one engine, in phases.")
    parser.add_argument("--target", required=True, help="engine / dbt target: duckdb, postgres, spark")
    parser.add_argument("--vars", default=None, help="dbt vars as YAML/JSON, as for dbt --vars")
    parser.add_argument("--warehouse", type=Path, help="DuckDB warehouse to ship the raw tables from first")
    parser.add_argument("--target-path", type=Path, help="dbt target/ folder (default: dbt's)")
    parser.add_argument("--report", type=Path, help="write the per-phase timings as JSON here")
    parser.add_argument("--full-refresh", action="store_true", help="rebuild incremental models from scratch")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    import yaml

    vars_ = yaml.safe_load(args.vars) if args.vars else None
    engine = load_engine(args.target)
    try:
        if args.warehouse:
            for table, rows in engine.ship_raw(args.warehouse).items():
                print(f"shipped {table}: {rows} rows")
        report = build(engine, vars_, full_refresh=args.full_refresh, target_path=args.target_path)
    except BuildError as exc:
        print(f"BUILD FAILED on {args.target}: {exc}")
        return 1
    finally:
        engine.close()
    print(report.summary())
    if args.report:
        args.report.write_text(json.dumps(report.as_dict(), indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
