"""The ingestion fast paths give exactly what the straightforward code gives.

- CSV chunks built column-wise from the cells (``readers._split_cells``) equal the record-wise ones
  (``readers._split_records``), bad rows and chunk boundaries included;
- CSV chunks parsed by Arrow (``arrow_csv``) equal those of Python's ``csv`` module, also when the
  file turns out not to be clean part-way and the exact reader takes over;
- the normalisers' cross-chunk memo returns what a fresh computation returns, and never mixes up
  ``1``, ``1.0``, ``True`` and ``"1"``;
- the dtypes handed to GX (``validation.vectorisable``) keep every value and every missing value, and
  GX finds the same unexpected rows either way.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from crm.ingest import arrow_csv, readers
from crm.ingest.errors import BadRow, FileRejected
from crm.ingest.validation import BatchValidator, vectorisable
from crm.normalise import frame as normalise

POSITIONS = {"order_id": 0, "sku": 2, "customer_ref": 3}
EXPECTATIONS = Path(__file__).resolve().parents[1] / "expectations"


def _records(rows: list[tuple[int, list[str] | None, BadRow | None]]):
    for row, cells, bad in rows:
        values = None if cells is None else {c: cells[p] for c, p in POSITIONS.items()}
        yield row, values, bad


def _chunks_equal(left: list[readers.Chunk], right: list[readers.Chunk]) -> None:
    assert len(left) == len(right)
    for a, b in zip(left, right, strict=True):
        pd.testing.assert_frame_equal(a.frame, b.frame)
        assert a.frame.index.name == b.frame.index.name
        assert a.bad_rows == b.bad_rows


@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 100])
def test_cells_chunks_equal_record_chunks(chunk_rows: int) -> None:
    long = "x" * (readers.MAX_FIELD_CHARS + 1)
    rows: list[tuple[int, list[str] | None, BadRow | None]] = [
        (1, ["SO-1", "ignored", "SKU-1", "M00001234"], None),
        (2, None, BadRow(2, "wrong_column_count", "expected 4 fields, found 3", {"raw_line": "a,b,c"})),
        (3, ["SO-2", long, "SKU-2", "0912-345-678"], None),  # over-long cell in an unmapped column: kept
        (4, ["SO-3", "", long, "陳大文"], None),  # over-long mapped cell: a bad row
        (5, ["SO-4", "", "SKU-4", " "], None),
    ]
    expected = list(readers._split_records(_records(rows), chunk_rows))
    actual = list(readers._split_cells(iter(rows), chunk_rows, POSITIONS))
    _chunks_equal(actual, expected)
    assert [b.reason_code for c in actual for b in c.bad_rows] == ["wrong_column_count", "field_too_long"]


def test_cells_chunks_of_a_header_only_file() -> None:
    expected = list(readers._split_records(iter([]), 10))
    actual = list(readers._split_cells(iter([]), 10, POSITIONS))
    _chunks_equal(actual, expected)
    assert len(actual) == 1 and actual[0].frame.empty


def test_csv_reader_skips_whitespace_only_lines(tmp_path: Path) -> None:
    path = tmp_path / "sales.csv"
    header = (
        "order_id,line_no,order_date,customer_ref,sku,product_name,category,quantity,unit_price,"
        "unit_cost,discount,channel,salesperson,original_order_id\n"
    )
    path.write_text(
        header
        + "SO-1,1,2024-01-05,M00001234,SKU-1,p,c,1,100,50,0,store,,\n"
        + " , ,\t, , , , , , , , , , , \n\n"
        + "SO-2,1,2024-01-06,x,SKU-2,p,c,1,5,1,0,store,,\n",
        encoding="utf-8",
    )
    chunk = next(readers.open_file(path, "sales", 100).chunks())
    assert chunk.frame.index.tolist() == [1, 2]  # record numbers do not count blank lines
    assert chunk.frame["order_id"].tolist() == ["SO-1", "SO-2"]
    assert chunk.bad_rows == []


SALES_HEADER = (
    "order_id,line_no,order_date,customer_ref,sku,product_name,category,quantity,unit_price,"
    "unit_cost,discount,channel,salesperson,original_order_id"
)


def _sales_line(n: int, customer: str = "M00001234", product: str = "日光 洗面乳") -> str:
    return f"SO-{n},1,2024-01-05,{customer},SKU-{n % 7},{product},美妝,1,100,50,0%,store,翁秀玲,"


def _lines(n: int) -> list[str]:
    return [_sales_line(i, customer=f"09{i:08d}" if i % 3 else f"M{i:08d}") for i in range(1, n + 1)]


LONG = "x" * (readers.MAX_FIELD_CHARS + 1)
#: name -> (lines after the header, encoding, whether the exact reader must take over)
CSV_CASES: dict[str, tuple[list[str], str, bool]] = {
    "clean": (_lines(23), "utf-8", False),
    "clean, empty lines": ([*_lines(5), "", *_lines(7), "", ""], "utf-8", False),
    "clean, CRLF": ([line + "\r" for line in _lines(9)], "utf-8", False),
    "big5": (_lines(11), "big5", False),
    "gb18030": ([_sales_line(i, product="日光 洗面乳 简体") for i in range(1, 12)], "gb18030", False),
    "whitespace-only record": ([*_lines(12), " , ,\t, , , , , , , , , , , ", *_lines(6)], "utf-8", True),
    "whitespace-only last record": ([*_lines(10), " , , "], "utf-8", True),
    "wrong column count": ([*_lines(12), "SO-99,1,2024-01-05", *_lines(6)], "utf-8", True),
    "over-long mapped cell": ([*_lines(12), _sales_line(99, customer=LONG), *_lines(6)], "utf-8", True),
    "over-long unmapped cell": ([*_lines(12), _sales_line(99) + LONG, *_lines(6)], "utf-8", True),
    "quoted fields": (
        [
            *_lines(4),
            'SO-9,1,2024-01-05,"Chen, Amy",SKU-1,"a ""b"" c",c,1,"7,190.00",50,0,store,"",',
            *_lines(3),
        ],
        "utf-8",
        False,
    ),
    "quoted fields, big5": (
        [*_lines(4), 'SO-9,1,2024-01-05,"陳, 大文",SKU-1,p,c,1,"7,190.00",50,0,s,,'],
        "big5",
        False,
    ),
    "quoted value with a line break": (
        [*_lines(9), 'SO-9,1,2024-01-05,"Chen\nAmy",SKU-1,p,c,1,1,1,0,s,,'],
        "utf-8",
        True,
    ),
    "quoted value with a CR": (
        [*_lines(9), 'SO-9,1,2024-01-05,"Chen\rAmy",SKU-1,p,c,1,1,1,0,s,,'],
        "utf-8",
        True,
    ),
    "quote inside an unquoted field": (
        [*_lines(9), 'SO-9,1,2024-01-05,Chen "A",SKU-1,p,c,1,1,1,0,s,,'],
        "utf-8",
        True,
    ),
    "header only": ([], "utf-8", True),
}


def _write_csv(path: Path, lines: list[str], encoding: str, *, bom: bool = False) -> Path:
    data = "\n".join([SALES_HEADER, *lines]) + ("\n" if lines else "")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data.encode(encoding))
    return path


def _exact_chunks(path: Path, chunk_rows: int, monkeypatch: pytest.MonkeyPatch) -> list[readers.Chunk]:
    def refuse(*args, **kwargs):
        raise arrow_csv.ExactReaderNeeded("the test asks for the exact reader")
        yield  # a generator, like the real one

    with monkeypatch.context() as patch:
        patch.setattr(arrow_csv, "frames", refuse)
        return list(readers.open_file(path, "sales", chunk_rows).chunks())


def _as_exact(chunks: list[readers.Chunk]) -> list[readers.Chunk]:
    return [readers.Chunk(c.frame.astype(object), c.bad_rows) for c in chunks]


def _read_by_arrow(chunk: readers.Chunk) -> bool:
    return not chunk.frame.empty and all(isinstance(t, pd.StringDtype) for t in chunk.frame.dtypes)


@pytest.mark.parametrize("chunk_rows", [1, 5, 100])
@pytest.mark.parametrize("case", list(CSV_CASES))
def test_arrow_csv_chunks_equal_the_exact_readers(
    case: str, chunk_rows: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines, encoding, exact = CSV_CASES[case]
    path = _write_csv(tmp_path / "sales.csv", lines, encoding)
    # Blocks of a few records: a problem part-way through the file is met after chunks were yielded.
    monkeypatch.setattr(arrow_csv, "BLOCK_BYTES", 512)
    handed_over: list[int] = []
    exact_records = readers._csv_records

    def spy(*args, after: int = 0, **kwargs):
        handed_over.append(after)
        return exact_records(*args, after=after, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(readers, "_csv_records", spy)
        chunks = list(readers.open_file(path, "sales", chunk_rows).chunks())
    _chunks_equal(_as_exact(chunks), _exact_chunks(path, chunk_rows, monkeypatch))
    by_arrow = [row for c in chunks if _read_by_arrow(c) for row in c.frame.index]
    if not exact:
        assert handed_over == [] and by_arrow and all(map(_read_by_arrow, chunks))
    else:  # Arrow yields whole chunks only; the exact reader resumes after the last of them
        assert len(handed_over) == 1 and handed_over[0] % chunk_rows == 0
        assert by_arrow == list(range(1, handed_over[0] + 1))


def test_arrow_csv_hands_over_after_whole_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad record deep in the file: Arrow's chunks come first, the exact reader resumes at the next
    record and quarantines the bad one under its own number."""
    path = _write_csv(tmp_path / "sales.csv", [*_lines(40), "SO-99,1", *_lines(9)], "utf-8")
    monkeypatch.setattr(arrow_csv, "BLOCK_BYTES", 512)
    chunks = list(readers.open_file(path, "sales", 10).chunks())
    _chunks_equal(_as_exact(chunks), _exact_chunks(path, 10, monkeypatch))
    assert [_read_by_arrow(c) for c in chunks] == [True] * 3 + [False] * 2
    assert [b.source_row for c in chunks for b in c.bad_rows] == [41]
    assert [len(c.frame) for c in chunks] == [10, 10, 10, 10, 9]


def test_arrow_csv_reads_a_bom_file_and_tabs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write_csv(tmp_path / "sales.csv", _lines(8), "utf-8", bom=True)
    chunks = list(readers.open_file(path, "sales", 3).chunks())
    _chunks_equal(_as_exact(chunks), _exact_chunks(path, 3, monkeypatch))
    assert all(map(_read_by_arrow, chunks))
    tabs = tmp_path / "sales.tsv"
    tabs.write_text("\n".join(line.replace(",", "\t") for line in [SALES_HEADER, *_lines(8)]), "utf-8")
    chunks = list(readers.open_file(tabs, "sales", 3).chunks())
    _chunks_equal(_as_exact(chunks), _exact_chunks(tabs, 3, monkeypatch))
    assert all(map(_read_by_arrow, chunks)) and chunks[0].frame.at[1, "order_id"] == "SO-1"


def test_arrow_csv_leaves_undecodable_bytes_and_broken_quoting_to_the_exact_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(arrow_csv, "BLOCK_BYTES", 512)
    path = tmp_path / "sales.csv"
    lines = _lines(30)
    data = (
        "\n".join([SALES_HEADER, *lines[:20]]).encode()
        + b"\nSO-77,1,2024-01-05,\xff\xfe,SKU-1,p,c,1,1,1,0,store,,\n"
    )
    path.write_bytes(data + "\n".join(lines[20:]).encode() + b"\n")
    chunks = list(readers.open_file(path, "sales", 5).chunks())
    _chunks_equal(_as_exact(chunks), _exact_chunks(path, 5, monkeypatch))
    assert [b.reason_code for c in chunks for b in c.bad_rows] == ["undecodable_bytes"]
    assert _read_by_arrow(chunks[0]) and not _read_by_arrow(chunks[-1])

    path.write_text(
        "\n".join([SALES_HEADER, *lines[:20], 'SO-78,1,"2024"-01-05,x,SKU-1,p,c,1,1,1,0,s,,']), "utf-8"
    )
    with pytest.raises(FileRejected) as rejected:
        list(readers.open_file(path, "sales", 5).chunks())
    assert rejected.value.reason_code == "malformed_csv" and "line 22" in rejected.value.message


def _batch(quantities: list[object]) -> pd.DataFrame:
    rows = pd.Index(range(1, len(quantities) + 1), name="_source_row")
    data = {"order_id": [f"SO-{n}" for n in rows], "quantity": quantities, "order_date": quantities}
    return pd.DataFrame(data, index=rows, dtype=object)


def test_memo_returns_fresh_results_and_keeps_types_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(normalise, "_MEMO", {})
    chunks = [_batch(["1", "2,000", "x"]), _batch([1.0, "True", "1"]), _batch([1, "2,000", 2.5])]
    memoised = [normalise.normalise_frame("sales", chunk) for chunk in chunks]
    for chunk, result in zip(chunks, memoised, strict=True):
        monkeypatch.setattr(normalise, "_MEMO", {})
        pd.testing.assert_frame_equal(result, normalise.normalise_frame("sales", chunk))
    assert memoised[1]["quantity__raw"].tolist() == ["1.0", "True", "1"]
    assert memoised[2]["quantity__raw"].tolist() == ["1", "2,000", "2.5"]
    assert memoised[0]["quantity"].tolist()[:2] == [1, 2000] and pd.isna(memoised[2]["quantity"].iloc[2])


def test_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(normalise, "_MEMO", {})
    monkeypatch.setattr(normalise, "MEMO_LIMIT", 3)
    values = [f"{n}" for n in range(10)]
    assert normalise._apply(values, int, "test") == list(range(10))
    assert len(normalise._memo("test")) < 3  # emptied on reaching the limit, then refilled


def test_vectorisable_keeps_values_and_missing_values() -> None:
    frame = pd.DataFrame(
        {
            "i": pd.array([1, None, 3], dtype="Int64"),
            "big": pd.array([2**60, None, 1], dtype="Int64"),
            "f": pd.array([0.5, None, 2.0], dtype="Float64"),
            "d": pd.Series([dt.datetime(2024, 1, 2), None, dt.datetime(2025, 3, 4)], dtype="datetime64[s]"),
            "far": pd.Series([dt.datetime(9999, 1, 1), None, None], dtype="datetime64[s]"),
            "b": pd.array([True, None, False], dtype="boolean"),
            "s": ["a", None, "c"],
        }
    )
    view = vectorisable(frame)
    assert str(view["i"].dtype) == "float64" and str(view["f"].dtype) == "float64"
    assert str(view["d"].dtype) == "datetime64[ns]"
    assert view["big"].dtype == frame["big"].dtype  # not exact as float64: left alone
    assert view["far"].dtype == frame["far"].dtype  # outside the nanosecond range: left alone
    assert view["b"].dtype == frame["b"].dtype and view["s"].dtype == frame["s"].dtype
    for name in frame.columns:
        assert view[name].isna().tolist() == frame[name].isna().tolist()
        assert view[name].dropna().tolist() == frame[name].dropna().tolist()


def _defective_sales_frame() -> pd.DataFrame:
    """A normalised sales batch, ready for GX, whose rows 2-5 break range, date and price rules."""
    rows = pd.Index([1, 2, 3, 4, 5, 6], name="_source_row")
    batch = pd.DataFrame(
        {
            "order_id": ["SO-1", "SO-2", "SO-3", "SO-4", "SO-5", "SO-6"],
            "line_no": ["1", "0", "2", "1", "x", "1"],
            "order_date": ["2024-01-05", "2024-01-05", "1999-12-31", "2099-01-01", "2024-02-01", ""],
            "customer_ref": ["M00001234"] * 6,
            "sku": ["SKU-1"] * 6,
            "quantity": ["1", "-1", "0", "2", "1", "1"],
            "unit_price": ["100", "-5", "100", "100", "100", "100"],
            "unit_cost": ["50", "50", "-1", "50", "50", "50"],
            "discount": ["0", "150%", "0.1", "0", "0", "0"],
        },
        index=rows,
        dtype=object,
    )
    frame = normalise.normalise_frame("sales", batch)
    frame["_duplicate_of"] = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    frame["_price_ratio"] = pd.array([1.0, 1.0, 1.0, 9.0, None, 1.0], dtype="Float64")
    return frame


def _assert_known_failures(result) -> None:
    failed = {row: sorted(f.reason_code for f in fs) for row, fs in result.row_failures.items()}
    assert "line_no_out_of_range" in failed[2] and "unit_price_out_of_range" in failed[2]
    assert "order_date_out_of_range" in failed[3] and "order_date_out_of_range" in failed[4]
    assert "price_outlier" in failed[4]
    assert "line_no_not_a_number" in failed[5] and "order_date_missing" in failed[6]


def test_gx_finds_the_same_rows_with_vectorised_dtypes(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = _defective_sales_frame()
    validator = BatchValidator(EXPECTATIONS, None, today=dt.date(2026, 1, 1))
    vectorised = validator.validate("sales", frame, run_name="vectorised")
    from crm.ingest import validation

    monkeypatch.setattr(validation, "vectorisable", lambda f: f)
    as_is = validator.validate("sales", frame, run_name="as-is")
    assert dict(vectorised.row_failures) == dict(as_is.row_failures)
    assert vectorised.stats == as_is.stats
    _assert_known_failures(vectorised)


def test_gx_batch_fingerprint_is_skipped_and_results_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    """GX hashes every cell of a batch for a Data Docs marker; validation skips that hash only while it
    loads and validates the batch (the threshold is restored) and finds the same failures either way."""
    from great_expectations.execution_engine import pandas_execution_engine as engine

    from crm.ingest import validation

    frame = _defective_sales_frame()
    validator = BatchValidator(EXPECTATIONS, None, today=dt.date(2026, 1, 1))
    hashed: list[int] = []
    original_hash = engine.hash_pandas_dataframe
    monkeypatch.setattr(
        engine, "hash_pandas_dataframe", lambda df: hashed.append(len(df)) or original_hash(df)
    )
    threshold = engine.HASH_THRESHOLD
    skipped = validator.validate("sales", frame, run_name="skipped")
    assert hashed == [] and threshold == engine.HASH_THRESHOLD

    monkeypatch.setattr(validation, "_without_batch_fingerprint", contextlib.nullcontext)
    fingerprinted = validator.validate("sales", frame, run_name="fingerprinted")
    assert hashed == [6, 6]  # the batch is loaded twice: get_batch and validate
    assert dict(skipped.row_failures) == dict(fingerprinted.row_failures)
    assert skipped.stats == fingerprinted.stats
    _assert_known_failures(skipped)


def test_gx_evaluates_each_row_condition_once_and_results_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    """GX's pandas engine filters the batch by a row condition for every metric; validation evaluates
    each condition once per batch, and finds the same failures and counts either way."""
    from great_expectations.execution_engine.pandas_execution_engine import PandasExecutionEngine

    from crm.ingest import validation

    frame = _defective_sales_frame()
    validator = BatchValidator(EXPECTATIONS, None, today=dt.date(2026, 1, 1))
    conditions = {
        str(e.row_condition)
        for e in validator.suites["sales"].expectations
        if getattr(e, "row_condition", None)
    }
    evaluated: list[str] = []
    original_eval = pd.DataFrame.eval

    def counted(self, expr, *args, **kwargs):
        evaluated.append(expr)
        return original_eval(self, expr, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "eval", counted)
    filter_before = PandasExecutionEngine._apply_row_condition_filter
    once = validator.validate("sales", frame, run_name="once")
    assert len(evaluated) == len(set(evaluated)) == len(conditions) >= 9
    assert PandasExecutionEngine._apply_row_condition_filter is filter_before  # restored afterwards

    evaluated.clear()
    monkeypatch.setattr(validation, "_row_conditions_evaluated_once", contextlib.nullcontext)
    per_metric = validator.validate("sales", frame, run_name="per-metric")
    assert len(evaluated) > 2 * len(conditions)
    assert dict(once.row_failures) == dict(per_metric.row_failures)
    assert once.stats == per_metric.stats
    _assert_known_failures(once)
    assert "negative_quantity_without_original_order" in {f.reason_code for f in once.row_failures[2]}


@pytest.mark.parametrize(
    "spellings",
    [
        ["0912-345-678", "0912 345 678", "(0912)345678", "+886 912 345 678", "00886-912-345-678"],
        ["138 0013 8000", "138-0013-8000", "+86 138 0013 8000", "8613800138000"],
        ["02-2345-6789", "(02) 2345 6789", "+886 2 2345 6789"],
    ],
)
def test_phone_parses_are_shared_by_the_spellings_of_one_number(spellings: list[str]) -> None:
    from crm.normalise import contact

    contact._e164.cache_clear()
    results = [contact.phone_to_e164(s) for s in spellings]
    written = [s.removeprefix("00") if s.startswith("00") else s for s in spellings]
    uncached = [
        contact._e164.__wrapped__(
            s.startswith("+") or s != w, "".join(filter(str.isdigit, w)), contact.DEFAULT_PHONE_REGIONS
        )
        for s, w in zip(spellings, written, strict=True)
    ]
    assert results == uncached and len(set(results)) == 1 and results[0].startswith("+")
    # at most one parse per way of writing the prefix (local, '+', '00'), however the digits are spaced
    assert contact._e164.cache_info().misses <= 3 < len(spellings) + 1
