"""End-to-end ingestion on hand-made landing files: reconciliation, quarantine, rejection, exactly-once."""

from __future__ import annotations

import codecs
import datetime
import json
import os
import time
from pathlib import Path

import duckdb
import pytest

from crm.config import Settings
from crm.ingest import storage
from crm.ingest.discovery import discover, sha256_of
from crm.ingest.run import IngestionFailed, ingest
from tests.conftest import write_landing

SALES_HEADER = "訂單編號,項次,訂單日期,客戶,料號,品名,類別,數量,單價,單位成本,折扣,通路,業務員,原訂單編號\n"
SALES_ROWS = (
    'SO-1,1,2024/1/5,M00001234,SKU-1,咖啡機,家電,1,"1,280",800,10%,門市,王小明,\n'  # 1 ok
    "SO-1,2,2024/1/5,M00001234,SKU-2,濾紙,耗材,2,50,20,,門市,王小明,\n"  # 2 ok
    "SO-2,1,113/02/01,0912-345-678,SKU-1,咖啡機,家電,1,1280,800,0,網路,,\n"  # 3 ok (ROC date)
    "SO-2,1,113/02/01,0912-345-678,SKU-1,咖啡機,家電,1,1280,800,0,網路,,\n"  # 4 duplicate of 3
    "SO-3,1,2023-02-30,陳 大文,SKU-1,咖啡機,家電,-1,1280,800,0,網路,,\n"  # 5 impossible date + neg qty
    "SO-4,1,2024-03-01,陳 大文,SKU-1,咖啡機,家電,1,1280,800\n"  # 6 truncated row
    "SO-5,1,2024-03-01,bob@x.com,SKU-1,咖啡機,家電,0,1280,800,0,online,,\n"  # 7 zero quantity
    "SO-6,1,2024-03-02,M00001234,SKU-1,咖啡機,家電,-1,1280,800,0,門市,,SO-1\n"  # 8 ok return
    "SO-7,1,2099-01-01,M00001234,SKU-2,濾紙,耗材,1,50,20,0,門市,,\n"  # 9 future date
)
QUESTIONNAIRE_ROWS = [
    [
        "問卷編號",
        "姓名",
        "電話",
        "電子郵件",
        "客戶類型",
        "填寫日期",
        "整體滿意度",
        "推薦意願",
        "是否投訴",
        "投訴已解決",
    ],
    ["Q1", "陳大文", "0912345678", "a@b.com", "個人", "2024/3/1", "5", "9", "否", ""],
    ["Q2", "王美", "12", "bad-email", "企業", "2024/3/2", "7", "11", "否", "是"],
]


def _csv(rows: list[list[str]]) -> str:
    return "\n".join(",".join(r) for r in rows) + "\n"


def _warehouse(data_dir: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)


def _manifest(data_dir: Path) -> dict[str, dict]:
    con = _warehouse(data_dir)
    try:
        rows = con.execute("select * from audit.file_manifest order by started_at").fetchdf()
    finally:
        con.close()
    return {r["file_name"]: r for r in rows.to_dict("records")}


@pytest.fixture
def landing(data_dir: Path) -> Path:
    write_landing(
        data_dir, "sales", "sales_2024-01.csv", codecs.BOM_UTF8 + (SALES_HEADER + SALES_ROWS).encode()
    )
    write_landing(data_dir, "questionnaires", "survey_big5.csv", _csv(QUESTIONNAIRE_ROWS), encoding="big5")
    simplified = [
        ["问卷编号", "姓名", "电话", "客户类型", "填写日期", "整体满意度"],
        ["Q10", "张伟", "+86 138 0013 8000", "政府", "2024年5月6日", "4"],
    ]
    write_landing(data_dir, "questionnaires", "survey_gb.csv", _csv(simplified), encoding="gb18030")
    cards = [
        {
            "回函編號": "C1",
            "姓名": "陳大文",
            "電話": "0912345678",
            "出生日期": "1980/5/6",
            "收件日期": "2024-02-01",
            "購買日期": "2024-01-20",
            "同意行銷": "是",
        },
        None,  # a corrupt line in the middle
        {
            "card_id": "C2",
            "name": "Li Lei",
            "email": "LI@X.COM ",
            "card_received_date": "2024-02-03",
            "purchase_date": "2024-03-01",
        },
    ]
    lines = [json.dumps(c, ensure_ascii=False) if c else '{"card_id": "C9", broken' for c in cards]
    write_landing(data_dir, "reply_cards", "cards.jsonl", "\n".join(lines) + "\n")
    return data_dir


def test_every_row_is_loaded_or_quarantined(landing: Path):
    summaries = {s.source: s for s in ingest(Settings.from_env(), build_docs=False)}
    sales = summaries["sales"]
    assert (sales.rows_read, sales.rows_loaded, sales.rows_quarantined) == (9, 4, 5)
    assert summaries["questionnaires"].rows_loaded == 2 and summaries["questionnaires"].rows_quarantined == 1
    assert summaries["reply_cards"].rows_read == 3 and summaries["reply_cards"].rows_quarantined == 2

    con = _warehouse(landing)
    try:
        for row in con.execute(
            "select batch_id, source, rows_read, rows_loaded, rows_quarantined from audit.file_manifest"
        ).fetchall():
            batch_id, source, read, loaded, quarantined = row
            assert read == loaded + quarantined
            assert (
                con.execute(f"select count(*) from raw.{source} where _batch_id = ?", [batch_id]).fetchone()[
                    0
                ]
                == loaded
            )
            assert (
                con.execute(
                    f"select count(*) from quarantine.{source} where _batch_id = ?", [batch_id]
                ).fetchone()[0]
                == quarantined
            )
        reasons = dict(
            con.execute("select _source_row, list_sort(reason_codes) from quarantine.sales").fetchall()
        )
        assert reasons == {
            4: ["duplicate_business_key"],
            5: ["negative_quantity_without_original_order", "order_date_invalid_date"],
            6: ["wrong_column_count"],
            7: ["quantity_zero"],
            9: ["order_date_out_of_range"],
        }
        raw = json.loads(
            con.execute("select raw_record from quarantine.sales where _source_row = 5").fetchone()[0]
        )
        assert raw["order_date"] == "2023-02-30" and raw["customer_ref"] == "陳 大文"
        loaded = con.execute(
            "select order_id, line_no, order_date, customer_ref_type, customer_ref_norm, unit_price, "
            "discount, channel, _source_file, _source_row from raw.sales order by _source_row"
        ).fetchall()
        assert loaded[0][:5] == ("SO-1", 1, datetime.date(2024, 1, 5), "member_id", "M00001234")
        assert (float(loaded[0][5]), float(loaded[0][6]), loaded[0][7]) == (
            1280.0,
            pytest.approx(0.1),
            "store",
        )
        assert loaded[0][8:] == ("sales_2024-01.csv", 1)
        assert loaded[2][3:5] == ("phone", "+886912345678")
        names = dict(con.execute("select response_id, respondent_name from raw.questionnaires").fetchall())
        assert names == {"Q1": "陳大文", "Q10": "张伟"}  # Big5 and GB18030 decoded correctly
        assert con.execute("select email from raw.reply_cards where card_id = 'C2'").fetchone() is None
        card_reasons = con.execute(
            "select list_sort(reason_codes) from quarantine.reply_cards order by _source_row"
        ).fetchall()
        assert card_reasons == [(["invalid_json"],), (["purchase_after_card_received"],)]
        dq = con.execute("select count(*), count(*) filter (not success) from audit.dq_results").fetchone()
        assert dq[0] > 0 and dq[1] > 0
    finally:
        con.close()
    assert not any((landing / "landing").rglob("*.*")), "every file left landing"
    assert len(list((landing / "archive").rglob("*.*"))) == 4


def test_unreadable_files_are_rejected_with_a_reason_and_the_run_goes_on(data_dir: Path):
    write_landing(
        data_dir, "sales", "no_date_column.csv", "Order ID,Line No,Customer,SKU,Qty,Unit Price\nA,1,x,y,1,2\n"
    )
    write_landing(data_dir, "sales", "empty.csv", b"")
    write_landing(data_dir, "sales", "garbage.csv", bytes(range(256)) * 4)
    write_landing(data_dir, "questionnaires", "truncated.xlsx", b"PK\x03\x04 this is not a full workbook")
    write_landing(data_dir, "sales", "good.csv", SALES_HEADER + SALES_ROWS.splitlines(keepends=True)[0])
    summaries = {s.source: s for s in ingest(Settings.from_env(), build_docs=False)}
    assert summaries["sales"].files_rejected == 3 and summaries["sales"].files_loaded == 1
    assert summaries["questionnaires"].files_rejected == 1
    manifest = _manifest(data_dir)
    assert manifest["no_date_column.csv"]["reason"].startswith("missing_required_columns")
    assert "order_date" in manifest["no_date_column.csv"]["reason"]
    assert manifest["empty.csv"]["reason"].startswith("empty_file")
    assert manifest["garbage.csv"]["status"] == "rejected"
    assert manifest["truncated.xlsx"]["reason"].startswith("invalid_xlsx")
    sidecars = sorted((data_dir / "rejected").rglob("*.reason.json"))
    assert len(sidecars) == 4
    reason = json.loads(next(p for p in sidecars if "no_date_column" in p.name).read_text())
    assert reason["reason_code"] == "missing_required_columns" and reason["file"] == "no_date_column.csv"
    rejected_files = [p for p in (data_dir / "rejected").rglob("*") if p.is_file() and "reason" not in p.name]
    assert len(rejected_files) == 4, "rejected files are kept, never deleted"


def test_redelivered_and_rerun_files_load_exactly_once(data_dir: Path):
    content = SALES_HEADER + SALES_ROWS
    write_landing(data_dir, "sales", "a.csv", content)
    ingest(Settings.from_env(), build_docs=False)
    write_landing(data_dir, "sales", "a_copy_renamed.csv", content)  # byte-identical, new name
    second = ingest(Settings.from_env(), build_docs=False)[2]
    assert second.files_duplicate == 1 and second.rows_loaded == 0
    assert ingest(Settings.from_env(), build_docs=False)[2].files_seen == 0  # nothing left to do
    con = _warehouse(data_dir)
    try:
        assert con.execute("select count(*) from raw.sales").fetchone()[0] == 4
        status = con.execute(
            "select status, duplicate_of is not null from audit.file_manifest "
            "where file_name = 'a_copy_renamed.csv'"
        ).fetchone()
        assert status == ("duplicate", True)
    finally:
        con.close()


def test_modified_file_under_the_same_name_loads_only_new_keys(data_dir: Path):
    write_landing(data_dir, "sales", "daily.csv", SALES_HEADER + SALES_ROWS.splitlines(keepends=True)[0])
    ingest(Settings.from_env(), build_docs=False)
    write_landing(
        data_dir, "sales", "daily.csv", SALES_HEADER + "".join(SALES_ROWS.splitlines(keepends=True)[:2])
    )
    summary = ingest(Settings.from_env(), build_docs=False)[2]
    assert (summary.rows_loaded, summary.rows_quarantined) == (1, 1)
    assert summary.quarantine_reasons == {"duplicate_business_key": 1}
    reasons = [r for r in _manifest(data_dir).values() if r["status"] == "loaded"]
    assert any("modified version" in (r["reason"] or "") for r in reasons)


def test_a_killed_load_leaves_no_rows_and_is_resumed_once(data_dir: Path):
    from crm.ingest import manifest
    from crm.warehouse import connect, ensure_schema

    path = write_landing(data_dir, "sales", "big.csv", SALES_HEADER + SALES_ROWS)
    sha = sha256_of(path)
    with connect(data_dir / "warehouse.duckdb") as con:  # what a SIGKILL after 'start' leaves behind
        ensure_schema(con)
        manifest.start(
            con,
            batch_id="sales-killed",
            source="sales",
            file_name="big.csv",
            landing_path=str(path),
            sha256=sha,
            size=path.stat().st_size,
            arrived_at=manifest.now(),
        )
    assert _manifest(data_dir)["big.csv"]["status"] == "loading"
    ingest(Settings.from_env(), build_docs=False)
    ingest(Settings.from_env(), build_docs=False)
    manifest_rows = _manifest(data_dir)
    assert (
        manifest_rows["big.csv"]["batch_id"] == "sales-killed"
        and manifest_rows["big.csv"]["status"] == "loaded"
    )
    con = _warehouse(data_dir)
    try:
        assert con.execute("select count(*) from raw.sales").fetchone()[0] == 4
    finally:
        con.close()


def test_archive_failure_keeps_the_file_and_the_rerun_only_archives(data_dir: Path, monkeypatch):
    path = write_landing(data_dir, "sales", "s.csv", SALES_HEADER + SALES_ROWS)
    original_move = storage._move

    def no_space(*args, **kwargs):
        raise storage.StorageError("could not move s.csv: No space left on device; the file stays in landing")

    monkeypatch.setattr(storage, "_move", no_space)
    with pytest.raises(IngestionFailed, match="No space left on device"):
        ingest(Settings.from_env(), build_docs=False)
    assert path.exists(), "the input file is still in place"
    monkeypatch.setattr(storage, "_move", original_move)
    summary = ingest(Settings.from_env(), build_docs=False)[2]
    assert summary.rows_loaded == 0 and not path.exists()
    con = _warehouse(data_dir)
    try:
        assert con.execute("select count(*) from raw.sales").fetchone()[0] == 4, "no row lost, none doubled"
        assert con.execute("select stored_path is not null from audit.file_manifest").fetchone()[0]
    finally:
        con.close()


def test_mixed_encoding_rows_are_quarantined_not_the_file(data_dir: Path):
    good = (SALES_HEADER + SALES_ROWS.splitlines(keepends=True)[0]).encode()
    big5_line = "SO-8,1,2024-03-05,陳大文,SKU-1,咖啡機,家電,1,1280,800,0,門市,,\n".encode("big5")
    write_landing(data_dir, "sales", "mixed.csv", good + big5_line)
    summary = ingest(Settings.from_env(), build_docs=False)[2]
    assert (summary.rows_loaded, summary.rows_quarantined) == (1, 1)
    assert summary.quarantine_reasons == {"undecodable_bytes": 1}


def test_files_still_being_written_are_not_picked_up(data_dir: Path):
    fresh = write_landing(data_dir, "sales", "fresh.csv", SALES_HEADER)
    write_landing(data_dir, "sales", "upload.csv.part", SALES_HEADER)
    write_landing(data_dir, "sales", "~$locked.xlsx", b"")
    old = write_landing(data_dir, "sales", "old.csv", SALES_HEADER)
    past = time.time() - 60
    os.utime(old, (past, past))
    found = [f.path.name for f in discover(data_dir / "landing", "sales", settle_seconds=30)]
    assert found == ["old.csv"]
    assert fresh.exists()


def test_identical_files_in_one_run_load_once(data_dir: Path):
    content = SALES_HEADER + SALES_ROWS
    write_landing(data_dir, "sales", "jan.csv", content)
    write_landing(data_dir, "sales", "jan_resend.csv", content)
    summary = ingest(Settings.from_env(), build_docs=False)[2]
    assert (summary.files_loaded, summary.files_duplicate) == (1, 1)
    assert summary.rows_loaded == 4 and summary.rows_read == 9


def test_small_files_validated_together_keep_their_own_rows_and_counts(data_dir: Path, monkeypatch):
    rows = SALES_ROWS.splitlines(keepends=True)
    write_landing(data_dir, "sales", "a.csv", SALES_HEADER + "".join(rows[:4]))
    write_landing(
        data_dir, "sales", "b.csv", SALES_HEADER + rows[2] + "".join(rows[4:])
    )  # row 1 repeats a.csv:3
    summary = ingest(Settings.from_env(), build_docs=False)[2]
    assert summary.files_loaded == 2
    manifest = _manifest(data_dir)
    assert (manifest["a.csv"]["rows_read"], manifest["a.csv"]["rows_loaded"]) == (4, 3)
    assert (manifest["b.csv"]["rows_read"], manifest["b.csv"]["rows_loaded"]) == (6, 1)
    con = _warehouse(data_dir)
    try:
        detail = con.execute(
            "select reasons from quarantine.sales where _source_file = 'b.csv' and _source_row = 1"
        ).fetchone()[0]
        assert "a.csv row 3" in detail
        per_file = con.execute(
            "select file_name, sum(unexpected_count) from audit.dq_results "
            "where reason_code = 'duplicate_business_key' group by 1 order by 1"
        ).fetchall()
        assert per_file == [("a.csv", 1), ("b.csv", 1)]
    finally:
        con.close()


def test_large_files_stream_in_chunks_within_one_transaction(data_dir: Path, monkeypatch):
    from crm.ingest import loader

    monkeypatch.setattr(loader, "SMALL_FILE_BYTES", 0)  # every file takes the streaming path
    monkeypatch.setenv("CRM_CHUNK_ROWS", "2")  # and spans several chunks
    write_landing(data_dir, "sales", "big.csv", SALES_HEADER + SALES_ROWS)
    summary = ingest(Settings.from_env(), build_docs=False)[2]
    assert (summary.rows_read, summary.rows_loaded, summary.rows_quarantined) == (9, 4, 5)
    con = _warehouse(data_dir)
    try:
        reasons = dict(
            con.execute("select _source_row, list_sort(reason_codes) from quarantine.sales").fetchall()
        )
        assert reasons[4] == ["duplicate_business_key"], "a duplicate of a row in an earlier chunk is caught"
        assert con.execute("select count(distinct _batch_id) from raw.sales").fetchone()[0] == 1
    finally:
        con.close()
