"""``generate()`` writes a full landing zone plus answer key; ``append_sales()`` adds one more sales file."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from crm.contract import SOURCES
from crm.sample_data.behaviour import Behaviour, draw_behaviour, plan_later_orders, plan_orders
from crm.sample_data.cards import build_card_files, plan_cards
from crm.sample_data.config import NO_DEFECTS, GenerationConfig
from crm.sample_data.emit import FileResult, FileSpec, PlannedFile, emit_file
from crm.sample_data.people import CUSTOMER_TYPE_CODES, ORIGIN_LOCALES, PersonPool, build_person_pool
from crm.sample_data.products import Catalogue, build_catalogue
from crm.sample_data.sales import SalesContext, staff_names, write_sales
from crm.sample_data.seeding import scalar_rng
from crm.sample_data.surveys import build_survey_files, plan_responses
from crm.sample_data.writers import FILE_COLUMNS, AnswerKey

ANSWER_KEY_DIR = "answer_key"
LANDING_DIR = "landing"
STATE_FILE = "generation.json"
Progress = Callable[[int], None]


class LandingNotEmptyError(RuntimeError):
    """The landing folder already holds files and ``force`` was not given."""


@dataclass
class GenerationSummary:
    data_dir: Path
    persons: int
    files: list[FileResult] = field(default_factory=list)
    file_defects: list[tuple[str, str, str]] = field(default_factory=list)  # source, file, defect type
    defect_counts: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0

    def rows(self, source: str) -> int:
        return sum(f.rows for f in self.files if f.source == source)

    def n_files(self, source: str) -> int:
        return sum(1 for f in self.files if f.source == source) + sum(
            1 for s, _, d in self.file_defects if s == source and d != "missing_required_column"
        )


@dataclass
class World:
    """Everything deterministic in the config: persons, catalogue, behaviour."""

    pool: PersonPool
    catalogue: Catalogue
    behaviour: Behaviour


def landing_files(data_dir: Path) -> list[Path]:
    landing = data_dir / LANDING_DIR
    return (
        sorted(p for s in SOURCES for p in (landing / s).glob("*") if p.is_file()) if landing.exists() else []
    )


def build_world(config: GenerationConfig) -> World:
    pool = build_person_pool(config.n_persons, config.seed, config.start)
    return World(pool, build_catalogue(config.seed), draw_behaviour(pool, config.seed, config.n_days))


def generate(
    data_dir: Path,
    config: GenerationConfig | None = None,
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> GenerationSummary:
    """Write ``<data_dir>/landing/<source>/`` and ``<data_dir>/answer_key/``; same config => same bytes."""
    config = config or GenerationConfig()
    progress = progress or (lambda _n: None)
    started = time.perf_counter()
    existing = landing_files(data_dir)
    if existing and not force:
        raise LandingNotEmptyError(
            f"{data_dir / LANDING_DIR} already holds {len(existing)} file(s) (e.g. {existing[0].name}); "
            "pass --force to replace them"
        )
    for path in existing:
        path.unlink()
    if (data_dir / ANSWER_KEY_DIR).exists():
        shutil.rmtree(data_dir / ANSWER_KEY_DIR)
    for source in SOURCES:
        (data_dir / LANDING_DIR / source).mkdir(parents=True, exist_ok=True)

    world = build_world(config)
    pool, behaviour = world.pool, world.behaviour
    plan = plan_orders(pool, behaviour, config.seed, config.n_days, config.start, config.sales_lines)
    key = AnswerKey(data_dir / ANSWER_KEY_DIR)
    summary = GenerationSummary(data_dir, len(pool))
    rates = config.defects
    landing = data_dir / LANDING_DIR
    try:
        rng = np.random.default_rng([config.seed, 30])
        rand = scalar_rng(config.seed, "defects")
        survey_files = build_survey_files(
            pool,
            behaviour,
            plan_responses(pool, behaviour, config.seed, config.n_days),
            config.seed,
            config.start,
            landing / "questionnaires",
        )
        rejected = _pick_rejected(survey_files) if rates.rejected_file else None
        for planned in survey_files:
            spec, file_rates = planned.spec, rates
            if planned is rejected:
                spec, file_rates = _drop_required_column(spec, rng), NO_DEFECTS
                (dropped,) = set(planned.spec.columns) - set(spec.columns)
                summary.file_defects.append(("questionnaires", spec.path.name, "missing_required_column"))
                key.defect("questionnaires", spec.path.name, "", "missing_required_column", column=dropped)
            summary.files.append(emit_file(spec, planned.render(), pool, file_rates, rand, key))
            progress(planned.n_records)

        cards = plan_cards(pool, behaviour, world.catalogue, config.seed, config.n_days)
        card_files = build_card_files(
            pool, behaviour, world.catalogue, cards, config.seed, config.start, landing / "reply_cards"
        )
        for planned in card_files:
            summary.files.append(emit_file(planned.spec, planned.render(), pool, rates, rand, key))
            progress(planned.n_records)

        ctx = SalesContext(
            pool,
            behaviour,
            world.catalogue,
            config.start,
            config.n_days,
            config.seed,
            rates,
            landing / "sales",
            staff=staff_names(config.seed),
        )
        summary.files.extend(write_sales(ctx, plan, key, config.chunk_lines, progress))
        _file_level_defects(summary, key, config, landing, card_files)
    finally:
        key.close()
    _write_persons(data_dir / ANSWER_KEY_DIR / "persons.csv", pool, behaviour, config.start, config.n_days)
    _write_files(data_dir / ANSWER_KEY_DIR / "files.csv", summary, append=False)
    _write_state(data_dir, config, summary, appended=[])
    summary.defect_counts = dict(sorted(key.defect_counts.items()))
    summary.elapsed_s = time.perf_counter() - started
    return summary


def _pick_rejected(files: list[PlannedFile]) -> PlannedFile | None:
    """The smallest survey CSV: it will lack a required column (the ingestion rejects the file)."""
    csv_files = [f for f in files if f.spec.file_format == "csv"]
    return min(csv_files, key=lambda f: (f.n_records, f.spec.path.name)) if csv_files else None


def _drop_required_column(spec: FileSpec, rng: np.random.Generator) -> FileSpec:
    candidates = ("overall_satisfaction", "survey_date", "customer_type", "respondent_name")
    column = candidates[int(rng.integers(len(candidates)))]
    return dataclasses.replace(spec, columns=tuple(c for c in spec.columns if c != column))


def _file_level_defects(
    summary: GenerationSummary,
    key: AnswerKey,
    config: GenerationConfig,
    landing: Path,
    card_files: list[PlannedFile],
) -> None:
    rates = config.defects
    if rates.empty_file and card_files:
        last = card_files[-1].spec.path
        empty = last.with_name(f"{last.stem.rsplit('_', 1)[0]}_c.csv")
        empty.write_bytes(b"")
        summary.file_defects.append(("reply_cards", empty.name, "empty_file"))
        key.defect("reply_cards", empty.name, "", "empty_file")
    sales = sorted(f.file_name for f in summary.files if f.source == "sales")
    if rates.redelivered_file and sales:
        original = landing / "sales" / sales[len(sales) // 2]
        copy = original.with_name(f"{original.stem}_resend.csv")
        shutil.copyfile(original, copy)
        summary.file_defects.append(("sales", copy.name, "redelivered_file"))
        key.defect("sales", copy.name, "", "redelivered_file", detail=original.name)


def _write_files(path: Path, summary: GenerationSummary, *, append: bool) -> None:
    """The manifest of landing files: format, encoding, script and date style of each (ground truth)."""
    defects = {name: defect for _, name, defect in summary.file_defects}
    by_name = {f.file_name: f for f in summary.files}
    with path.open("a" if append else "w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle, lineterminator="\n")
        if not append:
            out.writerow(FILE_COLUMNS)
        for f in summary.files:
            out.writerow(
                (
                    f.source,
                    f.file_name,
                    f.file_format,
                    f.encoding,
                    f.script,
                    f.date_style,
                    f.rows,
                    defects.get(f.file_name, ""),
                )
            )
        for source, name, defect in summary.file_defects:
            if name in by_name:
                continue
            if defect == "redelivered_file":  # byte-identical copy: same format as the original
                original = by_name[name.replace("_resend", "")]
                out.writerow(
                    (
                        source,
                        name,
                        original.file_format,
                        original.encoding,
                        original.script,
                        original.date_style,
                        original.rows,
                        defect,
                    )
                )
            else:
                out.writerow((source, name, Path(name).suffix[1:], "", "", "", 0, defect))


def _write_persons(path: Path, pool: PersonPool, behaviour: Behaviour, start: dt.date, n_days: int) -> None:
    """The true persons: identity attributes and the behaviour that drove their records."""
    churned = behaviour.churned(n_days)
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(
            (
                "person_id",
                "name",
                "name_traditional",
                "name_simplified",
                "origin_locale",
                "customer_type",
                "company",
                "industry",
                "region",
                "phone_e164",
                "email",
                "member_id",
                "birth_date",
                "is_buyer",
                "one_time_buyer",
                "first_purchase_date",
                "churn_date",
                "satisfaction",
                "has_complained",
                "complaint_resolved",
            )
        )
        for i in range(len(pool)):
            phone = pool.phone[i]
            buyer = bool(behaviour.is_buyer[i])
            birth = pool.birth_date[i]
            out.writerow(
                (
                    pool.person_id[i],
                    pool.name[i],
                    pool.name_traditional[i],
                    pool.name_simplified[i],
                    ORIGIN_LOCALES[pool.origin[i]],
                    CUSTOMER_TYPE_CODES[pool.customer_type[i]],
                    pool.company[i] or "",
                    pool.industry[i] or "",
                    pool.region[i],
                    phone.e164 if phone else "",
                    pool.email[i] or "",
                    pool.member_id[i] or "",
                    birth.isoformat() if birth else "",
                    int(buyer),
                    int(bool(behaviour.one_time[i])),
                    (start + dt.timedelta(days=int(behaviour.first_day[i]))).isoformat() if buyer else "",
                    (start + dt.timedelta(days=int(behaviour.churn_day[i]))).isoformat()
                    if churned[i]
                    else "",
                    f"{behaviour.satisfaction[i]:.3f}",
                    int(bool(behaviour.complained[i])),
                    int(bool(behaviour.resolved[i])),
                )
            )


def _write_state(
    data_dir: Path, config: GenerationConfig, summary: GenerationSummary, appended: list
) -> None:
    state = {
        "config": config.to_json(),
        "files": {s: sorted(f.file_name for f in summary.files if f.source == s) for s in SOURCES},
        "appended": appended,
    }
    path = data_dir / ANSWER_KEY_DIR / STATE_FILE
    path.write_text(json.dumps(state, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def append_sales(data_dir: Path, n_lines: int, *, progress: Progress | None = None) -> GenerationSummary:
    """Write one new sales file of about ``n_lines`` lines dated after everything generated so far.

    Existing files are not touched; the answer key grows by the new records. The window is the
    calendar month after the last generated day (so successive appends continue month by month).
    """
    progress = progress or (lambda _n: None)
    started = time.perf_counter()
    state_path = data_dir / ANSWER_KEY_DIR / STATE_FILE
    if not state_path.exists():
        raise FileNotFoundError(f"{state_path} not found: run a full generation into {data_dir} first")
    state = json.loads(state_path.read_text(encoding="utf-8"))
    config = GenerationConfig.from_json(state["config"])
    appended: list[dict[str, str]] = state["appended"]
    last_day = dt.date.fromisoformat(appended[-1]["end"]) if appended else config.end
    first = last_day + dt.timedelta(days=1)
    next_month = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    end = next_month - dt.timedelta(days=1)
    number = len(appended) + 1

    world = build_world(config)
    day0 = (first - config.start).days
    n_days = (end - config.start).days + 1
    plan = plan_later_orders(
        world.pool,
        world.behaviour,
        config.seed,
        config.start,
        config.n_days,
        day0,
        n_days,
        n_lines,
        100 + number,
    )
    key = AnswerKey(data_dir / ANSWER_KEY_DIR, append=True)
    try:
        ctx = SalesContext(
            world.pool,
            world.behaviour,
            world.catalogue,
            config.start,
            n_days,
            config.seed,
            config.defects,
            data_dir / LANDING_DIR / "sales",
            file_prefix=f"sales_append{number}",
            staff=staff_names(config.seed),
        )
        files = write_sales(ctx, plan, key, config.chunk_lines, progress, rng_salt=200 + 2 * number)
    finally:
        key.close()
    existing = {f.name for f in (data_dir / LANDING_DIR / "sales").glob("*")}
    assert all(f.file_name in existing for f in files)
    appended.append(
        {"start": first.isoformat(), "end": end.isoformat(), "files": [f.file_name for f in files]}
    )
    state["appended"] = appended
    state_path.write_text(json.dumps(state, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    summary = GenerationSummary(data_dir, len(world.pool), files=files)
    _write_files(data_dir / ANSWER_KEY_DIR / "files.csv", summary, append=True)
    summary.defect_counts = dict(sorted(key.defect_counts.items()))
    summary.elapsed_s = time.perf_counter() - started
    return summary
