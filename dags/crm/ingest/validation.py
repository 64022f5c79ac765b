"""Great Expectations validation of pandas batches, and the split into valid and quarantined rows.

Suites are version-controlled JSON files, one per source, in ``expectations/<source>.json``; each
expectation's ``meta.reason_code`` names the quarantine reason. Batches are validated with
``result_format=COMPLETE`` so that the pandas engine returns the index of every unexpected row;
the frame's index is the source row number, so those indices are the rows to quarantine.

Validation results are stored in a file-backed GX context under ``$CRM_DATA_DIR/gx`` and Data Docs
are built from them (``build_data_docs``). GX's SQL datasource on DuckDB returns no metrics
(GX issues 10738/11579), which is why validation runs on pandas batches before loading.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

log = logging.getLogger(__name__)

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")


@dataclass(frozen=True)
class Failure:
    reason_code: str
    expectation_type: str
    column: str | None


@dataclass
class ExpectationStat:
    expectation_type: str
    column: str | None
    reason_code: str
    element_count: int = 0
    unexpected_count: int = 0
    success: bool = True

    def add(self, element_count: int, unexpected_count: int, success: bool) -> None:
        self.element_count += element_count
        self.unexpected_count += unexpected_count
        self.success = self.success and success


@dataclass
class BatchResult:
    """Which rows failed which rules, plus table-level failures (which reject the whole file)."""

    row_failures: dict[int, list[Failure]] = field(default_factory=lambda: defaultdict(list))
    table_failures: list[str] = field(default_factory=list)
    stats: list[tuple[str, str | None, str, int, int, bool]] = field(default_factory=list)


def run_parameters(today: dt.date | None = None) -> dict[str, Any]:
    """Run-time suite parameters: the accepted window of event and birth dates."""
    today = today or dt.datetime.now(dt.UTC).date()
    return {
        "max_event_date": pd.Timestamp(today + dt.timedelta(days=1)),
        "min_event_date": pd.Timestamp("2000-01-01"),
        "min_birth_date": pd.Timestamp("1900-01-01"),
    }


#: Integers up to this magnitude are exact in float64.
_EXACT_FLOAT_INT = 2**53
_NS_MIN, _NS_MAX = pd.Timestamp.min, pd.Timestamp.max


def vectorisable(frame: pd.DataFrame) -> pd.DataFrame:
    """The same values in dtypes for which GX's pandas metrics are vectorised.

    ``expect_column_values_to_be_between`` compares numpy ``int``/``float`` and ``datetime64[ns]``
    columns with array operations, but calls a Python function per element on nullable ``Int64`` /
    ``Float64`` and on second- or microsecond-resolution datetimes. Missing values stay missing
    (``NA`` -> ``NaN`` / ``NaT``), which every expectation treats as null, so the results (unexpected
    rows, counts) are the same. Integers beyond 2**53 and dates outside the nanosecond range keep their
    dtype: converting them would not be exact.
    """
    converted: dict[str, pd.Series] = {}
    for name, column in frame.items():
        dtype = column.dtype
        if isinstance(dtype, pd.Float64Dtype):
            converted[name] = column.astype("float64")
        elif isinstance(dtype, pd.Int64Dtype):
            values = column.dropna()
            if values.empty or values.abs().max() <= _EXACT_FLOAT_INT:
                converted[name] = column.astype("float64")
        elif pd.api.types.is_datetime64_dtype(dtype) and not pd.api.types.is_datetime64_ns_dtype(dtype):
            values = column.dropna()
            if values.empty or (values.min() >= _NS_MIN and values.max() <= _NS_MAX):
                converted[name] = column.astype("datetime64[ns]")
    if not converted:
        return frame
    return frame.assign(**converted)


@contextmanager
def _without_batch_fingerprint() -> Iterator[None]:
    """Let GX skip its ``pandas_data_fingerprint`` batch marker while a batch is loaded.

    GX hashes every cell of every in-memory frame below ``HASH_THRESHOLD`` bytes (1 GB) with
    ``pandas.util.hash_pandas_object``, once when the batch is made and again when it is validated,
    only to show the digest as a batch marker in Data Docs: 7.7% of a 1M-line ingestion's CPU
    (py-spy). Our own lineage identifies the batch instead (batch id, file SHA-256, source rows),
    and every result and quarantined row carries it. GX itself skips the hash above the threshold,
    so the results are the same without it.
    """
    from great_expectations.execution_engine import pandas_execution_engine as engine

    threshold = engine.HASH_THRESHOLD  # AttributeError after a GX upgrade that moved it: see the test
    engine.HASH_THRESHOLD = 0
    try:
        yield
    finally:
        engine.HASH_THRESHOLD = threshold


@contextmanager
def _row_conditions_evaluated_once() -> Iterator[None]:
    """Let GX evaluate each pandas ``row_condition`` once per validated batch instead of once per metric.

    For an expectation with a row condition, GX's pandas engine runs ``DataFrame.query`` over the
    whole batch for every metric it computes (count, unexpected count, index list, values...): six
    times per condition, 57% of validating a 200,000-line sales chunk. ``query`` is ``eval`` (the
    costly part) then ``loc`` with the resulting mask; while one batch is validated, the mask of each
    (batch, condition) is kept and the rows are selected from it as ``query`` would. Only the masks
    are kept (a byte per row), not the filtered frames: caching those held a near-copy of the batch
    per condition. Other kinds of condition go to GX unchanged.
    """
    from great_expectations.execution_engine.pandas_execution_engine import PandasExecutionEngine

    original = PandasExecutionEngine._apply_row_condition_filter  # see the test after a GX upgrade
    masks: dict[tuple[int, str, str | None], tuple[pd.DataFrame, pd.Series]] = {}

    def query(self: Any, data: pd.DataFrame, row_condition: Any, domain_kwargs: dict) -> pd.DataFrame:
        parser = domain_kwargs.get("condition_parser")
        if isinstance(row_condition, dict) and row_condition.get("type") == "pass_through":
            expression = row_condition["pass_through_filter"]  # GX: data.query(filter)
        elif isinstance(row_condition, str) and parser == "pandas":
            expression = row_condition  # GX: data.query(condition, parser="pandas")
        else:
            expression = None
        if not isinstance(expression, str) or "@" in expression or data.columns.has_duplicates:
            return original(self, data, row_condition, domain_kwargs)  # local variables, ambiguous labels
        key = (id(data), expression, parser)
        hit = masks.get(key)
        if hit is None or hit[0] is not data:  # the batch is held, so its id cannot be reused
            hit = masks[key] = (data, data.eval(expression, parser="pandas", target=None))
        mask = hit[1]
        try:  # what DataFrame.query does with the result of eval
            return data.loc[mask]
        except ValueError:
            return data[mask]

    PandasExecutionEngine._apply_row_condition_filter = query
    try:
        yield
    finally:
        PandasExecutionEngine._apply_row_condition_filter = original
        masks.clear()


def _row_number(index: object) -> int:
    """GX reports a named index as ``{"_source_row": n}`` and an unnamed one as ``n``."""
    if isinstance(index, dict):
        index = index.get("_source_row", next(iter(index.values())))
    return int(index)  # type: ignore[arg-type]


class BatchValidator:
    """Validates normalised batches against the suites and keeps GX results for Data Docs."""

    def __init__(self, suites_dir: Path, gx_root: Path | None, *, today: dt.date | None = None) -> None:
        import great_expectations as gx
        from great_expectations.core.expectation_suite import ExpectationSuite

        self._gx = gx
        if gx_root is not None:
            gx_root.mkdir(parents=True, exist_ok=True)
            self.context = gx.get_context(mode="file", project_root_dir=str(gx_root))
        else:
            self.context = gx.get_context(mode="ephemeral")
        try:
            self.context.variables.progress_bars = {"globally": False, "metric_calculations": False}
        except Exception:
            log.debug("could not disable GX progress bars", exc_info=True)
        self.parameters = run_parameters(today)
        self.suites: dict[str, Any] = {}
        for path in sorted(suites_dir.glob("*.json")):
            suite = ExpectationSuite(**json.loads(path.read_text(encoding="utf-8")))
            self.suites[suite.name] = self.context.suites.add_or_update(suite)
        datasource = self.context.data_sources.add_or_update_pandas("crm_landing")
        self._batch_definitions = {}
        for name in self.suites:
            asset = next((a for a in datasource.assets if a.name == name), None)
            if asset is None:
                asset = datasource.add_dataframe_asset(name)
            definition = next((d for d in asset.batch_definitions if d.name == "file_chunk"), None)
            if definition is None:
                definition = asset.add_batch_definition_whole_dataframe("file_chunk")
            self._batch_definitions[name] = definition

    def validate(self, source: str, frame: pd.DataFrame, run_name: str) -> BatchResult:
        suite = self.suites[source]
        # GX loads the batch twice (for the batch and to validate) and filters it per metric.
        with _without_batch_fingerprint(), _row_conditions_evaluated_once():
            batch = self._batch_definitions[source].get_batch(
                batch_parameters={"dataframe": vectorisable(frame)}
            )
            result = batch.validate(
                suite,
                result_format={"result_format": "COMPLETE"},
                expectation_parameters=self.parameters,
            )
        outcome = BatchResult()
        for item in result.results:
            config = item.expectation_config
            reason = (config.meta or {}).get("reason_code", config.type)
            column = config.kwargs.get("column") or config.kwargs.get("column_A")
            if item.exception_info and item.exception_info.get("raised_exception"):
                raise RuntimeError(
                    f"expectation {config.type} ({reason}) on {source} could not run: "
                    f"{item.exception_info.get('exception_message')}"
                )
            details = item.result or {}
            indices = details.get("unexpected_index_list")
            element_count = int(details.get("element_count") or len(frame))
            unexpected = int(details.get("unexpected_count") or 0)
            outcome.stats.append((config.type, column, reason, element_count, unexpected, bool(item.success)))
            if item.success:
                continue
            if indices is None:  # table-level expectation: nothing to quarantine row by row
                outcome.table_failures.append(
                    f"{reason}: {config.type} failed ({details.get('observed_value')})"
                )
                continue
            failure = Failure(reason, config.type, column)
            for index in indices:
                outcome.row_failures[_row_number(index)].append(failure)
        self._store(result, source, run_name)
        return outcome

    def _store(self, result: Any, source: str, run_name: str) -> None:
        """Persist a summary of the result so Data Docs show every validated chunk."""
        try:
            from great_expectations.core.run_identifier import RunIdentifier
            from great_expectations.data_context.types.resource_identifiers import (
                ExpectationSuiteIdentifier,
                ValidationResultIdentifier,
            )

            for item in result.results:  # the full index lists belong in quarantine, not in the docs
                if item.result:
                    for key in ("unexpected_index_list", "unexpected_list", "unexpected_index_query"):
                        item.result.pop(key, None)
            key = ValidationResultIdentifier(
                expectation_suite_identifier=ExpectationSuiteIdentifier(name=source),
                run_id=RunIdentifier(run_name=run_name, run_time=dt.datetime.now(dt.UTC)),
                batch_identifier=run_name,
            )
            self.context.validation_results_store.set(key, result)
        except Exception:
            log.warning("could not store the GX validation result for %s", run_name, exc_info=True)

    def build_data_docs(self) -> str | None:
        """Render Data Docs; returns the index page path (file URL) if built."""
        try:
            sites = self.context.build_data_docs()
        except Exception:
            log.warning("building GX Data Docs failed", exc_info=True)
            return None
        return next(iter(sites.values()), None) if sites else None
