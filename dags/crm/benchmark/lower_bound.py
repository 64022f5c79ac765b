"""The lower bound: DuckDB computing the same RFM table straight from the sales CSVs.

``prepare`` (outside the timing) transcodes the Big5/GB18030 exports to UTF-8, the one encoding
DuckDB's ``read_csv`` reads, and records each file's delimiter and RFM headers. ``run`` (timed,
``python -m crm.benchmark.lower_bound MANIFEST OUT_DIR``) then does the least work any tool must do
to get the same answer:

1. one ``read_csv`` load of the RFM columns of every file (text, header aliases resolved in SQL);
2. the project's value rules applied to each *distinct* reference, date, quantity, price and
   discount (phones to E.164, Traditional to Simplified names and ROC dates have no SQL equivalent);
3. one SQL statement: line nets, orders, purchases, RFM values and quintile scores.

``--warehouse`` runs the same statement over ``raw.sales`` of a loaded warehouse: the lower bound
for the RFM path inside the warehouse (staging -> ``customer_rfm``).
"""

from __future__ import annotations

import argparse
import codecs
import json
import shutil
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd

from crm.benchmark.sales_files import PARSERS, RFM_COLUMNS, parse_distinct, sales_exports

_UTF8 = {"utf-8", "utf_8", "utf8", "ascii"}


def prepare(sales_dir: Path, work_dir: Path) -> Path:
    """UTF-8 copies of the sales exports plus ``manifest.json``; returns the manifest's path."""
    work_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for export in sales_exports(sales_dir):
        target = work_dir / export.path.name
        if codecs.lookup(export.encoding).name in _UTF8:
            shutil.copyfile(export.path, target)
        else:  # utf-8-sig too: DuckDB would keep the BOM in the first header
            text = export.path.read_bytes().decode(export.encoding, errors="replace")
            target.write_text(text, encoding="utf-8")
        entries.append({"path": str(target), "delimiter": export.delimiter, "headers": export.headers})
    manifest = work_dir / "manifest.json"
    manifest.write_text(json.dumps(entries, ensure_ascii=False, indent=1), encoding="utf-8")
    return manifest


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def load_sql(entries: list[dict]) -> str:
    """One statement loading the RFM columns of every file as text, under canonical names."""
    selects = []
    for entry in entries:
        headers: dict[str, str] = entry["headers"]
        cells = ", ".join(
            f"{_quote(headers[c])} as {c}" if c in headers else f"null::varchar as {c}" for c in RFM_COLUMNS
        )
        selects.append(
            f"select {cells} from read_csv({_literal(entry['path'])}, header = true, all_varchar = true, "
            f"delim = {_literal(entry['delimiter'])}, quote = '\"', strict_mode = false)"
        )
    return "create temp table raw_lines as\n" + "\nunion all\n".join(selects)


#: Sales lines from the CSV load, through the distinct-value maps.
CSV_LINES_SQL = """
    select
        r.ref_key,
        trim(l.order_id) as order_id,
        cast(d.order_date as date) as order_date,
        cast(cast(q.quantity as bigint) * cast(p.unit_price as decimal(18, 4))
             * (1 - coalesce(cast(x.discount as decimal(18, 4)), 0)) as decimal(18, 4)) as net_amount
    from raw_lines as l
    join map_customer_ref as r on r.raw = l.customer_ref
    join map_order_date as d on d.raw = l.order_date
    join map_quantity as q on q.raw = l.quantity
    join map_unit_price as p on p.raw = l.unit_price
    left join map_discount as x on x.raw = l.discount
    where r.ref_key is not null and d.order_date is not null and q.quantity is not null
        and p.unit_price is not null and l.order_id is not null
"""

#: Sales lines from the warehouse's ``raw.sales`` (already typed and normalised by ingestion).
RAW_TABLE_LINES_SQL = """
    select
        customer_ref_type || ':' || customer_ref_norm as ref_key,
        order_id,
        order_date,
        cast(quantity * unit_price * (1 - coalesce(discount, 0)) as decimal(18, 4)) as net_amount
    from raw.sales
    where customer_ref_norm is not null
"""

RFM_SQL = """
with lines as ({lines}),
orders as (
    select ref_key, order_id, min(order_date) as order_date, sum(net_amount) as net_amount
    from lines group by ref_key, order_id
),
reference as (select max(order_date) + 1 as reference_date from lines),
per_key as (
    select
        ref_key,
        count(*) filter (where net_amount > 0) as frequency,
        sum(net_amount) as monetary,
        reference_date - max(order_date) filter (where net_amount > 0) as recency_days
    from orders cross join reference
    where order_date < reference_date
    group by ref_key, reference_date
),
flagged as (select *, frequency > 0 and monetary > 0 as is_rfm_scored from per_key)
select
    ref_key,
    recency_days,
    frequency,
    cast(monetary * 10000 as bigint) as monetary_e4,
    is_rfm_scored,
    case when is_rfm_scored then least(5, 1 + cast(floor(5 * percent_rank() over (
        partition by is_rfm_scored order by recency_days desc)) as integer)) else 1 end as r_score,
    case when is_rfm_scored then least(5, 1 + cast(floor(5 * percent_rank() over (
        partition by is_rfm_scored order by frequency asc)) as integer)) else 1 end as f_score,
    case when is_rfm_scored then least(5, 1 + cast(floor(5 * percent_rank() over (
        partition by is_rfm_scored order by monetary asc)) as integer)) else 1 end as m_score
from flagged
order by ref_key
"""


def _register_maps(con: duckdb.DuckDBPyConnection) -> None:
    """``map_<column>(raw, <canonical>)``: the project's parser applied to each distinct raw value."""
    for column in PARSERS:
        values = [row[0] for row in con.execute(f"select distinct {column} from raw_lines").fetchall()]
        mapping = parse_distinct(column, [v for v in values if v is not None])
        target = "ref_key" if column == "customer_ref" else column
        frame = pd.DataFrame({"raw": list(mapping), target: list(mapping.values())}, dtype=object)
        con.register(f"map_{column}", frame)


def run(manifest: Path, out_dir: Path) -> dict[str, float | int]:
    entries = json.loads(manifest.read_text(encoding="utf-8"))
    started = time.perf_counter()
    con = duckdb.connect()
    con.execute(load_sql(entries))
    loaded = time.perf_counter()
    _register_maps(con)
    mapped = time.perf_counter()
    rfm = con.execute(RFM_SQL.format(lines=CSV_LINES_SQL)).df().set_index("ref_key")
    finished = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    rfm.to_parquet(out_dir / "rfm.parquet")
    lines = con.execute("select count(*) from raw_lines").fetchone()[0]
    info = {
        "lines": lines,
        "keys": len(rfm),
        "load_s": round(loaded - started, 3),
        "normalise_distinct_s": round(mapped - loaded, 3),
        "rfm_statement_s": round(finished - mapped, 3),
    }
    (out_dir / "lower_bound.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    return info


def run_on_raw_table(warehouse: Path, out_dir: Path) -> dict[str, float | int]:
    """The same RFM statement over ``raw.sales`` of a loaded warehouse (the in-warehouse lower bound)."""
    started = time.perf_counter()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rfm = con.execute(RFM_SQL.format(lines=RAW_TABLE_LINES_SQL)).df().set_index("ref_key")
    elapsed = time.perf_counter() - started
    out_dir.mkdir(parents=True, exist_ok=True)
    rfm.to_parquet(out_dir / "rfm.parquet")
    return {"keys": len(rfm), "rfm_statement_s": round(elapsed, 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crm.benchmark.lower_bound", description=__doc__)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--manifest", type=Path, help="manifest.json written by prepare(): read the CSVs")
    source.add_argument("--warehouse", type=Path, help="a loaded warehouse: read raw.sales")
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args(argv)
    if args.manifest is not None:
        info = run(args.manifest, args.out_dir)
    else:
        info = run_on_raw_table(args.warehouse, args.out_dir)
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
