"""The read-ahead worker (a second process reading and normalising the next file) changes nothing but
the time: the same rows load, the same rows are quarantined for the same reasons, and when the worker
fails or dies, files fail or are read in-process exactly as without it.

Faults are injected into the worker through a ``sitecustomize`` module on its ``PYTHONPATH``: patches
made in the test process do not reach another process.
"""

from __future__ import annotations

import logging
import shutil
import textwrap
from pathlib import Path

import duckdb
import pytest

from crm.config import Settings
from crm.ingest.run import IngestionFailed, ingest
from crm.sample_data import GenerationConfig, generate
from tests.conftest import write_landing

SALES_HEADER = (
    "order_id,line_no,order_date,customer_ref,sku,product_name,category,quantity,unit_price,"
    "unit_cost,discount,channel,salesperson,original_order_id\n"
)
#: Tables compared between runs (None: all columns but the run-specific ones).
TABLES: dict[str, str | None] = {
    "raw.sales": None,
    "raw.questionnaires": None,
    "raw.reply_cards": None,
    "quarantine.sales": None,
    "quarantine.questionnaires": None,
    "quarantine.reply_cards": None,
    "audit.file_manifest": "file_name, source, status, rows_read, rows_loaded, rows_quarantined, "
    "file_type, encoding",
    "audit.dq_results": "file_name, expectation_type, column_name, reason_code, success, element_count, "
    "unexpected_count",
}
RUN_SPECIFIC = ("_batch_id", "_loaded_at")


def _rows(warehouse: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        out = {}
        for table, columns in TABLES.items():
            columns = columns or f"* exclude ({', '.join(RUN_SPECIFIC)})"
            out[table] = sorted(con.execute(f"select {columns} from {table}").fetchall(), key=repr)
        return out


def _ingest(data_dir: Path, monkeypatch: pytest.MonkeyPatch, read_ahead: str) -> list:
    monkeypatch.setenv("CRM_READ_AHEAD", read_ahead)
    return ingest(Settings.from_env(), build_docs=False, raise_on_error=False)


def _inject(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: str) -> None:
    """Run ``code`` at the start of every Python process started from now on (the worker)."""
    site = tmp_path / "worker_site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(textwrap.dedent(code), encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", f"{site}:{Path(__file__).resolve().parents[1] / 'dags'}")


def test_the_same_rows_load_and_quarantine_with_and_without_read_ahead(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample = tmp_path / "sample"
    generate(sample, GenerationConfig(sales_lines=4000, seed=5))  # every kind of defect and file type
    results = {}
    for read_ahead in ("0", "1"):
        shutil.rmtree(data_dir)
        shutil.copytree(sample / "landing", data_dir / "landing")
        monkeypatch.setenv("CRM_CHUNK_ROWS", "700")  # several chunks per file
        summaries = _ingest(data_dir, monkeypatch, read_ahead)
        results[read_ahead] = ([s.as_dict() for s in summaries], _rows(data_dir / "warehouse.duckdb"))
    summaries = results["1"][0]
    assert (
        sum(s["rows_quarantined"] for s in summaries) > 0 and sum(s["files_rejected"] for s in summaries) > 0
    )
    assert results["1"] == results["0"]


def test_a_crash_while_reading_in_the_worker_fails_only_that_file(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _inject(
        tmp_path,
        monkeypatch,
        """
        from crm.ingest import readers

        original = readers.open_csv

        def crashing(path, source, chunk_rows):
            opened = original(path, source, chunk_rows)
            if path.name != "b.csv":
                return opened

            def chunks():
                raise MemoryError("simulated: the reader ran out of memory")
                yield

            opened._iterator = chunks()
            return opened

        readers.OPENERS["csv"] = crashing
        """,
    )
    for name, order in (("a.csv", "SO-1"), ("b.csv", "SO-2"), ("c.csv", "SO-3")):
        write_landing(
            data_dir,
            "sales",
            name,
            SALES_HEADER + f"{order},1,2024-01-05,M00001234,S1,p,c,1,10,5,0,store,,\n",
        )
    monkeypatch.setenv("CRM_READ_AHEAD", "1")
    with pytest.raises(IngestionFailed, match=r"sales/b\.csv: .*MemoryError: simulated"):
        ingest(Settings.from_env(), build_docs=False)
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        statuses = con.execute("select file_name, status from audit.file_manifest order by 1").fetchall()
        loaded = con.execute("select order_id from raw.sales order by 1").fetchall()
    assert statuses == [("a.csv", "loaded"), ("b.csv", "failed"), ("c.csv", "loaded")]
    assert loaded == [("SO-1",), ("SO-3",)]
    assert (data_dir / "landing" / "sales" / "b.csv").exists()


def test_when_the_worker_dies_the_files_are_read_in_process(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _inject(
        tmp_path,
        monkeypatch,
        """
        import os
        from crm.ingest import readers

        original = readers.open_csv

        def dying(path, source, chunk_rows):
            if path.name == "b.csv":
                os._exit(3)
            return original(path, source, chunk_rows)

        readers.OPENERS["csv"] = dying
        """,
    )
    for name, order in (("a.csv", "SO-1"), ("b.csv", "SO-2"), ("c.csv", "SO-3")):
        write_landing(
            data_dir,
            "sales",
            name,
            SALES_HEADER + f"{order},1,2024-01-05,M00001234,S1,p,c,1,10,5,0,store,,\n",
        )
    monkeypatch.setenv("CRM_READ_AHEAD", "1")
    with caplog.at_level(logging.WARNING):
        summary = ingest(Settings.from_env(), build_docs=False)[2]
    assert (summary.files_loaded, summary.rows_loaded, summary.files_failed) == (3, 3, 0)
    assert "read-ahead worker exited (exit code 3)" in caplog.text
