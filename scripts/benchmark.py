"""Benchmark the pipeline against a pandas peer and a DuckDB lower bound (issue 6; ``make bench``).

    python scripts/benchmark.py --sizes 100000 1000000 --repetitions 3 --output docs/benchmarks.md

Generates sales at each size, measures ingestion, ``dbt build``, an incremental run and the whole
Airflow pipeline, runs the references on the same files, checks the RFM tables agree and writes the
report. Exits 1 when the RFM tables disagree. Work data goes to ``--work-dir`` (not the repo).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dags"))

from crm.benchmark.harness import BenchmarkConfig, run_benchmark
from crm.benchmark.report import machine, render, to_json

DEFAULT_SIZES = (100_000, 1_000_000, 10_000_000)
INTRO_MARKER = "## Latest run"


def _intro(output: Path) -> str:
    """The hand-written part of the report (everything before ``## Latest run``) is kept."""
    if output.exists():
        text = output.read_text(encoding="utf-8")
        if INTRO_MARKER in text:
            return text.split(INTRO_MARKER, 1)[0]
    return "# Benchmarks\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES), help="sales lines")
    parser.add_argument("--repetitions", type=int, default=3, help="runs of each stage (default 3)")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/crm-benchmark"))
    parser.add_argument("--output", type=Path, default=Path("docs/benchmarks.md"))
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument(
        "--airflow-repetitions", type=int, help="runs of the whole-pipeline Airflow stage (default: as many)"
    )
    parser.add_argument("--no-airflow", action="store_true", help="skip the whole-pipeline Airflow stage")
    parser.add_argument("--profile-size", type=int, help="cProfile one ingestion at this size")
    args = parser.parse_args(argv)
    if args.repetitions < 1:
        parser.error("--repetitions must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    config = BenchmarkConfig(
        sizes=tuple(args.sizes),
        repetitions=args.repetitions,
        work_dir=args.work_dir.resolve(),
        seed=args.seed,
        airflow_repetitions=0 if args.no_airflow else args.airflow_repetitions,
        profile_size=args.profile_size,
    )
    results = run_benchmark(config)
    (config.work_dir / "results.json").write_text(to_json(results), encoding="utf-8")
    args.output.write_text(render(config, results, _intro(args.output), machine()), encoding="utf-8")
    disagreements = [a for r in results for a in r.agreements if not a.agrees]
    for a in disagreements:
        print(f"RFM disagreement ({a.label}, {a.grain}): {a.mismatches} mismatches; {a.examples[:3]}")
    print(f"wrote {args.output}")
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
