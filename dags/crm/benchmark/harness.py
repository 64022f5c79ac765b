"""Run the benchmark: per size, the pipeline stages and the two references, repeated, plus the check.

Every timed step is a child process measured by ``measure.run_measured``; preparation (generating
data, copying the landing zone into a fresh data folder, transcoding for the lower bound, migrating
the Airflow metadata DB) is outside the timing.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from crm.benchmark import lower_bound
from crm.benchmark.compare import Agreement, check_agreement
from crm.benchmark.datasets import Dataset, prepare_dataset
from crm.benchmark.dbt_nodes import DbtRunProfile, profile_run
from crm.benchmark.measure import Measurement, StageFailed, Summary, run_measured
from crm.benchmark.profiling import Profile, summarise
from crm.config import REPO_ROOT
from crm.orchestration.dbt import dbt_executable, production_dbt_env

log = logging.getLogger(__name__)

#: A fresh salt per benchmark process: hashes only need to be consistent within one run, and no
#: salt value belongs in the repository.
BENCHMARK_PII_SALT = secrets.token_hex(24)
#: The CLV step creates ``clv.customer_clv`` after dbt; on a new warehouse its source tests error, so
#: the stand-alone ``dbt build`` stages leave the source out (Airflow runs the full project).
DBT_EXCLUDE = ("--exclude", "source:clv")

STAGE_INGEST = "ingestion (all sources)"
STAGE_DBT_FULL = "dbt build (full)"
STAGE_INCREMENTAL = "incremental: ingest 1% + dbt build"
STAGE_AIRFLOW = "whole pipeline through Airflow"
STAGE_PEER = "pandas peer (RFM + retention)"
STAGE_LOWER = "DuckDB lower bound (RFM)"
STAGE_RFM_PATH = "RFM path in the warehouse: dbt run staging -> customer_rfm"
STAGE_RFM_RAW_LOWER = "lower bound on raw.sales (one RFM statement)"
#: The dbt part of the incremental stage (its profile; the stage itself adds the 1% ingestion).
INCREMENTAL_DBT = "incremental dbt build (after ingesting 1%)"
#: dbt models from the sales staging view to the RFM mart (intersection of descendants and ancestors).
RFM_PATH_SELECTOR = "stg_sales__order_lines+,+customer_rfm"
LOWER_BOUND = (sys.executable, "-m", "crm.benchmark.lower_bound")


@dataclass(frozen=True)
class BenchmarkConfig:
    sizes: tuple[int, ...]
    repetitions: int
    work_dir: Path
    seed: int = 20240601
    airflow_repetitions: int | None = None  # runs of the Airflow stage; None = repetitions, 0 = skip
    profile_size: int | None = None  # profile ingestion once at this size (cProfile)


@dataclass
class SizeResult:
    dataset: Dataset
    stages: dict[str, Summary] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    agreements: list[Agreement] = field(default_factory=list)
    incremental_parts: dict[str, Summary] = field(default_factory=dict)
    profile: Profile | None = None
    # per dbt stage, the first repetition's nodes: thread time, costliest nodes, critical path
    dbt_profiles: dict[str, DbtRunProfile] = field(default_factory=dict)


def _env(data_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "dags"), env.get("PYTHONPATH", "")]).rstrip(":"),
            "CRM_DATA_DIR": str(data_dir),
            "CRM_WAREHOUSE_PATH": str(data_dir / "warehouse.duckdb"),
            "CRM_SETTLE_SECONDS": "0",
            "CRM_PII_SALT": BENCHMARK_PII_SALT,
            "DBT_TARGET_PATH": str(data_dir / "dbt" / "target"),
            "DBT_LOG_PATH": str(data_dir / "dbt" / "logs"),
            "GX_ANALYTICS_ENABLED": "False",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            # dbt builds as in the pipeline: without the dbt unit tests (they run in `make test`)
            **production_dbt_env(),
        }
    )
    env.update(extra or {})
    return env


def _fresh_data_dir(path: Path, dataset: Dataset) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    shutil.copytree(dataset.landing, path / "landing")
    return path


def _ingest_command() -> list[str]:
    return [sys.executable, "-m", "crm.ingest", "--no-docs"]


def _dbt_build_command() -> list[str]:
    project = str(REPO_ROOT / "dbt_project")
    return [dbt_executable(), "build", "--project-dir", project, "--profiles-dir", project, *DBT_EXCLUDE]


def _dbt_rfm_path_command() -> list[str]:
    # --full-refresh: the incremental models on the path (fct_sales, the orders) must recompute
    # everything like the lower-bound statement does, not find nothing new after the full build
    project = str(REPO_ROOT / "dbt_project")
    selection = ["--select", RFM_PATH_SELECTOR, "--full-refresh"]
    return [dbt_executable(), "run", "--project-dir", project, "--profiles-dir", project, *selection]


def _run_references(dataset: Dataset, root: Path, reps: int, result: SizeResult) -> tuple[Path, Path]:
    manifest = lower_bound.prepare(dataset.landing / "sales", root / "lower_bound_input")
    peer_out, lower_out = root / "peer_out", root / "lower_bound_out"
    env = _env(root / "unused")
    peer, lower = [], []
    for rep in range(reps):
        log.info("size %s rep %s: pandas peer / lower bound", dataset.size, rep + 1)
        peer.append(
            run_measured(
                [sys.executable, "-m", "crm.benchmark.peer", str(dataset.landing / "sales"), str(peer_out)],
                env=env,
                log_path=root / "logs" / f"peer_{rep}.log",
            )
        )
        lower.append(
            run_measured(
                [*LOWER_BOUND, "--manifest", str(manifest), str(lower_out)],
                env=env,
                log_path=root / "logs" / f"lower_bound_{rep}.log",
            )
        )
    result.stages[STAGE_PEER] = Summary.of(peer)
    result.stages[STAGE_LOWER] = Summary.of(lower)
    return peer_out, lower_out


def _run_pipeline(
    dataset: Dataset, root: Path, reps: int, result: SizeResult, peer_out: Path, lower_out: Path
) -> None:
    cwd = REPO_ROOT / "dbt_project"
    ingest, full, rfm_path, rfm_raw, inc_ingest, inc_dbt = [], [], [], [], [], []
    for rep in range(reps):
        log.info("size %s rep %s: ingestion, dbt build, incremental", dataset.size, rep + 1)
        data_dir = _fresh_data_dir(root / "pipeline", dataset)
        env, logs = _env(data_dir), root / "logs"
        dbt_target = Path(env["DBT_TARGET_PATH"])
        ingest.append(run_measured(_ingest_command(), env=env, log_path=logs / f"ingest_{rep}.log"))
        full.append(run_measured(_dbt_build_command(), env=env, cwd=cwd, log_path=logs / f"dbt_{rep}.log"))
        if rep == 0:
            result.dbt_profiles[STAGE_DBT_FULL] = profile_run(dbt_target)
        rfm_path.append(
            run_measured(_dbt_rfm_path_command(), env=env, cwd=cwd, log_path=logs / f"dbt_rfm_{rep}.log")
        )
        if rep == 0:
            result.dbt_profiles[STAGE_RFM_PATH] = profile_run(dbt_target)
        raw_out = root / "lower_bound_raw_out"
        rfm_raw.append(
            run_measured(
                [*LOWER_BOUND, "--warehouse", env["CRM_WAREHOUSE_PATH"], str(raw_out)],
                env=env,
                log_path=logs / f"lower_bound_raw_{rep}.log",
            )
        )
        if rep == 0:
            result.agreements = check_agreement(
                peer_out, lower_out, data_dir / "warehouse.duckdb", raw_lower_dir=raw_out
            )
        for path in dataset.append_files:
            shutil.copy2(path, data_dir / "landing" / "sales" / path.name)
        inc_ingest.append(run_measured(_ingest_command(), env=env, log_path=logs / f"inc_ingest_{rep}.log"))
        inc_dbt.append(
            run_measured(_dbt_build_command(), env=env, cwd=cwd, log_path=logs / f"inc_dbt_{rep}.log")
        )
        if rep == 0:
            result.dbt_profiles[INCREMENTAL_DBT] = profile_run(dbt_target)
        shutil.rmtree(data_dir)
    result.stages[STAGE_INGEST] = Summary.of(ingest)
    result.stages[STAGE_DBT_FULL] = Summary.of(full)
    result.stages[STAGE_RFM_PATH] = Summary.of(rfm_path)
    result.stages[STAGE_RFM_RAW_LOWER] = Summary.of(rfm_raw)
    result.stages[STAGE_INCREMENTAL] = Summary.of_sums(list(zip(inc_ingest, inc_dbt, strict=True)))
    result.incremental_parts = {"ingest 1%": Summary.of(inc_ingest), "dbt build": Summary.of(inc_dbt)}


def _airflow_env(airflow_home: Path) -> dict[str, str]:
    return {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
    }


def prepare_airflow(work_dir: Path) -> dict[str, str]:
    """Migrate a private Airflow metadata DB and create the DuckDB writer pool (``make airflow-init``)."""
    home = work_dir / "airflow_home"
    extra = _airflow_env(home)
    if not (home / "airflow.db").exists():
        home.mkdir(parents=True, exist_ok=True)
        env = _env(work_dir / "unused", extra)
        airflow = str(Path(sys.executable).with_name("airflow"))
        run_measured([airflow, "db", "migrate"], env=env, log_path=home / "db-migrate.log")
        run_measured(
            [airflow, "pools", "set", "duckdb_writer", "1", "DuckDB allows one writer process"],
            env=env,
            log_path=home / "pool.log",
        )
    return extra


def _run_airflow(dataset: Dataset, root: Path, reps: int, result: SizeResult, extra: dict[str, str]) -> None:
    runs: list[Measurement] = []
    for rep in range(reps):
        log.info("size %s rep %s: whole pipeline through Airflow", dataset.size, rep + 1)
        data_dir = _fresh_data_dir(root / "airflow_run", dataset)
        try:
            runs.append(
                run_measured(
                    [sys.executable, "-m", "crm.orchestration.local_run"],
                    env=_env(data_dir, extra),
                    log_path=root / "logs" / f"airflow_{rep}.log",
                )
            )
        except StageFailed as exc:
            result.failures[STAGE_AIRFLOW] = str(exc).splitlines()[0]
            log.error("%s", exc)
            return
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)
    result.stages[STAGE_AIRFLOW] = Summary.of(runs)


def profile_ingestion(dataset: Dataset, root: Path) -> Profile:
    """cProfile one ingestion (outside the timed repetitions) and summarise it."""
    data_dir = _fresh_data_dir(root / "profile", dataset)
    stats_path = root / "ingest.prof"
    command = [sys.executable, "-m", "cProfile", "-o", str(stats_path), "-m", "crm.ingest", "--no-docs"]
    run_measured(command, env=_env(data_dir), log_path=root / "logs" / "profile.log")
    shutil.rmtree(data_dir)
    return summarise(stats_path)


def run_benchmark(config: BenchmarkConfig) -> list[SizeResult]:
    results = []
    airflow_reps = config.repetitions if config.airflow_repetitions is None else config.airflow_repetitions
    airflow_env = prepare_airflow(config.work_dir) if airflow_reps > 0 else None
    for size in config.sizes:
        root = config.work_dir / f"sales_{size}"
        log.info("size %s: preparing data", size)
        dataset = prepare_dataset(root / "data", size, config.seed)
        result = SizeResult(dataset)
        peer_out, lower_out = _run_references(dataset, root, config.repetitions, result)
        _run_pipeline(dataset, root, config.repetitions, result, peer_out, lower_out)
        if airflow_env is not None:
            _run_airflow(dataset, root, airflow_reps, result, airflow_env)
        if config.profile_size == size:
            result.profile = profile_ingestion(dataset, root)
        results.append(result)
    return results
