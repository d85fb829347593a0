"""The model families by name, and the default ensemble."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from events.periods import cadence
from features.specs import FeatureSpec
from models.actors import ActorShares
from models.base import HorizonModel
from models.boosting import GradientBoostingModel
from models.count_regression import NegativeBinomialModel
from models.direct import DirectForecaster, HorizonModelFactory
from models.ensemble import EnsembleModel
from models.fatality_regression import LogNormalFatalities
from models.reference import ClimatologyModel, LastValuePoissonModel, RecentModel

DEFAULT_MODEL = "ensemble"
REFERENCE_MODELS = ("climatology", "recent", "last_value_poisson")


def _negative_binomial(spec: FeatureSpec) -> HorizonModel:
    return NegativeBinomialModel(spec, training_periods=cadence(spec.freq).count_training_periods)


def _gradient_boosting(spec: FeatureSpec, seed: int = 0) -> HorizonModel:
    return GradientBoostingModel(seed)


def _ensemble(spec: FeatureSpec, seed: int = 0) -> HorizonModel:
    known = cadence(spec.freq)
    return EnsembleModel(
        members=[
            partial(_negative_binomial, spec),
            partial(GradientBoostingModel, seed, counts=False),
        ],
        validation_periods=known.validation_periods,
        level_feature=f"log_events_mean_{known.level_window}",
        severe_share_feature=f"share_severe_{spec.recent_window}",
        severe_share_periods=spec.recent_window,
        event_share_feature=f"share_with_events_{spec.recent_window}",
        held_out_stride=spec.recent_window,
        fatalities=partial(
            LogNormalFatalities, spec.severe_threshold, known.count_training_periods
        ),
        actors=partial(ActorShares, tuple(spec.groups), spec.recent_window)
        if spec.groups
        else None,
    )


FAMILIES: dict[str, HorizonModelFactory] = {
    "climatology": ClimatologyModel,
    "recent": RecentModel,
    "last_value_poisson": LastValuePoissonModel,
    "negative_binomial": _negative_binomial,
    "gradient_boosting": _gradient_boosting,
    "ensemble": _ensemble,
}


# Families with randomness take the seed; the others are deterministic.
SEEDED_FAMILIES = ("gradient_boosting", "ensemble")


def make_forecaster(
    name: str,
    spec: FeatureSpec,
    horizons: Sequence[int],
    *,
    seed: int = 0,
    version: str | None = None,
    n_jobs: int = 1,
) -> DirectForecaster:
    if name not in FAMILIES:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(FAMILIES)}")
    family: Callable[..., HorizonModel] = FAMILIES[name]
    factory = partial(family, seed=seed) if name in SEEDED_FAMILIES else family
    return DirectForecaster(name, factory, spec, horizons, version=version, n_jobs=n_jobs)
