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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from crm.config import Settings
from crm.contract import BUSINESS_KEYS, LINEAGE_COLUMNS, raw_columns
from crm.ingest import manifest, storage
from crm.ingest.discovery import LandingFile, sha256_of
from crm.ingest.errors import BadRow, FileRejected
from crm.ingest.readers import OpenedFile, open_file
from crm.ingest.sku_prices import SkuPriceCounts
from crm.ingest.validation import BatchValidator, ExpectationStat, Failure
from crm.ingest.write_behind import WriteBehind
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
    logged: int = 0


def _failed(landing: LandingFile, message: str, batch_id: str = "") -> FileOutcome:
    return FileOutcome(landing.source, landing.path.name, batch_id, "failed", message=message)


def _raise(exc: BaseException) -> FileOutcome:
    raise exc


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


#: Files up to this size are read whole and validated together with their neighbours: GX has a
#: fixed cost of about a second per validation call, which would dominate many small monthly files.
SMALL_FILE_BYTES = 16 * 1024 * 1024
#: Rows of file ``i`` of a validation group get the index ``i * GROUP_OFFSET + source_row``.
GROUP_OFFSET = 10**12


@dataclass
class PendingFile:
    """A file that passed the exactly-once check and was opened; its rows are still to be committed."""

    landing: LandingFile
    sha256: str
    batch_id: str
    opened: OpenedFile
    original: pd.DataFrame | None = None
    bad_rows: list[BadRow] = field(default_factory=list)


@dataclass
class ValidatedPart:
    """Rows of one file after normalisation and validation."""

    original: pd.DataFrame
    frame: pd.DataFrame
    failures: dict[int, list[Failure]]
    stats: dict[tuple[str, str | None, str], tuple[int, int]]


class FileLoader:
    """Loads landing files of every source into one open warehouse connection."""

    def __init__(self, con: duckdb.DuckDBPyConnection, validator: BatchValidator, settings: Settings) -> None:
        self.con = con
        self.validator = validator
        self.settings = settings
        self._run_started = dt.datetime.now(dt.UTC)
        self._writes: WriteBehind | None = None  # the open file's background writes
        self._sku_prices = SkuPriceCounts()  # what the price check compares with, kept per run

    # -- entry points ---------------------------------------------------------------------------------

    def load_all(self, files: list[LandingFile]) -> list[FileOutcome]:
        """Load files in order. Small files are validated in groups, large ones chunk by chunk; each
        file still commits in its own transaction."""
        outcomes: list[FileOutcome] = []
        group: list[PendingFile] = []
        group_rows = 0
        for landing in files:
            sha256 = sha256_of(landing.path)
            if any(p.sha256 == sha256 for p in group):
                # The same bytes twice in one run: commit the first before judging the second a duplicate.
                outcomes += self._flush(group)
                group, group_rows = [], 0
            try:
                pending = self._begin(landing, sha256)
            except storage.StorageError as exc:
                log.error("%s/%s: %s", landing.source, landing.path.name, exc)
                outcomes.append(_failed(landing, str(exc)))
                continue
            if isinstance(pending, FileOutcome):
                outcomes.append(pending)
                continue
            try:
                if landing.size <= SMALL_FILE_BYTES:
                    chunks = list(pending.opened.chunks())
                    pending.original = (
                        pd.concat([c.frame for c in chunks]) if len(chunks) > 1 else chunks[0].frame
                    )
                    pending.bad_rows = [b for c in chunks for b in c.bad_rows]
                    group.append(pending)
                    group_rows += len(pending.original)
                    if group_rows >= self.settings.chunk_rows:
                        outcomes += self._flush(group)
                        group, group_rows = [], 0
                else:
                    outcomes += self._flush(group)
                    group, group_rows = [], 0
                    outcomes.append(self._guard(pending, self._load_large, pending))
            except Exception as exc:  # raised while reading a small file (e.g. broken quoting)
                # FileRejected rejects the file; anything else marks it failed, and the run goes on.
                outcomes.append(self._guard(pending, _raise, exc))
        outcomes += self._flush(group)
        return outcomes

    def load(self, landing: LandingFile) -> FileOutcome:
        """Load a single file (used by tools and tests)."""
        return self.load_all([landing])[0]

    # -- before reading: exactly-once ----------------------------------------------------------------

    def _begin(self, landing: LandingFile, sha256: str) -> PendingFile | FileOutcome:
        source, path = landing.source, landing.path
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
        pending = PendingFile(landing, sha256, batch_id, None)  # type: ignore[arg-type]
        try:
            pending.opened = open_file(path, source, self.settings.chunk_rows)
        except FileRejected as exc:
            return self._reject(landing, sha256, batch_id, exc)
        return pending

    def _guard(self, pending: PendingFile, func, *args) -> FileOutcome:
        """Run one file's commit; unexpected errors mark it failed (it stays in landing) and are reported."""
        try:
            outcome = func(*args)
        except FileRejected as exc:
            try:
                return self._reject(pending.landing, pending.sha256, pending.batch_id, exc)
            except storage.StorageError as move_error:
                return _failed(pending.landing, str(move_error), pending.batch_id)
        except Exception as exc:
            log.exception(
                "%s/%s failed; it stays in landing for the next run",
                pending.landing.source,
                pending.landing.path.name,
            )
            manifest.finish(
                self.con, pending.batch_id, status="failed", reason=f"{type(exc).__name__}: {exc}"
            )
            return _failed(pending.landing, f"{type(exc).__name__}: {exc}", pending.batch_id)
        try:
            self._archive(pending.landing, pending.sha256, outcome)
        except storage.StorageError as exc:
            log.error("%s/%s: %s", pending.landing.source, pending.landing.path.name, exc)
            outcome.status, outcome.message = "failed", str(exc)
        return outcome

    # -- validation ----------------------------------------------------------------------------------------

    def _validate(
        self, source: str, parts: list[tuple[str, pd.DataFrame]], run_name: str
    ) -> list[ValidatedPart]:
        """Normalise and validate the rows of several files (or one chunk of one file) in one GX call."""
        frames = [normalise_frame(source, original) for _, original in parts]
        combined = (
            pd.concat([f.set_axis(f.index.astype("int64") + i * GROUP_OFFSET) for i, f in enumerate(frames)])
            if len(frames) > 1
            else frames[0].set_axis(frames[0].index.astype("int64"))
        )
        combined.index.name = "_source_row"
        names = [name for name, _ in parts]
        self._mark_duplicates(source, combined, names)
        if source == "sales":
            self._price_ratio(combined)
        result = self.validator.validate(source, combined, run_name=run_name)
        if result.table_failures:
            raise FileRejected("schema_mismatch", f"{', '.join(names)}: " + "; ".join(result.table_failures))
        validated = []
        for i, ((_, original), frame) in enumerate(zip(parts, frames, strict=True)):
            offset = i * GROUP_OFFSET if len(frames) > 1 else 0
            part_frame = combined.loc[frame.index.astype("int64") + offset].set_axis(frame.index)
            failures = (
                {
                    gid - offset: f
                    for gid, f in result.row_failures.items()
                    if offset <= gid < offset + GROUP_OFFSET
                }
                if len(frames) > 1
                else dict(result.row_failures)
            )
            counts = Counter(
                (f.expectation_type, f.column, f.reason_code) for fs in failures.values() for f in _unique(fs)
            )
            stats = {(t, c, r): (len(frame), counts.get((t, c, r), 0)) for t, c, r, *_ in result.stats}
            validated.append(ValidatedPart(original, part_frame, failures, stats))
        return validated

    # -- commits -----------------------------------------------------------------------------------------

    def _flush(self, group: list[PendingFile]) -> list[FileOutcome]:
        """Validate a group of small files together, then commit each file on its own."""
        if not group:
            return []
        source = group[0].landing.source
        run_name = group[0].batch_id if len(group) == 1 else f"{group[0].batch_id}-group-of-{len(group)}"
        try:
            parts = self._validate(source, [(p.landing.path.name, p.original) for p in group], run_name)
        except Exception as exc:  # a failure here concerns every file of the group
            return [self._guard(p, _raise, exc) for p in group]
        return [self._guard(p, self._commit_small, p, part) for p, part in zip(group, parts, strict=True)]

    def _commit_small(self, pending: PendingFile, part: ValidatedPart) -> FileOutcome:
        return self._commit(pending, [(part, pending.bad_rows)])

    def _load_large(self, pending: PendingFile) -> FileOutcome:
        """A large file streams chunk by chunk inside one transaction (earlier chunks are visible to the
        duplicate check of later ones because they are already inserted in that transaction)."""
        name = pending.landing.path.name

        def validated_chunks() -> Iterator[tuple[ValidatedPart, list[BadRow]]]:
            for number, chunk in enumerate(pending.opened.chunks()):
                run_name = f"{pending.batch_id}-chunk-{number:05d}"
                yield (
                    self._validate(pending.landing.source, [(name, chunk.frame)], run_name)[0],
                    chunk.bad_rows,
                )

        return self._commit(pending, validated_chunks())

    def _commit(
        self, pending: PendingFile, parts: Iterable[tuple[ValidatedPart, list[BadRow]]]
    ) -> FileOutcome:
        """Write every part of one file, check the reconciliation and commit, all in one transaction."""
        outcome = FileOutcome(pending.landing.source, pending.landing.path.name, pending.batch_id, "loaded")
        stats: dict[tuple[str, str | None, str], ExpectationStat] = {}
        writes = self._writes = WriteBehind()
        self.con.begin()
        try:
            self._clear(pending)
            # Pulling the next part reads, normalises and validates it while the previous part is
            # written (crm.ingest.write_behind); the checks that query the warehouse wait first.
            for part, bad_rows in parts:
                writes.submit(self._write_part, pending, part, bad_rows, outcome, stats)
            writes.wait()
            self._finish(pending, outcome, stats)
            self.con.commit()
        except BaseException:
            writes.drain()  # the connection is idle before the rollback
            self.con.rollback()
            self._sku_prices.discard()
            raise
        finally:
            self._writes = None
            writes.close()
        self._sku_prices.commit()
        self._log_remaining(pending, outcome)
        return outcome

    def _await_writes(self) -> None:
        """Let the write in flight finish before the loader's own thread uses the connection."""
        if self._writes is not None:
            self._writes.wait()

    def _clear(self, pending: PendingFile) -> None:
        # Leftovers cannot exist (each file commits atomically), but a re-run must never double-load.
        source = pending.landing.source
        (deleted,) = self.con.execute(
            f"delete from raw.{source} where _file_sha256 = ?", [pending.sha256]
        ).fetchone()
        if deleted:
            self._sku_prices.discard()
        self.con.execute(f"delete from quarantine.{source} where _file_sha256 = ?", [pending.sha256])

    def _write_part(
        self,
        pending: PendingFile,
        part: ValidatedPart,
        bad_rows: list[BadRow],
        outcome: FileOutcome,
        stats: dict[tuple[str, str | None, str], ExpectationStat],
    ) -> None:
        source, name = pending.landing.source, pending.landing.path.name
        lineage = {
            "_source_file": name,
            "_file_sha256": pending.sha256,
            "_batch_id": pending.batch_id,
            "_loaded_at": self._run_started,
        }
        valid = part.frame.drop(index=sorted(part.failures))
        self._insert_raw(source, valid, lineage)
        quarantined = self._quarantine_rows(part.original, part.frame, part.failures, bad_rows)
        self._insert_quarantine(source, quarantined, lineage)
        for key, (elements, unexpected) in part.stats.items():
            stats.setdefault(key, ExpectationStat(*key)).add(elements, unexpected, unexpected == 0)
        outcome.rows_read += len(part.original) + len(bad_rows)
        outcome.rows_loaded += len(valid)
        outcome.rows_quarantined += len(quarantined)
        for record in quarantined:
            outcome.reasons.update(record["reason_codes"])
            if outcome.logged < LOGGED_ROWS_PER_FILE:
                outcome.logged += 1
                details = "; ".join(
                    f"{r['rule']}"
                    + (f" ({r['column']}={r['value']!r})" if r.get("column") else "")
                    + (f": {r['detail']}" if r.get("detail") else "")
                    for r in record["reasons"]
                )
                log.warning("%s/%s row %s quarantined: %s", source, name, record["_source_row"], details)

    def _finish(
        self,
        pending: PendingFile,
        outcome: FileOutcome,
        stats: dict[tuple[str, str | None, str], ExpectationStat],
    ) -> None:
        source, name = pending.landing.source, pending.landing.path.name
        if outcome.rows_read != outcome.rows_loaded + outcome.rows_quarantined:
            raise RuntimeError(
                f"{name}: reconciliation failed: read {outcome.rows_read} != loaded "
                f"{outcome.rows_loaded} + quarantined {outcome.rows_quarantined}"
            )
        self._insert_dq_results(source, name, pending.batch_id, stats.values())
        superseded = manifest.previous_versions(self.con, source, name, pending.sha256)
        reason = (
            f"a modified version of {name}, earlier loaded as {', '.join(superseded)}; rows whose keys "
            "were already loaded are quarantined as duplicate_business_key"
            if superseded
            else None
        )
        manifest.finish(
            self.con,
            pending.batch_id,
            status="loaded",
            rows_read=outcome.rows_read,
            rows_loaded=outcome.rows_loaded,
            rows_quarantined=outcome.rows_quarantined,
            file_type=pending.opened.file_type,
            encoding=pending.opened.encoding,
            reason=reason,
        )

    def _log_remaining(self, pending: PendingFile, outcome: FileOutcome) -> None:
        if outcome.logged < outcome.rows_quarantined:
            log.warning(
                "%s/%s: %d more quarantined rows in quarantine.%s (batch %s)",
                pending.landing.source,
                pending.landing.path.name,
                outcome.rows_quarantined - outcome.logged,
                pending.landing.source,
                pending.batch_id,
            )

    # -- checks computed before validation --------------------------------------------------------------

    def _mark_duplicates(self, source: str, frame: pd.DataFrame, names: list[str]) -> None:
        """Set ``_duplicate_of`` to where the business key was first seen: earlier in this group of rows,
        in an earlier chunk of the same file (already inserted in the open transaction) or in an earlier
        load. The first occurrence wins; later ones are quarantined."""

        def where(gid: int) -> str:
            return f"{names[gid // GROUP_OFFSET]} row {gid % GROUP_OFFSET}"

        self._await_writes()  # earlier chunks of this file count as loaded
        keys = list(BUSINESS_KEYS[source])
        frame["_duplicate_of"] = pd.Series([None] * len(frame), index=frame.index, dtype=object)
        if frame.empty:
            return
        complete = frame[keys].notna().all(axis=1)
        keyed = frame.loc[complete, keys]
        first_row = keyed.reset_index().groupby(keys, sort=False)["_source_row"].transform("min")
        first_row.index = keyed.index
        repeated = first_row[first_row != first_row.index.to_series()]
        frame.loc[repeated.index, "_duplicate_of"] = [where(int(r)) for r in repeated]
        self.con.register("_incoming_keys", keyed.reset_index())
        try:
            join = " and ".join(f'k."{c}" = r."{c}"' for c in keys)
            earlier = self.con.execute(
                f"""
                select k._source_row, arg_min(r._source_file, r._source_row), min(r._source_row)
                from _incoming_keys k join raw.{source} r on {join}
                group by k._source_row
                """
            ).fetchall()
        finally:
            self.con.unregister("_incoming_keys")
        for gid, file_name, first in earlier:
            frame.loc[gid, "_duplicate_of"] = f"{file_name} row {first}"

    def _price_ratio(self, frame: pd.DataFrame) -> None:
        """unit_price / the SKU's median price (already loaded lines, else this chunk); null if unknown."""
        frame["_price_ratio"] = pd.Series(pd.NA, index=frame.index, dtype="Float64")
        if frame.empty:
            return
        self._await_writes()
        # median(unit_price) of raw.sales per SKU (unit_price > 0, at least MIN_PRICE_SAMPLE lines),
        # from counts kept in memory instead of a scan of the whole table per chunk
        known = self._sku_prices.medians(self.con, list(frame["sku"].dropna().unique()), MIN_PRICE_SAMPLE)
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
        self.con.register("_valid_rows", table.reset_index(drop=True))
        try:
            # The file's lineage values are parameters, not columns: no per-row copies to scan.
            expressions = []
            for name, type_ in columns:
                value = "?" if name in lineage else f'"{name}"'
                expressions.append(f'cast({value} as {type_}) as "{name}"')
            select = ", ".join(expressions)
            self.con.execute(
                f"insert into raw.{source} by name select {select} from _valid_rows",
                [lineage[name] for name, _ in columns if name in lineage],
            )
            if source == "sales":
                self._sku_prices.add_written(self.con)  # reads _valid_rows
        finally:
            self.con.unregister("_valid_rows")

    def _quarantine_rows(
        self,
        original: pd.DataFrame,
        frame: pd.DataFrame,
        failures: dict[int, list[Failure]],
        bad_rows: list[BadRow],
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
        for row, row_failures in sorted(failures.items()):
            raw = {k: _json_value(v) for k, v in original.loc[row].items()} if row in original.index else {}
            reasons = []
            for failure in _unique(row_failures):
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
