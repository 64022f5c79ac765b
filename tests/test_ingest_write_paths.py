"""The loader's write paths: chunks written behind the next chunk's reading, and the per-SKU price
counts the price-outlier check reads instead of scanning ``raw.sales`` per chunk.

- ``sku_prices.median_units`` is DuckDB's ``median`` on ``DECIMAL(18, 4)``, ties and truncation
  included;
- after a run, the counts give exactly the medians ``raw.sales`` gives in SQL;
- a chunk is judged against the SKU's lines of earlier chunks of the same file, a file that rolled
  back leaves no count behind, and an error in a background write rolls the whole file back.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm.config import Settings
from crm.contract import raw_columns
from crm.ingest import loader
from crm.ingest.run import ingest
from crm.ingest.sku_prices import SCALE, WRITTEN_RELATION, SkuPriceCounts, median_units
from tests.conftest import write_landing

SALES_HEADER = "訂單編號,項次,訂單日期,客戶,料號,品名,類別,數量,單價,單位成本,折扣,通路,業務員,原訂單編號\n"


def _line(order: str, sku: str, price: str) -> str:
    return f"{order},1,2024-03-05,M00000001,{sku},咖啡機,家電,1,{price},1,0,門市,王小明,\n"


def _duckdb_median(units: list[int]) -> int:
    values = ", ".join(f"({u / SCALE:.4f}::decimal(18, 4))" for u in units)
    (median,) = duckdb.sql(f"select median(x) from (values {values}) t(x)").fetchone()
    return int(median * SCALE)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=10**12), min_size=1, max_size=40))
def test_median_of_counts_is_duckdbs_decimal_median(units: list[int]) -> None:
    assert median_units(Counter(units)) == _duckdb_median(units)


@pytest.mark.parametrize(
    ("units", "expected"),
    [([10001, 10002], 10001), ([10001, 10004], 10002), ([1, 2, 3, 4], 2), ([5, 5, 5, 9], 5), ([7], 7)],
)
def test_median_truncates_half_units_like_duckdb(units: list[int], expected: int) -> None:
    assert median_units(Counter(units)) == expected == _duckdb_median(units)


def test_the_counts_sql_spells_out_the_contracts_types() -> None:
    """sku_prices spells out the stored types and the scale (no value is formatted into its SQL)."""
    types = dict(raw_columns("sales"))
    assert (types["sku"], types["unit_price"]) == ("VARCHAR", "DECIMAL(18, 4)")
    assert 10 ** int(types["unit_price"].rstrip(")").split(",")[1]) == SCALE
    source = (Path(loader.__file__).parent / "sku_prices.py").read_text(encoding="utf-8")
    assert 'cast("unit_price" as DECIMAL(18, 4))' in source and "unit_price * 10000" in source
    loader_source = Path(loader.__file__).read_text(encoding="utf-8")
    assert f"from {WRITTEN_RELATION}" in loader_source, "the loader inserts from the relation counted"


def _sql_medians(warehouse: Path) -> dict[str, float]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return dict(
            con.execute(
                f"""
                select sku, median(unit_price)::double from raw.sales
                where unit_price > 0 group by sku having count(*) >= {loader.MIN_PRICE_SAMPLE}
                """
            ).fetchall()
        )


def test_counts_give_the_medians_sql_gives_after_a_run(data_dir: Path, monkeypatch) -> None:
    monkeypatch.setattr(loader, "SMALL_FILE_BYTES", 0)
    monkeypatch.setenv("CRM_CHUNK_ROWS", "7")
    prices = ["100", "100.5", "99.99", "101", "0", "-3", "100.0001", "100.0002", "250", "98"]
    for f in range(3):
        lines = [_line(f"F{f}-{i}", f"SKU-{i % 4}", prices[(i * 7 + f) % len(prices)]) for i in range(1, 40)]
        write_landing(data_dir, "sales", f"part_{f}.csv", SALES_HEADER + "".join(lines))
    ingest(Settings.from_env(), build_docs=False)
    expected = _sql_medians(data_dir / "warehouse.duckdb")
    assert expected, "the data gives SKUs with enough lines"
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        counted = SkuPriceCounts().medians(con, [*sorted(expected), "SKU-none"], loader.MIN_PRICE_SAMPLE)
    assert counted == expected


def test_a_chunk_is_judged_against_the_earlier_chunks_of_its_file(data_dir: Path, monkeypatch) -> None:
    monkeypatch.setattr(loader, "SMALL_FILE_BYTES", 0)
    monkeypatch.setenv("CRM_CHUNK_ROWS", "6")
    # chunk 1: six lines at 1,280 (the SKU's median from then on); chunk 2: a price 100x that
    lines = [_line(f"C-{i}", "SKU-C", "1280") for i in range(1, 7)] + [_line("C-7", "SKU-C", "128000")]
    write_landing(data_dir, "sales", "chunked.csv", SALES_HEADER + "".join(lines))
    summary = ingest(Settings.from_env(), build_docs=False)[2]
    assert (summary.rows_loaded, summary.quarantine_reasons) == (6, {"price_outlier": 1})


def test_a_file_that_rolls_back_leaves_no_price_counts(data_dir: Path, monkeypatch) -> None:
    """The first file's lines at 1 would make 1,280 an outlier, but its load fails and rolls back;
    the second file, loaded in the same run, must be judged without them."""
    monkeypatch.setattr(loader, "SMALL_FILE_BYTES", 0)
    monkeypatch.setenv("CRM_CHUNK_ROWS", "6")
    cheap = [_line(f"A-{i}", "SKU-R", "1") for i in range(1, 13)]
    write_landing(data_dir, "sales", "a_fails.csv", SALES_HEADER + "".join(cheap))
    normal = [_line(f"B-{i}", "SKU-R", "1280") for i in range(1, 7)]
    write_landing(data_dir, "sales", "b_loads.csv", SALES_HEADER + "".join(normal))

    finish = loader.FileLoader._finish

    def failing_finish(self, pending, outcome, stats):
        if pending.landing.path.name == "a_fails.csv":
            raise OSError("disk went away before the commit")
        return finish(self, pending, outcome, stats)

    monkeypatch.setattr(loader.FileLoader, "_finish", failing_finish)
    summary = ingest(Settings.from_env(), build_docs=False, raise_on_error=False)[2]
    assert (summary.files_failed, summary.files_loaded) == (1, 1)
    assert (summary.rows_loaded, summary.quarantine_reasons) == (6, {})


def test_an_error_in_a_background_write_rolls_the_file_back(data_dir: Path, monkeypatch) -> None:
    monkeypatch.setattr(loader, "SMALL_FILE_BYTES", 0)
    monkeypatch.setenv("CRM_CHUNK_ROWS", "3")
    lines = [_line(f"W-{i}", "SKU-W", "10") for i in range(1, 11)]
    write_landing(data_dir, "sales", "writes.csv", SALES_HEADER + "".join(lines))
    insert_raw = loader.FileLoader._insert_raw
    calls = []

    def failing_second_insert(self, source, valid, lineage):
        calls.append(len(valid))
        if len(calls) == 2:
            raise OSError("no space left on device")
        return insert_raw(self, source, valid, lineage)

    monkeypatch.setattr(loader.FileLoader, "_insert_raw", failing_second_insert)
    summary = ingest(Settings.from_env(), build_docs=False, raise_on_error=False)[2]
    assert summary.files_failed == 1
    assert "no space left on device" in summary.errors["writes.csv"]
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from raw.sales").fetchone() == (0,), "the first chunk rolled back"
        assert con.execute(
            "select status from audit.file_manifest where file_name = 'writes.csv'"
        ).fetchall() == [("failed",)]
    assert (data_dir / "landing" / "sales" / "writes.csv").exists(), "the file stays for a retry"


def test_rows_written_before_the_first_read_are_counted_once() -> None:
    """The warehouse is read inside the open transaction, which already holds the open file's rows."""
    con = duckdb.connect()
    con.execute("create schema raw; create table raw.sales (sku varchar, unit_price decimal(18, 4))")
    con.begin()
    written = duckdb.sql("select 'SKU-1' as sku, 12.5 as unit_price from range(3)").df()
    con.register(WRITTEN_RELATION, written)
    con.execute(f"insert into raw.sales select * from {WRITTEN_RELATION}")
    counts = SkuPriceCounts()
    counts.add_written(con)
    assert counts.medians(con, ["SKU-1"], 4) == {}, "three lines, not six"
    assert counts.medians(con, ["SKU-1"], 3) == {"SKU-1": 12.5}
    counts.commit()
    assert counts.medians(con, ["SKU-1"], 3) == {"SKU-1": 12.5}
    assert counts.medians(con, ["SKU-1"], 4) == {}
