"""The default ensemble: member weights and calibration learned on earlier origins only."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Self

import numpy as np
import pandas as pd
from statsmodels.genmod import families
from statsmodels.genmod.generalized_linear_model import GLM

from features import memo
from features.design import HorizonData
from models.actors import ActorShares
from models.base import CountForecast, HorizonModel
from models.distributions import continuous_quantile
from models.fatalities import FatalityLaws
from models.fatality_regression import LogNormalFatalities
from models.laws import pit_coverage, whole_coverage
from models.strata import NAMES as STRATA
from models.strata import Strata

TARGET_COVERAGE = 0.80
# Held-out coverage (of randomized PITs) within this of the target is close enough: among such
# interval levels the one with the least quantile loss is used. Half of the 0.76-0.84 band the
# product promises is kept as margin for drift between held-out and forecast years.
COVERAGE_TOLERANCE = 0.02
_TAIL_GRID = np.linspace(0.005, 0.25, 50)
# A stratum with fewer held-out rows than this takes the level fitted over all rows.
MIN_STRATUM_ROWS = 30
# The held-out periods are forecast in this many consecutive folds, each by members trained on
# everything before it, so the later folds come from members as fresh as the deployed ones.
HELD_OUT_FOLDS = 2
_WEIGHT_GRID = np.linspace(0.0, 1.0, 11)
_EPS = 1e-4


# Precision of the Gaussian prior on each departure from the members' plain average (standard
# deviation 0.1 on the log-odds scale). Rolling backtests over 2010-2015 and 2016-2021 showed
# unshrunk stacks learning one era's miscalibration and carrying it into the next.
PRIOR_PRECISION = 100.0


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.asarray(np.log(p / (1 - p)))


class ShrunkStack:
    """Blend weights and calibration, learned on held-out forecasts and shrunk toward the
    members' plain average.

    A logistic regression of the outcome on an intercept and the members' log-odds, with the
    log-odds of their average as an offset: every coefficient is a departure from "average the
    members and trust their calibration", and the prior keeps departures small unless the
    held-out evidence for them is strong. Until fitted, the plain average.

    With `averaged`, only the first that many inputs make the average; the others (a plain
    rate, say) enter only as departures, so they count only as far as the held-out evidence
    for them is strong.
    """

    # Stacks saved before `averaged` existed average every input.
    averaged: int | None = None

    def __init__(
        self, prior_precision: float = PRIOR_PRECISION, averaged: int | None = None
    ) -> None:
        self.prior_precision = prior_precision
        self.averaged = averaged
        self.params: np.ndarray | None = None

    def _average(self, probabilities: Sequence[np.ndarray]) -> np.ndarray:
        return np.asarray(np.mean(probabilities[: self.averaged], axis=0))

    def fit(self, probabilities: Sequence[np.ndarray], outcome: np.ndarray) -> Self:
        self.params = None
        if len(np.unique(outcome)) == 2:
            model = GLM(
                outcome.astype(float),
                _stack_design(probabilities),
                family=families.Binomial(),
                offset=_logit(self._average(probabilities)),
            )
            # statsmodels minimizes -loglik / n + alpha / 2 * |params|^2.
            result = model.fit_regularized(alpha=self.prior_precision / len(outcome), L1_wt=0.0)
            self.params = np.asarray(result.params)
        return self

    def __call__(self, probabilities: Sequence[np.ndarray]) -> np.ndarray:
        average = self._average(probabilities)
        if self.params is None:
            return average
        log_odds = _stack_design(probabilities) @ self.params + _logit(average)
        return np.asarray(1.0 / (1.0 + np.exp(-log_odds)))


def _stack_design(probabilities: Sequence[np.ndarray]) -> np.ndarray:
    columns = [_logit(p) for p in probabilities]
    return np.column_stack([np.ones_like(columns[0]), *columns])


def _pinball(quantile: np.ndarray, observed: np.ndarray, level: float) -> np.ndarray:
    """The quantile loss of each element."""
    error = observed - quantile
    return np.asarray(np.maximum(level * error, (level - 1) * error))


def _quantile_loss(quantile: np.ndarray, observed: np.ndarray, level: float) -> np.ndarray:
    """The mean quantile loss along the last axis (one per row of a stack of quantiles)."""
    return np.asarray(np.mean(_pinball(quantile, observed, level), axis=-1))


def _best_mean_weight(count: CountForecast, level: np.ndarray, observed: np.ndarray) -> float:
    """The blend of the count model's mean and the recent level with the least pinball loss
    (0.1/0.5/0.9), every weight of the grid scored in one vectorized pass."""
    means = _blend(count.mean[None, :], level[None, :], _WEIGHT_GRID[:, None])
    hurdle = count.p_event if count.zero_from_p_event else None
    losses = sum(
        _quantile_loss(continuous_quantile(means, count.dispersion, q, hurdle), observed, q)
        for q in (0.1, 0.5, 0.9)
    )
    return float(_WEIGHT_GRID[int(np.argmin(losses / 3))])


def _blend(first: np.ndarray, second: np.ndarray, weight: float | np.ndarray) -> np.ndarray:
    return weight * first + (1 - weight) * second


def _end_losses(lows: np.ndarray, highs: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Per tail level t of the grid (rows) and held-out row (columns): the quantile loss of the
    interval ends q(t) and q(1 - t) as the 0.1 and 0.9 quantiles."""
    return np.asarray(_pinball(lows, observed, 0.1) + _pinball(highs, observed, 0.9))


def _count_scores(count: CountForecast, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per tail level t of the grid and held-out row: how far the outcome's randomized PIT lies
    in [t, 1 - t] (models.laws.pit_coverage: a calibrated law covers 1 - 2t at any activity,
    quiet units' zeros included), and the ends' quantile loss."""
    tails = _TAIL_GRID[:, None]
    lows, highs = count.quantile(tails), count.quantile(1 - tails)
    below, at = count.mass_around(observed)
    return pit_coverage(tails, 1 - tails, below, at), _end_losses(lows, highs, observed)


def _fatality_scores(law: FatalityLaws, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same for fatalities, whose law is continuous past 0: covered as whole counts."""
    lows, highs = law.quantile(_TAIL_GRID[:, None]), law.quantile(1 - _TAIL_GRID[:, None])
    return whole_coverage(lows, highs, observed), _end_losses(lows, highs, observed)


def _chosen_level(covered: np.ndarray, losses: np.ndarray) -> float:
    """The tail level t of the interval [q(t), q(1 - t)] published as p10 and p90.

    Among the levels whose held-out coverage is within COVERAGE_TOLERANCE of TARGET_COVERAGE,
    the one whose ends have the least quantile loss; if none is, the level with the coverage
    nearest the target.
    """
    gaps = np.round(np.abs(np.mean(covered, axis=1) - TARGET_COVERAGE), 9)
    mean_losses = np.mean(losses, axis=1)
    within = np.flatnonzero(gaps <= COVERAGE_TOLERANCE)
    if not len(within):
        return float(_TAIL_GRID[int(np.argmin(gaps))])
    return float(_TAIL_GRID[within[int(np.argmin(mean_losses[within]))]])


def _stratum_levels(
    scores: tuple[np.ndarray, np.ndarray], strata: np.ndarray, pooled: float
) -> tuple[float, ...]:
    """The interval level of each activity stratum, chosen on its own held-out rows' scores
    (`_count_scores` of all rows); `pooled` where a stratum has too few."""
    covered, losses = scores
    levels = []
    for stratum in range(len(STRATA)):
        rows = strata == stratum
        enough = rows.sum() >= MIN_STRATUM_ROWS
        levels.append(_chosen_level(covered[:, rows], losses[:, rows]) if enough else pooled)
    return tuple(levels)


def jeffreys_rate(share: np.ndarray, periods: int) -> np.ndarray:
    """The Jeffreys estimate (k + 1/2) / (n + 1) of a rate seen as k of n periods.

    No severe month in the last 12 is not a probability of 0: the stack works on log-odds, where
    a raw 0 (clipped to 1e-4) becomes -9.2 and swamps the members' opinions.
    """
    return np.asarray((share * periods + 0.5) / (periods + 1))


# A held-out fold: the data its members train on and the mask of the held-out rows they forecast.
_Fold = tuple[HorizonData, np.ndarray]


def _fitted(factory: Callable[[], HorizonModel], data: HorizonData) -> HorizonModel:
    """A member fitted on `data`; in a backtest, shared with every origin that fits it on equal
    data."""
    key = data.fingerprint if memo.active() else ""
    return memo.reuse(("member", factory, key), lambda: factory().fit(data))


def _empty(n: int) -> CountForecast:
    return CountForecast(
        p_event=np.zeros(n), mean=np.zeros(n), dispersion=np.zeros(n), p_severe=np.zeros(n)
    )


class EnsembleModel:
    """Blends a count model and a classifier.

    p_event stacks both members' probabilities, p_severe those and the region's recent share of
    severe periods. The count law is a hurdle: zero with probability 1 - p_event, positive counts
    in the proportions of the count model's law (its mean blended with the recent level), so the
    median and interval agree with the calibrated p_event.
    The stacks, the mean blend and the interval level are fitted on forecasts for the last
    held-out periods by members trained only on the periods before them; then the members are
    refitted on everything.
    """

    # Ensembles saved before the share was smoothed lack the attribute and read this: their
    # severe stacks were fitted on the raw share, so they keep using it.
    severe_share_periods: int | None = None
    # Ensembles saved before fatalities (actor groups) were forecast have none.
    fatality_model: LogNormalFatalities | None = None
    actor_model: ActorShares | None = None
    event_share_feature: str | None = None
    # Ensembles saved before intervals were calibrated per activity stratum use one level.
    strata: Strata | None = None
    stratum_tail_levels: tuple[float, ...] = ()

    def __init__(
        self,
        members: Sequence[Callable[[], HorizonModel]],
        validation_periods: int,
        level_feature: str | None = None,
        severe_share_feature: str | None = None,
        severe_share_periods: int | None = None,
        event_share_feature: str | None = None,
        held_out_stride: int = 1,
        fatalities: Callable[[], LogNormalFatalities] | None = None,
        actors: Callable[[], ActorShares] | None = None,
    ) -> None:
        if len(members) != 2:
            raise ValueError(
                "the ensemble blends exactly two members: a count model and a classifier"
            )
        self.member_factories = list(members)
        self.validation_periods = validation_periods
        self.members: list[HorizonModel] = []
        # The region's recent share of periods with events joins the members' p_event as a
        # departure only: busy sources' level shifts show in it first (see `_event_inputs`).
        self.event_stack = ShrunkStack(averaged=len(self.member_factories))
        self.severe_stack = ShrunkStack()
        # The region's recent share of severe periods joins the members' p_severe: severe
        # periods are rare and a plain rate is a hard-to-beat, diverse third opinion.
        self.severe_share_feature = severe_share_feature
        self.event_share_feature = event_share_feature
        # The number of periods the shares count over, to smooth them (see `_recent_share`).
        self.severe_share_periods = severe_share_periods
        self.tail_level = 0.1
        # The count mean is blended with this recent level (an expm1'd log-mean feature).
        self.level_feature = level_feature
        self.mean_weight = 1.0
        # Held-out members are trained up to a multiple of this many periods into the data:
        # consecutive origins then share them (see `_held_out`).
        self.held_out_stride = held_out_stride
        self.fatality_tail_level = 0.1
        self.fatality_factory = fatalities
        self.actor_factory = actors

    def fit(self, data: HorizonData) -> Self:
        periods = np.unique(data.periods)
        if len(periods) > 2 * self.validation_periods:
            cut = periods[-self.validation_periods]
            late = data.subset(data.periods >= cut)
            folds = self._folds(data, late, periods)
            held_out = self._held_out(late, folds)
            occurred = (late.events.to_numpy() > 0).astype(float)
            severe = late.severe.to_numpy()
            count = held_out[0]
            event_inputs = self._event_inputs(held_out, late.X)
            severe_inputs = self._severe_inputs(held_out, late.X)
            self.event_stack.fit(event_inputs, occurred)
            self.severe_stack.fit(severe_inputs, severe)
            observed_counts = late.events.to_numpy()
            level = None
            if self.level_feature is not None:
                level = np.expm1(late.X[self.level_feature].to_numpy())
                self.mean_weight = _best_mean_weight(count, level, observed_counts)
                count = replace(count, mean=_blend(count.mean, level, self.mean_weight))
            # The interval level is fitted on the law the forecasts carry: the hurdle on the
            # stacked p_event.
            p_event = self.event_stack(event_inputs)
            count = replace(count, p_event=p_event, zero_from_p_event=True)
            scores = _count_scores(count, observed_counts)
            self.tail_level = _chosen_level(*scores)
            if level is not None:
                self.strata = Strata.fit(level)
                self.stratum_tail_levels = _stratum_levels(
                    scores, self.strata.of(level), self.tail_level
                )
            if self.fatality_factory is not None:
                p_severe = np.minimum(self.severe_stack(severe_inputs), p_event)
                law = self._held_out_fatalities(late, folds, p_event, p_severe)
                self.fatality_tail_level = _chosen_level(
                    *_fatality_scores(law, late.fatalities.to_numpy())
                )
        self.members = [_fitted(factory, data) for factory in self.member_factories]
        if self.fatality_factory is not None:
            self.fatality_model = self.fatality_factory().fit(data)
        if self.actor_factory is not None:
            actors = self.actor_factory()
            # Sources that name no actors have no group columns: no per-group forecasts.
            if all(f"log_{g}_events_{actors.window}" in data.X for g in actors.groups):
                self.actor_model = actors.fit(data.X)
        return self

    def _held_out(self, late: HorizonData, folds: list[_Fold]) -> list[CountForecast]:
        """Each member's forecasts for the held-out rows (in their order), fold by fold: every
        fold is forecast by members trained only on periods before it.

        The members of a fold are trained up to the last multiple of `held_out_stride` periods
        at or before the fold's start (counted from the data's first period), so the origins of
        a backtest within one stride fit them once (`features.memo`) instead of once each.
        """
        outputs = [_empty(len(late.periods)) for _ in self.member_factories]
        for train, rows in folds:
            fold = late.subset(rows)
            for output, factory in zip(outputs, self.member_factories, strict=True):
                forecast = _fitted(factory, train).predict(fold.X)
                for name in ("p_event", "mean", "dispersion", "p_severe"):
                    getattr(output, name)[rows] = getattr(forecast, name)
        return outputs

    def _folds(self, data: HorizonData, late: HorizonData, periods: np.ndarray) -> list[_Fold]:
        """(training data, mask of the held-out rows it forecasts) per fold."""
        size = self.validation_periods // HELD_OUT_FOLDS
        first = len(periods) - self.validation_periods
        positions = [first + k * size for k in range(HELD_OUT_FOLDS)]
        starts = [periods[i] for i in positions]
        cutoffs = [periods[i - i % self.held_out_stride] for i in positions]
        ends = [*starts[1:], None]
        folds = []
        for start, cutoff, end in zip(starts, cutoffs, ends, strict=True):
            rows = (late.periods >= start) & (True if end is None else late.periods < end)
            folds.append((data.subset(data.periods < cutoff), np.asarray(rows)))
        return folds

    def _held_out_fatalities(
        self,
        late: HorizonData,
        folds: list[_Fold],
        p_event: np.ndarray,
        p_severe: np.ndarray,
    ) -> FatalityLaws:
        """The fatality law of the held-out rows from fatality models fitted fold by fold, on
        the stacked probabilities the forecasts carry."""
        assert self.fatality_factory is not None
        factory = self.fatality_factory
        location, scale = np.zeros(len(late.periods)), np.zeros(len(late.periods))
        p_fatal = np.zeros(len(late.periods))
        for train, rows in folds:
            model = memo.reuse(
                ("fatalities", factory, train.fingerprint if memo.active() else ""),
                lambda: factory().fit(train),  # noqa: B023 - called before the loop moves on
            )
            law = model.law(late.X[rows], p_event[rows], p_severe[rows])
            location[rows], scale[rows], p_fatal[rows] = law.location, law.scale, law.p_fatal
        return FatalityLaws(p_fatal, p_severe, location, scale, model.threshold)

    def _event_inputs(
        self, forecasts: Sequence[CountForecast], X: pd.DataFrame
    ) -> list[np.ndarray]:
        inputs = [f.p_event for f in forecasts]
        # Ensembles saved before the event stack read the recent share average their members.
        if self.event_share_feature is not None and self.event_stack.averaged is not None:
            inputs.append(self._recent_share(X, self.event_share_feature))
        return inputs

    def _severe_inputs(
        self, forecasts: Sequence[CountForecast], X: pd.DataFrame
    ) -> list[np.ndarray]:
        inputs = [f.p_severe for f in forecasts]
        if self.severe_share_feature is not None:
            inputs.append(self._recent_share(X, self.severe_share_feature))
        return inputs

    def _recent_share(self, X: pd.DataFrame, feature: str) -> np.ndarray:
        """A trailing share feature, read as a rate (Jeffreys) where its window is known."""
        share = X[feature].to_numpy(dtype=float)
        if self.severe_share_periods:
            return jeffreys_rate(share, self.severe_share_periods)
        return share

    def predict(self, X: pd.DataFrame) -> CountForecast:
        forecasts = [member.predict(X) for member in self.members]
        count = forecasts[0]
        p_event = self.event_stack(self._event_inputs(forecasts, X))
        p_severe = self.severe_stack(self._severe_inputs(forecasts, X))
        mean = count.mean
        tail_level: float | np.ndarray = self.tail_level
        if self.level_feature is not None:
            level = np.expm1(X[self.level_feature].to_numpy())
            mean = _blend(count.mean, level, self.mean_weight)
            if self.strata is not None and self.stratum_tail_levels:
                tail_level = np.asarray(self.stratum_tail_levels)[self.strata.of(level)]
        fatalities = (
            replace(
                self.fatality_model.law(X, p_event, p_severe), tail_level=self.fatality_tail_level
            )
            if self.fatality_model is not None
            else None
        )
        return replace(
            count,
            mean=mean,
            p_event=p_event,
            p_severe=p_severe,
            tail_level=tail_level,
            zero_from_p_event=True,
            fatalities=fatalities,
            actor_shares=self.actor_model.shares(X) if self.actor_model is not None else None,
        )
