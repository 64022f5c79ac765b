"""The person pool: who the customers (and would-be customers) are, and their true attributes.

Faker supplies the name tables, streets and company names; persons are drawn from those tables
with numpy so that a pool of a million people takes seconds. Every Traditional form is
Big5-encodable and converts back to the same Simplified form, so a person's name survives every
file encoding and the ``_norm`` form downstream is one per person.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from faker import Faker
from faker.providers.person.en_US import Provider as EnglishNames
from faker.providers.person.zh_CN import Provider as MainlandNames
from faker.providers.person.zh_TW import Provider as TaiwanNames

from crm.sample_data.scripts import Script, convert_many, is_big5
from crm.sample_data.variants import Phone

# Origin of a person: decides the script of their name, their phone and where they live.
TAIWAN, MAINLAND, ENGLISH = 0, 1, 2
ORIGIN_SHARES = (0.72, 0.22, 0.06)
ORIGIN_LOCALES = ("zh_TW", "zh_CN", "en_US")

# Customer types (codes of contract.CUSTOMER_TYPES).
INDIVIDUAL, ENTERPRISE, GOVERNMENT = 0, 1, 2
CUSTOMER_TYPE_CODES = ("individual", "enterprise", "government")
CUSTOMER_TYPE_SHARES = (0.80, 0.15, 0.05)

#: Taiwanese cities with rough population weights and the landline area code used there (or None).
TW_CITIES: tuple[tuple[str, float, str | None], ...] = (
    ("新北市", 0.17, "2"),
    ("臺中市", 0.12, "4"),
    ("高雄市", 0.12, None),
    ("臺北市", 0.11, "2"),
    ("桃園市", 0.10, None),
    ("臺南市", 0.08, None),
    ("彰化縣", 0.05, "4"),
    ("屏東縣", 0.035, None),
    ("新竹縣", 0.025, None),
    ("新竹市", 0.02, None),
    ("雲林縣", 0.03, None),
    ("苗栗縣", 0.023, None),
    ("嘉義縣", 0.02, None),
    ("南投縣", 0.02, None),
    ("宜蘭縣", 0.02, None),
    ("基隆市", 0.016, "2"),
    ("花蓮縣", 0.014, None),
    ("嘉義市", 0.011, None),
    ("臺東縣", 0.009, None),
)
CN_CITIES: tuple[tuple[str, float], ...] = (
    ("上海市", 0.22),
    ("北京市", 0.14),
    ("深圳市", 0.12),
    ("广州市", 0.10),
    ("杭州市", 0.08),
    ("苏州市", 0.08),
    ("厦门市", 0.08),
    ("成都市", 0.06),
    ("南京市", 0.06),
    ("武汉市", 0.06),
)
CN_MOBILE_PREFIXES = (
    "130",
    "131",
    "132",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "158",
    "159",
    "177",
    "180",
    "186",
    "187",
    "188",
    "189",
)
TW_INDUSTRIES = (
    "製造業",
    "資訊科技",
    "零售業",
    "金融保險",
    "餐飲業",
    "醫療保健",
    "教育服務",
    "物流運輸",
    "營建工程",
    "電子零組件",
    "批發貿易",
    "專業服務",
)
GOVERNMENT_INDUSTRIES = ("公共行政", "教育", "醫療衛生")
GOVERNMENT_BUREAUS = (
    "教育局",
    "環境保護局",
    "衛生局",
    "工務局",
    "文化局",
    "社會局",
    "交通局",
    "經濟發展局",
    "勞工局",
    "消防局",
)
NATIONAL_AGENCIES = ("經濟部", "交通部", "衛生福利部", "教育部", "文化部", "勞動部", "內政部", "財政部")
TW_EMAIL_DOMAINS = (
    ("gmail.com", 0.45),
    ("yahoo.com.tw", 0.25),
    ("hotmail.com", 0.1),
    ("outlook.com", 0.08),
    ("msa.hinet.net", 0.07),
    ("icloud.com", 0.05),
)
CN_EMAIL_DOMAINS = (
    ("qq.com", 0.4),
    ("163.com", 0.25),
    ("126.com", 0.12),
    ("sina.com", 0.08),
    ("gmail.com", 0.1),
    ("foxmail.com", 0.05),
)


@dataclass
class PersonPool:
    """True attributes of every person (index = position; person_id = ``P`` + 7 digits)."""

    person_id: list[str]
    origin: np.ndarray  # int8, TAIWAN / MAINLAND / ENGLISH
    customer_type: np.ndarray  # int8, INDIVIDUAL / ENTERPRISE / GOVERNMENT
    name: list[str]  # as the person writes it (Traditional, Simplified or Latin)
    name_traditional: list[str]
    name_simplified: list[str]
    phone: list[Phone | None]
    email: list[str | None]
    member_id: list[str | None]
    birth_date: list[dt.date | None]
    region: list[str]  # city, in the person's script
    address: list[str]
    company: list[str | None]
    industry: list[str | None]

    def __len__(self) -> int:
        return len(self.person_id)


def big5_safe(texts: Sequence[str]) -> list[str]:
    """Keep the texts whose Traditional form is Big5-encodable and converts back unchanged."""
    trad = convert_many(list(texts), Script.TRADITIONAL)
    back = convert_many(trad, Script.SIMPLIFIED)
    simp = convert_many(list(texts), Script.SIMPLIFIED)
    return [x for x, t, b, s in zip(texts, trad, back, simp, strict=True) if is_big5(t) and b == s]


def _weighted(table: Mapping[str, float] | Sequence[str]) -> tuple[list[str], np.ndarray]:
    if isinstance(table, Mapping):
        values = list(table)
        weights = np.array([table[v] for v in values], dtype=float)
    else:
        values = list(table)
        weights = np.ones(len(values))
    return values, weights / weights.sum()


def _draw(rng: np.random.Generator, table: Mapping[str, float] | Sequence[str], size: int) -> list[str]:
    values, p = _weighted(table)
    return [values[i] for i in rng.choice(len(values), size=size, p=p)]


def chinese_names(rng: np.random.Generator, origin: int, size: int) -> list[str]:
    provider = TaiwanNames if origin == TAIWAN else MainlandNames
    last = _draw(rng, provider.last_names, size)
    if origin == TAIWAN:
        male = _draw(rng, provider.first_names_male, size)
        female = _draw(rng, provider.first_names_female, size)
        first = [m if flip else f for m, f, flip in zip(male, female, rng.random(size) < 0.5, strict=True)]
    else:
        first = _draw(rng, provider.first_names, size)
        # Mainland given names are often two characters: add a second one half of the time.
        second = _draw(rng, provider.first_names, size)
        two = rng.random(size) < 0.5
        first = [
            a + b if t and len(a) == len(b) == 1 else a for a, b, t in zip(first, second, two, strict=True)
        ]
    return [a + b for a, b in zip(last, first, strict=True)]


def _scripted_names(rng: np.random.Generator, origin: int, size: int) -> tuple[list[str], list[str]]:
    """(Traditional, Simplified) names; redraws names that fail Big5 or the t2s(s2t(x)) round trip."""
    trad: list[str] = [""] * size
    simp: list[str] = [""] * size
    todo = np.arange(size)
    for _ in range(50):
        drawn = chinese_names(rng, origin, len(todo))
        if origin == TAIWAN:
            t_form, s_form = drawn, convert_many(drawn, Script.SIMPLIFIED)
        else:
            s_form, t_form = drawn, convert_many(drawn, Script.TRADITIONAL)
        back = convert_many(t_form, Script.SIMPLIFIED)
        ok = np.array(
            [is_big5(t) and b == s for t, s, b in zip(t_form, s_form, back, strict=True)], dtype=bool
        )
        for k in np.flatnonzero(ok):
            trad[todo[k]], simp[todo[k]] = t_form[k], s_form[k]
        todo = todo[~ok]
        if len(todo) == 0:
            return trad, simp
    raise RuntimeError(f"could not draw Big5-safe names for {len(todo)} persons")


def _english_names(rng: np.random.Generator, size: int) -> list[str]:
    male = _draw(rng, EnglishNames.first_names_male, size)
    female = _draw(rng, EnglishNames.first_names_female, size)
    last = _draw(rng, EnglishNames.last_names, size)
    flip = rng.random(size) < 0.5
    return [f"{m if f_ else w} {ln}" for m, w, ln, f_ in zip(male, female, last, flip, strict=True)]


def _phones(
    rng: np.random.Generator, origin: np.ndarray, ctype: np.ndarray, areas: list[str | None]
) -> list[Phone]:
    """One phone per person: mainland mobiles, Taiwanese mobiles, or landlines where an area code is known."""
    n = len(origin)
    prefix = rng.integers(len(CN_MOBILE_PREFIXES), size=n)
    digits8 = rng.integers(10**8, size=n)
    digits7 = rng.integers(10**7, size=n)
    landline = rng.random(n) < np.where(ctype == INDIVIDUAL, 0.15, 0.55)
    phones = []
    for i in range(n):
        if origin[i] == MAINLAND:
            phones.append(Phone("86", f"{CN_MOBILE_PREFIXES[prefix[i]]}{digits8[i]:08d}"))
        elif landline[i] and areas[i] is not None:
            phones.append(Phone("886", f"{areas[i]}2{digits7[i]:07d}"))
        else:
            phones.append(Phone("886", f"9{digits8[i]:08d}"))
    return phones


def _email_users(rng: np.random.Generator, size: int) -> list[str]:
    last, _ = _weighted(TaiwanNames.last_romanized_names)
    first, _ = _weighted(TaiwanNames.first_romanized_names)
    li = rng.integers(len(last), size=size)
    fi = rng.integers(len(first), size=size)
    style = rng.integers(4, size=size)
    num = rng.integers(1, 10_000, size=size)
    users = []
    for a, b, s, n in zip(li, fi, style, num, strict=True):
        given, family = first[b].lower().replace("-", ""), last[a].lower()
        users.append(
            (
                f"{given}.{family}",
                f"{family}{given}{n % 100:02d}",
                f"{given[0]}{family}{n}",
                f"{family}_{given}",
            )[s]
        )
    return users


def build_person_pool(n: int, seed: int, window_start: dt.date) -> PersonPool:
    """Draw ``n`` persons; deterministic in (n, seed, window_start)."""
    rng = np.random.default_rng([seed, 1])
    fakers = {loc: Faker(loc) for loc in ORIGIN_LOCALES}
    for k, fk in enumerate(fakers.values()):
        fk.seed_instance(seed * 31 + k)

    origin = rng.choice(3, size=n, p=ORIGIN_SHARES).astype(np.int8)
    ctype = rng.choice(3, size=n, p=CUSTOMER_TYPE_SHARES).astype(np.int8)
    ctype[(origin == ENGLISH) & (ctype == GOVERNMENT)] = ENTERPRISE

    trad, simp = [""] * n, [""] * n
    for o in (TAIWAN, MAINLAND):
        idx = np.flatnonzero(origin == o)
        t_names, s_names = _scripted_names(rng, o, len(idx))
        for i, t, s in zip(idx, t_names, s_names, strict=True):
            trad[i], simp[i] = t, s
    en_idx = np.flatnonzero(origin == ENGLISH)
    for i, name in zip(en_idx, _english_names(rng, len(en_idx)), strict=True):
        trad[i] = simp[i] = name
    name = [simp[i] if origin[i] == MAINLAND else trad[i] for i in range(n)]

    # Where they live (English-named persons live in Taiwan).
    tw_names, tw_p = [c[0] for c in TW_CITIES], np.array([c[1] for c in TW_CITIES])
    tw_area = {c[0]: c[2] for c in TW_CITIES}
    cn_names, cn_p = [c[0] for c in CN_CITIES], np.array([c[1] for c in CN_CITIES])
    tw_city = rng.choice(len(tw_names), size=n, p=tw_p / tw_p.sum())
    cn_city = rng.choice(len(cn_names), size=n, p=cn_p / cn_p.sum())
    region = [cn_names[cn_city[i]] if origin[i] == MAINLAND else tw_names[tw_city[i]] for i in range(n)]

    pool_size = int(min(n, 5_000))
    tw_streets = big5_safe([fakers["zh_TW"].street_address() for _ in range(pool_size)])
    cn_districts = big5_safe([fakers["zh_CN"].district() for _ in range(min(pool_size, 500))])
    cn_streets = big5_safe([fakers["zh_CN"].street_name() for _ in range(pool_size)])
    street_pick = rng.integers(len(tw_streets), size=n)
    district_pick = rng.integers(len(cn_districts), size=n)
    floor = rng.integers(1, 16, size=n)
    number = rng.integers(1, 800, size=n)
    address = []
    for i in range(n):
        if origin[i] == MAINLAND:
            district = cn_districts[district_pick[i]].removesuffix("区")
            street = cn_streets[street_pick[i] % len(cn_streets)]
            address.append(f"{region[i]}{district}区{street}{number[i]}号{floor[i]}楼")
        else:
            address.append(f"{region[i]}{tw_streets[street_pick[i]]}{floor[i]}樓")

    phones = _phones(rng, origin, ctype, [tw_area.get(r) for r in region])
    has_phone = rng.random(n) < 0.93
    phone: list[Phone | None] = [p if keep else None for p, keep in zip(phones, has_phone, strict=True)]

    users = _email_users(rng, n)
    tw_dom = _draw(rng, dict(TW_EMAIL_DOMAINS), n)
    cn_dom = _draw(rng, dict(CN_EMAIL_DOMAINS), n)
    seen: set[str] = set()
    email: list[str | None] = []
    has_email = rng.random(n) < np.where(ctype == INDIVIDUAL, 0.72, 0.95)
    for i in range(n):
        address_ = f"{users[i]}@{cn_dom[i] if origin[i] == MAINLAND else tw_dom[i]}"
        while address_ in seen:  # one mailbox per person
            user, _, domain = address_.partition("@")
            address_ = f"{user}{int(rng.integers(10))}@{domain}"
        seen.add(address_)
        email.append(address_ if has_email[i] else None)

    # Members: sequential-looking numbers handed out in random order.
    is_member = rng.random(n) < 0.55
    numbers = 10_000_000 + np.cumsum(rng.integers(1, 40, size=int(is_member.sum())))
    if len(numbers) and numbers[-1] >= 10**8:
        raise ValueError("too many members for eight-digit member numbers")
    member_id: list[str | None] = [None] * n
    for i, num in zip(rng.permutation(np.flatnonzero(is_member)), numbers, strict=True):
        member_id[i] = f"M{num:08d}"

    age_days = (rng.gamma(9.0, 4.5, size=n) + 20).clip(20, 85) * 365.25
    birth_known = (ctype == INDIVIDUAL) & (rng.random(n) < 0.85)
    birth_date: list[dt.date | None] = [
        window_start - dt.timedelta(days=int(a)) if known else None
        for a, known in zip(age_days, birth_known, strict=True)
    ]

    company, industry = _organisations(rng, fakers, origin, ctype, region)
    return PersonPool(
        person_id=[f"P{i + 1:07d}" for i in range(n)],
        origin=origin,
        customer_type=ctype,
        name=name,
        name_traditional=trad,
        name_simplified=simp,
        phone=phone,
        email=email,
        member_id=member_id,
        birth_date=birth_date,
        region=region,
        address=address,
        company=company,
        industry=industry,
    )


def _organisations(
    rng: np.random.Generator,
    fakers: dict[str, Faker],
    origin: np.ndarray,
    ctype: np.ndarray,
    region: list[str],
) -> tuple[list[str | None], list[str | None]]:
    """Employer and industry for enterprise and government contacts (several contacts per organisation)."""
    n = len(origin)
    company: list[str | None] = [None] * n
    industry: list[str | None] = [None] * n
    enterprise = np.flatnonzero(ctype == ENTERPRISE)
    pool = max(3, len(enterprise) // 3)
    tw_companies = big5_safe([fakers["zh_TW"].company() for _ in range(pool)])
    cn_companies = big5_safe([fakers["zh_CN"].company() for _ in range(pool)])
    en_companies = [fakers["en_US"].company() for _ in range(max(3, pool // 10))]
    tw_industry = rng.integers(len(TW_INDUSTRIES), size=len(tw_companies))
    cn_industry = rng.integers(len(TW_INDUSTRIES), size=len(cn_companies))
    en_industry = rng.integers(len(TW_INDUSTRIES), size=len(en_companies))
    for i in enterprise:
        if origin[i] == MAINLAND:
            k = int(rng.integers(len(cn_companies)))
            company[i], industry[i] = cn_companies[k], TW_INDUSTRIES[cn_industry[k]]
        elif origin[i] == ENGLISH:
            k = int(rng.integers(len(en_companies)))
            company[i], industry[i] = en_companies[k], TW_INDUSTRIES[en_industry[k]]
        else:
            k = int(rng.integers(len(tw_companies)))
            company[i], industry[i] = tw_companies[k], TW_INDUSTRIES[tw_industry[k]]
    mainland_industries = convert_many([x or "" for x in industry], Script.SIMPLIFIED)
    for i in enterprise:
        if origin[i] == MAINLAND:
            industry[i] = mainland_industries[i]

    for i in np.flatnonzero(ctype == GOVERNMENT):
        bureau = GOVERNMENT_BUREAUS[int(rng.integers(len(GOVERNMENT_BUREAUS)))]
        label = GOVERNMENT_INDUSTRIES[int(rng.integers(len(GOVERNMENT_INDUSTRIES)))]
        if origin[i] == MAINLAND:
            agency, label = convert_many([f"{region[i]}{bureau}", label], Script.SIMPLIFIED)
        elif rng.random() < 0.25:
            agency = NATIONAL_AGENCIES[int(rng.integers(len(NATIONAL_AGENCIES)))]
        else:
            agency = f"{region[i]}政府{bureau}"
        company[i], industry[i] = agency, label
    return company, industry
