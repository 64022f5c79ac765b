"""The pandas peer: an analyst's script computing RFM and monthly retention from the sales CSVs.

``python -m crm.benchmark.peer SALES_DIR OUT_DIR`` reads every sales export with ``pandas.read_csv``
(encoding, delimiter and header aliases from the project's detection, see ``sales_files``), parses
the cells with the project's normalisers mapped over distinct values, then does everything else in
pandas: line net amounts, orders, RFM quintiles (``rfm.score_rfm``) and a cohort retention table.
Writes ``rfm.parquet`` (per sales reference) and ``orders.parquet`` (for the customer-grain check).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from crm.benchmark.rfm import orders_of, score_rfm
from crm.benchmark.sales_files import RFM_COLUMNS, SalesFile, parse_distinct, sales_exports


def read_export(export: SalesFile) -> pd.DataFrame:
    wanted = {header: column for column, header in export.headers.items()}
    frame = pd.read_csv(
        export.path,
        encoding=export.encoding,
        sep=export.delimiter,
        usecols=list(wanted),
        dtype=str,
        keep_default_na=False,
        na_values=[""],
        encoding_errors="replace",
    )
    frame = frame.rename(columns=wanted)
    for column in RFM_COLUMNS:
        if column not in frame.columns:
            frame[column] = pd.NA
    return frame[list(RFM_COLUMNS)]


def _parsed(series: pd.Series) -> pd.Series:
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    mapping = parse_distinct(str(series.name), uniques.tolist())
    parsed = np.array([*(mapping[u] for u in uniques.tolist()), None], dtype=object)
    return pd.Series(parsed[codes], index=series.index, name=series.name)


def _e4(text: pd.Series) -> pd.Series:
    """Canonical decimal text -> integer 1/10,000 units (exact), NA stays NA."""
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    values = [int(Decimal(u).scaleb(4).to_integral_value()) for u in uniques.tolist()]
    table = pd.array([*values, pd.NA], dtype="Int64")
    return pd.Series(table[codes], index=text.index)


def sales_lines(sales_dir: Path) -> pd.DataFrame:
    """Every parseable sales line: ref key, order id, date, net amount in 1/10,000 units."""
    raw = pd.concat([read_export(f) for f in sales_exports(sales_dir)], ignore_index=True)
    refs = _parsed(raw["customer_ref"])
    dates = pd.to_datetime(_parsed(raw["order_date"]), format="%Y-%m-%d")
    quantity = pd.to_numeric(_parsed(raw["quantity"])).astype("Int64")
    price_e4 = _e4(_parsed(raw["unit_price"]))
    discount_e4 = _e4(_parsed(raw["discount"])).fillna(0)
    # quantity * price * (1 - discount) in 1e-8 units, rounded half away from zero to 1e-4 (DECIMAL(18,4))
    exact = quantity * price_e4 * (10_000 - discount_e4)
    net_e4 = np.sign(exact) * ((exact.abs() + 5_000) // 10_000)
    lines = pd.DataFrame(
        {
            "ref_key": refs,
            "order_id": raw["order_id"].str.strip(),
            "order_date": dates,
            "net_e4": net_e4,
        }
    )
    return lines.dropna().astype({"net_e4": "int64"})


def monthly_retention(orders: pd.DataFrame) -> pd.DataFrame:
    """Share of each first-purchase cohort buying again in each later month."""
    purchases = orders[orders["net_e4"] > 0].reset_index()
    purchases["month"] = purchases["order_date"].dt.to_period("M")
    active = purchases[["ref_key", "month"]].drop_duplicates()
    active["cohort"] = active.groupby("ref_key")["month"].transform("min")
    active["age"] = (active["month"] - active["cohort"]).apply(lambda offset: offset.n)
    counts = active.groupby(["cohort", "age"]).size().unstack(fill_value=0)
    return counts.div(counts[0], axis=0)


def run(sales_dir: Path, out_dir: Path) -> dict[str, float | int]:
    started = time.perf_counter()
    lines = sales_lines(sales_dir)
    orders = orders_of(lines, "ref_key")
    reference_date = lines["order_date"].max() + pd.Timedelta(days=1)
    rfm = score_rfm(orders, reference_date)
    retention = monthly_retention(orders)
    elapsed = time.perf_counter() - started
    out_dir.mkdir(parents=True, exist_ok=True)
    rfm.to_parquet(out_dir / "rfm.parquet")
    orders.to_parquet(out_dir / "orders.parquet")
    info = {
        "lines": len(lines),
        "keys": len(rfm),
        "cohorts": len(retention),
        "reference_date": reference_date.date().isoformat(),
        "compute_s": round(elapsed, 3),
    }
    (out_dir / "peer.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crm.benchmark.peer", description=__doc__)
    parser.add_argument("sales_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.sales_dir, args.out_dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
