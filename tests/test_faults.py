"""Faults injected into real processes: SIGKILL during a load and during ``dbt build``, two ingestions at
once, a failing archive folder, a reader crash, and the whole pipeline run twice on the same inputs.

The promise proven here: no partial rows, no row lost, none counted twice, the previous marts stay
readable, and every re-run completes.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from crm.config import Settings
from crm.ingest import readers
from crm.ingest.run import IngestionFailed, ingest
from crm.warehouse import connect, ensure_schema
from tests.conftest import REPO_ROOT, write_landing

VENV_BIN = REPO_ROOT / ".venv" / "bin"
DBT_PROJECT = REPO_ROOT / "dbt_project"
REFERENCE_DATE = "2025-01-01"
SALES_HEADER = "訂單編號,項次,訂單日期,客戶,料號,品名,類別,數量,單價,單位成本,折扣,通路,業務員,原訂單編號\n"


def pipeline_env(data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "CRM_DATA_DIR": str(data_dir),
        "CRM_WAREHOUSE_PATH": str(data_dir / "warehouse.duckdb"),
        "CRM_SETTLE_SECONDS": "0",
        "CRM_DBT_THREADS": "1",
        "CRM_PII_SALT": "faults-test-salt",
        "PYTHONPATH": str(REPO_ROOT / "dags"),
        "GX_ANALYTICS_ENABLED": "False",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


def run_checked(args: list[str], env: dict[str, str], cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} exited {done.returncode}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        )
    return done


def ingest_command() -> list[str]:
    return [str(VENV_BIN / "python"), "-m", "crm.ingest", "--no-docs"]


def dbt_command(data_dir: Path, *args: str) -> list[str]:
    target = data_dir / "dbt_target"
    return [
        str(VENV_BIN / "dbt"),
        *args,
        "--profiles-dir",
        ".",
        "--target-path",
        str(target),
        "--log-path",
        str(target / "logs"),
        "--vars",
        f'{{reference_date: "{REFERENCE_DATE}"}}',
        # dbt unit tests are data-independent (and one assumes reference_date is unset): the data
        # tests still run; the unit tests belong to the dbt suite, not to these fault runs.
        "--exclude-resource-type",
        "unit_test",
    ]


def query(warehouse: Path, sql: str, params: list[object] | None = None) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


#: Lineage columns the marts carry that name a run (batch id with its timestamp, load time, and when an
#: incremental model last (re)computed the row): the only run-specific values, left out of the
#: content checksum.
RUN_SPECIFIC_COLUMNS = frozenset({"_batch_id", "_loaded_at", "_computed_at"})
#: Doubles are compared to 12 significant digits: DuckDB's parallel aggregation may sum floating
#: point values in a different order from run to run, which changes the last bit (1 ulp).
DOUBLE_FORMAT = "{:.12g}"


def mart_checksums(warehouse: Path) -> dict[str, str]:
    """md5 of each ``marts`` table's rows, sorted (content only, not physical order)."""
    sums: dict[str, str] = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        columns = con.execute(
            """
            select c.table_name, c.column_name, c.data_type
            from information_schema.columns c join information_schema.tables t
                on t.table_schema = c.table_schema and t.table_name = c.table_name
            where c.table_schema = 'marts' and t.table_type = 'BASE TABLE'
            order by c.table_name, c.ordinal_position
            """
        ).fetchall()
        tables: dict[str, list[str]] = {}
        for table, column, data_type in columns:
            if column in RUN_SPECIFIC_COLUMNS:
                continue
            value = f'"{column}"'
            if data_type in ("DOUBLE", "FLOAT", "REAL"):
                value = f"format('{DOUBLE_FORMAT}', {value})"
            tables.setdefault(table, []).append(f"coalesce(cast({value} as varchar), '<null>')")
        for table, values in tables.items():
            (digest,) = con.execute(
                f"select md5(coalesce(string_agg(r, chr(10) order by r), '')) "
                f"from (select concat_ws('|', {', '.join(values)}) as r from marts.\"{table}\")"
            ).fetchone()
            sums[table] = digest
    return sums


# --- SIGKILL in the middle of a large load ------------------------------------------------------------


def write_large_sales(path: Path, lines: int) -> None:
    """A valid sales export of ``lines`` order lines (four lines per order)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(SALES_HEADER)
        for i in range(lines):
            fh.write(
                f"K{i // 4:07d},{i % 4 + 1},2024-{i % 12 + 1:02d}-{i % 28 + 1:02d},M{i % 40_000:08d},"
                f"SKU-{i % 300:03d},商品{i % 300},類別{i % 7},{i % 3 + 1},{100 + i % 300},60,0,"
                f"門市,業務{i % 9},\n"
            )


def wait_for(predicate, timeout_s: float, what: str, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if process is not None and process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"process ended before {what}: rc={process.returncode}\n{out[-3000:]}\n{err[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


#: ``python -m crm.ingest --no-docs`` that stops, alive, once two chunks of a file are written (argv[1]:
#: the marker file it then creates).
HELD_INGEST = """
import pathlib, sys, time
from crm.ingest import loader
from crm.ingest.__main__ import main

marker = pathlib.Path(sys.argv[1])
write_part = loader.FileLoader._write_part
written = []


def held_write_part(self, *args, **kwargs):
    write_part(self, *args, **kwargs)
    written.append(1)
    if len(written) == 2:
        marker.write_text("two chunks written, not committed")
        time.sleep(600)


loader.FileLoader._write_part = held_write_part
sys.exit(main(["--no-docs"]))
"""


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_sigkill_mid_load_leaves_no_rows_and_the_rerun_loads_exactly_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    warehouse = data_dir / "warehouse.duckdb"
    lines = 400_000
    big = data_dir / "landing" / "sales" / "big_export.csv"
    write_large_sales(big, lines)
    past = time.time() - 60
    os.utime(big, (past, past))
    with connect(warehouse) as con:  # schema first: the next write to the WAL is the manifest's 'loading'
        ensure_schema(con)
    env = pipeline_env(data_dir) | {"CRM_CHUNK_ROWS": "50000"}
    # The real ingestion, held after its second chunk is written inside the file's open transaction:
    # the kill lands mid-file however fast the load runs (a fixed sleep stopped doing so once the
    # load got fast enough to finish within it).
    marker = tmp_path / "two_chunks_written"
    held = tmp_path / "held_ingest.py"
    held.write_text(HELD_INGEST, encoding="utf-8")
    loader = subprocess.Popen(
        [str(VENV_BIN / "python"), str(held), str(marker)],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(marker.exists, 300, "two chunks written", loader)
        assert loader.poll() is None
        os.kill(loader.pid, signal.SIGKILL)
    finally:
        loader.wait(timeout=60)
        loader.communicate()
    assert loader.returncode == -signal.SIGKILL

    manifest = query(
        warehouse, "select batch_id, status from audit.file_manifest where file_name = 'big_export.csv'"
    )
    assert [status for _, status in manifest] == ["loading"], "the killed load is visible as unfinished"
    assert query(warehouse, "select count(*) from raw.sales") == [(0,)], "no partial rows"
    assert query(warehouse, "select count(*) from quarantine.sales") == [(0,)]
    assert big.exists(), "the file stays in landing"

    run_checked(ingest_command(), env)
    after = query(
        warehouse,
        "select batch_id, status, rows_read, rows_loaded, rows_quarantined from audit.file_manifest "
        "where file_name = 'big_export.csv'",
    )
    assert after == [(manifest[0][0], "loaded", lines, lines, 0)], "the same batch resumed, exactly once"
    counts = query(warehouse, "select count(*), count(distinct (order_id, line_no)) from raw.sales")
    assert counts == [(lines, lines)], "every row once, no duplicates"
    assert not big.exists()


# --- two ingestions at once ----------------------------------------------------------------------------


@pytest.mark.timeout(600)
def test_two_ingestions_started_together_serialise_and_load_each_file_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    for month in range(1, 5):
        rows = "".join(
            f"C{month}-{n},1,2024-{month:02d}-{n % 27 + 1:02d},M{n:08d},SKU-{n % 5},品,類,1,100,50,0,門市,,\n"
            for n in range(1, 2001)
        )
        write_landing(data_dir, "sales", f"sales_{month}.csv", SALES_HEADER + rows)
    past = time.time() - 60
    for path in (data_dir / "landing" / "sales").iterdir():
        os.utime(path, (past, past))
    env = pipeline_env(data_dir)
    processes = [
        subprocess.Popen(
            ingest_command(),
            env=env,
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [(p.wait(timeout=500), *p.communicate()) for p in processes]
    for returncode, _out, err in results:
        assert returncode == 0, err[-3000:]
        assert "Traceback" not in err and "Could not set lock" not in err, err[-3000:]
    warehouse = data_dir / "warehouse.duckdb"
    manifest = query(warehouse, "select file_name, status, rows_loaded from audit.file_manifest order by 1")
    assert manifest == [(f"sales_{m}.csv", "loaded", 2000) for m in range(1, 5)], "each file loaded once"
    assert query(warehouse, "select count(*), count(distinct (order_id, line_no)) from raw.sales") == [
        (8000, 8000)
    ]
    assert not any((data_dir / "landing" / "sales").iterdir())


# --- the archive folder cannot be written -----------------------------------------------------------


def _sales_file(data_dir: Path, name: str, rows: int = 3) -> Path:
    body = "".join(
        f"A-{name}-{n},1,2024-03-05,M00000001,SKU-1,品,類,1,100,50,0,門市,,\n" for n in range(rows)
    )
    return write_landing(data_dir, "sales", name, SALES_HEADER + body)


def _archive_then_rerun(data_dir: Path, path: Path) -> None:
    warehouse = data_dir / "warehouse.duckdb"
    assert path.exists(), "the input file is still in place"
    assert query(warehouse, "select count(*) from raw.sales") == [(3,)], "no row lost"
    assert query(warehouse, "select status, stored_path from audit.file_manifest") == [("loaded", None)]
    summary = ingest(Settings.from_env(), build_docs=False)[2]
    assert (summary.rows_loaded, summary.files_failed) == (0, 0), "the re-run archives without reloading"
    assert not path.exists()
    assert query(warehouse, "select count(*) from raw.sales") == [(3,)]
    (stored,) = query(warehouse, "select stored_path from audit.file_manifest")[0]
    assert Path(stored).is_file() and Path(stored).parent.parent.parent == data_dir / "archive"


def test_archive_folder_not_writable_gives_a_clear_error_and_loses_nothing(data_dir: Path) -> None:
    path = _sales_file(data_dir, "march.csv")
    (data_dir / "archive").write_text(
        "a file where the archive folder should be"
    )  # mkdir fails, even as root
    with pytest.raises(IngestionFailed) as failure:
        ingest(Settings.from_env(), build_docs=False)
    message = str(failure.value)
    assert "sales/march.csv" in message and "stays in landing" in message and "archive" in message
    (data_dir / "archive").unlink()
    _archive_then_rerun(data_dir, path)


def test_disk_full_while_archiving_gives_a_clear_error_and_loses_nothing(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _sales_file(data_dir, "april.csv")

    def disk_full(src, dst, *args, **kwargs):
        Path(dst).write_bytes(b"partial")  # a half-written copy, as a full disk leaves it
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))

    monkeypatch.setattr(shutil, "copy2", disk_full)
    with pytest.raises(IngestionFailed, match=r"sales/april\.csv: could not move .*No space left on device"):
        ingest(Settings.from_env(), build_docs=False)
    monkeypatch.undo()
    monkeypatch.setenv("CRM_DATA_DIR", str(data_dir))
    monkeypatch.setenv("CRM_WAREHOUSE_PATH", str(data_dir / "warehouse.duckdb"))
    monkeypatch.setenv("CRM_SETTLE_SECONDS", "0")
    _archive_then_rerun(data_dir, path)
    assert not list((data_dir / "archive").rglob("*.moving")), "the half-written copy was replaced"


def test_rejected_folder_not_writable_keeps_the_file_and_rejects_it_on_the_rerun(data_dir: Path) -> None:
    path = write_landing(data_dir, "sales", "broken.csv", b"")
    (data_dir / "rejected").write_text("not a folder")
    with pytest.raises(IngestionFailed, match=r"sales/broken\.csv: could not move"):
        ingest(Settings.from_env(), build_docs=False)
    assert path.exists()
    (data_dir / "rejected").unlink()
    summary = ingest(Settings.from_env(), build_docs=False)[2]
    assert summary.files_rejected == 1 and not path.exists()
    statuses = query(data_dir / "warehouse.duckdb", "select status, reason from audit.file_manifest")
    assert len(statuses) == 1 and statuses[0][0] == "rejected" and statuses[0][1].startswith("empty_file")


def test_a_reader_crash_fails_only_that_file_and_the_run_goes_on(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = _sales_file(data_dir, "good.csv")
    bad = write_landing(
        data_dir,
        "reply_cards",
        "cards.jsonl",
        '{"card_id": "C1", "name": "x", "card_received_date": "2024-01-02"}\n',
    )
    original = readers.open_jsonl

    def crashing(path, source, chunk_rows):
        opened = original(path, source, chunk_rows)

        def chunks():
            raise MemoryError("simulated: the reader ran out of memory")
            yield  # pragma: no cover

        opened._iterator = chunks()
        return opened

    monkeypatch.setitem(readers.OPENERS, "jsonl", crashing)
    with pytest.raises(IngestionFailed, match=r"reply_cards/cards\.jsonl: MemoryError"):
        ingest(Settings.from_env(), build_docs=False)
    assert bad.exists() and not good.exists(), "the other file loaded; the failed one waits for a retry"
    warehouse = data_dir / "warehouse.duckdb"
    assert query(warehouse, "select file_name, status from audit.file_manifest order by 1") == [
        ("cards.jsonl", "failed"),
        ("good.csv", "loaded"),
    ]
    monkeypatch.setitem(readers.OPENERS, "jsonl", original)
    assert ingest(Settings.from_env(), build_docs=False)[1].rows_loaded == 1


# --- the whole pipeline: twice on the same inputs, and dbt killed mid-build ---------------------------


#: Hand-made consent histories added to the generated sample (asserted in test_pii_and_secrets.py):
#: member id -> (name, phone, e-mail, [(card_received_date, answer)]) and the expected
#: (marketing_consent, marketing_contactable) of that customer.
CONSENT_CASES: dict[str, tuple[str, str, str, list[tuple[str, str]], tuple[bool, bool]]] = {
    "M99990001": ("測試甲", "0987000111", "", [("2024-02-01", "是"), ("2024-06-01", "否")], (False, False)),
    "M99990002": (
        "測試乙",
        "0987000222",
        "b2@example.org",
        [("2024-02-01", "否"), ("2024-06-01", "是")],
        (True, True),
    ),
    "M99990003": ("測試丙", "", "c3@example.org", [("2024-03-01", "是"), ("2024-07-01", "")], (True, True)),
    "M99990004": ("測試丁", "", "", [("2024-04-01", "是")], (True, False)),
}


def consent_cards() -> str:
    lines = []
    for member_id, (name, phone, email, answers, _) in CONSENT_CASES.items():
        for number, (received, answer) in enumerate(answers, start=1):
            card = {
                "card_id": f"CONSENT-{member_id}-{number}",
                "member_id": member_id,
                "name": name,
                "phone": phone,
                "email": email,
                "address": f"台北市信義區松仁路{member_id[-2:]}號",
                "card_received_date": received,
                "marketing_consent": answer,
            }
            lines.append(json.dumps(card, ensure_ascii=False))
    return "\n".join(lines) + "\n"


@dataclass
class BuiltSample:
    data_dir: Path
    pristine_landing: Path
    checksums: dict[str, str]

    @property
    def warehouse(self) -> Path:
        return self.data_dir / "warehouse.duckdb"


def build_pipeline(data_dir: Path) -> dict[str, str]:
    env = pipeline_env(data_dir)
    run_checked(ingest_command(), env)
    run_checked(dbt_command(data_dir, "build"), env, cwd=DBT_PROJECT)
    return mart_checksums(data_dir / "warehouse.duckdb")


_BUILT: dict[str, BuiltSample] = {}


@pytest.fixture(scope="session")
def built_sample(tmp_path_factory: pytest.TempPathFactory) -> BuiltSample:
    """A generated sample, ingested and built once per session. test_pii_and_secrets.py re-exports this
    fixture (which registers it a second time): the cache makes both share one build."""
    if "sample" not in _BUILT:
        _BUILT["sample"] = _build_sample(tmp_path_factory)
    return _BUILT["sample"]


def _build_sample(tmp_path_factory: pytest.TempPathFactory) -> BuiltSample:
    import datetime as dt

    from crm.sample_data import GenerationConfig, generate

    root = tmp_path_factory.mktemp("pipeline")
    data_dir = root / "first"
    generate(
        data_dir,
        GenerationConfig(
            seed=7, sales_lines=3000, persons=300, start=dt.date(2024, 1, 1), end=dt.date(2024, 12, 31)
        ),
    )
    write_landing(data_dir, "reply_cards", "consent_cases.jsonl", consent_cards())
    pristine = root / "landing_copy"
    shutil.copytree(data_dir / "landing", pristine)
    for path in (data_dir / "landing").rglob("*"):
        if path.is_file():
            os.utime(path, (time.time() - 60, time.time() - 60))
    return BuiltSample(data_dir, pristine, build_pipeline(data_dir))


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_pipeline_twice_on_the_same_inputs_gives_identical_marts(
    built_sample: BuiltSample, tmp_path: Path
) -> None:
    assert len(built_sample.checksums) >= 10, built_sample.checksums
    second = tmp_path / "second"
    shutil.copytree(built_sample.pristine_landing, second / "landing")
    assert build_pipeline(second) == built_sample.checksums


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize(
    ("layer", "delay_s"),
    [
        ("intermediate", 3.0),  # while identity resolution and classification are rebuilt
        ("marts", 1.0),  # while the marts themselves are being replaced
    ],
)
def test_killing_dbt_build_keeps_the_previous_marts_and_the_rerun_completes(
    built_sample: BuiltSample, layer: str, delay_s: float
) -> None:
    env = pipeline_env(built_sample.data_dir)
    log = built_sample.data_dir / f"dbt_killed_in_{layer}.log"
    with log.open("w") as out:
        build = subprocess.Popen(
            dbt_command(built_sample.data_dir, "build"),
            env=env,
            cwd=DBT_PROJECT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            marker = f" model {layer}."
            wait_for(lambda: marker in log.read_text(errors="replace"), 600, f"dbt to reach {layer}", build)
            time.sleep(delay_s)
            assert build.poll() is None, "dbt finished before it could be killed"
            os.kill(build.pid, signal.SIGKILL)
        finally:
            build.wait(timeout=60)
    assert build.returncode == -signal.SIGKILL
    with duckdb.connect(str(built_sample.warehouse), read_only=True) as con:  # readable right after
        leftovers = con.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where contains(table_name, '__dbt_tmp') or contains(table_name, '__dbt_backup')"
        ).fetchall()
    assert not leftovers, "no half-built relation is left where readers look"
    assert mart_checksums(built_sample.warehouse) == built_sample.checksums, "the previous marts are intact"
    run_checked(dbt_command(built_sample.data_dir, "build"), env, cwd=DBT_PROJECT)
    assert mart_checksums(built_sample.warehouse) == built_sample.checksums, (
        "the re-run completes identically"
    )
