"""Maximum-likelihood fits of the BG/NBD and Gamma-Gamma models with pymc-marketing.

Both models are fitted by MAP with flat (``HalfFlat``) priors on every parameter. PyMC's ``find_MAP``
optimises the log-density of the log-transformed parameters without the Jacobian term, so with flat
priors the MAP point is exactly the maximum-likelihood estimate of Fader, Hardie & Lee (2005) and
Fader & Hardie (2013). (pymc-marketing's default priors are informative; on CDNOW they move a and b
about 10% away from the published estimates.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
import pandas as pd
import pymc as pm
from pymc_extras.prior import Prior
from pymc_marketing.clv import BetaGeoModel, GammaGammaModel
from pymc_marketing.clv.models.basic import CLVModel

BETA_GEO_PARAMETERS: tuple[str, ...] = ("r", "alpha", "a", "b")
GAMMA_GAMMA_PARAMETERS: tuple[str, ...] = ("p", "q", "v")

#: A fit counts as converged when every component of the log-likelihood gradient (with respect to the
#: log-parameters the optimiser works on) is at most this much per customer: a 1% change of any
#: parameter then moves the mean log-likelihood per customer by less than 1e-6.
GRADIENT_TOLERANCE_PER_CUSTOMER = 1e-4

ModelT = TypeVar("ModelT", bound=CLVModel)


class FitError(RuntimeError):
    """A model could not be fitted to the data."""


@dataclass(frozen=True)
class FitDiagnostics:
    log_likelihood: float
    max_abs_gradient: float
    converged: bool
    n_customers: int
    seconds: float


@dataclass(frozen=True)
class FittedModel(Generic[ModelT]):
    model: ModelT
    parameters: dict[str, float]
    diagnostics: FitDiagnostics


def fit_beta_geo(data: pd.DataFrame) -> FittedModel[BetaGeoModel]:
    """Fit BG/NBD to ``customer_id, frequency, recency, T`` (one row per customer) by maximum likelihood."""
    if not (data["frequency"] > 0).any():
        raise FitError("BG/NBD: no customer made a repeat purchase, so the dropout process is not identified")
    model = BetaGeoModel(model_config={name: Prior("HalfFlat") for name in BETA_GEO_PARAMETERS})
    return _fit_map(model, data[["customer_id", "frequency", "recency", "T"]], BETA_GEO_PARAMETERS)


def fit_gamma_gamma(data: pd.DataFrame) -> FittedModel[GammaGammaModel]:
    """Fit Gamma-Gamma to ``customer_id, frequency, monetary_value`` of repeat buyers by maximum likelihood.

    The model's support is frequency >= 1 and a positive mean spend: rows outside it are rejected, the
    caller chooses who to fit (crm.clv.run fits repeat buyers with monetary_value > 0).
    """
    outside = data[(data["frequency"] < 1) | ~(data["monetary_value"] > 0)]
    if not outside.empty:
        first = outside.iloc[0]
        raise FitError(
            f"Gamma-Gamma needs frequency >= 1 and monetary_value > 0; {len(outside)} rows are outside, "
            f"e.g. customer {first['customer_id']} (frequency {first['frequency']}, "
            f"monetary_value {first['monetary_value']})"
        )
    if data.empty:
        raise FitError("Gamma-Gamma: no repeat buyer with a positive mean spend to fit")
    model = GammaGammaModel(model_config={name: Prior("HalfFlat") for name in GAMMA_GAMMA_PARAMETERS})
    return _fit_map(model, data[["customer_id", "frequency", "monetary_value"]], GAMMA_GAMMA_PARAMETERS)


def _fit_map(model: ModelT, data: pd.DataFrame, parameters: tuple[str, ...]) -> FittedModel[ModelT]:
    started = time.perf_counter()
    model.fit(data=data, method="map", progressbar=False)
    seconds = time.perf_counter() - started
    estimates = {name: float(model.fit_result[name].values.reshape(())) for name in parameters}
    log_likelihood, max_abs_gradient = _likelihood_at(model.model, estimates)
    converged = bool(
        np.isfinite(log_likelihood) and max_abs_gradient <= GRADIENT_TOLERANCE_PER_CUSTOMER * len(data)
    )
    return FittedModel(
        model=model,
        parameters=estimates,
        diagnostics=FitDiagnostics(
            log_likelihood=log_likelihood,
            max_abs_gradient=max_abs_gradient,
            converged=converged,
            n_customers=len(data),
            seconds=seconds,
        ),
    )


def _likelihood_at(model: pm.Model, estimates: dict[str, float]) -> tuple[float, float]:
    """Log-likelihood and the largest absolute gradient component (log-parameter space) at ``estimates``.

    The priors are flat, so the model's log-density without Jacobian is the log-likelihood itself.
    """
    point = {}
    for rv in model.free_RVs:
        value_var = model.rvs_to_values[rv]
        transform = model.rvs_to_transforms[rv]
        value = np.asarray(estimates[rv.name], dtype=value_var.dtype)
        if transform is not None:
            value = transform.forward(value, *rv.owner.inputs).eval()
        point[value_var.name] = value
    log_likelihood = float(model.compile_logp(jacobian=False)(point))
    gradient = np.asarray(model.compile_dlogp(jacobian=False)(point))
    return log_likelihood, float(np.max(np.abs(gradient)))
