"""Load one landing file: read, normalise, validate, then write raw and quarantine rows in one transaction.

Invariant, checked before commit and recorded in the manifest:
``rows_read = rows_loaded + rows_quarantined``. A file either commits completely or leaves no row
behind; its manifest row is committed separately as 'loading' first, so a killed load is visible.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import Counter
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from crm.config import Settings
from crm.contract import BUSINESS_KEYS, LINEAGE_COLUMNS, raw_columns
from crm.ingest import manifest, storage
from crm.ingest.discovery import LandingFile, sha256_of
from crm.ingest.errors import BadRow, FileRejected
from crm.ingest.readers import open_file
from crm.ingest.validation import BatchResult, BatchValidator, ExpectationStat, Failure
from crm.normalise.frame import normalise_frame

log = logging.getLogger(__name__)

#: How many quarantined rows per file are spelled out in the log (all of them are in the table).
LOGGED_ROWS_PER_FILE = 20
#: A price is judged against the SKU's median only when that median rests on this many lines.
MIN_PRICE_SAMPLE = 5


@dataclass
class FileOutcome:
    source: str
    file_name: str
    batch_id: str
    status: str  # loaded | duplicate | rejected | failed | archived
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    message: str | None = None
    stored_path: str | None = None


def _new_batch_id(source: str, sha256: str) -> str:
    return f"{source}-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%f}-{sha256[:12]}"


def _source_column(column: str | None) -> str | None:
    """Map a derived validation column back to the input column a person would look at."""
    if column is None:
        return None
    for suffix in ("__raw", "_e164", "_norm", "_type"):
        if column.endswith(suffix):
            return column.removesuffix(suffix)
    return {"_price_ratio": "unit_price", "_duplicate_of": None}.get(column, column)


def _json_value(value: object) -> object:
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)


class FileLoader:
    """Loads landing files of every source into one open warehouse connection."""

    def __init__(self, con: duckdb.DuckDBPyConnection, validator: BatchValidator, settings: Settings) -> None:
        self.con = con
        self.validator = validator
        self.settings = settings

    # -- entry point ------------------------------------------------------------------------------

    def load(self, landing: LandingFile) -> FileOutcome:
        source, path = landing.source, landing.path
        sha256 = sha256_of(path)
        seen = manifest.find_by_sha(self.con, source, sha256)
        loaded = [e for e in seen if e.status == "loaded"]
        rejected = [e for e in seen if e.status == "rejected"]
        if loaded:
            return self._already_loaded(landing, sha256, loaded[0])
        if rejected:
            return self._already_rejected(landing, sha256, rejected[0])
        unfinished = [e for e in seen if e.status in ("loading", "failed") and e.file_name == path.name]
        batch_id = unfinished[0].batch_id if unfinished else _new_batch_id(source, sha256)
        if unfinished:
            log.warning(
                "%s/%s: resuming batch %s left %s by an earlier run",
                source,
                path.name,
                batch_id,
                unfinished[0].status,
            )
        manifest.start(
            self.con,
            batch_id=batch_id,
            source=source,
            file_name=path.name,
            landing_path=str(path),
            sha256=sha256,
            size=landing.size,
            arrived_at=dt.datetime.fromtimestamp(landing.mtime, dt.UTC),
        )
        try:
            outcome = self._load_rows(landing, sha256, batch_id)
        except FileRejected as exc:
            return self._reject(landing, sha256, batch_id, exc)
        except Exception as exc:
            manifest.finish(self.con, batch_id, status="failed", reason=f"{type(exc).__name__}: {exc}")
            raise
        self._archive(landing, sha256, outcome)
        return outcome

    # -- the transaction ----------------------------------------------------------------------------

    def _load_rows(self, landing: LandingFile, sha256: str, batch_id: str) -> FileOutcome:
        source, path = landing.source, landing.path
        opened = open_file(path, source, self.settings.chunk_rows)
        outcome = FileOutcome(source, path.name, batch_id, "loaded")
        stats: dict[tuple[str, str | None, str], ExpectationStat] = {}
        loaded_at = dt.datetime.now(dt.UTC)
        logged = 0
        self.con.begin()
        try:
            # Leftovers cannot exist (the transaction is atomic), but a re-run must never double-load.
            self.con.execute(f"delete from raw.{source} where _file_sha256 = ?", [sha256])
            self.con.execute(f"delete from quarantine.{source} where _file_sha256 = ?", [sha256])
            for number, chunk in enumerate(opened.chunks()):
                lineage = {
                    "_source_file": path.name,
                    "_file_sha256": sha256,
                    "_batch_id": batch_id,
                    "_loaded_at": loaded_at,
                }
                frame = normalise_frame(source, chunk.frame)
                self._mark_duplicates(source, frame)
                if source == "sales":
                    self._price_ratio(frame)
                result = self.validator.validate(source, frame, run_name=f"{batch_id}-chunk-{number:05d}")
                if result.table_failures:
                    raise FileRejected("schema_mismatch", f"{path.name}: " + "; ".join(result.table_failures))
                for stat in result.stats:
                    key = (stat[0], stat[1], stat[2])
                    stats.setdefault(key, ExpectationStat(*key)).add(stat[3], stat[4], stat[5])
                failed_rows = sorted(result.row_failures)
                valid = frame.drop(index=failed_rows)
                self._insert_raw(source, valid, lineage)
                quarantined = self._quarantine_rows(chunk.frame, frame, result, chunk.bad_rows)
                self._insert_quarantine(source, quarantined, lineage)
                outcome.rows_read += chunk.rows_read
                outcome.rows_loaded += len(valid)
                outcome.rows_quarantined += len(quarantined)
                for record in quarantined:
                    outcome.reasons.update(record["reason_codes"])
                    if logged < LOGGED_ROWS_PER_FILE:
                        logged += 1
                        details = "; ".join(
                            f"{r['rule']}"
                            + (f" ({r['column']}={r['value']!r})" if r.get("column") else "")
                            + (f": {r['detail']}" if r.get("detail") else "")
                            for r in record["reasons"]
                        )
                        log.warning(
                            "%s/%s row %s quarantined: %s", source, path.name, record["_source_row"], details
                        )
            if outcome.rows_read != outcome.rows_loaded + outcome.rows_quarantined:
                raise RuntimeError(
                    f"{path.name}: reconciliation failed: read {outcome.rows_read} != loaded "
                    f"{outcome.rows_loaded} + quarantined {outcome.rows_quarantined}"
                )
            self._insert_dq_results(source, path.name, batch_id, stats.values())
            superseded = manifest.previous_versions(self.con, source, path.name, sha256)
            reason = (
                f"a modified version of {path.name}, earlier loaded as {', '.join(superseded)}; "
                "rows whose keys were already loaded are quarantined as duplicate_business_key"
                if superseded
                else None
            )
            manifest.finish(
                self.con,
                batch_id,
                status="loaded",
                rows_read=outcome.rows_read,
                rows_loaded=outcome.rows_loaded,
                rows_quarantined=outcome.rows_quarantined,
                file_type=opened.file_type,
                encoding=opened.encoding,
                reason=reason,
            )
            self.con.commit()
        except BaseException:
            self.con.rollback()
            raise
        if logged < outcome.rows_quarantined:
            log.warning(
                "%s/%s: %d more quarantined rows in quarantine.%s (batch %s)",
                source,
                path.name,
                outcome.rows_quarantined - logged,
                source,
                batch_id,
            )
        return outcome

    # -- checks computed before validation --------------------------------------------------------------

    def _mark_duplicates(self, source: str, frame: pd.DataFrame) -> None:
        """Set ``_duplicate_of`` to where the business key was first seen.

        That is earlier in this chunk, an earlier chunk of this file (already inserted in the open
        transaction) or an earlier load; the first occurrence wins, later ones are quarantined.
        """
        keys = list(BUSINESS_KEYS[source])
        frame["_duplicate_of"] = pd.Series([None] * len(frame), index=frame.index, dtype=object)
        if frame.empty:
            return
        complete = frame[keys].notna().all(axis=1)
        keyed = frame.loc[complete, keys]
        first_row = keyed.reset_index().groupby(keys, sort=False)["_source_row"].transform("min")
        first_row.index = keyed.index
        in_chunk = first_row[first_row != first_row.index.to_series()]
        frame.loc[in_chunk.index, "_duplicate_of"] = [f"row {int(r)} of this file" for r in in_chunk]
        lookup = keyed.reset_index()
        self.con.register("_incoming_keys", lookup)
        try:
            join = " and ".join(f'k."{c}" = r."{c}"' for c in keys)
            earlier = self.con.execute(
                f"""
                select k._source_row, any_value(r._source_file) as file, min(r._source_row) as row
                from _incoming_keys k join raw.{source} r on {join}
                group by k._source_row
                """
            ).fetchall()
        finally:
            self.con.unregister("_incoming_keys")
        for row, file_name, first in earlier:
            frame.loc[row, "_duplicate_of"] = f"{file_name} row {first}"

    def _price_ratio(self, frame: pd.DataFrame) -> None:
        """unit_price / the SKU's median price (already loaded lines, else this chunk); null if unknown."""
        frame["_price_ratio"] = pd.Series(pd.NA, index=frame.index, dtype="Float64")
        if frame.empty:
            return
        skus = pd.DataFrame({"sku": frame["sku"].dropna().unique()})
        self.con.register("_skus", skus)
        try:
            known = dict(
                self.con.execute(
                    f"""
                select r.sku, median(r.unit_price)::double
                from raw.sales r join _skus s on r.sku = s.sku
                where r.unit_price > 0
                group by r.sku having count(*) >= {MIN_PRICE_SAMPLE}
                """
                ).fetchall()
            )
        finally:
            self.con.unregister("_skus")
        positive = frame["unit_price"].where(frame["unit_price"] > 0)
        grouped = positive.groupby(frame["sku"])
        chunk_median = grouped.transform("median").where(grouped.transform("count") >= MIN_PRICE_SAMPLE)
        reference = frame["sku"].map(known).astype("Float64").fillna(chunk_median.astype("Float64"))
        frame["_price_ratio"] = (frame["unit_price"] / reference).astype("Float64")

    # -- writing ----------------------------------------------------------------------------------------

    def _insert_raw(self, source: str, valid: pd.DataFrame, lineage: dict[str, object]) -> None:
        if valid.empty:
            return
        columns = raw_columns(source)
        table = pd.DataFrame(
            {name: valid[name] for name, _ in columns if name in valid.columns}, index=valid.index
        )
        table["_source_row"] = valid.index.astype("int64")
        for name, value in lineage.items():
            table[name] = value
        self.con.register("_valid_rows", table.reset_index(drop=True))
        try:
            select = ", ".join(f'cast("{name}" as {type_}) as "{name}"' for name, type_ in columns)
            self.con.execute(f"insert into raw.{source} by name select {select} from _valid_rows")
        finally:
            self.con.unregister("_valid_rows")

    def _quarantine_rows(
        self, original: pd.DataFrame, frame: pd.DataFrame, result: BatchResult, bad_rows: list[BadRow]
    ) -> list[dict[str, object]]:
        records: list[dict[str, object]] = []
        for bad in bad_rows:
            records.append(
                {
                    "_source_row": bad.source_row,
                    "reason_codes": [bad.reason_code],
                    "reasons": [{"rule": bad.reason_code, "detail": bad.message}],
                    "raw_record": {k: _json_value(v) for k, v in bad.raw_record.items()},
                }
            )
        for row, failures in sorted(result.row_failures.items()):
            raw = {k: _json_value(v) for k, v in original.loc[row].items()} if row in original.index else {}
            reasons = []
            for failure in _unique(failures):
                column = _source_column(failure.column)
                reason: dict[str, object] = {
                    "rule": failure.reason_code,
                    "expectation": failure.expectation_type,
                    "column": column,
                    "value": raw.get(column) if column else None,
                }
                if failure.reason_code == "duplicate_business_key":
                    reason["detail"] = f"first loaded at {frame.at[row, '_duplicate_of']}"
                reasons.append(reason)
            records.append(
                {
                    "_source_row": row,
                    "reason_codes": [r["rule"] for r in reasons],
                    "reasons": reasons,
                    "raw_record": raw,
                }
            )
        return records

    def _insert_quarantine(
        self, source: str, records: list[dict[str, object]], lineage: dict[str, object]
    ) -> None:
        if not records:
            return
        table = pd.DataFrame(
            {
                "_source_row": [r["_source_row"] for r in records],
                "reason_codes": [r["reason_codes"] for r in records],
                "reasons": [json.dumps(r["reasons"], ensure_ascii=False, default=str) for r in records],
                "raw_record": [json.dumps(r["raw_record"], ensure_ascii=False, default=str) for r in records],
            }
        )
        for name, value in lineage.items():
            table[name] = value
        self.con.register("_bad_rows", table)
        try:
            names = [n for n, _ in LINEAGE_COLUMNS] + ["reason_codes", "reasons", "raw_record"]
            types = dict(LINEAGE_COLUMNS) | {
                "reason_codes": "VARCHAR[]",
                "reasons": "JSON",
                "raw_record": "JSON",
            }
            select = ", ".join(f'cast("{n}" as {types[n]}) as "{n}"' for n in names)
            self.con.execute(f"insert into quarantine.{source} by name select {select} from _bad_rows")
        finally:
            self.con.unregister("_bad_rows")

    def _insert_dq_results(self, source: str, file_name: str, batch_id: str, stats) -> None:
        validated_at = dt.datetime.now(dt.UTC)
        rows = [
            (
                batch_id,
                source,
                file_name,
                source,
                s.expectation_type,
                s.column,
                s.reason_code,
                s.success,
                s.element_count,
                s.unexpected_count,
                (100.0 * s.unexpected_count / s.element_count) if s.element_count else 0.0,
                validated_at,
            )
            for s in stats
        ]
        if rows:
            self.con.executemany(
                "insert into audit.dq_results values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
            )

    # -- outcomes without a load ------------------------------------------------------------------------

    def _archive(self, landing: LandingFile, sha256: str, outcome: FileOutcome) -> None:
        stored = storage.archive(
            landing.path, self.settings.archive_dir, landing.source, sha256, dt.datetime.now(dt.UTC).date()
        )
        manifest.set_stored_path(self.con, outcome.batch_id, str(stored))
        outcome.stored_path = str(stored)

    def _already_loaded(
        self, landing: LandingFile, sha256: str, first: manifest.ManifestEntry
    ) -> FileOutcome:
        path = landing.path
        if first.stored_path is None and first.landing_path == str(path):
            # Loaded earlier, but the move to archive failed (e.g. permissions): just retry the move.
            outcome = FileOutcome(landing.source, path.name, first.batch_id, "archived")
            self._archive(landing, sha256, outcome)
            return outcome
        batch_id = _new_batch_id(landing.source, sha256)
        message = f"same content as {first.file_name} (batch {first.batch_id}); not loaded again"
        manifest.start(
            self.con,
            batch_id=batch_id,
            source=landing.source,
            file_name=path.name,
            landing_path=str(path),
            sha256=sha256,
            size=landing.size,
            arrived_at=dt.datetime.fromtimestamp(landing.mtime, dt.UTC),
        )
        manifest.finish(
            self.con,
            batch_id,
            status="duplicate",
            rows_read=0,
            rows_loaded=0,
            rows_quarantined=0,
            reason=message,
            duplicate_of=first.batch_id,
        )
        outcome = FileOutcome(landing.source, path.name, batch_id, "duplicate", message=message)
        log.warning("%s/%s: %s", landing.source, path.name, message)
        self._archive(landing, sha256, outcome)
        return outcome

    def _already_rejected(
        self, landing: LandingFile, sha256: str, first: manifest.ManifestEntry
    ) -> FileOutcome:
        exc = FileRejected(
            "duplicate_of_rejected",
            f"{landing.path.name}: same content as {first.file_name}, rejected earlier "
            f"(batch {first.batch_id})",
        )
        batch_id = _new_batch_id(landing.source, sha256)
        manifest.start(
            self.con,
            batch_id=batch_id,
            source=landing.source,
            file_name=landing.path.name,
            landing_path=str(landing.path),
            sha256=sha256,
            size=landing.size,
            arrived_at=dt.datetime.fromtimestamp(landing.mtime, dt.UTC),
        )
        return self._reject(landing, sha256, batch_id, exc)

    def _reject(self, landing: LandingFile, sha256: str, batch_id: str, exc: FileRejected) -> FileOutcome:
        log.error("%s/%s rejected [%s]: %s", landing.source, landing.path.name, exc.reason_code, exc.message)
        stored = storage.reject(
            landing.path, self.settings.rejected_dir, landing.source, sha256, exc.reason_code, exc.message
        )
        manifest.finish(
            self.con,
            batch_id,
            status="rejected",
            rows_read=0,
            rows_loaded=0,
            rows_quarantined=0,
            reason=f"{exc.reason_code}: {exc.message}",
            stored_path=str(stored),
        )
        outcome = FileOutcome(
            landing.source,
            landing.path.name,
            batch_id,
            "rejected",
            message=exc.message,
            stored_path=str(stored),
        )
        outcome.reasons[exc.reason_code] += 1
        return outcome


def _unique(failures: list[Failure]) -> list[Failure]:
    seen: set[tuple[str, str | None]] = set()
    out = []
    for f in failures:
        if (f.reason_code, f.column) not in seen:
            seen.add((f.reason_code, f.column))
            out.append(f)
    return out
