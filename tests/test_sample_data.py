"""The synthetic data generator: determinism, file formats, answer key, defects, behaviour, memory."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import subprocess
import sys
import textwrap
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import phonenumbers
import pytest

from crm.contract import BUSINESS_KEYS, FIELDS, MEMBER_ID_PATTERN, SOURCES, fold_header, header_lookup
from crm.normalise.dates import parse_date
from crm.normalise.values import parse_decimal
from crm.sample_data import (
    NO_DEFECTS,
    DefectRates,
    GenerationConfig,
    LandingNotEmptyError,
    append_sales,
    generate,
)
from crm.sample_data.cli import main as cli_main
from crm.sample_data.scripts import to_simplified

REPO = Path(__file__).resolve().parents[1]
SMALL = GenerationConfig(sales_lines=3_000, persons=400)


@dataclass
class Sample:
    data_dir: Path

    @property
    def landing(self) -> Path:
        return self.data_dir / "landing"

    def answer(self, name: str) -> list[dict[str, str]]:
        with (self.data_dir / "answer_key" / name).open(encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(handle))

    def files(self) -> dict[str, dict[str, str]]:
        return {row["file_name"]: row for row in self.answer("files.csv")}


def read_records(path: Path, meta: dict[str, str]) -> tuple[list[str], list[list[object]]]:
    """Header and data records of a landing file, decoded with its declared encoding (strictly)."""
    if meta["file_format"] == "xlsx":
        sheet = openpyxl.load_workbook(path, read_only=True).worksheets[0]
        rows = [list(r) for r in sheet.iter_rows(values_only=True)]
        return [str(h) for h in rows[0]], rows[1:]
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") == (meta["encoding"] == "utf-8-sig"), path.name
    text = raw.decode(meta["encoding"])
    if meta["file_format"] == "jsonl":
        lines = text.splitlines()
        headers: list[str] = []
        for line in lines:
            try:
                headers += [k for k in json.loads(line) if k not in headers]
            except json.JSONDecodeError:  # a truncated line (an injected defect)
                continue
        return headers, [[line] for line in lines]
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], rows[1:]


def file_hashes(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    """The default sample (what ``make run`` generates)."""
    data_dir = tmp_path_factory.mktemp("default_sample")
    generate(data_dir, GenerationConfig())
    return Sample(data_dir)


# --------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path: Path) -> None:
    runs = {}
    for name, config in (
        ("a", SMALL),
        ("b", SMALL),
        ("c", GenerationConfig(sales_lines=3_000, persons=400, seed=7)),
    ):
        generate(tmp_path / name, config)
        runs[name] = file_hashes(tmp_path / name)
    assert runs["a"] == runs["b"]
    assert any(".xlsx" in name for name in runs["a"]), "the run should include XLSX files (zip metadata)"
    common = set(runs["a"]) & set(runs["c"])
    assert all(
        runs["a"][n] != runs["c"][n] for n in common if n.endswith((".csv", ".jsonl")) and "_c." not in n
    )


# --------------------------------------------------------------------------- formats


def test_every_file_decodes_with_its_encoding_and_every_header_maps_to_the_contract(sample: Sample) -> None:
    files = sample.files()
    rejected = {
        r["file_name"] for r in sample.answer("defects.csv") if r["defect_type"] == "missing_required_column"
    }
    assert len(rejected) == 1
    seen_encodings = Counter()
    for name, meta in files.items():
        path = sample.landing / meta["source"] / name
        if meta["file_defect"] == "empty_file":
            assert path.stat().st_size == 0
            continue
        headers, _ = read_records(path, meta)
        seen_encodings[meta["encoding"] or meta["file_format"]] += 1
        lookup = header_lookup(meta["source"])
        canonical = [lookup.get(fold_header(h)) for h in headers]
        assert None not in canonical, f"{name}: unmapped header in {headers}"
        assert len(set(canonical)) == len(canonical), f"{name}: two headers map to one column"
        required = {f.name for f in FIELDS[meta["source"]] if f.required}
        missing = required - set(canonical)
        assert bool(missing) == (name in rejected), f"{name}: missing required columns {missing}"
        if meta["encoding"] == "gb18030":
            assert all(to_simplified(h) == h for h in headers), (
                f"{name}: GB18030 files use Simplified headers"
            )
    assert {"utf-8", "utf-8-sig", "big5", "gb18030", "xlsx", "jsonl"} <= set(seen_encodings) | {"jsonl"}


def test_values_parse_with_the_ingestion_normalisers(sample: Sample) -> None:
    """Dates and numbers of clean sales rows parse; impossible dates (defects) do not."""
    defects = {
        (r["file_name"], int(r["source_row"])): r["defect_type"]
        for r in sample.answer("defects.csv")
        if r["source_row"]
    }
    lookup = header_lookup("sales")
    checked = 0
    for name, meta in sample.files().items():
        if meta["source"] != "sales" or meta["file_defect"]:
            continue
        headers, rows = read_records(sample.landing / "sales" / name, meta)
        col = {lookup[fold_header(h)]: k for k, h in enumerate(headers)}
        for number, row in enumerate(rows, start=1):
            defect = defects.get((name, number))
            if defect in ("truncated_row", "extra_column", "missing_required"):
                continue
            parsed = parse_date(row[col["order_date"]])
            assert (parsed is None) == (defect == "impossible_date"), (name, number, row)
            for column in ("quantity", "unit_price", "unit_cost"):
                assert parse_decimal(row[col[column]]) is not None, (name, number, column, row)
            checked += 1
    assert checked > 25_000


# --------------------------------------------------------------------------- answer key


def test_answer_key_covers_every_record(sample: Sample) -> None:
    ids = sample.answer("person_ids.csv")
    persons = {r["person_id"]: r for r in sample.answer("persons.csv")}
    by_file: dict[str, list[int]] = defaultdict(list)
    for row in ids:
        by_file[row["file_name"]].append(int(row["source_row"]))
        assert row["person_id"] in persons
    for name, meta in sample.files().items():
        if meta["file_defect"] in ("empty_file", "redelivered_file"):
            assert name not in by_file
            continue
        _, records = read_records(sample.landing / meta["source"] / name, meta)
        assert by_file[name] == list(range(1, len(records) + 1)), name
        assert int(meta["rows"]) == len(records)
    assert not (sample.landing / "answer_key").exists()


def test_member_refs_and_phones_belong_to_their_person(sample: Sample) -> None:
    persons = {r["person_id"]: r for r in sample.answer("persons.csv")}
    member_refs = [
        r for r in sample.answer("person_ids.csv") if re.match(MEMBER_ID_PATTERN, r["customer_ref"])
    ]
    assert len(member_refs) > 5_000
    assert all(persons[r["person_id"]]["member_id"] == r["customer_ref"] for r in member_refs)
    phones = [p["phone_e164"] for p in persons.values() if p["phone_e164"]]
    assert all(phonenumbers.is_valid_number(phonenumbers.parse(p)) for p in phones)
    assert Counter(p["customer_type"] for p in persons.values())["individual"] / len(
        persons
    ) == pytest.approx(0.80, abs=0.04)


# --------------------------------------------------------------------------- defects


def test_defects_are_present_at_about_the_configured_rates(sample: Sample) -> None:
    rates = DefectRates()
    defects = sample.answer("defects.csv")
    counts = Counter((r["source"], r["defect_type"]) for r in defects)
    sales_rows = sum(
        int(m["rows"]) for m in sample.files().values() if m["source"] == "sales" and not m["file_defect"]
    )
    for defect in (
        "exact_duplicate",
        "near_duplicate",
        "missing_required",
        "impossible_date",
        "truncated_row",
        "extra_column",
        "price_outlier",
    ):
        expected = rates.row_rate(defect) * sales_rows
        assert 0.5 * expected <= counts[("sales", defect)] <= 1.6 * expected, (
            defect,
            counts[("sales", defect)],
        )
    for source, defect in (
        ("questionnaires", "rating_out_of_range"),
        ("reply_cards", "malformed_phone"),
        ("questionnaires", "malformed_email"),
        ("sales", "negative_quantity"),
    ):
        assert counts[(source, defect)] > 0, (source, defect)
    file_level = {r["defect_type"] for r in defects if not r["source_row"]}
    assert file_level == {"missing_required_column", "empty_file", "redelivered_file"}
    redelivered = next(r for r in defects if r["defect_type"] == "redelivered_file")
    original = sample.landing / "sales" / redelivered["detail"]
    assert (sample.landing / "sales" / redelivered["file_name"]).read_bytes() == original.read_bytes()


def test_structural_defects_show_in_the_files(sample: Sample) -> None:
    files = sample.files()
    defects = [r for r in sample.answer("defects.csv") if r["source_row"]]
    for row in defects:
        meta = files[row["file_name"]]
        if meta["file_format"] != "csv" or row["defect_type"] not in ("truncated_row", "extra_column"):
            continue
        headers, records = read_records(sample.landing / meta["source"] / row["file_name"], meta)
        width = len(records[int(row["source_row"]) - 1])
        assert (width < len(headers)) if row["defect_type"] == "truncated_row" else (width > len(headers))


def test_no_defects_gives_clean_files(tmp_path: Path) -> None:
    config = GenerationConfig(sales_lines=3_000, persons=400, defects=NO_DEFECTS)
    generate(tmp_path, config)
    sample = Sample(tmp_path)
    assert sample.answer("defects.csv") == []
    for name, meta in sample.files().items():
        assert meta["file_defect"] == ""
        headers, records = read_records(tmp_path / "landing" / meta["source"] / name, meta)
        if meta["file_format"] == "csv":
            assert all(len(r) == len(headers) for r in records), name
        keys = [r["record_key"] for r in sample.answer("person_ids.csv") if r["file_name"] == name]
        assert len(keys) == len(set(keys)), f"{name}: duplicate business keys without defects"


# --------------------------------------------------------------------------- behaviour


def _sales_lines(sample: Sample, *, with_defects: bool = False) -> list[dict[str, object]]:
    """Sales lines with their true person and order id from the answer key (clean rows unless asked)."""
    defects = {(r["file_name"], r["source_row"]) for r in sample.answer("defects.csv") if r["source_row"]}
    truth = {(r["file_name"], r["source_row"]): r for r in sample.answer("person_ids.csv")}
    lookup = header_lookup("sales")
    out = []
    for name, meta in sample.files().items():
        if meta["source"] != "sales" or meta["file_defect"]:
            continue
        headers, rows = read_records(sample.landing / "sales" / name, meta)
        cols = [lookup[fold_header(h)] for h in headers]
        for number, row in enumerate(rows, start=1):
            is_defect = (name, str(number)) in defects
            if is_defect and not with_defects:
                continue
            line = dict(zip(cols, row, strict=False))
            quantity = parse_decimal(line.get("quantity", ""))
            price = parse_decimal(line.get("unit_price", ""))
            key = truth[(name, str(number))]
            out.append(
                {
                    "order_id": key["record_key"].split("|")[0],
                    "date": parse_date(line.get("order_date", "")),
                    "person": key["person_id"],
                    "quantity": int(quantity) if quantity is not None else 0,
                    "amount": float(price * quantity) if price is not None and quantity is not None else 0.0,
                    "original": line.get("original_order_id", ""),
                    "defect": is_defect,
                }
            )
    return out


def test_returns_reference_an_earlier_order_of_the_same_person(sample: Sample) -> None:
    every_line = _sales_lines(sample, with_defects=True)
    orders: dict[str, list[dict[str, object]]] = defaultdict(list)
    for line in every_line:
        orders[str(line["order_id"])].append(line)
    returns = [line for line in every_line if line["original"] and not line["defect"]]
    assert 0.01 < len(returns) / len(every_line) < 0.08
    for ret in returns:
        assert all(int(r["quantity"]) < 0 for r in orders[str(ret["order_id"])] if not r["defect"])
        original = orders[str(ret["original"])]
        assert {line["person"] for line in original} == {ret["person"]}
        dates = [line["date"] for line in original if line["date"]]  # all lines may carry a date defect
        assert not dates or min(dates) < ret["date"]


def test_revenue_is_concentrated_and_feedback_follows_behaviour(sample: Sample) -> None:
    revenue: Counter[str] = Counter()
    for line in _sales_lines(sample):
        revenue[str(line["person"])] += float(line["amount"])
    ranked = sorted(revenue.values(), reverse=True)
    top = sum(ranked[: len(ranked) // 5]) / sum(ranked)
    print(f"\ntop 20% of customers bring {top:.0%} of revenue")
    assert 0.5 < top < 0.9, f"top 20% of customers bring {top:.0%} of revenue"
    persons = {r["person_id"]: r for r in sample.answer("persons.csv")}
    churned = [p for p in persons.values() if p["churn_date"]]
    assert 0.15 < len(churned) / len(persons) < 0.7
    buyers = [p for p in persons.values() if p["is_buyer"] == "1"]
    assert 0.75 < len(buyers) / len(persons) < 0.95
    one_time = [p for p in buyers if p["one_time_buyer"] == "1"]
    assert 0.2 < len(one_time) / len(buyers) < 0.45
    unresolved = [p for p in buyers if p["has_complained"] == "1" and p["complaint_resolved"] == "0"]
    resolved = [p for p in buyers if p["complaint_resolved"] == "1"]
    churn_rate = lambda group: sum(1 for p in group if p["churn_date"]) / len(group)  # noqa: E731
    assert churn_rate(unresolved) > churn_rate(resolved)
    feedback = {r["person_id"] for r in sample.answer("person_ids.csv") if r["source"] != "sales"}
    prospects = [p for p in feedback if persons[p]["is_buyer"] == "0"]
    assert 0.05 < len(prospects) / len(feedback) < 0.3, "some respondents and card senders never buy"


# --------------------------------------------------------------------------- append and refusal


def test_append_sales_adds_one_file_after_the_window(tmp_path: Path) -> None:
    generate(tmp_path, SMALL)
    before = file_hashes(tmp_path / "landing")
    ids_before = len(Sample(tmp_path).answer("person_ids.csv"))
    summary = append_sales(tmp_path, n_lines=1_000)
    after = file_hashes(tmp_path / "landing")
    assert all(after[name] == digest for name, digest in before.items())
    (new,) = set(after) - set(before)
    assert [f.file_name for f in summary.files] == [new]
    meta = Sample(tmp_path).files()[new]
    _, rows = read_records(tmp_path / "landing" / "sales" / new, meta)
    headers, _ = read_records(tmp_path / "landing" / "sales" / new, meta)
    date_col = [header_lookup("sales")[fold_header(h)] for h in headers].index("order_date")
    dates = {parse_date(r[date_col]) for r in rows if len(r) > date_col} - {None}
    assert dates and min(dates) > SMALL.end
    assert 900 <= len(rows) <= 1_150
    assert len(Sample(tmp_path).answer("person_ids.csv")) == ids_before + len(rows)
    second = append_sales(tmp_path, n_lines=500)
    assert second.files[0].file_name != new


def test_refuses_a_non_empty_landing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "landing" / "sales").mkdir(parents=True)
    (tmp_path / "landing" / "sales" / "mine.csv").write_text("order_id\n1\n")
    with pytest.raises(LandingNotEmptyError, match="--force"):
        generate(tmp_path, SMALL)
    assert cli_main(["--data-dir", str(tmp_path), "--sales-lines", "3000", "--quiet"]) == 2
    assert "already holds 1 file" in capsys.readouterr().err
    assert (tmp_path / "landing" / "sales" / "mine.csv").exists()
    assert (
        cli_main(
            ["--data-dir", str(tmp_path), "--sales-lines", "3000", "--persons", "400", "--force", "--quiet"]
        )
        == 0
    )
    assert not (tmp_path / "landing" / "sales" / "mine.csv").exists()
    assert {p.parent.name for p in (tmp_path / "landing").rglob("*.*")} == set(SOURCES)
    assert BUSINESS_KEYS["sales"] == ("order_id", "line_no")


# --------------------------------------------------------------------------- memory


@pytest.mark.timeout(180)
def test_memory_stays_bounded_on_a_larger_run(tmp_path: Path) -> None:
    """300k lines in 20k-line chunks: peak RSS grows far less than the data written."""
    script = textwrap.dedent(
        f"""
        import resource, sys
        from pathlib import Path
        from crm.sample_data import GenerationConfig, generate
        from crm.sample_data.generator import build_world
        config = GenerationConfig(sales_lines=300_000, chunk_lines=20_000)
        build_world(config)  # the person pool and catalogue are meant to be in memory
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        generate(Path({str(tmp_path)!r}), config)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(base // 1024, peak // 1024)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=REPO
    )
    base_mib, peak_mib = map(int, result.stdout.split())
    written_mib = sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file()) / 2**20
    print(f"\n300k lines: RSS {base_mib} -> {peak_mib} MiB while writing {written_mib:.0f} MiB")
    assert written_mib > 40
    assert peak_mib - base_mib < 150


@pytest.mark.parametrize("seed", [11, 23])
def test_other_seeds_generate_encodable_files(tmp_path, seed):
    """Regression: staff and customer names must fit every file's encoding (Big5 included)."""
    summary = generate(tmp_path, GenerationConfig(sales_lines=1500, seed=seed))
    assert summary.files
