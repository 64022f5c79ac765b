"""Reply cards (mail-in and product-registration cards typed in from paper by two data-entry vendors).

About 30% of persons send cards, some several over time: the same birth date, address and
company, but the marketing consent may change from card to card (the latest card wins downstream).
Vendor A delivers JSON Lines, vendor B CSV; one file per quarter and vendor.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crm.contract import CHANNELS, REPLY_CARD_FIELDS
from crm.sample_data.behaviour import CHANNEL_CODES, Behaviour
from crm.sample_data.dates import format_date
from crm.sample_data.defects import Record
from crm.sample_data.emit import FileSpec, PlannedFile
from crm.sample_data.people import PersonPool
from crm.sample_data.products import Catalogue
from crm.sample_data.render import PersonRenderer
from crm.sample_data.scripts import Script, in_script
from crm.sample_data.seeding import scalar_rng
from crm.sample_data.styles import LabelWriter, choose_style, pick

SENDER_SHARE = 0.30
CARDS_PER_SENDER = ((1, 0.72), (2, 0.20), (3, 0.08))
INTERESTS = ("烹飪", "旅遊", "運動健身", "3C科技", "親子", "美妝保養", "居家佈置", "閱讀", "攝影", "戶外露營")
EN_INTERESTS = (
    "cooking",
    "travel",
    "fitness",
    "tech",
    "parenting",
    "beauty",
    "home",
    "reading",
    "photography",
    "camping",
)


@dataclass(frozen=True)
class Card:
    person: int
    day: int  # received day in the window
    consent: bool
    product: int  # catalogue index, -1 when no product is registered
    purchase_lag: int  # days between purchase and the card's arrival


def plan_cards(
    pool: PersonPool, behaviour: Behaviour, catalogue: Catalogue, seed: int, n_days: int
) -> list[Card]:
    """Cards in arrival order; a sender's consent flips between consecutive cards 40% of the time."""
    rng = np.random.default_rng([seed, 8])
    n = len(pool)
    senders = np.flatnonzero(rng.random(n) < SENDER_SHARE * np.where(behaviour.is_buyer, 1.0, 0.8))
    counts, shares = zip(*CARDS_PER_SENDER, strict=True)
    per_sender = rng.choice(counts, size=len(senders), p=shares)
    person = np.repeat(senders, per_sender)
    buyer = behaviour.is_buyer[person]
    low = np.where(buyer, np.minimum(behaviour.first_day[person] + 3, n_days - 1), 0)
    day = low + (rng.random(len(person)) * (n_days - low)).astype(int)
    order = np.lexsort((day, person))  # each sender's cards in date order
    person, buyer, day = person[order], buyer[order], day[order]
    first = np.concatenate([[True], person[1:] != person[:-1]])
    start_consent = rng.random(len(person)) < 0.55 + 0.1 * behaviour.satisfaction[person]
    flips = (rng.random(len(person)) < 0.4) & ~first  # changed their mind since the previous card
    sender_start = np.maximum.accumulate(np.where(first, np.arange(len(person)), 0))
    flip_count = np.cumsum(flips) - np.cumsum(flips)[sender_start]
    consent = start_consent[sender_start] ^ (flip_count % 2 == 1)
    registers = buyer | (rng.random(len(person)) < 0.3)
    product = np.where(registers, catalogue.draw(rng, behaviour.favourite_category[person]), -1)
    lag = rng.integers(3, 45, size=len(person))
    cards = [
        Card(p, d, c, k, g)
        for p, d, c, k, g in zip(
            person.tolist(), day.tolist(), consent.tolist(), product.tolist(), lag.tolist(), strict=True
        )
    ]
    cards.sort(key=lambda c: (c.day, c.person))
    return cards


def build_card_files(
    pool: PersonPool,
    behaviour: Behaviour,
    catalogue: Catalogue,
    cards: list[Card],
    seed: int,
    start: dt.date,
    landing: Path,
) -> list[PlannedFile]:
    """Group cards by quarter and vendor and pick each file's style (records render lazily)."""
    rng = np.random.default_rng([seed, 9])
    vendor = rng.random(len(cards)) < 0.6
    groups: dict[tuple[str, str], list[tuple[int, Card]]] = {}
    for seq, (card, to_a) in enumerate(zip(cards, vendor, strict=True), start=1):
        day = start + dt.timedelta(days=card.day)
        quarter = f"{day.year}Q{(day.month - 1) // 3 + 1}"
        groups.setdefault((quarter, "a" if to_a else "b"), []).append((seq, card))

    files: list[PlannedFile] = []
    columns = tuple(f.name for f in REPLY_CARD_FIELDS)
    for (quarter, vendor_code), group in sorted(groups.items()):
        file_format = "jsonl" if vendor_code == "a" else "csv"
        style = choose_style(rng, REPLY_CARD_FIELDS, encodings=file_format == "csv")
        path = landing / f"reply_cards_{quarter}_{vendor_code}.{file_format}"
        spec = FileSpec(
            "reply_cards",
            path,
            file_format,
            style,
            columns,
            "card_received_date",
            ascii_json=bool(rng.random() < 0.3),
            omit_empty_json=bool(rng.random() < 0.5),
        )
        renderer = PersonRenderer(pool, style, scalar_rng(seed, "cards", len(files)))
        channels = LabelWriter(CHANNELS, style, 3)
        separator = (
            pick(rng, ("、", ",", ";", " ")) if style.script is not Script.ENGLISH else pick(rng, (",", ";"))
        )

        render = functools.partial(
            _records, renderer, channels, behaviour, catalogue, group, start, separator
        )
        files.append(PlannedFile(spec, len(group), render))
    return files


def _records(
    renderer: PersonRenderer,
    channels: LabelWriter,
    behaviour: Behaviour,
    catalogue: Catalogue,
    cards: list[tuple[int, Card]],
    start: dt.date,
    separator: str,
) -> list[Record]:
    return [
        _record(renderer, channels, behaviour, catalogue, card, f"RC{seq:07d}", start, separator)
        for seq, card in cards
    ]


def _record(
    renderer: PersonRenderer,
    channels: LabelWriter,
    behaviour: Behaviour,
    catalogue: Catalogue,
    card: Card,
    card_id: str,
    start: dt.date,
    separator: str,
) -> Record:
    pool, style, rng = renderer.pool, renderer.style, renderer.rng
    i = card.person
    received = start + dt.timedelta(days=card.day)
    birth = pool.birth_date[i]
    product = ""
    channel = ""
    purchased = ""
    if card.product >= 0:
        if rng.random() < 0.5:
            product = catalogue.sku[card.product]
        else:
            name = catalogue.name[card.product]
            product = in_script(name, style.script) if style.script is Script.SIMPLIFIED else name
        channel = channels(CHANNEL_CODES[int(behaviour.channel[i])]) if rng.random() < 0.85 else ""
        bought = received - dt.timedelta(days=card.purchase_lag)
        purchased = format_date(bought, style.date_style) if rng.random() < 0.8 else ""
    chosen = rng.sample(range(len(INTERESTS)), rng.randrange(4))
    interests = separator.join(
        (EN_INTERESTS if style.script is Script.ENGLISH else INTERESTS)[k] for k in chosen
    )
    values: dict[str, object] = {
        "card_id": card_id,
        "member_id": (pool.member_id[i] or "") if rng.random() < 0.7 else "",
        "name": renderer.name(i),
        "phone": renderer.phone(i) if rng.random() < 0.85 else "",
        "email": renderer.email(i) if rng.random() < 0.7 else "",
        "address": renderer.text(pool.address[i]) if rng.random() < 0.8 else "",
        "birth_date": format_date(birth, style.date_style) if birth and rng.random() < 0.75 else "",
        "product_registered": product,
        "purchase_channel": channel,
        "purchase_date": purchased,
        "interests": renderer.text(interests) if style.script is Script.SIMPLIFIED else interests,
        "marketing_consent": style.bool_text(card.consent),
        "card_received_date": format_date(received, style.date_style, rng.randrange(540, 1080)),
    }
    return Record(
        values,
        i,
        card_id,
        phone=pool.phone[i] if values["phone"] else None,
        email=pool.email[i] if values["email"] else None,
    )
