"""Customer behaviour: who buys, when they arrive and churn, how often, and the resulting order plan.

The model, per person:

* a latent satisfaction ``z ~ N(0, 1)``; complaints are likelier when ``z`` is low, and 60% of
  complaints get resolved;
* 85% are buyers; the rest never buy (prospects who only answer surveys or send cards);
* buyers arrive over the window (a third already in the first two months, the rest with a
  growing trend: cohorts), then churn after an exponential lifetime whose hazard rises for
  unhappy customers and unresolved complaints and drops for resolved complaints;
* 30% of buyers buy once; the others buy at a heterogeneous rate (lognormal, enterprise and
  government twice as high) spread over their active span with seasonality;
* lines per order are 1 + geometric (longer baskets for business buyers).

Everything is arrays (one entry per person or per order), so ten million lines plan in seconds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from crm.sample_data.people import INDIVIDUAL, PersonPool
from crm.sample_data.products import CATEGORIES

BUYER_SHARE = 0.85
ONE_TIME_SHARE = 0.30
RESOLVED_SHARE = 0.60
CHANNEL_CODES = ("store", "online", "phone", "dealer")
INDIVIDUAL_CHANNELS = (0.50, 0.38, 0.05, 0.07)
BUSINESS_CHANNELS = (0.15, 0.20, 0.25, 0.40)
MONTH_FACTOR = (1.15, 0.85, 0.95, 0.95, 1.0, 1.15, 0.95, 1.0, 0.95, 1.0, 1.35, 1.25)
#: Expected share of sold lines that come back as returns (used to size the plan).
EXPECTED_RETURN_SHARE = 0.04


def mean_lines_per_order(business: np.ndarray) -> np.ndarray:
    """Expected lines per order: longer baskets for enterprise and government buyers."""
    return np.where(business, 2.5, 1.8)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def day_weights(start: dt.date, n_days: int) -> np.ndarray:
    """Relative sales volume per day: month seasonality (Double 11, year end, 618) and weekends."""
    days = [start + dt.timedelta(days=i) for i in range(n_days)]
    month = np.array([MONTH_FACTOR[d.month - 1] for d in days])
    weekend = np.array([1.25 if d.weekday() >= 5 else 1.0 for d in days])
    return month * weekend


@dataclass
class Behaviour:
    """True behaviour per person (day numbers count from the window start, day 0)."""

    satisfaction: np.ndarray  # float, latent z
    complained: np.ndarray  # bool
    resolved: np.ndarray  # bool (only meaningful when complained)
    is_buyer: np.ndarray  # bool
    one_time: np.ndarray  # bool
    first_day: np.ndarray  # int, first purchase day (-1 for non-buyers)
    churn_day: np.ndarray  # int, day after the last possible purchase; n_days if still active
    rate: np.ndarray  # float, relative purchase rate
    favourite_category: np.ndarray  # int
    channel: np.ndarray  # int, preferred channel (index into CHANNEL_CODES)

    def churned(self, n_days: int) -> np.ndarray:
        return self.is_buyer & (self.churn_day < n_days)

    def active_until(self, n_days: int) -> np.ndarray:
        """Last day each buyer can buy in the window (inclusive)."""
        return np.minimum(self.churn_day, n_days) - 1


def draw_behaviour(pool: PersonPool, seed: int, n_days: int) -> Behaviour:
    rng = np.random.default_rng([seed, 3])
    n = len(pool)
    business = pool.customer_type != INDIVIDUAL
    z = rng.standard_normal(n)
    complained = rng.random(n) < sigmoid(-1.6 - 0.9 * z)
    resolved = complained & (rng.random(n) < RESOLVED_SHARE)
    is_buyer = rng.random(n) < BUYER_SHARE
    one_time = is_buyer & (rng.random(n) < ONE_TIME_SHARE + 0.1 * (z < -1))

    # Arrival: a third in the first two months (the existing base), the rest on a growing trend.
    early = rng.random(n) < 0.33
    growth = np.sqrt(rng.random(n))  # density rising linearly over the window
    first = np.where(early, rng.integers(0, min(60, n_days), n), (growth * (n_days - 1)).astype(int))
    first = np.where(is_buyer, first, -1)

    hazard = np.where(business, 0.18, 0.35) * np.exp(-0.6 * z)  # churns per year
    hazard = hazard * np.where(complained & ~resolved, 2.0, np.where(resolved, 0.7, 1.0))
    lifetime = rng.exponential(365.0 / hazard).astype(int) + 1
    churn = np.where(is_buyer, np.minimum(first + lifetime, n_days), n_days)

    rate = rng.lognormal(0.0, 0.9, n) * np.where(business, 2.0, 1.0)

    cat_pop = np.array([c.popularity for c in CATEGORIES])
    cat_biz = cat_pop * np.array([c.business_share for c in CATEGORIES])
    fav_ind = rng.choice(len(CATEGORIES), size=n, p=cat_pop / cat_pop.sum())
    fav_biz = rng.choice(len(CATEGORIES), size=n, p=cat_biz / cat_biz.sum())
    ch_ind = rng.choice(len(CHANNEL_CODES), size=n, p=INDIVIDUAL_CHANNELS)
    ch_biz = rng.choice(len(CHANNEL_CODES), size=n, p=BUSINESS_CHANNELS)
    return Behaviour(
        satisfaction=z,
        complained=complained,
        resolved=resolved,
        is_buyer=is_buyer,
        one_time=one_time,
        first_day=first,
        churn_day=churn,
        rate=rate,
        favourite_category=np.where(business, fav_biz, fav_ind),
        channel=np.where(business, ch_biz, ch_ind),
    )


@dataclass
class OrderPlan:
    """All sale orders of the window, sorted by day (returns are added while lines are generated)."""

    person: np.ndarray  # int32
    day: np.ndarray  # int32, days from the window start
    minute: np.ndarray  # int16, minute of the day
    n_lines: np.ndarray  # int16
    seq_in_day: np.ndarray  # int32, 1-based order number within its day

    def __len__(self) -> int:
        return len(self.person)

    @property
    def total_lines(self) -> int:
        return int(self.n_lines.sum())


def _seasonal_days(
    rng: np.random.Generator, weights: np.ndarray, low: np.ndarray, high: np.ndarray
) -> np.ndarray:
    """One day per entry in [low, high] (inclusive), drawn with the seasonal day weights."""
    cum = np.concatenate([[0.0], np.cumsum(weights)])
    target = cum[low] + rng.random(len(low)) * (cum[high + 1] - cum[low])
    return np.clip(np.searchsorted(cum, target, side="right") - 1, low, high)


def plan_orders(
    pool: PersonPool, behaviour: Behaviour, seed: int, n_days: int, start: dt.date, target_lines: int
) -> OrderPlan:
    """Orders whose lines add up to about ``target_lines`` (sales plus expected returns)."""
    rng = np.random.default_rng([seed, 4])
    business = pool.customer_type != INDIVIDUAL
    sale_lines = max(1, round(target_lines / (1 + EXPECTED_RETURN_SHARE)))
    mean_lines = mean_lines_per_order(business)
    buyers = np.flatnonzero(behaviour.is_buyer)
    n_orders = max(1, round(sale_lines / float(mean_lines[buyers].mean() if len(buyers) else 1.0)))
    if len(buyers) > n_orders:  # a small plan cannot serve every buyer: the rest stay prospects
        dropped = rng.permutation(buyers)[n_orders:]
        behaviour.is_buyer[dropped] = False
        behaviour.first_day[dropped] = -1
        behaviour.churn_day[dropped] = n_days
        behaviour.one_time[dropped] = False
        buyers = np.flatnonzero(behaviour.is_buyer)

    last = behaviour.active_until(n_days)
    repeat = buyers[~behaviour.one_time[buyers] & (last[buyers] > behaviour.first_day[buyers])]
    extra = n_orders - len(buyers)
    if extra > 0 and len(repeat):
        span = (last[repeat] - behaviour.first_day[repeat]).astype(float)
        weight = behaviour.rate[repeat] * span
        counts = rng.multinomial(extra, weight / weight.sum())
    else:
        counts = np.zeros(len(repeat), dtype=np.int64)
    extra_person = np.repeat(repeat, counts)
    weights = day_weights(start, n_days)
    extra_day = _seasonal_days(rng, weights, behaviour.first_day[extra_person] + 1, last[extra_person])

    person = np.concatenate([buyers, extra_person]).astype(np.int32)
    day = np.concatenate([behaviour.first_day[buyers], extra_day]).astype(np.int32)
    minute = rng.integers(9 * 60, 22 * 60, size=len(person)).astype(np.int16)
    order = np.lexsort((minute, day))
    person, day, minute = person[order], day[order], minute[order]

    n_lines = rng.geometric(1 / mean_lines[person])
    n_lines = adjust_total(rng, n_lines.astype(np.int64), sale_lines)

    return OrderPlan(person, day, minute, n_lines.astype(np.int16), _seq_in_day(day))


def adjust_total(rng: np.random.Generator, n_lines: np.ndarray, total: int) -> np.ndarray:
    """Add or remove single lines at random orders until the lines add up to ``total``."""
    n_lines = np.minimum(n_lines, 60)
    diff = total - int(n_lines.sum())
    while diff > 0:
        np.add.at(n_lines, rng.integers(len(n_lines), size=diff), 1)
        diff = total - int(n_lines.sum())
    while diff < 0:
        multi = np.flatnonzero(n_lines > 1)
        if len(multi) == 0:
            break
        take = rng.choice(multi, size=min(-diff, len(multi)), replace=False)
        n_lines[take] -= 1
        diff = total - int(n_lines.sum())
    return n_lines


def plan_later_orders(
    pool: PersonPool,
    behaviour: Behaviour,
    seed: int,
    start: dt.date,
    window_days: int,
    day0: int,
    n_days: int,
    target_lines: int,
    salt: int,
) -> OrderPlan:
    """Orders on days ``day0..n_days-1`` (after the window) from customers still active at its end."""
    rng = np.random.default_rng([seed, salt])
    active = np.flatnonzero(behaviour.is_buyer & (behaviour.churn_day >= window_days))
    if len(active) == 0:
        raise ValueError("no customer is active at the end of the window: nothing to append")
    weight = behaviour.rate[active]
    mean_lines = float(
        np.average(mean_lines_per_order(pool.customer_type[active] != INDIVIDUAL), weights=weight)
    )
    n_orders = max(1, round(target_lines / mean_lines))
    person = rng.choice(active, size=n_orders, p=weight / weight.sum()).astype(np.int32)
    weights = day_weights(start, n_days)[day0:]
    day = (day0 + rng.choice(len(weights), size=n_orders, p=weights / weights.sum())).astype(np.int32)
    minute = rng.integers(9 * 60, 22 * 60, size=n_orders).astype(np.int16)
    order = np.lexsort((minute, day))
    person, day, minute = person[order], day[order], minute[order]
    n_lines = rng.geometric(1 / mean_lines_per_order(pool.customer_type[person] != INDIVIDUAL)).astype(
        np.int64
    )
    n_lines = adjust_total(rng, n_lines, target_lines)
    return OrderPlan(person, day, minute, n_lines.astype(np.int16), _seq_in_day(day))


def _seq_in_day(day: np.ndarray) -> np.ndarray:
    """1-based number of each order within its day (``day`` sorted)."""
    first_of_day = np.searchsorted(day, day, side="left")
    return (np.arange(len(day)) - first_of_day + 1).astype(np.int32)
