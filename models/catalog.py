"""The model families by name, the reference methods, and the default ensemble.

Names are known without importing a family (the web tier and job validation ask for them); a
family's module, with its scikit-learn or statsmodels, is imported when one is made.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING

from events.periods import Duration

if TYPE_CHECKING:
    from features.specs import FeatureSpec
    from models.base import HorizonModel
    from models.direct import DirectForecaster

DEFAULT_MODEL = "ensemble"
# Scored beside the model in every backtest.
REFERENCE_MODELS = ("climatology", "recent", "last_value_poisson")
# Forecast beside every issue and kept in the track record: the trailing shares an analyst
# would use instead (a last value adds nothing a track record can be judged by).
ISSUED_REFERENCES = REFERENCE_MODELS[:2]
# Families with randomness take the seed; the others are deterministic.
SEEDED_FAMILIES = ("gradient_boosting", "ensemble")
# The count model learns from the last fifteen years: older eras pull its region levels away.
COUNT_TRAINING = Duration(months=180)
# The ensemble learns its weights and calibration on the last six years' held-out forecasts.
VALIDATION = Duration(months=72)
# It blends the count mean with the mean count over the last half year: on both 2010-2015 and
# 2016-2021 backtests that tracked surges and lulls better than a full year's.
LEVEL = Duration(months=6)


def _climatology(spec: FeatureSpec) -> HorizonModel:
    from models.reference import ClimatologyModel

    return ClimatologyModel(spec)


def _recent(spec: FeatureSpec) -> HorizonModel:
    from models.reference import RecentModel

    return RecentModel(spec)


def _last_value_poisson(spec: FeatureSpec) -> HorizonModel:
    from models.reference import LastValuePoissonModel

    return LastValuePoissonModel(spec)


def _negative_binomial(spec: FeatureSpec) -> HorizonModel:
    from models.count_regression import NegativeBinomialModel

    return NegativeBinomialModel(spec, training_periods=COUNT_TRAINING.of(spec.freq))


def _gradient_boosting(spec: FeatureSpec, seed: int = 0) -> HorizonModel:
    from models.boosting import GradientBoostingModel

    return GradientBoostingModel(seed)


def _ensemble(spec: FeatureSpec, seed: int = 0) -> HorizonModel:
    from models.actors import ActorShares
    from models.boosting import GradientBoostingModel
    from models.ensemble import EnsembleModel
    from models.fatality_regression import LogNormalFatalities

    return EnsembleModel(
        members=[
            partial(_negative_binomial, spec),
            partial(GradientBoostingModel, seed, counts=False),
        ],
        validation_periods=VALIDATION.of(spec.freq),
        level_feature=f"log_events_mean_{LEVEL.of(spec.freq)}",
        severe_share_feature=f"share_severe_{spec.recent_window}",
        severe_share_periods=spec.recent_window,
        event_share_feature=f"share_with_events_{spec.recent_window}",
        held_out_stride=spec.recent_window,
        fatalities=partial(
            LogNormalFatalities, spec.severe_threshold, COUNT_TRAINING.of(spec.freq)
        ),
        actors=partial(ActorShares, tuple(spec.groups), spec.recent_window, spec.climatology_window)
        if spec.groups
        else None,
    )


FAMILIES: dict[str, Callable[..., HorizonModel]] = {
    "climatology": _climatology,
    "recent": _recent,
    "last_value_poisson": _last_value_poisson,
    "negative_binomial": _negative_binomial,
    "gradient_boosting": _gradient_boosting,
    "ensemble": _ensemble,
}


def make_forecaster(
    name: str,
    spec: FeatureSpec,
    horizons: Sequence[int],
    *,
    seed: int = 0,
    version: str | None = None,
    n_jobs: int = 1,
) -> DirectForecaster:
    from models.direct import DirectForecaster

    if name not in FAMILIES:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(FAMILIES)}")
    family = FAMILIES[name]
    factory = partial(family, seed=seed) if name in SEEDED_FAMILIES else family
    return DirectForecaster(name, factory, spec, horizons, version=version, n_jobs=n_jobs)
