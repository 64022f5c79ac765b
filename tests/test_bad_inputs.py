"""The bad-input corpus (``tests/fixtures/bad_inputs``) through the real ingestion.

All phase-1 cases land together and are ingested in one run (each case has its own keys and SKUs),
then the phase-2 re-deliveries in a second run: two GX contexts for the whole corpus. Each case then
asserts its own outcome from the manifest, the raw and quarantine tables, the rejected/ sidecars and
the log: rows in / loaded / quarantined, the reason codes per row, and that every message names the
file (and the row or line).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from crm.config import Settings
from crm.ingest.run import SourceSummary, ingest

CORPUS = Path(__file__).resolve().parent / "fixtures" / "bad_inputs"
CASES: list[dict[str, Any]] = json.loads((CORPUS / "cases.json").read_text(encoding="utf-8"))


def landing_name(case: dict[str, Any]) -> str:
    return case.get("landing_name", case["file"])


def case_file(case: dict[str, Any]) -> Path:
    return CORPUS / "files" / case["source"] / case["file"]


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@dataclass
class CorpusRun:
    data_dir: Path
    summaries: list[list[SourceSummary]]
    log: list[str]
    seconds: float

    def query(self, sql: str, params: list[object] | None = None) -> list[tuple]:
        with duckdb.connect(str(self.data_dir / "warehouse.duckdb"), read_only=True) as con:
            return con.execute(sql, params or []).fetchall()

    def manifest(self, case: dict[str, Any]) -> dict[str, Any] | None:
        """The manifest row of the case's file: its landing name and content (a modified re-delivery
        shares the name with its first version, a re-delivery under a new name the content)."""
        sha256 = hashlib.sha256(case_file(case).read_bytes()).hexdigest()
        rows = self.query(
            """
            select status, rows_read, rows_loaded, rows_quarantined, reason, batch_id, stored_path
            from audit.file_manifest where source = ? and file_name = ? and file_sha256 = ?
            order by started_at
            """,
            [case["source"], landing_name(case), sha256],
        )
        if not rows:
            return None
        keys = ("status", "rows_read", "rows_loaded", "rows_quarantined", "reason", "batch_id", "stored_path")
        return dict(zip(keys, rows[-1], strict=True))


def _land(data_dir: Path, cases: list[dict[str, Any]], base_time: float) -> None:
    for offset, case in enumerate(cases):
        target = data_dir / "landing" / case["source"] / landing_name(case)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(case_file(case).read_bytes())
        os.utime(target, (base_time + offset, base_time + offset))  # deterministic pick-up order


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CorpusRun]:
    data_dir = tmp_path_factory.mktemp("bad_inputs") / "data"
    (data_dir / "landing").mkdir(parents=True)
    handler = _Collect()
    logger = logging.getLogger("crm")
    previous_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CRM_DATA_DIR", str(data_dir))
        env.setenv("CRM_WAREHOUSE_PATH", str(data_dir / "warehouse.duckdb"))
        env.setenv("CRM_SETTLE_SECONDS", "0")
        started = time.perf_counter()
        summaries = []
        base = time.time() - 3600
        for phase in (1, 2):
            _land(data_dir, [c for c in CASES if c["phase"] == phase], base + phase * 100)
            summaries.append(ingest(Settings.from_env(), build_docs=False))
        seconds = time.perf_counter() - started
    logger.removeHandler(handler)
    logger.setLevel(previous_level)
    yield CorpusRun(data_dir, summaries, handler.lines, seconds)


def test_corpus_is_large_and_covers_every_source():
    names = [c["case"] for c in CASES]
    assert len(set(names)) == len(names) >= 30
    assert {c["source"] for c in CASES} == {"sales", "questionnaires", "reply_cards"}
    for case in CASES:
        assert case_file(case).is_file(), case["case"]


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_case_outcome(corpus_run: CorpusRun, case: dict[str, Any]) -> None:
    source, name = case["source"], landing_name(case)
    entry = corpus_run.manifest(case)
    if case["status"] == "skipped":
        assert entry is None, "a hidden file name must never be picked up"
        assert (corpus_run.data_dir / "landing" / source / name).is_file(), "and it stays where it was"
        return
    assert entry is not None, f"{name} never reached the manifest"
    assert entry["status"] == case["status"], entry["reason"]
    assert not (corpus_run.data_dir / "landing" / source / name).exists(), "the file left landing"
    stored = Path(entry["stored_path"])
    assert stored.is_file() and stored.resolve().is_relative_to(corpus_run.data_dir.resolve())

    if case["status"] == "rejected":
        _assert_rejected(corpus_run, case, entry, stored)
        return
    read, loaded, quarantined = case["rows"]
    assert (entry["rows_read"], entry["rows_loaded"], entry["rows_quarantined"]) == (
        read,
        loaded,
        quarantined,
    )
    batch = entry["batch_id"]
    if case["status"] == "duplicate":  # recorded and archived, nothing loaded again
        assert stored.parent.parent == corpus_run.data_dir / "archive" / source
        assert all(text in entry["reason"] for text in case["message"]), entry["reason"]
        assert any(f"{source}/{name}: same content as" in line for line in corpus_run.log)
        return
    assert corpus_run.query(f"select count(*) from raw.{source} where _batch_id = ?", [batch])[0][0] == loaded
    rows = corpus_run.query(
        f"""select _source_row, list_sort(reason_codes), reasons, _source_file
        from quarantine.{source} where _batch_id = ? order by _source_row""",
        [batch],
    )
    assert {str(r[0]): r[1] for r in rows} == case["quarantined"]
    assert all(r[3] == name for r in rows), "quarantined rows name their file"
    for row, *_ in rows:  # every quarantined row is spelled out in the log with file and row
        assert any(line.startswith(f"{source}/{name} row {row} quarantined:") for line in corpus_run.log), row
    details = " ".join(r[2] for r in rows) + " " + (entry["reason"] or "")
    for text in case.get("message", []):
        assert text in details, f"{text!r} not in {details[:500]!r}"
    for row, expected in case.get("loaded_values", {}).items():
        columns = ", ".join(f'"{c}"' for c in expected)
        found = corpus_run.query(
            f"select {columns} from raw.{source} where _batch_id = ? and _source_row = ?", [batch, int(row)]
        )
        assert found, f"row {row} was not loaded"
        assert dict(zip(expected, (_plain(v) for v in found[0]), strict=True)) == expected


def _plain(value: object) -> object:
    if isinstance(value, dt.date):
        return value.isoformat()
    if hasattr(value, "as_integer_ratio") and not isinstance(value, int | bool):
        return float(value)  # Decimal -> float for the JSON manifest
    return value


def _assert_rejected(run: CorpusRun, case: dict[str, Any], entry: dict[str, Any], stored: Path) -> None:
    name = landing_name(case)
    assert entry["reason"].startswith(case["reason_code"] + ":"), entry["reason"]
    assert (entry["rows_read"], entry["rows_loaded"]) == (0, 0)
    assert stored.parent == run.data_dir / "rejected" / case["source"], "rejected files are kept"
    sidecar = json.loads(stored.with_name(stored.name + ".reason.json").read_text(encoding="utf-8"))
    assert (sidecar["file"], sidecar["reason_code"]) == (name, case["reason_code"])
    for text in case.get("message", []):
        assert text in sidecar["message"], sidecar["message"]
    assert any(f"{case['source']}/{name} rejected [{case['reason_code']}]" in line for line in run.log)
    assert run.query(
        f"select count(*) from raw.{case['source']} where _batch_id = ?", [entry["batch_id"]]
    ) == [(0,)]


def test_reconciliation_holds_for_every_file(corpus_run: CorpusRun) -> None:
    """rows_read = rows_loaded + rows_quarantined, and the tables hold exactly those rows."""
    for source, batch, read, loaded, quarantined in corpus_run.query(
        "select source, batch_id, rows_read, rows_loaded, rows_quarantined from audit.file_manifest"
    ):
        assert read == loaded + quarantined
        in_raw = corpus_run.query(f"select count(*) from raw.{source} where _batch_id = ?", [batch])[0][0]
        in_q = corpus_run.query(f"select count(*) from quarantine.{source} where _batch_id = ?", [batch])[0][
            0
        ]
        assert (in_raw, in_q) == (loaded, quarantined), batch


def test_hostile_names_are_stored_verbatim_and_archived_under_a_safe_name(corpus_run: CorpusRun) -> None:
    hostile = [c for c in CASES if "landing_name" in c and c["status"] == "loaded" and c["phase"] == 1]
    assert len(hostile) >= 2
    for case in hostile:
        name = landing_name(case)
        assert corpus_run.query("select distinct _source_file from raw.sales where _source_file = ?", [name])
        stored = Path(corpus_run.manifest(case)["stored_path"])
        assert stored.parent.parent == corpus_run.data_dir / "archive" / "sales"
        assert all(ch not in stored.name for ch in "'\"$`;&| /%"), stored.name
    tables = {r[0] for r in corpus_run.query("select table_name from information_schema.tables")}
    assert {"sales", "file_manifest"} <= tables, "no injected statement ran"
    assert not (corpus_run.data_dir / "landing" / "sales" / "pwned").exists()
    assert not Path("pwned").exists()


def test_corpus_runs_fast_enough(corpus_run: CorpusRun) -> None:
    print(f"\nbad-input corpus: {len(CASES)} cases ingested in {corpus_run.seconds:.1f} s (two runs)")
    assert corpus_run.seconds < 120
