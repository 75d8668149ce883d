"""Metrics of one strategy, accumulated batch by batch in bounded memory.

What each metric means (all money real, today's money):
- success probability: the share of paths on which the spending target was met in every
  retirement year and wealth never ran out (no withdrawal had to be cut);
- ruin probability: the share of paths on which some withdrawal was cut (wealth ran out);
- goal probability: the share of paths ending with wealth >= the capital goal;
- CE: see ``objective``; mean utility is E[U];
- wealth percentiles by age: wealth at the start of each year (and at the end, the last
  column); consumption percentiles by age: realised consumption of each year;
- terminal wealth: mean, percentiles, P(W_T = 0) and the mean of the worst 5 % of
  terminal wealth (the average over the 5 % of paths that end poorest);
- shortfall: the unmet part of the spending target, max(target - consumption, 0),
  summed over the retirement years of a path (``mean_total``) or per retirement year.

Lifetimes (MORTALITY; under FIXED_HORIZON every path lives every year and these agree
with the definitions above):
- "success" is the spending target met in every retirement year lived, and "ruin" (ruin
  while alive) money exhausted while someone was alive: a withdrawal cut in a year lived;
- years without money: the years lived in which a withdrawal was cut, or that began
  after ruin with nothing left (mean per path);
- years lived: D per path (until the last death); ages at death: each adult's drawn age
  at death (the age in the year of death) and the household's last death;
- bands by age cover the lives still running: the paths on which someone is alive at
  the start of that year (their count by age in ``n_by_age``); the end column holds
  every path's bequest;
- the floor (``essential_fraction``): the probability of ever spending below it in a
  retirement year lived, and the expected number of such years;
- spending CE: the certainty equivalent of consumption alone (``objective``), the
  bequest reported apart (``terminal``: the wealth left at the last death).

Claiming windows: per pension with one, the share of lives claiming it at each age of
its window and the share whose adult died before claiming (``ClaimStats``), read from
the plan frozen at the end of each path.

Every figure carries the number of paths and its standard error (binomial for
probabilities; sd / sqrt(N) for means; for percentiles, half the spread between the
quantiles at q +- sqrt(q (1 - q) / N): the order-statistic interval).

Memory: per-path values (utility, terminal wealth, lifetime shortfall, flags) are kept,
16-40 bytes a path; the percentiles by age come from fixed log-spaced histograms per
year (bins of ratio ``HIST_RATIO`` from ``HIST_LOW`` to ``HIST_HIGH`` x the consumption
scale): a quantile is interpolated geometrically inside its bin, so its relative error is
below HIST_RATIO - 1 = 0.2 %; values below HIST_LOW x scale report as 0, values above
HIST_HIGH x scale as HIST_HIGH x scale.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .cashflows import FloatArray
from .claiming import ClaimOptions
from .objective import Objective
from .state import YearOutcome, YearState

DEFAULT_PERCENTILES: tuple[float, ...] = (5.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0)
HIST_RATIO = 1.002
HIST_LOW = 1e-4
HIST_HIGH = 1e6
#: The tail used for "mean of the worst terminal wealth".
WORST_TAIL = 0.05

_LOG_RATIO = math.log(HIST_RATIO)
_N_BINS = math.ceil(math.log(HIST_HIGH / HIST_LOW) / _LOG_RATIO)


@dataclass(frozen=True)
class Estimate:
    """A Monte Carlo figure with its standard error and the paths behind it."""

    value: float
    standard_error: float
    n_paths: int


@dataclass(frozen=True)
class PercentileBands:
    """values[i][j]: percentile ``percentiles[i]`` at ``ages[j]``; errors alike; means by age."""

    ages: tuple[int, ...]
    percentiles: tuple[float, ...]
    values: tuple[tuple[float, ...], ...]
    standard_errors: tuple[tuple[float, ...], ...]
    means: tuple[float, ...]
    n_paths: int
    # The paths behind each age (lives still running); () when every path is behind each.
    n_by_age: tuple[int, ...] = ()


@dataclass(frozen=True)
class TerminalWealth:
    mean: Estimate
    median: Estimate
    percentiles: dict[float, Estimate]
    prob_depleted: Estimate  # P(W_T = 0)
    mean_worst: Estimate  # mean over the WORST_TAIL poorest paths
    mean_nominal: Estimate  # E[W_T P_T]: terminal wealth in the money of that year


@dataclass(frozen=True)
class ShortfallStats:
    mean_total: Estimate  # lifetime sum of unmet spending, per path
    mean_per_retirement_year: Estimate
    prob_any: Estimate  # share of paths with some unmet spending


@dataclass(frozen=True)
class LifetimeStats:
    """What a person asks about lifetimes (see the module docstring)."""

    years_lived: Estimate  # D per path
    years_without_money: Estimate  # years lived with no money left, per path
    below_floor_probability: Estimate | None  # None without a floor
    years_below_floor: Estimate | None
    death_ages: tuple[tuple[int, ...], ...]  # per adult: count of paths by age at death
    last_death_ages: tuple[int, ...]  # count of paths by the age of the last death
    first_death_age: int  # the age of index 0 in the two count tuples above
    spending_ce: Estimate  # CE of consumption alone


@dataclass(frozen=True)
class AnnuityStats:
    """What a strategy bought of the household's annuity offer."""

    premium: Estimate  # wealth annuitised over the plan, today's money, per path
    probability: Estimate  # share of paths that bought any


@dataclass(frozen=True)
class ClaimStats:
    """When one pension with a claiming window was claimed, across the lives simulated.

    A person asks "at what age does this strategy claim, and how sure is that?": the
    share of lives claiming at each age answers both ("at 70 in 93 % of lives"). Lives in
    which the pension's adult died before the planned age never claimed; they are counted
    apart, so that the shares at each age and ``died_first`` sum to 1.
    """

    income: int  # index in ``household.incomes``
    default_age: int
    first_age: int  # the age of ``at_age[0]``: the earliest age still open
    at_age: tuple[Estimate, ...]  # share of lives claiming at first_age + k
    died_first: Estimate  # share of lives whose adult died before claiming
    median_age: int | None  # over the lives that claimed; None when none did
    mean_age: Estimate  # over the lives that claimed (NaN when none did)


@dataclass(frozen=True)
class StrategyMetrics:
    name: str
    n_paths: int
    seconds: float
    certainty_equivalent: Estimate
    mean_utility: Estimate
    success_probability: Estimate
    ruin_probability: Estimate
    goal_probability: Estimate | None  # None without a capital goal
    wealth: PercentileBands
    consumption: PercentileBands
    terminal: TerminalWealth
    shortfall: ShortfallStats
    path_utilities: FloatArray | None = None
    lifetimes: LifetimeStats | None = None
    # None without an annuity offer.
    annuities: AnnuityStats | None = None
    # One per pension with a claiming window (in the order of the household's incomes).
    claims: tuple[ClaimStats, ...] = ()


def mean_estimate(x: FloatArray) -> Estimate:
    n = int(x.shape[0])
    se = float(x.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return Estimate(float(x.mean()), se, n)


def probability_estimate(flags: NDArray[np.bool_]) -> Estimate:
    n = int(flags.shape[0])
    p = float(flags.mean())
    return Estimate(p, math.sqrt(p * (1.0 - p) / n), n)


def _sorted_quantile(order: FloatArray, q: float) -> Estimate:
    """Quantile q of sorted values, with its order-statistic standard error."""
    n = int(order.shape[0])
    d = math.sqrt(q * (1.0 - q) / n)
    hi = float(np.quantile(order, min(q + d, 1.0)))
    lo = float(np.quantile(order, max(q - d, 0.0)))
    return Estimate(float(np.quantile(order, q)), 0.5 * (hi - lo), n)


def _histogram_quantiles(counts: NDArray[np.int64], low: float, qs: FloatArray) -> FloatArray:
    """Quantiles ``qs`` of every histogram row at once: an array (rows, len(qs)).

    Bin 0 holds zeros (quantile 0), the last bin everything above the range (its lower
    edge), and a quantile inside a log-spaced bin is interpolated in log space. One
    ``searchsorted`` over all rows (each row's cumulative counts shifted past the
    previous row's) replaces a Python call per row and quantile: a comparison of 8
    strategies builds about 15,000 of them.
    """
    rows, bins = counts.shape
    cum = np.cumsum(counts, axis=1)
    total = cum[:, -1].astype(np.float64)
    rank = qs[None, :] * total[:, None]
    # Shift row r by r * (max total + 1): the flattened cumulative counts stay sorted and
    # each row's ranks fall inside its own stretch.
    shift = (np.arange(rows, dtype=np.float64) * (float(total.max()) + 1.0))[:, None]
    flat_k = np.searchsorted((cum + shift).ravel(), (rank + shift).ravel(), side="left")
    k = np.clip(flat_k.reshape(rank.shape) - (np.arange(rows) * bins)[:, None], 0, bins - 1)
    row_index = np.arange(rows)[:, None]
    before = np.where(k > 0, cum[row_index, np.maximum(k - 1, 0)], 0).astype(np.float64)
    inside = np.maximum(counts[row_index, k], 1).astype(np.float64)
    frac = np.clip((rank - before) / inside, 0.0, 1.0)
    inner = low * np.exp((k - 1 + frac) * _LOG_RATIO)
    top = low * HIST_RATIO ** (k - 1.0)
    out: FloatArray = np.where(k == 0, 0.0, np.where(k == bins - 1, top, inner))
    return out


class Histograms:
    """Per-year log-spaced histograms of a non-negative quantity (rows = years)."""

    def __init__(self, rows: int, scale: float) -> None:
        self.low = HIST_LOW * scale
        self.counts = np.zeros((rows, _N_BINS + 2), dtype=np.int64)
        self.sums = np.zeros(rows)

    def add(self, row: int, values: FloatArray, where: NDArray[np.bool_] | None = None) -> None:
        """Count ``values`` (those ``where`` is True) in row ``row``."""
        # float32 is ample for a bin index (log steps of 2e-3, float32 log error ~1e-6)
        # and halves the memory traffic of the hottest metric. The log comes before the
        # shift by ln(low): values / low leaves float32 for a scale below about 1e-34
        # (0 x inf then gives NaN), and values beyond float32 (wealth compounding at the
        # bounds of validation) become inf, which the clip puts in the top bin.
        with np.errstate(over="ignore"):
            y = values.astype(np.float32)
        with np.errstate(divide="ignore"):
            np.log(y, out=y)
        y -= np.float32(math.log(self.low))
        y *= np.float32(1.0 / _LOG_RATIO)
        y += np.float32(1.0)
        np.clip(y, np.float32(0.0), np.float32(_N_BINS + 1), out=y)
        if where is None:
            self.counts[row] += np.bincount(y.astype(np.intp), minlength=_N_BINS + 2)
            self.sums[row] += float(values.sum())
            return
        # The values left out go to one bin past the end, dropped: no compacting copy.
        index = np.where(where, y.astype(np.intp), _N_BINS + 2)
        self.counts[row] += np.bincount(index, minlength=_N_BINS + 3)[: _N_BINS + 2]
        self.sums[row] += float(np.sum(values, where=where))

    def bands(self, ages: Sequence[int], percentiles: Sequence[float]) -> PercentileBands:
        n = int(self.counts[0].sum())
        # Each percentile with its order-statistic error: the quantiles at q and q +- d,
        # d = sqrt(q (1 - q) / n), half their spread being the standard error.
        q = np.asarray(percentiles, dtype=np.float64) / 100.0
        d = np.sqrt(q * (1.0 - q) / n)
        grid = np.concatenate([q, np.minimum(q + d, 1.0), np.maximum(q - d, 0.0)])
        at = _histogram_quantiles(self.counts, self.low, grid)
        m = len(q)
        spread = 0.5 * (at[:, m : 2 * m] - at[:, 2 * m :])
        values = tuple(tuple(float(v) for v in at[:, j]) for j in range(m))
        errors = tuple(tuple(float(e) for e in spread[:, j]) for j in range(m))
        rows = self.counts.sum(axis=1)
        means = tuple(float(s / r) if r else 0.0 for s, r in zip(self.sums, rows, strict=True))
        by_age = () if bool((rows == n).all()) else tuple(int(r) for r in rows)
        return PercentileBands(tuple(ages), tuple(percentiles), values, errors, means, n, by_age)


class MetricsAccumulator:
    """Collects one strategy's outcomes over batches; :meth:`result` summarises them."""

    def __init__(
        self, name: str, objective: Objective, ages: Sequence[int], *, annuities: bool = False
    ) -> None:
        self.name = name
        self.objective = objective
        self.ages = tuple(ages)
        horizon = objective.horizon
        self.wealth = Histograms(horizon + 1, objective.scale)
        self.consumption = Histograms(horizon, objective.scale)
        self._utility: list[FloatArray] = []
        self._terminal: list[FloatArray] = []
        self._terminal_nominal: list[FloatArray] = []
        self._shortfall: list[FloatArray] = []
        self._success: list[NDArray[np.bool_]] = []
        self._ruined: list[NDArray[np.bool_]] = []
        self._batch_utility: FloatArray | None = None
        self._batch_shortfall: FloatArray | None = None
        self._batch_ok: NDArray[np.bool_] | None = None
        self.retirement_years = 0
        self.seconds = 0.0
        # Lifetimes and the floor, per path: (years lived, years without money, years
        # below the floor, spending utility), and the batch's running ruin flag.
        self._life: list[FloatArray] = []
        self._batch_life: FloatArray | None = None
        self._batch_broke: NDArray[np.bool_] | None = None
        self._deaths: list[NDArray[np.int64]] = []
        self._current_ages: tuple[int, ...] = ()
        self.floor = False
        # With an annuity offer: the premium each path paid (real), by batch.
        self.annuities = annuities
        self._premium: list[FloatArray] = []
        self._batch_premium: FloatArray | None = None
        # With claiming windows: per batch, each pension's claiming age per path (-1:
        # never claimed), shape (pensions, n); and the windows' options.
        self._claimed: list[NDArray[np.int64]] = []
        self._claims: ClaimOptions | None = None

    def start_batch(self, n: int) -> None:
        self._batch_utility = np.zeros(n)
        self._batch_shortfall = np.zeros(n)
        self._batch_ok = np.ones(n, dtype=bool)
        self._batch_life = np.zeros((4, n))
        self._batch_broke = np.zeros(n, dtype=bool)
        self._batch_premium = np.zeros(n)

    def add_year(self, outcome: YearOutcome, retired: bool) -> None:
        assert self._batch_utility is not None and self._batch_shortfall is not None
        assert self._batch_ok is not None
        assert self._batch_life is not None and self._batch_broke is not None
        t = outcome.t
        if outcome.annuitised is not None and self._batch_premium is not None:
            self._batch_premium += outcome.annuitised
        lived = outcome.lived
        if lived is not None and lived.all():
            lived = None  # everyone alive this year: the fixed horizon's arithmetic
        self.wealth.add(t, outcome.wealth_start, lived)
        self.consumption.add(t, outcome.consumption, lived)
        spending = self.objective.year_utility(outcome.consumption)
        year = spending
        tol = 1e-9 * self.objective.scale
        if outcome.floor is not None:
            self.floor = True
            year = spending + self.objective.floor_penalty(spending, outcome.floor)
            # A path that is over has no floor (its target is 0): no mask needed.
            self._batch_life[2] += (outcome.floor > 0) & (outcome.consumption < outcome.floor - tol)
        cut = outcome.cut > tol
        broke = cut | (self._batch_broke & (outcome.wealth_start <= tol))
        # A path that is over consumes 0 with no floor: its year adds u(f) exactly, taken
        # out again at the end of the batch (``end_batch``), so no mask is needed here.
        self._batch_utility += year
        self._batch_life[3] += spending
        self._batch_life[1] += broke if lived is None else broke & lived
        self._batch_broke |= cut
        if retired:
            self._batch_shortfall += outcome.shortfall
            self._batch_ok &= outcome.shortfall <= tol

    def end_batch(self, final: YearState) -> None:
        assert self._batch_utility is not None and self._batch_shortfall is not None
        assert self._batch_ok is not None and self._batch_life is not None
        wealth = final.wealth
        self.wealth.add(final.t, wealth)
        self._batch_life[0] = final.t
        if final.death_year is not None:  # years lived, and the years after them undone
            lived = np.minimum(final.death_year.max(axis=0) + 1, final.t).astype(np.float64)
            self._batch_life[0] = lived
            after = final.t - lived
            u_over = float(self.objective.year_utility(np.zeros(1))[0])
            self._batch_utility -= u_over * after
            self._batch_life[3] -= u_over * after
        self._utility.append(self._batch_utility + self.objective.terminal_utility(wealth))
        self._terminal.append(wealth)
        self._terminal_nominal.append(wealth * final.price_index)
        self._shortfall.append(self._batch_shortfall)
        self._success.append(self._batch_ok & ~final.ruined)
        self._ruined.append(final.ruined)
        self._life.append(self._batch_life)
        if final.death_year is not None:
            current = final.schedule.adult_ages[:, 0]
            self._current_ages = tuple(int(a) for a in current)
            self._deaths.append(np.asarray(current[:, None] + final.death_year, dtype=np.int64))
        if self._batch_premium is not None:
            self._premium.append(self._batch_premium)
        if final.claim_plan is not None and final.schedule.claims is not None:
            self._claims = final.schedule.claims
            self._claimed.append(claimed_ages(final))
        self._batch_utility = self._batch_shortfall = self._batch_ok = None
        self._batch_life = self._batch_broke = self._batch_premium = None

    @property
    def n_paths(self) -> int:
        return sum(int(u.shape[0]) for u in self._utility)

    def path_utilities(self) -> FloatArray:
        return np.concatenate(self._utility)

    def ce_estimate(self) -> Estimate:
        u = mean_estimate(self.path_utilities())
        ce = self.objective.certainty_equivalent(u.value)
        return Estimate(ce, self.objective.ce_standard_error(ce, u.standard_error), u.n_paths)

    def success_estimate(self) -> Estimate:
        return probability_estimate(np.concatenate(self._success))

    def result(
        self, percentiles: Sequence[float], retirement_years: int, keep_paths: bool
    ) -> StrategyMetrics:
        utility = self.path_utilities()
        terminal = np.concatenate(self._terminal)
        shortfall = np.concatenate(self._shortfall)
        n = int(utility.shape[0])
        goal = self.objective.capital_goal
        order = np.sort(terminal)
        worst = order[: max(1, math.floor(WORST_TAIL * n))]
        tail_se = float(worst.std(ddof=1) / math.sqrt(worst.size)) if worst.size > 1 else math.nan
        term_pct = {p: _sorted_quantile(order, p / 100.0) for p in percentiles}
        per_year = shortfall / max(retirement_years, 1)
        return StrategyMetrics(
            name=self.name,
            n_paths=n,
            seconds=self.seconds,
            certainty_equivalent=self.ce_estimate(),
            mean_utility=mean_estimate(utility),
            success_probability=self.success_estimate(),
            ruin_probability=probability_estimate(np.concatenate(self._ruined)),
            goal_probability=probability_estimate(terminal >= goal) if goal > 0 else None,
            wealth=self.wealth.bands(self.ages, percentiles),
            consumption=self.consumption.bands(self.ages[:-1], percentiles),
            terminal=TerminalWealth(
                mean=mean_estimate(terminal),
                median=_sorted_quantile(order, 0.5),
                percentiles=term_pct,
                prob_depleted=probability_estimate(terminal <= 0.0),
                mean_worst=Estimate(float(worst.mean()), tail_se, n),
                mean_nominal=mean_estimate(np.concatenate(self._terminal_nominal)),
            ),
            shortfall=ShortfallStats(
                mean_total=mean_estimate(shortfall),
                mean_per_retirement_year=mean_estimate(per_year),
                prob_any=probability_estimate(shortfall > 1e-9 * self.objective.scale),
            ),
            path_utilities=utility if keep_paths else None,
            lifetimes=self._lifetime_stats(),
            annuities=self._annuity_stats(),
            claims=self._claim_stats(),
        )

    def _claim_stats(self) -> tuple[ClaimStats, ...]:
        if self._claims is None or not self._claimed:
            return ()
        ages = np.concatenate(self._claimed, axis=1)
        return tuple(
            claim_stats(p.income, p.default_age, p.earliest, p.latest, row)
            for p, row in zip(self._claims.pensions, ages, strict=True)
        )

    def _annuity_stats(self) -> AnnuityStats | None:
        if not self.annuities:
            return None
        premium = np.concatenate(self._premium)
        return AnnuityStats(mean_estimate(premium), probability_estimate(premium > 0.0))

    def _lifetime_stats(self) -> LifetimeStats:
        life = np.concatenate(self._life, axis=1)
        spending = mean_estimate(life[3])
        ce = self.objective.spending_certainty_equivalent(spending.value)
        se = self.objective.ce_standard_error(ce, spending.standard_error)
        # The spending CE's derivative has E[D] (not E[D] + g) below: rescale.
        se *= self.objective.utility_terms / self.objective.years
        per_adult: tuple[tuple[int, ...], ...] = ()
        last: tuple[int, ...] = ()
        first = 0
        if self._deaths:
            ages = np.concatenate(self._deaths, axis=1)  # (adults, n): age at death
            current = np.asarray(self._current_ages)[:, None]
            # The adult who dies last (latest plan year; the first adult on a tie) and
            # their age then.
            last_one = np.argmax(ages - current, axis=0)
            last_age = ages[last_one, np.arange(ages.shape[1])]
            first = int(ages.min())
            size = int(ages.max()) - first + 1
            per_adult = tuple(
                tuple(int(c) for c in np.bincount(row - first, minlength=size)) for row in ages
            )
            last = tuple(int(c) for c in np.bincount(last_age - first, minlength=size))
        return LifetimeStats(
            years_lived=mean_estimate(life[0]),
            years_without_money=mean_estimate(life[1]),
            below_floor_probability=probability_estimate(life[2] > 0) if self.floor else None,
            years_below_floor=mean_estimate(life[2]) if self.floor else None,
            death_ages=per_adult,
            last_death_ages=last,
            first_death_age=first,
            spending_ce=Estimate(ce, se, spending.n_paths),
        )


def claimed_ages(final: YearState) -> NDArray[np.int64]:
    """Each claimable pension's claiming age per path at the end of the plan, -1 where it
    was never claimed: (pensions, n).

    The plan is frozen once reached, so at the end it holds the age claimed, if the
    pension's adult was alive in the year of that age (an adult lives the whole year of
    age in which they die) and the plan reached it.
    """
    options = final.schedule.claims
    assert options is not None and final.claim_plan is not None
    ages = final.schedule.adult_ages
    last = final.t - 1  # the plan's last year
    out = np.empty_like(final.claim_plan)
    for i, p in enumerate(options.pensions):
        if final.death_year is None:
            reached = np.full(final.n_paths, ages[p.adult, last])
        else:
            reached = ages[p.adult, np.minimum(final.death_year[p.adult], last)]
        plan = final.claim_plan[i]
        out[i] = np.where(plan <= reached, plan, -1)
    return out


def claim_stats(
    income: int, default_age: int, earliest: int, latest: int, ages: NDArray[np.int64]
) -> ClaimStats:
    """The distribution of one pension's claiming age (-1: never claimed) over lives."""
    n = int(ages.shape[0])
    span = latest - earliest + 1
    claimed = ages >= 0
    counts = np.bincount(ages[claimed] - earliest, minlength=span)[:span]
    at_age = tuple(_share(int(c), n) for c in counts)
    median: int | None = None
    mean = Estimate(math.nan, math.nan, 0)
    if claimed.any():
        taken = ages[claimed].astype(np.float64)
        median = int(np.searchsorted(np.cumsum(counts), 0.5 * taken.size) + earliest)
        mean = mean_estimate(taken)
    return ClaimStats(
        income=income,
        default_age=default_age,
        first_age=earliest,
        at_age=at_age,
        died_first=_share(n - int(claimed.sum()), n),
        median_age=median,
        mean_age=mean,
    )


def _share(count: int, n: int) -> Estimate:
    """A share of n lives as a binomial estimate (``probability_estimate`` from a count)."""
    p = count / n
    return Estimate(p, math.sqrt(p * (1.0 - p) / n), n)
