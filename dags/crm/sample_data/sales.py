"""Sales lines (POS / ERP exports), generated in vectorised chunks and streamed to monthly CSV files.

Orders come from the :class:`~crm.sample_data.behaviour.OrderPlan` in date order. For each chunk
of orders the lines are drawn with numpy (products from the customer's favourite category or by
popularity, quantities, price levels, discounts, channels); some lines come back as returns
(negative quantity, ``original_order_id`` = the sold order, same customer, 1 to ~45 days later)
and wait in a small buffer until their day comes. Each month's lines are then rendered with that
month's file style through lookup tables (so ten million lines need no per-value formatting)
and written with ``csv.writer``.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from crm.contract import CHANNELS, SALES_FIELDS
from crm.sample_data.behaviour import CHANNEL_CODES, INDIVIDUAL_CHANNELS, Behaviour, OrderPlan
from crm.sample_data.config import DefectRates
from crm.sample_data.dates import IMPOSSIBLE_DATES, DateStyle, format_date, format_ymd
from crm.sample_data.defects import EXTRA_VALUES, SOURCE_DEFECTS, retype_key
from crm.sample_data.emit import FileResult
from crm.sample_data.people import INDIVIDUAL, TAIWAN, PersonPool, chinese_names
from crm.sample_data.products import CATEGORIES, Catalogue
from crm.sample_data.scripts import Script, convert_many, is_big5
from crm.sample_data.seeding import scalar_rng
from crm.sample_data.styles import (
    FileStyle,
    LabelWriter,
    choose_script,
    choose_style,
    format_discount,
    format_number,
)
from crm.sample_data.variants import format_phone, fullwidth_digits, retype_text
from crm.sample_data.writers import AnswerKey, CsvFile, csv_field, csv_fields, join_fields

DISCOUNT_LEVELS = (0.0, 0.05, 0.1, 0.15, 0.2)
INDIVIDUAL_DISCOUNTS = (0.70, 0.10, 0.12, 0.04, 0.04)
BUSINESS_DISCOUNTS = (0.30, 0.20, 0.25, 0.15, 0.10)
PRICE_LEVEL_SHARES = (0.85, 0.10, 0.05)  # list price, ~10% off, ~20% off
MAX_QUANTITY = 999
N_STAFF = 40
REQUIRED = tuple(f.name for f in SALES_FIELDS if f.required)
ALT_ORDER = (
    "order_date",
    "order_id",
    "line_no",
    "customer_ref",
    "channel",
    "salesperson",
    "sku",
    "product_name",
    "category",
    "quantity",
    "unit_price",
    "discount",
    "unit_cost",
    "original_order_id",
)

# How staff typed the customer: member id, a phone in one of six formats, e-mail, or the name.
REF_MEMBER, REF_PHONE0, REF_EMAIL, REF_EMAIL_UPPER, REF_NAME, REF_NAME_SPACED = 0, 1, 7, 8, 9, 10


@dataclass
class Lines:
    """Column arrays of sales lines (one entry per line)."""

    day: np.ndarray
    minute: np.ndarray
    person: np.ndarray
    order_id: np.ndarray  # object (str)
    line_no: np.ndarray
    product: np.ndarray
    quantity: np.ndarray
    price_level: np.ndarray
    discount: np.ndarray
    channel: np.ndarray
    staff: np.ndarray
    ref_kind: np.ndarray
    original_order_id: np.ndarray  # object (str), "" for sales

    def take(self, index: np.ndarray) -> Lines:
        return Lines(**{k: v[index] for k, v in self.__dict__.items()})

    @staticmethod
    def concat(parts: list[Lines]) -> Lines:
        return Lines(
            **{k: np.concatenate([getattr(p, k) for p in parts]) for k in Lines.__dataclass_fields__}
        )

    def __len__(self) -> int:
        return len(self.day)


class PersonArrays:
    """Person attributes as object arrays, for vectorised lookups by person index."""

    def __init__(self, pool: PersonPool) -> None:
        self.person_id = np.array(pool.person_id, dtype=object)
        self.member_id = np.array([m or "" for m in pool.member_id], dtype=object)
        self.email = np.array([e or "" for e in pool.email], dtype=object)
        self.names = {
            Script.TRADITIONAL: np.array(pool.name_traditional, dtype=object),
            Script.SIMPLIFIED: np.array(pool.name_simplified, dtype=object),
            Script.ENGLISH: np.array(pool.name, dtype=object),
        }


@dataclass
class SalesContext:
    pool: PersonPool
    behaviour: Behaviour
    catalogue: Catalogue
    start: dt.date
    n_days: int  # days covered by this run's orders (returns after the last one are dropped)
    seed: int
    rates: DefectRates
    landing: Path
    file_prefix: str = "sales"
    staff: list[str] = field(default_factory=list)

    @functools.cached_property
    def arrays(self) -> PersonArrays:
        return PersonArrays(self.pool)


class SalesGenerator:
    """Turns an order plan into lines, chunk by chunk, and hands them to the monthly writers."""

    def __init__(self, ctx: SalesContext, rng_salt: int) -> None:
        self.ctx = ctx
        self.rng = np.random.default_rng([ctx.seed, rng_salt])
        pool, behaviour, cat = ctx.pool, ctx.behaviour, ctx.catalogue
        self.business = pool.customer_type != INDIVIDUAL
        self.is_member = np.array([m is not None for m in pool.member_id])
        self.has_phone = np.array([p is not None for p in pool.phone])
        self.has_email = np.array([e is not None for e in pool.email])
        # Category popularity, for lines outside the customer's favourite category.
        cat_pop = np.array([c.popularity for c in CATEGORIES])
        self.cat_p = cat_pop / cat_pop.sum()
        self.return_rate = cat.return_rate
        self.unhappy = behaviour.satisfaction < -0.5
        self.pending: Lines | None = None

    def lines_for(self, plan: OrderPlan, lo: int, hi: int, order_ids: np.ndarray) -> Lines:
        """The sale lines of orders lo..hi-1 plus returns that fall due by the last day of the chunk."""
        rng, ctx = self.rng, self.ctx
        person = plan.person[lo:hi]
        n_orders = hi - lo
        n_lines = plan.n_lines[lo:hi].astype(np.int64)
        business = self.business[person]

        channel = np.where(
            rng.random(n_orders) < 0.8,
            ctx.behaviour.channel[person],
            rng.choice(len(CHANNEL_CODES), size=n_orders, p=INDIVIDUAL_CHANNELS),
        )
        disc_ind = rng.choice(len(DISCOUNT_LEVELS), size=n_orders, p=INDIVIDUAL_DISCOUNTS)
        disc_biz = rng.choice(len(DISCOUNT_LEVELS), size=n_orders, p=BUSINESS_DISCOUNTS)
        discount = np.where(business, disc_biz, disc_ind)
        price_level = rng.choice(3, size=n_orders, p=PRICE_LEVEL_SHARES)
        usual_staff = person % N_STAFF
        staff = np.where(rng.random(n_orders) < 0.7, usual_staff, rng.integers(N_STAFF, size=n_orders))
        staff = np.where(channel == CHANNEL_CODES.index("online"), -1, staff)
        ref_kind = self._ref_kinds(person, rng)

        order_of_line = np.repeat(np.arange(n_orders), n_lines)
        starts = np.concatenate([[0], np.cumsum(n_lines)[:-1]])
        line_no = np.arange(len(order_of_line)) - starts[order_of_line] + 1
        lperson = person[order_of_line]
        product = self._products(lperson, rng)
        lbusiness = business[order_of_line]
        quantity = np.where(
            lbusiness, rng.geometric(0.3, size=len(lperson)), rng.geometric(0.72, size=len(lperson))
        )
        quantity = np.minimum(quantity, MAX_QUANTITY)

        lines = Lines(
            day=plan.day[lo:hi][order_of_line],
            minute=plan.minute[lo:hi][order_of_line],
            person=lperson,
            order_id=order_ids[order_of_line],
            line_no=line_no,
            product=product,
            quantity=quantity,
            price_level=price_level[order_of_line],
            discount=discount[order_of_line],
            channel=channel[order_of_line],
            staff=staff[order_of_line],
            ref_kind=ref_kind[order_of_line],
            original_order_id=np.full(len(lperson), "", dtype=object),
        )
        self._queue_returns(lines, rng)
        last_day = int(plan.day[hi - 1])
        due = self._take_due(last_day)
        merged = Lines.concat([lines, due]) if due is not None else lines
        order = np.lexsort((np.arange(len(merged)), merged.day))
        return merged.take(order)

    def flush_returns(self) -> Lines | None:
        """Returns still waiting after the last chunk (all fall inside the window)."""
        return self._take_due(self.ctx.n_days - 1)

    def _ref_kinds(self, person: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n = len(person)
        u = rng.random(n)
        phone_style = REF_PHONE0 + rng.integers(6, size=n)
        email_kind = np.where(rng.random(n) < 0.8, REF_EMAIL, REF_EMAIL_UPPER)
        name_kind = np.where(rng.random(n) < 0.85, REF_NAME, REF_NAME_SPACED)
        has_phone, has_email = self.has_phone[person], self.has_email[person]
        # Non-members: phone 55%, e-mail 15%, name 30% (falling back when a contact is unknown).
        other = np.where(
            (u < 0.55) & has_phone, phone_style, np.where((u < 0.70) & has_email, email_kind, name_kind)
        )
        member = self.is_member[person] & (rng.random(n) < 0.85)
        return np.where(member, REF_MEMBER, other).astype(np.int8)

    def _products(self, person: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Favourite category (or one by popularity), then a product by popularity within it."""
        n = len(person)
        favourite = rng.random(n) < np.where(self.business[person], 0.7, 0.55)
        category = np.where(
            favourite,
            self.ctx.behaviour.favourite_category[person],
            rng.choice(len(self.cat_p), size=n, p=self.cat_p),
        )
        return self.ctx.catalogue.draw(rng, category)

    def _queue_returns(self, lines: Lines, rng: np.random.Generator) -> None:
        p = self.return_rate[lines.product] * np.where(self.unhappy[lines.person], 1.5, 1.0)
        returned = np.flatnonzero(rng.random(len(lines)) < p)
        if len(returned) == 0:
            return
        # One return order per sold order: all its returned lines come back on the same day.
        orders = np.unique(lines.order_id[returned])
        lag = 1 + np.minimum(rng.geometric(0.12, size=len(orders)), 44)
        group = np.searchsorted(orders, lines.order_id[returned])
        day = lines.day[returned] + lag[group]
        keep = day < self.ctx.n_days
        returned, group, day = returned[keep], group[keep], day[keep]
        if len(returned) == 0:
            return
        ret = lines.take(returned)
        ret.day = day
        ret.minute = rng.integers(10 * 60, 21 * 60, size=len(ret)).astype(ret.minute.dtype)
        ret.quantity = -rng.integers(1, ret.quantity + 1)
        ret.original_order_id = ret.order_id.copy()
        ret.order_id = np.array([f"RT{o[2:]}" for o in ret.order_id], dtype=object)
        ret.ref_kind = self._ref_kinds(ret.person, rng)
        # Line numbers of the return order: 1..k within each original order (lines are contiguous).
        new_group = np.concatenate([[True], group[1:] != group[:-1]])
        group_start = np.maximum.accumulate(np.where(new_group, np.arange(len(group)), 0))
        ret.line_no = np.arange(len(group)) - group_start + 1
        self.pending = ret if self.pending is None else Lines.concat([self.pending, ret])

    def _take_due(self, last_day: int) -> Lines | None:
        if self.pending is None:
            return None
        due = self.pending.day <= last_day
        if not due.any():
            return None
        out = self.pending.take(np.flatnonzero(due))
        rest = np.flatnonzero(~due)
        self.pending = self.pending.take(rest) if len(rest) else None
        return out


class OrderIds:
    """Order numbers ``SO`` + yyyymmdd + the order's number within its day (zero-padded)."""

    def __init__(self, start: dt.date, n_days: int, max_seq: int) -> None:
        width = max(5, len(str(max_seq)))
        self.prefix = np.array(
            [f"SO{start + dt.timedelta(days=d):%Y%m%d}" for d in range(n_days)], dtype=object
        )
        self.seq = np.array([f"{s:0{width}d}" for s in range(max_seq + 1)], dtype=object)

    def __call__(self, plan: OrderPlan, lo: int, hi: int) -> np.ndarray:
        return self.prefix[plan.day[lo:hi]] + self.seq[plan.seq_in_day[lo:hi]]


def staff_names(seed: int) -> list[str]:
    rng = np.random.default_rng([seed, 11])
    names: list[str] = []
    while len(names) < N_STAFF:
        for name in chinese_names(rng, TAIWAN, N_STAFF):
            # Staff names go into Big5 exports too: keep only names Big5 can encode.
            if name not in names and len(names) < N_STAFF and is_big5(name):
                names.append(name)
    return names


class MonthFile:
    """One monthly sales file: its style, lookup tables, and the running data-row counter."""

    def __init__(
        self, ctx: SalesContext, month: tuple[int, int], rng: np.random.Generator, key: AnswerKey
    ) -> None:
        self.ctx = ctx
        self.rng = rng
        self.rand = scalar_rng(int(rng.integers(2**62)), "defects")  # scalar draws for the few defect rows
        self.key = key
        script = choose_script(rng, (0.6, 0.2, 0.2))
        self.style: FileStyle = choose_style(rng, SALES_FIELDS, script)
        columns = [f.name for f in SALES_FIELDS] if rng.random() < 0.6 else list(ALT_ORDER)
        self.columns = tuple(columns)
        self.name = f"{ctx.file_prefix}_{month[0]:04d}-{month[1]:02d}.csv"
        self.path = ctx.landing / self.name
        self.out = CsvFile(self.path, self.style.encoding, [self.style.headers[c] for c in self.columns])
        self.rows = 0
        self.defects = 0
        self._tables()

    def _tables(self) -> None:
        style, cat = self.style, self.ctx.catalogue
        script = style.script
        names = cat.name_simplified if script is Script.SIMPLIFIED else cat.name
        self.product_name = csv_fields(np.array(names, dtype=object))
        cat_names = [c.name for c in CATEGORIES]
        self.category = np.array(
            convert_many(cat_names, Script.SIMPLIFIED) if script is Script.SIMPLIFIED else cat_names,
            dtype=object,
        )
        self.sku = np.array(cat.sku, dtype=object)
        prices = self.promo = cat.promo_prices()
        price = np.array([[format_number(v, style) for v in row] for row in prices], dtype=object)
        self.price = csv_fields(price)
        self.price_fw = csv_fields(np.frompyfunc(fullwidth_digits, 1, 1)(price))
        self.cost = csv_fields(
            np.array([format_number(v, style, decimals=True) for v in cat.unit_cost], dtype=object)
        )
        q = np.arange(-MAX_QUANTITY, MAX_QUANTITY + 1)
        self.qty = np.array([str(v) for v in q], dtype=object)
        self.qty_fw = np.array([fullwidth_digits(str(v)) for v in q], dtype=object)
        self.discount = csv_fields(
            np.array([format_discount(d, style) for d in DISCOUNT_LEVELS], dtype=object)
        )
        spellings = LabelWriter(CHANNELS, style, 4).table(CHANNEL_CODES)
        width = max(len(s) for s in spellings)
        self.channel = csv_fields(np.array([s + [s[0]] * (width - len(s)) for s in spellings], dtype=object))
        self.channel_k = np.array([len(s) for s in spellings])
        staff = self.ctx.staff
        if script is Script.SIMPLIFIED:
            staff = convert_many(staff, Script.SIMPLIFIED)
        self.staff = np.array([*staff, ""], dtype=object)  # index -1: no salesperson (online)
        self.line_no = np.array([str(v) for v in range(0, 1000)], dtype=object)
        self.bar_line_no = np.array([f"|{v}" for v in range(0, 1000)], dtype=object)
        self.person_ids = self.ctx.arrays.person_id
        self.key_prefix = f"sales,{csv_field(self.name)},"

    def _refs(self, lines: Lines) -> np.ndarray:
        """Customer refs as typed (CSV-quoted), rendered once per run of lines of one person and kind."""
        person, kind = lines.person, lines.ref_kind
        change = np.flatnonzero((person[1:] != person[:-1]) | (kind[1:] != kind[:-1])) + 1
        starts = np.concatenate([[0], change]) if len(person) else change
        runs = np.diff(np.concatenate([starts, [len(person)]]))
        p, k = person[starts], kind[starts]
        arrays = self.ctx.arrays
        pool, script = self.ctx.pool, self.style.script
        if script is Script.ENGLISH and self.style.encoding.lower().replace("-", "") in ("big5", "cp950"):
            # An English-headed Big5 export still holds names as a Taiwanese clerk types them.
            script = Script.TRADITIONAL
        texts = np.empty(len(starts), dtype=object)
        for code, table in (
            (REF_MEMBER, arrays.member_id),
            (REF_EMAIL, arrays.email),
            (REF_NAME, arrays.names[script]),
        ):
            mask = k == code
            texts[mask] = table[p[mask]]
        rest = np.flatnonzero((k != REF_MEMBER) & (k != REF_EMAIL) & (k != REF_NAME))
        texts[rest] = [
            _ref_text(pool, a, b, script) for a, b in zip(p[rest].tolist(), k[rest].tolist(), strict=True)
        ]
        return np.repeat(csv_fields(texts), runs)

    def _dates(self, lines: Lines) -> np.ndarray:
        lo, hi = int(lines.day.min()), int(lines.day.max())
        style = self.style.date_style
        base = DateStyle.ISO if style is DateStyle.DATETIME else style
        table = np.array(
            [format_date(self.ctx.start + dt.timedelta(days=d), base) for d in range(lo, hi + 1)],
            dtype=object,
        )
        dates = csv_fields(table)[lines.day - lo]
        if style is DateStyle.DATETIME:
            times = np.array([f" {m // 60:02d}:{m % 60:02d}:00" for m in range(24 * 60)], dtype=object)
            dates = dates + times[lines.minute]
        return dates

    def write(self, lines: Lines) -> None:
        rng, style = self.rng, self.style
        n = len(lines)
        fw = rng.random(n) < style.fullwidth_share if style.fullwidth_share else np.zeros(n, dtype=bool)
        refs = self._refs(lines)
        ch = lines.channel
        alt = rng.random(n) >= 0.85
        ch_col = np.where(alt, rng.integers(0, 1 << 30, size=n) % self.channel_k[ch], 0)
        qty_idx = lines.quantity + MAX_QUANTITY
        cols: dict[str, np.ndarray | list[str]] = {
            "order_id": lines.order_id,
            "line_no": self.line_no[np.minimum(lines.line_no, 999)],
            "order_date": self._dates(lines),
            "customer_ref": refs,
            "sku": self.sku[lines.product],
            "product_name": self.product_name[lines.product],
            "category": self.category[self.ctx.catalogue.category[lines.product]],
            "quantity": np.where(fw, self.qty_fw[qty_idx], self.qty[qty_idx]),
            "unit_price": np.where(
                fw,
                self.price_fw[lines.product, lines.price_level],
                self.price[lines.product, lines.price_level],
            ),
            "unit_cost": self.cost[lines.product],
            "discount": self.discount[lines.discount],
            "channel": self.channel[ch, ch_col],
            "salesperson": self.staff[lines.staff],
            "original_order_id": lines.original_order_id,
        }
        keys = lines.order_id + self.bar_line_no[np.minimum(lines.line_no, 999)]
        table = {c: np.asarray(v, dtype=object) for c, v in cols.items()}
        rows_idx, defect_of_row, structural = self._inject_defects(lines, table)
        out = join_fields([table[c] for c in self.columns])
        for k, (kind, value) in structural.items():
            if kind == "truncated_row":
                kept = self.columns[: len(self.columns) - int(value)]
                out[k] = ",".join(str(table[c][k]) for c in kept)
            else:
                out[k] = f"{out[k]},{csv_field(str(value))}"
        self.out.write_lines(out)

        first = self.rows + 1
        numbers = np.arange(first, first + len(rows_idx)).astype(str).astype(object)
        self.key.record_lines(
            join_fields(
                [
                    self.key_prefix + numbers,
                    keys[rows_idx],
                    self.person_ids[lines.person[rows_idx]],
                    refs[rows_idx],
                ]
            )
        )
        for k, (defect, column) in defect_of_row.items():
            self.key.defect("sales", self.name, first + k, defect, str(keys[rows_idx[k]]), column)
        self.defects += len(defect_of_row)
        self.rows += len(rows_idx)

    def _inject_defects(
        self, lines: Lines, table: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, dict[int, tuple[str, str]], dict[int, tuple[str, object]]]:
        """Inject row defects into ``table`` (expanded in place to the written rows).

        Returns the input line of every written row, the defect (type, column) per written row and
        the structural defects (truncated / extra column) per written row.
        """
        rates, rng, n = self.ctx.rates, self.rng, len(lines)
        types = [d for d in SOURCE_DEFECTS["sales"] if rates.row_rate(d) > 0]
        if not types:
            return np.arange(n), {}, {}
        cum = np.cumsum([rates.row_rate(d) for d in types])
        pick = np.searchsorted(cum, rng.random(n), side="right")
        chosen = {
            k: types[int(pick[k])]
            for k in np.flatnonzero(pick < len(types)).tolist()
            if not (types[int(pick[k])] == "negative_quantity" and lines.quantity[k] < 0)  # already a return
        }
        copies = np.ones(n, dtype=np.int64)
        for k, d in chosen.items():
            if d in ("exact_duplicate", "near_duplicate"):
                copies[k] = 2
        rows_idx = np.repeat(np.arange(n), copies)
        for c in table:
            table[c] = table[c][rows_idx]
        last_pos = np.cumsum(copies) - 1  # written row of each line's last copy (the defective one)
        defect_of_row: dict[int, tuple[str, str]] = {}
        structural: dict[int, tuple[str, object]] = {}
        rand = self.rand
        for k, d in chosen.items():
            pos = int(last_pos[k])
            column = ""
            if d == "near_duplicate":
                table["order_id"][pos] = retype_key(str(table["order_id"][pos]), rand)
                for c in ("customer_ref", "product_name", "salesperson"):
                    if rand.random() < 0.6 and '"' not in str(table[c][pos]):
                        table[c][pos] = csv_field(retype_text(str(table[c][pos]), rand))
            elif d == "missing_required":
                column = rand.choice(REQUIRED)
                table[column][pos] = ""
            elif d == "impossible_date":
                column = "order_date"
                y, m, dd = rand.choice(IMPOSSIBLE_DATES)
                table[column][pos] = csv_field(format_ymd(y, m, dd, self.style.date_style, 720))
            elif d == "negative_quantity":
                column = "quantity"
                table[column][pos] = f"-{int(lines.quantity[k])}"
            elif d == "price_outlier":
                column = "unit_price"
                price = self.promo[lines.product[k], lines.price_level[k]]
                table[column][pos] = csv_field(format_number(float(price) * 100, self.style))
            elif d == "truncated_row":
                structural[pos] = (d, rand.randrange(1, len(self.columns) // 2))
            elif d == "extra_column":
                structural[pos] = (d, rand.choice(EXTRA_VALUES))
            defect_of_row[pos] = (d, column)
        return rows_idx, defect_of_row, structural

    def close(self) -> FileResult:
        self.out.close()
        style = self.style
        return FileResult(
            "sales",
            self.name,
            self.rows,
            self.defects,
            "csv",
            style.encoding,
            style.script.value,
            style.date_style.value,
        )


def _ref_text(pool: PersonPool, person: int, kind: int, script: Script) -> str:
    if kind == REF_MEMBER:
        return str(pool.member_id[person])
    if REF_PHONE0 <= kind < REF_EMAIL:
        phone = pool.phone[person]
        assert phone is not None
        return format_phone(phone, kind - REF_PHONE0)
    if kind in (REF_EMAIL, REF_EMAIL_UPPER):
        email = str(pool.email[person])
        return email if kind == REF_EMAIL else email.upper()
    if script is Script.TRADITIONAL:
        name = pool.name_traditional[person]
    elif script is Script.SIMPLIFIED:
        name = pool.name_simplified[person]
    else:
        name = pool.name[person]
    if kind == REF_NAME_SPACED and len(name) > 1 and not name.isascii():
        return f"{name[0]} {name[1:]}"
    return name


def write_sales(
    ctx: SalesContext,
    plan: OrderPlan,
    key: AnswerKey,
    chunk_lines: int,
    progress: Callable[[int], None],
    rng_salt: int = 20,
) -> list[FileResult]:
    """Generate and write all sales lines of ``plan``; one file per calendar month."""
    gen = SalesGenerator(ctx, rng_salt)
    file_rng = np.random.default_rng([ctx.seed, rng_salt + 1])
    ids = OrderIds(ctx.start, ctx.n_days, int(plan.seq_in_day.max()) if len(plan) else 1)
    month_of_day = np.array(
        [
            ((ctx.start + dt.timedelta(days=d)).year, (ctx.start + dt.timedelta(days=d)).month)
            for d in range(ctx.n_days)
        ]
    )
    month_code = month_of_day[:, 0] * 12 + month_of_day[:, 1] - 1
    files: dict[int, MonthFile] = {}
    results: list[FileResult] = []

    def emit(lines: Lines) -> None:
        codes = month_code[lines.day]
        bounds = np.flatnonzero(np.diff(codes)) + 1
        for seg in np.split(np.arange(len(lines)), bounds):
            if len(seg) == 0:
                continue
            code = int(codes[seg[0]])
            if code not in files:
                for old in list(files):
                    results.append(files.pop(old).close())
                files[code] = MonthFile(ctx, (code // 12, code % 12 + 1), file_rng, key)
            files[code].write(lines.take(seg))

    cum = np.cumsum(plan.n_lines.astype(np.int64))
    lo = 0
    while lo < len(plan):
        hi = int(np.searchsorted(cum, (cum[lo - 1] if lo else 0) + chunk_lines, side="right"))
        hi = max(hi, lo + 1)
        lines = gen.lines_for(plan, lo, hi, ids(plan, lo, hi))
        emit(lines)
        progress(int(plan.n_lines[lo:hi].sum()))
        lo = hi
    rest = gen.flush_returns()
    if rest is not None:
        emit(rest.take(np.lexsort((np.arange(len(rest)), rest.day))))
    for old in list(files):
        results.append(files.pop(old).close())
    return results
