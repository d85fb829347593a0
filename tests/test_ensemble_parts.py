"""The ensemble's parts: the shrunk stack, the hurdle count law, and the count model without
region effects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from features.design import HorizonData
from features.specs import FeatureSpec
from models.base import CountForecast
from models.count_regression import NegativeBinomialModel
from models.distributions import continuous_quantile, hurdle_mean, median_count, prob_zero
from models.ensemble import (
    MIN_STRATUM_ROWS,
    ShrunkStack,
    _chosen_level,
    _count_scores,
    _stratum_levels,
    jeffreys_rate,
)
from models.laws import pit_coverage
from models.strata import Strata

SPEC = FeatureSpec.default("month")


def test_unfitted_stack_is_the_plain_average() -> None:
    first, second = np.array([0.2, 0.6]), np.array([0.4, 0.8])
    np.testing.assert_allclose(ShrunkStack()([first, second]), [0.3, 0.7])


def test_stack_of_calibrated_members_stays_near_their_average() -> None:
    rng = np.random.default_rng(0)
    first = rng.uniform(0.05, 0.95, 600)
    second = np.clip(first + rng.normal(0, 0.05, 600), 0.01, 0.99)
    outcome = (rng.uniform(size=600) < (first + second) / 2).astype(float)
    stacked = ShrunkStack().fit([first, second], outcome)([first, second])
    assert np.max(np.abs(stacked - (first + second) / 2)) < 0.05


def test_strong_held_out_evidence_moves_the_stack_and_weak_evidence_barely() -> None:
    """Members that say 20% where events happen 80% of the time are corrected when there are
    many such rows; a handful of rows hardly moves the prior."""
    rng = np.random.default_rng(1)
    members = [np.full(2000, 0.2), np.full(2000, 0.2)]
    outcome = (rng.uniform(size=2000) < 0.8).astype(float)
    many = ShrunkStack().fit(members, outcome)(members)
    few = ShrunkStack().fit([m[:10] for m in members], outcome[:10])(members)
    assert many[0] > 0.7
    assert abs(few[0] - 0.2) < abs(many[0] - 0.2) / 3


def test_a_departure_only_input_counts_as_far_as_the_evidence_for_it() -> None:
    """The recent share enters the event stack only as a departure from the members' average:
    unfitted it is ignored; where it tells the outcome and the members do not, it is used."""
    rng = np.random.default_rng(3)
    members = [np.full(3000, 0.5), np.full(3000, 0.5)]
    share = rng.choice([0.1, 0.9], 3000)
    outcome = (rng.uniform(size=3000) < share).astype(float)
    stack = ShrunkStack(averaged=2)
    np.testing.assert_allclose(stack([*members, share]), 0.5)  # unfitted: the members' average
    fitted = stack.fit([*members, share], outcome)([*members, share])
    assert fitted[share == 0.9].mean() > 0.7 and fitted[share == 0.1].mean() < 0.3
    noise = rng.uniform(0.05, 0.95, 3000)
    ignored = ShrunkStack(averaged=2).fit([*members, noise], outcome)([*members, noise])
    assert np.max(np.abs(ignored - outcome.mean())) < 0.1


def test_count_model_without_region_effects_has_an_intercept() -> None:
    """At world scale there are no region columns; the log mean still needs a constant, or a
    region at average covariates would be forecast one event whatever the data say."""
    rng = np.random.default_rng(2)
    n = 800
    index = pd.MultiIndex.from_arrays(
        [
            np.repeat([f"R{i}" for i in range(80)], 10),
            np.tile([f"2020-{m:02d}" for m in range(1, 11)], 80),
        ],
        names=["region", "period"],
    )
    level = rng.normal(0, 0.3, n)
    X = pd.DataFrame({"log_events_mean_12": np.log1p(8 * np.exp(level))}, index=index)
    events = pd.Series(rng.poisson(8 * np.exp(level)).astype(float), index=index)
    zeros = pd.Series(np.zeros(n), index=index)
    data = HorizonData(X, events, zeros, zeros)
    model = NegativeBinomialModel(SPEC, covariates=["log_events_mean_12"]).fit(data)
    assert abs(model.predict(X).mean.mean() - events.mean()) < 0.5


def test_hurdle_law_with_the_laws_own_zero_is_the_law_itself() -> None:
    mean, dispersion = np.array([0.3, 2.0, 7.5]), np.array([0.5, 0.2, 1.0])
    p_event = 1 - prob_zero(mean, dispersion)
    for level in (0.1, 0.5, 0.9):
        np.testing.assert_allclose(
            continuous_quantile(mean, dispersion, level, p_event),
            continuous_quantile(mean, dispersion, level),
            atol=1e-9,
        )
    np.testing.assert_array_equal(
        median_count(mean, dispersion, p_event), median_count(mean, dispersion)
    )


def test_hurdle_mean_is_the_mean_of_the_law_it_describes() -> None:
    """With the law's own zero the hurdle mean is the NB mean; with another p_event it is the
    sum over the hurdle law's probabilities, down to means so small the law is all at 0 and 1."""
    mean, dispersion = np.array([1e-12, 0.3, 2.0, 7.5]), np.array([0.5, 0.5, 0.2, 1.0])
    np.testing.assert_allclose(
        hurdle_mean(mean, dispersion, 1 - prob_zero(mean, dispersion)), mean, rtol=1e-6, atol=1e-12
    )
    p_event = np.array([0.4, 0.9, 0.1, 0.5])
    size = 1 / dispersion
    counts = np.arange(1, 2000)[:, None]
    positive = stats.nbinom.pmf(counts, size, size / (size + mean))
    given_positive = positive / np.maximum(positive.sum(axis=0), 1e-300)
    summed = np.where(mean > 1e-9, p_event * (counts * given_positive).sum(axis=0), p_event)
    np.testing.assert_allclose(hurdle_mean(mean, dispersion, p_event), summed, rtol=1e-6)


def test_hurdle_median_and_tails_follow_p_event() -> None:
    """The count law says zero is unlikely, p_event says it is likely (and the other way round):
    the median and the interval follow p_event. Count 0 is spread over [0, 1/2] (its lower half
    cut to 0), count 1 over [1/2, 3/2]."""
    mean, dispersion = np.array([3.0, 0.2]), np.array([0.1, 0.1])
    p_event = np.array([0.3, 0.9])
    np.testing.assert_array_equal(median_count(mean, dispersion, p_event)[0], 0.0)
    assert median_count(mean, dispersion, p_event)[1] >= 1
    # 0.6 of a law with 0.7 at zero: 0.6 / 0.7 of the way through [-1/2, 1/2].
    np.testing.assert_allclose(
        continuous_quantile(mean, dispersion, 0.6, p_event)[0], 0.6 / 0.7 - 0.5
    )
    assert continuous_quantile(mean, dispersion, 0.3, p_event)[0] == 0.0
    assert continuous_quantile(mean, dispersion, 0.2, p_event)[1] > 0.5


def _hurdle_quantile_by_summing(
    mean: float, dispersion: float, p_event: float, level: float
) -> float:
    """The continuous hurdle quantile from the law's probabilities summed term by term."""
    size = 1 / dispersion
    counts = np.arange(1, 3000)
    positive = stats.nbinom.pmf(counts, size, size / (size + mean))
    probabilities = np.concatenate([[1 - p_event], p_event * positive / positive.sum()])
    cdf = np.cumsum(probabilities)
    k = int(np.searchsorted(cdf, level))
    below = cdf[k - 1] if k > 0 else 0.0
    # Each count k spread over [k - 1/2, k + 1/2], cut to 0 below.
    return max(k - 0.5 + (level - below) / probabilities[k], 0.0)


def test_hurdle_quantiles_match_the_law_summed_term_by_term() -> None:
    rng = np.random.default_rng(3)
    mean = np.exp(rng.uniform(np.log(0.05), np.log(60), 200))
    dispersion = np.exp(rng.uniform(np.log(0.002), np.log(3), 200))
    p_event = rng.uniform(0.02, 0.99, 200)
    for level in (0.1, 0.5, 0.9):
        expected = [
            _hurdle_quantile_by_summing(m, a, p, level)
            for m, a, p in zip(mean, dispersion, p_event, strict=True)
        ]
        np.testing.assert_allclose(
            continuous_quantile(mean, dispersion, level, p_event), expected, atol=1e-6
        )


def test_hurdle_law_of_a_vanishing_mean_puts_p_event_at_one() -> None:
    """An NB mean of (almost) 0 beside p_event = 0.34: a positive count is then almost surely
    1, so the 0.9 quantile lies in [1/2, 3/2] where that 0.34 is spread, not at 0."""
    mean, dispersion = np.array([0.0, 1e-12, 1e-7]), np.full(3, 0.8)
    p_event = np.full(3, 0.34)
    np.testing.assert_allclose(
        continuous_quantile(mean, dispersion, 0.9, p_event), 0.5 + (0.9 - 0.66) / 0.34, atol=1e-6
    )
    np.testing.assert_array_equal(median_count(mean, dispersion, p_event), 0.0)
    np.testing.assert_array_equal(median_count(mean, dispersion, np.full(3, 0.8)), 1.0)


def test_hurdle_levels_below_the_zero_mass_are_zero_for_a_large_mean() -> None:
    """A near-Poisson law with mean 54 and p_event 0.66: a third of the mass is at 0, so the 0.1
    quantile is 0 (a level mapping through the NB's own zero read it as the NB's 1e-12 quantile,
    about 10)."""
    mean, dispersion, p_event = np.array([54.0]), np.array([0.002]), np.array([0.66])
    assert continuous_quantile(mean, dispersion, 0.1, p_event)[0] == 0.0
    assert continuous_quantile(mean, dispersion, 0.5, p_event)[0] > 40


def _interval_scores(
    forecast: CountForecast, observed: np.ndarray, tail: float
) -> tuple[float, float]:
    """Coverage of [q(tail), q(1 - tail)] (of randomized PITs) and its ends' quantile loss as
    the 0.1 and 0.9 quantiles."""
    low, high = forecast.quantile(tail), forecast.quantile(1 - tail)
    loss = np.mean(np.maximum(0.1 * (observed - low), -0.9 * (observed - low)))
    loss += np.mean(np.maximum(0.9 * (observed - high), -0.1 * (observed - high)))
    below, at = forecast.mass_around(observed)
    return float(np.mean(pit_coverage(tail, 1 - tail, below, at))), float(loss)


def _interval_level(forecast: CountForecast, observed: np.ndarray) -> float:
    return _chosen_level(*_count_scores(forecast, observed))


def _too_narrow(n: int, dispersion: float, seed: int) -> tuple[CountForecast, np.ndarray]:
    """A forecast law (NB with means from 1 to 20, alpha 0.1) and outcomes drawn from a wider
    law with the same means."""
    rng = np.random.default_rng(seed)
    mean, size = rng.uniform(1, 20, n), 1 / dispersion
    observed = rng.negative_binomial(size, size / (size + mean)).astype(float)
    forecast = CountForecast(
        p_event=np.zeros(n), mean=mean, dispersion=np.full(n, 0.1), p_severe=np.zeros(n)
    )
    return forecast, observed


def test_interval_level_is_the_least_loss_level_with_coverage_near_the_target() -> None:
    """A too-narrow law: covering exactly 80% of outcomes needs a small tail level, and the
    0.1/0.9 quantile loss prefers an even wider interval. The level chosen covers within 0.02
    of 80%, as wide as that allows."""
    forecast, observed = _too_narrow(4000, dispersion=0.3, seed=5)
    chosen = _interval_level(forecast, observed)
    scores = {t: _interval_scores(forecast, observed, t) for t in np.linspace(0.005, 0.25, 50)}
    in_band = {t: s for t, s in scores.items() if abs(s[0] - 0.8) <= 0.02}
    coverage, loss = _interval_scores(forecast, observed, chosen)
    assert 0.78 <= coverage <= 0.82
    assert loss == min(s[1] for s in in_band.values())
    nearest = min(scores, key=lambda t: abs(scores[t][0] - 0.8))
    assert coverage > scores[nearest][0] and loss < scores[nearest][1]


def test_interval_level_falls_back_to_the_nearest_coverage() -> None:
    """Outcomes so much wider than the law that no level covers 78%: the widest is used."""
    forecast, observed = _too_narrow(2000, dispersion=8.0, seed=4)
    chosen = _interval_level(forecast, observed)
    assert chosen == 0.005
    assert _interval_scores(forecast, observed, chosen)[0] < 0.78


def test_jeffreys_rate_keeps_none_and_all_of_n_inside_zero_one() -> None:
    """0 of 12 severe months is not a probability of 0 (its log-odds would be -inf)."""
    np.testing.assert_allclose(
        jeffreys_rate(np.array([0.0, 0.5, 1.0]), 12), [0.5 / 13, 6.5 / 13, 12.5 / 13]
    )


def test_pit_coverage_of_a_true_law_is_the_mass_between_its_levels() -> None:
    """Outcomes drawn from the law itself: between its a and b quantiles lie b - a of the
    randomized PITs at any mean, while whole counts say 90% for [q(0.1), q(0.9)] of a law with
    90% on 0 (its q(0.1) is 0)."""
    rng = np.random.default_rng(3)
    for mean, counts_cover in ((0.1, 0.905), (30.0, 0.80)):
        means = np.full(20000, mean)
        observed = rng.poisson(means).astype(float)
        forecast = CountForecast(p_event=np.zeros(20000), mean=means,
                                 dispersion=np.zeros(20000), p_severe=np.zeros(20000))  # fmt: skip
        below, at = forecast.mass_around(observed)
        assert abs(np.mean(pit_coverage(0.1, 0.9, below, at)) - 0.80) < 0.01
        low, high = forecast.quantile(0.1), forecast.quantile(0.9)
        assert abs(np.mean((observed >= low) & (observed <= high)) - counts_cover) < 0.02
    # PITs uniform on [0.6, 0.9], [0.05, 0.15], [0.85, 1.0]; a count with no mass at 0.95.
    covered = pit_coverage(
        0.1, 0.9, np.array([0.6, 0.05, 0.85, 0.95]), np.array([0.3, 0.1, 0.15, 0.0])
    )
    assert covered.tolist() == pytest.approx([1.0, 0.5, 1 / 3, 0.0])


def test_strata_split_active_units_at_their_median() -> None:
    strata = Strata.fit(np.array([0.0, 0.2, 1.0, 2.0, 3.0, 10.0]))
    assert strata.busy_from == 2.5
    assert strata.names(np.array([0.4, 0.5, 2.4, 2.5, 50.0])).tolist() == [
        "quiet", "middle", "middle", "busy", "busy"]  # fmt: skip
    # No active unit: every row is quiet or middle, none busy.
    assert Strata.fit(np.zeros(4)).of(np.array([0.0, 0.7])).tolist() == [0, 1]


def test_each_stratum_gets_the_interval_its_own_rows_need() -> None:
    """Quiet rows drawn from their law, busy rows from a law three times wider than the
    forecast's: the busy stratum widens its interval, the quiet keeps near 0.1; a stratum
    with too few rows takes the pooled level."""
    forecast, observed = _too_narrow(600, dispersion=0.3, seed=2)
    rng = np.random.default_rng(9)
    quiet_mean = np.full(600, 0.3)
    quiet = CountForecast(p_event=np.zeros(600), mean=quiet_mean, dispersion=np.full(600, 0.1),
                          p_severe=np.zeros(600))  # fmt: skip
    both = CountForecast(
        p_event=np.zeros(1200 + MIN_STRATUM_ROWS - 1),
        mean=np.concatenate([quiet_mean, forecast.mean, np.full(MIN_STRATUM_ROWS - 1, 5.0)]),
        dispersion=np.full(1200 + MIN_STRATUM_ROWS - 1, 0.1),
        p_severe=np.zeros(1200 + MIN_STRATUM_ROWS - 1),
    )
    outcomes = np.concatenate(
        [rng.negative_binomial(10, 10 / 10.3, 600), observed, np.full(MIN_STRATUM_ROWS - 1, 5)]
    ).astype(float)
    strata = np.concatenate([np.zeros(600), np.full(600, 2), np.ones(MIN_STRATUM_ROWS - 1)])
    scores = _count_scores(both, outcomes)
    quiet_level, middle_level, busy_level = _stratum_levels(scores, strata, 0.123)
    assert middle_level == 0.123
    # Quiet rows drawn from their own law: its own 0.1 and 0.9 quantiles, though 3 in 4 are 0.
    assert busy_level < 0.06 < 0.08 <= quiet_level <= 0.12
    assert quiet_level == _interval_level(quiet, outcomes[:600])
