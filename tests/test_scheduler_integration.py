"""A real Airflow 3 on loopback runs the whole pipeline, driven through the REST API as a client would.

api-server, scheduler, dag-processor and triggerer run as separate processes with an isolated
AIRFLOW_HOME, in three set-ups: LocalExecutor on PostgreSQL metadata (a fresh database on
``$CRM_TEST_POSTGRES_URL``, dropped afterwards), LocalExecutor on SQLite, and CeleryExecutor (the
docker-compose ``celery`` profile) with a separate ``airflow celery worker`` process, Redis as the broker
(``$CRM_TEST_REDIS_URL``, on a queue of its own) and PostgreSQL for metadata and Celery results. The test
posts a ``crm_ingest`` run; ``crm_transform`` must then be started by the raw assets' events and
``crm_publish`` by the marts asset, and all three succeed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import REPO_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

DAG_IDS = ("crm_ingest", "crm_transform", "crm_publish")
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
#: Upper bounds for each stage on the shared 2-core CI machine.
STARTUP_TIMEOUT_S = 180
RUN_TIMEOUT_S = {"crm_ingest": 240, "crm_transform": 900, "crm_publish": 240}
POLL_S = 2.0
SAMPLE_SALES_LINES = 1_500
SAMPLE_PERSONS = 300
MARTS = ("dim_customers", "fct_sales", "customer_rfm", "customer_value_tiers", "customer_clv")


def _airflow_bin() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Cluster:
    home: Path
    data_dir: Path
    env: dict[str, str]
    base_url: str
    sql_alchemy_conn: str
    password: str
    variant: str
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def log(self, component: str) -> Path:
        return self.home / f"{component}.out"

    def start(self, component: str, *args: str) -> None:
        handle = self.log(component).open("w")
        self.processes[component] = subprocess.Popen(
            [_airflow_bin(), component, *args],
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped with everything it spawned
        )
        handle.close()

    def assert_running(self) -> None:
        for component, proc in self.processes.items():
            if proc.poll() is not None:
                tail = self.log(component).read_text(errors="replace")[-3000:]
                raise AssertionError(f"airflow {component} exited with {proc.returncode}:\n{tail}")

    def stop(self) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for proc in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            # Task processes forked by the executor live in the same group: leave none behind.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _postgres_database(request: pytest.FixtureRequest) -> str:
    """A fresh PostgreSQL database for Airflow's metadata, dropped when the test ends."""
    server_url = sa.engine.make_url(os.environ.get("CRM_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    server_url = server_url.set(drivername="postgresql+psycopg2")
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as con:
            con.execute(sa.text("select 1"))
    except sa.exc.OperationalError as exc:
        engine.dispose()
        pytest.skip(f"PostgreSQL at {server_url.render_as_string(hide_password=True)} unreachable: {exc}")
    name = f"crm_airflow_it_{secrets.token_hex(4)}"
    with engine.connect() as con:
        con.execute(sa.text(f'create database "{name}"'))

    def drop() -> None:
        with engine.connect() as con:
            con.execute(sa.text(f'drop database if exists "{name}" with (force)'))
        engine.dispose()

    request.addfinalizer(drop)
    return server_url.set(database=name).render_as_string(hide_password=False)


def _redis_broker(queue: str) -> str:
    """The Redis broker URL for the Celery set-up (skips when Redis is unreachable, like PostgreSQL)."""
    import redis

    url = os.environ.get("CRM_TEST_REDIS_URL", DEFAULT_REDIS_URL)
    client = redis.Redis.from_url(url, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.skip(f"Redis at {url} unreachable: {exc}")
    finally:
        client.close()
    return url


def _drop_celery_queue(broker_url: str, queue: str) -> None:
    """Remove what the test's queue left in Redis (nothing, when every task ran)."""
    import redis

    client = redis.Redis.from_url(broker_url, socket_connect_timeout=5)
    try:
        client.delete(queue, *client.keys(f"{queue}\x06\x16*"))
    finally:
        client.close()


def _run(cluster: Cluster, *args: str, timeout: float = 600) -> str:
    out = subprocess.run(args, env=cluster.env, capture_output=True, text=True, timeout=timeout, check=False)
    if out.returncode:
        raise AssertionError(
            f"{' '.join(args)} exited {out.returncode}:\n{out.stdout[-2000:]}{out.stderr[-3000:]}"
        )
    return out.stdout


@pytest.fixture(params=["postgres", "sqlite", "celery"])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    from crm.sample_data import GenerationConfig, generate

    home, data_dir = tmp_path / "airflow_home", tmp_path / "data"
    home.mkdir()
    celery = request.param == "celery"
    conn = f"sqlite:///{home / 'airflow.db'}" if request.param == "sqlite" else _postgres_database(request)
    port = _free_port()
    password = secrets.token_urlsafe(16)
    (home / "passwords.json").write_text(json.dumps({"ci": password}), encoding="utf-8")
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor" if celery else "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "6",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base_url}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "ci:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": conn,
        "AIRFLOW__API__BASE_URL": base_url,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_SEC": "2",
        # Parse each DAG file once: they do not change during the test, and parsing costs CPU.
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600",
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "dags"), os.environ.get("PYTHONPATH", "")]),
        "CRM_DATA_DIR": str(data_dir),
        "CRM_WAREHOUSE_PATH": str(data_dir / "warehouse.duckdb"),
        "CRM_SETTLE_SECONDS": "0",
        "CRM_PII_SALT": secrets.token_hex(24),
        "GX_ANALYTICS_ENABLED": "False",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    env.pop("CRM_DBT_MANIFEST_PATH", None)
    env.pop("CRM_SERVING_POSTGRES_URL", None)
    if celery:
        # A queue of the test's own: nothing another run left in Redis reaches this worker.
        queue = f"crm_it_{secrets.token_hex(4)}"
        broker = _redis_broker(queue)
        env |= {
            "AIRFLOW__CELERY__BROKER_URL": broker,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + conn,
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "4",
        }
        request.addfinalizer(lambda: _drop_celery_queue(broker, queue))
    cluster = Cluster(home, data_dir, env, base_url, conn, password, request.param)
    request.addfinalizer(cluster.stop)

    started = time.monotonic()
    generate(data_dir, GenerationConfig(sales_lines=SAMPLE_SALES_LINES, persons=SAMPLE_PERSONS))
    _run(cluster, sys.executable, "-m", "crm.orchestration.dbt_manifest")
    _run(cluster, _airflow_bin(), "db", "migrate")
    _run(cluster, _airflow_bin(), "pools", "set", "duckdb_writer", "1", "DuckDB allows one writer")
    print(f"[{request.param}] prepared in {time.monotonic() - started:.0f}s", flush=True)
    cluster.start("api-server")
    cluster.start("dag-processor")
    cluster.start("scheduler")
    cluster.start("triggerer")
    if celery:
        cluster.start("celery", "worker", "--queues", env["AIRFLOW__OPERATORS__DEFAULT_QUEUE"])
    yield cluster


class Api:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.client = httpx.Client(base_url=cluster.base_url, timeout=30)

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            self.cluster.assert_running()
            try:
                if self.client.get("/api/v2/monitor/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(POLL_S)
        raise AssertionError(f"api-server not healthy after {STARTUP_TIMEOUT_S}s")

    def login(self) -> None:
        response = self.client.post("/auth/token", json={"username": "ci", "password": self.cluster.password})
        assert response.status_code == 201, response.text
        self.client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def request(self, method: str, path: str, **kwargs) -> dict:
        response = self.client.request(method, f"/api/v2{path}", **kwargs)
        assert response.is_success, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        """Every task instance of a run: the API pages (at most `maximum_page_limit`, 100, per call)."""
        instances: list[dict] = []
        while True:
            page = self.request(
                "GET",
                f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
                params={"limit": 100, "offset": len(instances)},
            )
            instances += page["task_instances"]
            if not page["task_instances"] or len(instances) >= page["total_entries"]:
                return instances

    def wait_for_dags(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            self.cluster.assert_running()
            found = {d["dag_id"] for d in self.request("GET", "/dags", params={"limit": 100})["dags"]}
            if set(DAG_IDS) <= found:
                return
            time.sleep(POLL_S)
        errors = self.request("GET", "/importErrors")
        raise AssertionError(f"DAGs not parsed after {STARTUP_TIMEOUT_S}s; import errors: {errors}")

    def runs(self, dag_id: str) -> list[dict]:
        return self.request("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"]

    def wait_for_run(self, dag_id: str, run_id: str) -> dict:
        """The run once it has finished; fails the test if it failed or took too long."""
        return self.wait_until_settled(dag_id, lambda runs: [r for r in runs if r["dag_run_id"] == run_id])[0]

    def wait_until_settled(
        self, dag_id: str, select: Callable[[list[dict]], list[dict]] = lambda runs: runs
    ) -> list[dict]:
        """Wait until the selected runs exist and have all finished; fails on a failed one."""
        deadline = time.monotonic() + RUN_TIMEOUT_S[dag_id]
        while time.monotonic() < deadline:
            self.cluster.assert_running()
            runs = select(self.runs(dag_id))
            if runs and all(r["state"] in ("success", "failed") for r in runs):
                failed = {
                    r["dag_run_id"]: self.failed_tasks(dag_id, r) for r in runs if r["state"] == "failed"
                }
                assert not failed, f"{dag_id} run(s) failed: {failed}"
                return runs
            time.sleep(POLL_S)
        raise AssertionError(f"{dag_id} runs did not finish within {RUN_TIMEOUT_S[dag_id]}s")

    def failed_tasks(self, dag_id: str, run: dict) -> list[str]:
        instances = self.request(
            "GET", f"/dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances", params={"limit": 500}
        )["task_instances"]
        return [f"{t['task_id']}={t['state']}" for t in instances if t["state"] not in ("success", "skipped")]


def _hold_back_scheduled_runs(cluster: Cluster) -> None:
    """Unpausing a catchup=False DAG runs its latest missed cron interval at once. A client that
    wants just the asset-driven chain it triggers clears the DAGs' next cron run first."""
    engine = sa.create_engine(cluster.sql_alchemy_conn)
    try:
        with engine.begin() as con:
            con.execute(
                sa.text("update dag set next_dagrun_create_after = null where dag_id in :ids").bindparams(
                    sa.bindparam("ids", expanding=True)
                ),
                {"ids": list(DAG_IDS)},
            )
    finally:
        engine.dispose()


def test_real_scheduler_runs_the_pipeline_from_the_rest_api(cluster: Cluster) -> None:
    timings: dict[str, float] = {}
    clock = time.monotonic()
    api = Api(cluster)
    api.wait_until_up()
    api.login()
    api.wait_for_dags()
    timings["up"] = time.monotonic() - clock
    _hold_back_scheduled_runs(cluster)
    for dag_id in DAG_IDS:
        assert api.request("PATCH", f"/dags/{dag_id}", json={"is_paused": False})["is_paused"] is False

    logical_date = dt.datetime.now(dt.UTC).replace(microsecond=0)
    run = api.request(
        "POST", "/dags/crm_ingest/dagRuns", json={"logical_date": logical_date.isoformat(), "conf": {}}
    )
    clock = time.monotonic()
    api.wait_for_run("crm_ingest", run["dag_run_id"])
    timings["crm_ingest"] = time.monotonic() - clock
    # Each raw asset event can start a transform run (AssetAny); runs queue behind each other
    # (max_active_runs=1), so wait for all of them, then for the publish runs they triggered.
    transforms = api.wait_until_settled("crm_transform")
    timings["crm_transform"] = time.monotonic() - clock - timings["crm_ingest"]
    publishes = api.wait_until_settled("crm_publish")
    timings["crm_publish"] = time.monotonic() - clock - timings["crm_ingest"] - timings["crm_transform"]
    print(
        f"[{cluster.variant}] timings (s): {json.dumps({k: round(v, 1) for k, v in timings.items()})}; "
        f"transform runs {len(transforms)}, publish runs {len(publishes)}",
        flush=True,
    )

    # Only the client's run and the runs the assets triggered: no cron run slipped in.
    assert [r["run_type"] for r in api.runs("crm_ingest")] == ["manual"]
    for dag_id, runs in (("crm_transform", transforms), ("crm_publish", publishes)):
        assert {r["run_type"] for r in runs} == {"asset_triggered"}, f"{dag_id}: {runs}"
    last = max(transforms, key=lambda r: r["run_after"])
    instances = api.task_instances("crm_transform", last["dag_run_id"])
    states = {t["task_id"]: t["state"] for t in instances}
    if cluster.variant == "celery":
        # Every task went through the test's Celery queue, and the worker process ran them.
        queue = cluster.env["AIRFLOW__OPERATORS__DEFAULT_QUEUE"]
        assert {t["queue"] for t in instances} == {queue}, {t["queue"] for t in instances}
        worker_log = cluster.log("celery").read_text(errors="replace")
        assert "succeeded in" in worker_log, worker_log[-3000:]
    assert states["fit_clv"] == states["refresh_clv_dependants"] == "success"
    assert states["dbt_build.dim_customers.run"] == states["dbt_build.dim_customers.test"] == "success"
    assert sum(task_id.startswith("dbt_build.") for task_id in states) > 50, sorted(states)

    with duckdb.connect(str(cluster.data_dir / "warehouse.duckdb"), read_only=True) as con:
        for mart in MARTS:
            (rows,) = con.execute(f"select count(*) from marts.{mart}").fetchone()
            assert rows > 0, f"marts.{mart} is empty"
        (customers,) = con.execute("select count(distinct customer_id) from marts.dim_customers").fetchone()
        (dupes,) = con.execute(
            "select count(*) - count(distinct customer_id) from marts.dim_customers"
        ).fetchone()
        assert customers > 0 and dupes == 0
        (clv_runs,) = con.execute("select count(*) from marts.clv_model_runs").fetchone()
        assert clv_runs == len(transforms)
    assert (cluster.data_dir / "published" / "report.html").is_file()
