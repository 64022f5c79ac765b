"""Per-customer predictions from fitted BG/NBD and Gamma-Gamma models."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import xarray
from pymc_marketing.clv import BetaGeoModel, GammaGammaModel

#: Horizons (months) of the expected-purchase columns expected_purchases_<n>m.
PURCHASE_HORIZONS_MONTHS: tuple[int, ...] = (3, 6, 12)
CLV_HORIZON_MONTHS = 12


class TimeUnit(NamedTuple):
    code: str
    """pymc-marketing's time_unit for customer_lifetime_value."""
    periods_per_month: float
    """The factor pymc-marketing uses for that unit, so purchase and CLV horizons cover the same span."""


#: Supported period lengths (days per period, var clv_period_days).
TIME_UNITS: dict[int, TimeUnit] = {1: TimeUnit("D", 30.0), 7: TimeUnit("W", 4.345), 30: TimeUnit("M", 1.0)}


def time_unit(period_days: int) -> TimeUnit:
    try:
        return TIME_UNITS[period_days]
    except KeyError:
        raise ValueError(
            f"clv_period_days = {period_days} is not supported by the CLV step: pymc-marketing's CLV "
            f"horizon knows days, weeks and 30-day months, so use one of {sorted(TIME_UNITS)}"
        ) from None


def predict_customers(
    beta_geo: BetaGeoModel,
    gamma_gamma: GammaGammaModel,
    data: pd.DataFrame,
    *,
    period_days: int,
    discount_rate: float,
) -> pd.DataFrame:
    """Predictions for every customer in ``data`` (customer_id, frequency, recency, T, monetary_value).

    Columns: customer_id, probability_alive, expected_purchases_{3,6,12}m, expected_avg_order_value
    (Gamma-Gamma conditional mean spend per transaction; the population mean for customers without a
    repeat purchase) and clv_12m (expected spend over the next 12 months, discounted monthly at
    ``discount_rate``).
    """
    unit = time_unit(period_days)
    customers = data["customer_id"]
    predictions = pd.DataFrame({"customer_id": customers.to_numpy()})
    predictions["probability_alive"] = _per_customer(beta_geo.expected_probability_alive(data), customers)
    for months in PURCHASE_HORIZONS_MONTHS:
        expected = beta_geo.expected_purchases(data, future_t=months * unit.periods_per_month)
        predictions[f"expected_purchases_{months}m"] = _per_customer(expected, customers)
    predictions["expected_avg_order_value"] = _per_customer(
        gamma_gamma.expected_customer_spend(data), customers
    )
    clv = gamma_gamma.expected_customer_lifetime_value(
        transaction_model=beta_geo,
        data=data.copy(),  # pymc-marketing adds a future_spend column to the frame it is given
        future_t=CLV_HORIZON_MONTHS,
        discount_rate=discount_rate,
        time_unit=unit.code,
    )
    predictions[f"clv_{CLV_HORIZON_MONTHS}m"] = _per_customer(clv, customers)
    return predictions


def _per_customer(values: xarray.DataArray, customers: pd.Series) -> np.ndarray:
    """One value per customer, in the order of ``customers``, from a (chain, draw, customer_id) array."""
    point = values.mean(dim=[dim for dim in ("chain", "draw") if dim in values.dims])
    return point.to_series().reindex(customers.to_numpy()).to_numpy(dtype="float64")
