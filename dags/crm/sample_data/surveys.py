"""Satisfaction surveys (questionnaires): who answers, what they answer, one file per quarter and collector.

Answers follow the behaviour model: ratings and the recommend score rise with the latent
satisfaction, complaints are reported as they happened (resolved or not), repurchase intent is
higher after a resolved complaint and low after churn, and a respondent who has already churned
gives a leave reason (the weakest rated aspect, or price).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crm.contract import CUSTOMER_TYPES, LEAVE_REASONS, QUESTIONNAIRE_FIELDS
from crm.sample_data.behaviour import Behaviour
from crm.sample_data.dates import format_date
from crm.sample_data.defects import Record
from crm.sample_data.emit import FileSpec, PlannedFile
from crm.sample_data.people import CUSTOMER_TYPE_CODES, INDIVIDUAL, PersonPool
from crm.sample_data.render import PersonRenderer
from crm.sample_data.scripts import Script, in_script
from crm.sample_data.seeding import scalar_rng
from crm.sample_data.styles import LabelWriter, choose_style

RESPONSES_PER_PERSON = 0.45
XLSX_MAX_ROWS = 3_000
COLLECTORS = ("store", "online", "dealer")  # who ran the survey: one file per quarter and collector
OPTIONAL_DROPPABLE = ("rating_staff", "rating_brand", "recommend_score", "comment", "region", "industry")
COMMENTS: dict[str, tuple[str, ...]] = {
    "good": (
        "服務很好，會再來",
        "店員很親切",
        "產品品質穩定",
        "出貨速度快",
        "整體滿意",
        "價格合理，推薦給朋友",
    ),
    "neutral": ("還可以", "希望多一些優惠", "包裝可以再改進", "網站有點難用", "無", "門市停車不方便"),
    "bad": (
        "等太久了",
        "客服電話打不通",
        "產品有瑕疵，退換貨麻煩",
        "價格比別家貴",
        "店員態度不佳",
        "送貨延遲，沒有通知",
    ),
}
EN_COMMENTS = {
    "good": ("Great service", "Fast delivery", "Good quality"),
    "neutral": ("OK", "More discounts please", "Website could be easier"),
    "bad": ("Waited too long", "Product was faulty", "Too expensive"),
}


@dataclass(frozen=True)
class Response:
    person: int
    day: int  # day number in the window


def plan_responses(pool: PersonPool, behaviour: Behaviour, seed: int, n_days: int) -> list[Response]:
    rng = np.random.default_rng([seed, 5])
    n = len(pool)
    n_responses = max(20, round(RESPONSES_PER_PERSON * n))
    weight = np.where(behaviour.is_buyer, 1.0, 0.6)  # prospects answer less often
    person = rng.choice(n, size=n_responses, p=weight / weight.sum())
    first = np.where(behaviour.is_buyer[person], behaviour.first_day[person], 0)
    day = first + (rng.random(n_responses) * (n_days - first)).astype(int)
    order = np.lexsort((person, day))
    return [Response(int(person[k]), int(day[k])) for k in order]


def _ratings(rng: random.Random, z: float, churned: bool) -> dict[str, int]:
    base = 3.6 + 0.9 * z - (0.8 if churned else 0.0)
    out = {
        column: min(5, max(1, round(base + rng.gauss(0, noise))))
        for column, noise in (
            ("rating_product", 0.7),
            ("rating_service", 0.8),
            ("rating_staff", 0.8),
            ("rating_brand", 0.6),
        )
    }
    overall = sum(out.values()) / len(out) + rng.gauss(0, 0.4)
    out["overall_satisfaction"] = min(5, max(1, round(overall)))
    recommend = 6.5 + 2.0 * z - (1.5 if churned else 0.0) + rng.gauss(0, 1.2)
    out["recommend_score"] = min(10, max(0, round(recommend)))
    return out


def _leave_reason(rng: random.Random, ratings: dict[str, int]) -> str:
    if rng.random() < 0.35:
        return "price"
    weakest = min(("rating_product", "rating_service", "rating_staff"), key=lambda c: (ratings[c], c))
    if ratings[weakest] >= 4:
        return "other"
    return "product" if weakest == "rating_product" else "service"


def build_survey_files(
    pool: PersonPool,
    behaviour: Behaviour,
    responses: list[Response],
    seed: int,
    start: dt.date,
    landing: Path,
) -> list[PlannedFile]:
    """Group responses by quarter and collector and pick each file's style (records render lazily)."""
    rng = np.random.default_rng([seed, 6])
    groups: dict[tuple[str, str], list[Response]] = {}
    for r in responses:
        day = start + dt.timedelta(days=r.day)
        quarter = f"{day.year}Q{(day.month - 1) // 3 + 1}"
        collector = COLLECTORS[min(int(behaviour.channel[r.person]), 2)]
        groups.setdefault((quarter, collector), []).append(r)

    files: list[PlannedFile] = []
    seq = 0
    for (quarter, collector), group in sorted(groups.items()):
        # Spreadsheets are kept by hand for the smaller collections; big exports come as CSV.
        file_format = "xlsx" if rng.random() < 0.35 and len(group) <= XLSX_MAX_ROWS else "csv"
        style = choose_style(rng, QUESTIONNAIRE_FIELDS, encodings=file_format == "csv")
        columns = [f.name for f in QUESTIONNAIRE_FIELDS]
        if rng.random() < 0.3:
            for dropped in rng.choice(OPTIONAL_DROPPABLE, size=int(rng.integers(1, 3)), replace=False):
                columns.remove(str(dropped))
        if rng.random() < 0.5:  # another template: same columns, another order
            columns = [columns[0], *rng.permutation(columns[1:]).tolist()]
        path = landing / f"survey_{quarter}_{collector}.{file_format}"
        spec = FileSpec("questionnaires", path, file_format, style, tuple(columns), "survey_date")
        renderer = PersonRenderer(pool, style, scalar_rng(seed, "surveys", len(files)))
        real_dates = file_format == "xlsx" and rng.random() < 0.6
        labels = {
            "customer_type": LabelWriter(CUSTOMER_TYPES, style, 1),
            "leave_reason": LabelWriter(LEAVE_REASONS, style, 2),
        }
        ids = [f"SV{quarter}-{seq + k:06d}" for k in range(1, len(group) + 1)]
        seq += len(group)

        render = functools.partial(_records, renderer, labels, behaviour, group, ids, start, real_dates)
        files.append(PlannedFile(spec, len(group), render))
    return files


def _records(
    renderer: PersonRenderer,
    labels: dict[str, LabelWriter],
    behaviour: Behaviour,
    responses: list[Response],
    ids: list[str],
    start: dt.date,
    real_dates: bool,
) -> list[Record]:
    return [
        _record(renderer, labels, behaviour, r, i, start, real_dates)
        for r, i in zip(responses, ids, strict=True)
    ]


def _record(
    renderer: PersonRenderer,
    labels: dict[str, LabelWriter],
    behaviour: Behaviour,
    r: Response,
    response_id: str,
    start: dt.date,
    real_dates: bool,
) -> Record:
    pool, style, rng = renderer.pool, renderer.style, renderer.rng
    i = r.person
    z = float(behaviour.satisfaction[i])
    churned = bool(behaviour.is_buyer[i] and r.day >= behaviour.churn_day[i])
    ratings = _ratings(rng, z, churned)
    complained = bool(behaviour.complained[i])
    resolved = bool(behaviour.resolved[i])
    repurchase_logit = 0.6 + 1.3 * z + (0.9 if resolved else 0) - (1.2 if complained and not resolved else 0)
    repurchase = rng.random() < 1 / (1 + math.exp(-(repurchase_logit - (2.0 if churned else 0.0))))
    day = start + dt.timedelta(days=r.day)
    values: dict[str, object] = {
        "response_id": response_id,
        "respondent_name": renderer.name(i),
        "phone": renderer.phone(i) if rng.random() < 0.8 else "",
        "email": renderer.email(i) if rng.random() < 0.7 else "",
        "customer_type": labels["customer_type"](CUSTOMER_TYPE_CODES[pool.customer_type[i]]),
        "company": renderer.text(pool.company[i]),
        "industry": renderer.text(pool.industry[i]) if pool.customer_type[i] != INDIVIDUAL else "",
        "region": renderer.text(pool.region[i]) if rng.random() < 0.8 else "",
        "survey_date": day if real_dates else format_date(day, style.date_style, rng.randrange(480, 1260)),
        **{k: v if style.fullwidth_share == 0 else renderer.number(str(v)) for k, v in ratings.items()},
        "has_complained": style.bool_text(complained),
        "complaint_resolved": style.bool_text(resolved) if complained else "",
        "intends_to_repurchase": style.bool_text(bool(repurchase)),
        "leave_reason": labels["leave_reason"](_leave_reason(rng, ratings)) if churned else "",
        "comment": _comment(rng, ratings["overall_satisfaction"], style.script) if rng.random() < 0.4 else "",
    }
    return Record(
        values,
        i,
        response_id,
        phone=pool.phone[i] if values["phone"] else None,
        email=pool.email[i] if values["email"] else None,
    )


def _comment(rng: random.Random, overall: int, script: Script) -> str:
    mood = "good" if overall >= 4 else "neutral" if overall == 3 else "bad"
    if script is Script.ENGLISH and rng.random() < 0.5:
        return rng.choice(EN_COMMENTS[mood])
    text = rng.choice(COMMENTS[mood])
    return in_script(text, Script.SIMPLIFIED) if script is Script.SIMPLIFIED else text
