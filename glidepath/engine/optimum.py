"""The optimum by dynamic programming, where one can be computed.

Problem: cash flows deterministic in real terms given who is alive, iid lognormal
returns; each year choose consumption c and the stock share s (the rest in the
household's fixed bond:cash mix) to maximise the objective of ``objective``: CRRA
utility of consumption, floored, over the years lived, the essential-spending penalty
K min(0, u(c) - u(F)) below the floor F, and the capital-goal term on the wealth left
when the last adult dies (the bequest). Who is alive is part of the state (``lives``):
one life state for a single adult, three for a couple (both, only adult 0, only adult
1), nobody alive = the bequest. Under FIXED_HORIZON deaths are certain (the plan ends
at the latest life expectancy, as before).

Method: backward induction on cash on hand X = W + d (wealth plus this year's
disposable income of the life state), in units of the consumption scale. Savings
S = X - c are invested, and in life state s' next year X' = S R_p(share) + d_{s'}
(the bequest: W' = S R_p). With beta the time-preference factor (1 in the engine's
objective) and pi(s -> s') the survival transitions,

    V_t^s(X) = max_c u(c) + K min(0, u(c) - u(F_t^s))
               + beta E[ sum_{s'} pi(s -> s') V_{t+1}^{s'}(X') + pi(s -> none) B(S R_p) ].

For every savings level on a fixed log-spaced grid, the share solves the first-order
condition E[sum pi V'(X') (R_stock - R_nonstock)] = 0 (evaluated on ``share_levels``
levels, the root interpolated between them, clipped to [0, 1]); consumption then
follows from the Euler equation by the endogenous grid method (Carroll 2006):
u'(c) (1 + K 1{c < F}) = beta E[sum pi V'(X') R_p], X = S + c (the floor's kink: c = F
over a range of S); below the first endogenous point the constraint binds (c = X). The
successors' marginal values on the (savings x share level x node) lattice depend only
on the successor state, so they are computed once per year and state and mixed by
each origin's pi (a couple costs three lattices a year, not nine). Expectations use
Gauss-Hermite nodes on the real (stock, bond, cash) log returns (``quadrature``). The
value function is carried in the transformed space ((1 - gamma) V)^(1 / (1 - gamma))
(exp(V / A) at gamma = 1), where it is near-linear in X, and interpolated linearly
(extrapolated linearly above the grid); the floor's penalty, which is not of that
form, is carried beside it as a plain expected sum. Marginal utility uses max(c, f)
(f the objective's floor fraction) so the floored objective stays concave; the
penalty too reads u(max(c, f)).

Timing: the DP assumes the year's net flow meets the portfolio at the start of the year
(``FlowTiming.START_OF_YEAR``), the textbook timing of the closed forms. It is exact
for that timing; under the product's monthly flows the same policy is applied (reading
X = W + d each year) and is optimal to first order; comparisons then report the CE the
engine measures.

Annuities: a household with an offer is solved by ``optimum_annuity`` (one purchase at
the offer's age), which runs this induction (``_setup``, ``_induct``) once per level of
annuity income.

Cache: solutions are kept by an exact digest of the household (its full repr). The
canonical hash is not used as the key on purpose: it rounds inputs, and a DP solution
is only exact for the household it was solved for.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from glidepath.household.model import Household, Lifetimes, ReturnModel

from . import claiming, lives
from .cashflows import BoolArray, FloatArray, IntArray, build_schedule
from .logmath import log_power_mean, logsumexp
from .objective import FLOOR_FRACTION, crra, crra_inverse
from .quadrature import DEFAULT_NODES, ReturnNodes, return_nodes
from .regimes import stationary_market
from .state import Decision, YearState

if TYPE_CHECKING:  # the strategies module imports this one on demand
    from .strategies import Strategy

#: Weight K of the essential-spending penalty K min(0, u(c) - u(F)) (a unit of utility
#: lost below the floor counts 1 + K times). The objective's; kept equal by a test.
FLOOR_PENALTY = 10.0


@dataclass(frozen=True)
class OptimumSettings:
    savings_points: int = 160
    share_levels: int = 21
    nodes: tuple[int, ...] = DEFAULT_NODES
    # Smallest positive savings grid point, in units of the consumption scale.
    min_savings: float = 1e-3
    # Time-preference factor beta on every later year. The engine's objective does not
    # discount (1); other values serve the check that a constant death probability
    # lambda is the same problem as beta = 1 - lambda without mortality.
    time_preference: float = 1.0


@dataclass(frozen=True)
class StatePolicy:
    """The optimal policy of one life state, in money (real), by year t = 0..T-1."""

    cash_grids: tuple[FloatArray, ...]  # X grid of year t (money)
    consumption: tuple[FloatArray, ...]  # c on that grid
    shares: tuple[FloatArray, ...]  # optimal stock share on the savings grid


@dataclass(frozen=True)
class OptimumSolution:
    """The optimal policy of every life state (``lives.life_states`` order)."""

    horizon: int
    scale: float
    states: tuple[tuple[int, ...], ...]
    by_state: tuple[StatePolicy, ...]
    # FIXED_HORIZON: the (certain) life state of each year; None under mortality, where
    # the caller says who is alive.
    state_path: IntArray | None
    savings_grid: FloatArray  # S grid (money), shared by all years
    value: float  # V_0(X_0): expected lifetime utility (objective units)
    certainty_equivalent: float  # CE of ``value`` (money per year)
    # A_0: utility terms ahead, E[years lived] + g at beta = 1 (the CE's normaliser).
    utility_terms: float
    seconds: float
    # With claiming windows: the claiming age of each claimable pension (``claimable``
    # order) whose DP is the best of the enumeration; None: no window.
    claim_ages: tuple[int, ...] | None = None
    # Observable regimes (``optimum_regimes``): ``by_state`` holds (regime r, life
    # state s) at r x len(life states) + s, and the policy reads the observed regime.
    regimes: bool = False

    @property
    def cash_grids(self) -> tuple[FloatArray, ...]:
        """The first life state's (everybody alive) cash grids, by year."""
        return self.by_state[0].cash_grids

    @property
    def consumption(self) -> tuple[FloatArray, ...]:
        return self.by_state[0].consumption

    @property
    def shares(self) -> tuple[FloatArray, ...]:
        return self.by_state[0].shares

    def policy(
        self, t: int, cash_on_hand: FloatArray, state: IntArray | None = None
    ) -> tuple[FloatArray, FloatArray]:
        """(consumption, stock share) of year t for cash on hand X (money, per path).

        ``state``: each path's life state (``lives.state_of_paths``; -1 = nobody alive,
        which consumes nothing). None: the certain state of a FIXED_HORIZON year.
        """
        x = np.maximum(cash_on_hand, 0.0)
        if state is None:
            s = 0 if self.state_path is None else int(self.state_path[t])
            return self._policy_of(s, t, x)
        c = np.zeros_like(x)
        share = np.zeros_like(x)
        for s in range(len(self.states)):
            rows = state == s
            if rows.any():
                c[rows], share[rows] = self._policy_of(s, t, x[rows])
        return c, share

    def _policy_of(self, s: int, t: int, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        p = self.by_state[s]
        c = _interp_extrapolate(x, p.cash_grids[t], p.consumption[t])
        c = np.clip(c, 0.0, x)
        share = np.interp(x - c, self.savings_grid, p.shares[t])
        return c, np.asarray(share, dtype=np.float64)


#: The most DP solves a claiming enumeration may take, counted in single-adult solves (a
#: couple's costs about 3, one per life state): about 0.3 s each on the benchmark
#: machine, so an enumeration stays within a few seconds. A window of 62-70 (9 ages)
#: fits for one adult; a couple's fits with up to 4 claiming combinations.
MAX_CLAIM_SOLVES = 12


def dp_applies(household: Household) -> tuple[bool, str]:
    """Whether the DP's assumptions hold for the household, and if not, why."""
    if household.annuities is not None:  # the purchase-once DP, exact or simplified
        from . import optimum_annuity

        ok, reason = optimum_annuity.annuity_dp_applies(household)
        if ok and not optimum_annuity.is_exact(household):
            return False, (
                "no optimum: the offer allows a purchase in every year from its age; the "
                "dynamic programme decides one purchase at that age only, dp_simplified, a "
                "lower bound on what is achievable"
            )
        return ok, reason
    if claiming.claimable(household):
        ok, reason = _enumerable(household)
        if not ok:
            return ok, reason
    market = household.market
    switching = market.switching
    if switching is not None and switching.observable:
        from .optimum_regimes import regimes_apply  # builds on this module

        return regimes_apply(household)
    if market.return_model is ReturnModel.REGIME_SWITCHING:
        return False, (
            "no optimum: returns switch between market regimes the household cannot "
            "observe, which the dynamic programme does not solve exactly; dp_simplified "
            "is its solution with the regimes averaged, a lower bound on what is achievable"
        )
    if market.return_model is not ReturnModel.LOGNORMAL:
        return False, "no optimum: the DP assumes lognormal returns (the household uses Student-t)"
    schedule = build_schedule(household)
    if schedule.has_nominal and market.inflation_volatility > 0:
        return False, (
            "no optimum: some amounts are fixed in nominal terms while inflation is random, "
            "so cash flows are not deterministic in real terms"
        )
    return True, ""


def _enumerable(household: Household) -> tuple[bool, str]:
    """Whether the claiming ages can be enumerated, one exact DP per combination."""
    combinations = len(claiming.claim_combinations(household))
    cost = combinations * (1 if len(household.adults) == 1 else 3)
    if cost > MAX_CLAIM_SOLVES:
        return False, (
            f"no optimum: the claiming windows give {combinations} combinations of claiming "
            f"ages, too many to solve one dynamic programme each in seconds (at most "
            f"{MAX_CLAIM_SOLVES // (1 if len(household.adults) == 1 else 3)} for this household)"
        )
    goals = household.goals
    if goals.retirement_spending <= 0 and not any(
        p.annual_spending > 0 for p in household.spending_phases
    ):
        return False, (
            "no optimum: without a spending target the objective's scale depends on the "
            "incomes, so the claiming ages' programmes cannot be compared"
        )
    variant = claiming.claim_variant(household, claiming.claim_combinations(household)[0])
    return dp_applies(variant)


def optimum_available(household: Household) -> tuple[bool, str]:
    """Whether the optimum can be solved and replayed in the simulator; if not, why."""
    return dp_applies(household)


#: The strategy name of the DP solved on the simplified model (never "the optimum").
DP_SIMPLIFIED = "dp_simplified"


def simplified_household(household: Household) -> Household:
    """The simplified model: the regimes averaged into an i.i.d. lognormal market with
    the stationary mixture's moments (``regimes.stationary_market``), and an annuity
    offer open in its first year only (one purchase, at the offer's age), all else equal.
    With an annuity offer and claiming windows together, the claiming ages are fixed too
    (:func:`simplified_claim_ages`; the household :func:`simplified_strategy` solves)."""
    simple = household
    if household.market.switching is not None:
        simple = replace(simple, market=stationary_market(household.market))
    if household.annuities is not None and not household.annuities.only_at_from_age:
        simple = replace(simple, annuities=replace(household.annuities, only_at_from_age=True))
    return simple


def _claims_with_annuities(household: Household) -> bool:
    return household.annuities is not None and bool(claiming.claimable(household))


def simplified_claim_ages(household: Household) -> tuple[int, ...]:
    """The claiming ages of the simplified model where annuities and claiming windows
    meet: the ages the exact enumeration chooses without the annuity offer (one age per
    pension, chosen once; the purchase DP then plans around them)."""
    simple = simplified_household(household)
    ages = solve_optimum(replace(simple, annuities=None)).claim_ages
    assert ages is not None
    return ages


def simplified_available(household: Household) -> tuple[bool, str]:
    """Whether ``dp_simplified`` applies: only where the optimum is unavailable because
    of market regimes or of annuity purchases allowed in many years, and the DP solves
    the simplified model; if not, why."""
    simple = simplified_household(household)
    if simple == household:
        return False, (
            f"{DP_SIMPLIFIED} applies only to a regime-switching market or to annuities "
            "that may be bought in many years (neither here: where the DP applies, use "
            "the optimum)"
        )
    if _claims_with_annuities(simple):  # the ages enumerated without annuities, then fixed
        ok, reason = dp_applies(replace(simple, annuities=None))
        if ok:
            first = claiming.claim_combinations(simple)[0]
            ok, reason = dp_applies(claiming.claim_variant(simple, first))
    else:
        ok, reason = dp_applies(simple)
    if not ok:
        return False, reason.replace("no optimum", f"no {DP_SIMPLIFIED} either", 1)
    return True, ""


def simplified_strategy(
    household: Household, settings: OptimumSettings = OptimumSettings()
) -> Strategy:
    """The DP policy of the simplified model, to be replayed on the household's own
    market (regimes, annuities open every year) like any other strategy. Raises
    ValueError where ``simplified_available`` says no."""
    ok, reason = simplified_available(household)
    if not ok:
        raise ValueError(reason)
    simple = simplified_household(household)
    if not _claims_with_annuities(simple):
        return optimum_strategy(simple, settings, name=DP_SIMPLIFIED)
    ages = simplified_claim_ages(household)
    variant = claiming.claim_variant(simple, ages)
    return ClaimingAt(ages, optimum_strategy(variant, settings, name=DP_SIMPLIFIED), DP_SIMPLIFIED)


@dataclass(frozen=True)
class ClaimingAt:
    """Claims each windowed pension at fixed ``ages`` and follows ``then``, a strategy
    solved for the household with those pensions paid from those ages."""

    ages: tuple[int, ...]
    then: Strategy
    name: str

    def decide(self, state: YearState) -> Decision:
        plan = np.repeat(np.array(self.ages, dtype=np.float64)[:, None], state.n_paths, axis=1)
        claimed = claiming.claim(state, plan)  # the state the inner strategy was solved for
        inner = self.then.decide(claimed)
        return Decision(inner.stock_share, inner.consumption, inner.annuitise, claim=plan)


def _interp_extrapolate(x: FloatArray, xp: FloatArray, fp: FloatArray) -> FloatArray:
    """np.interp, but linear extrapolation above the last point (clamped below)."""
    y = np.interp(x, xp, fp)
    slope = (fp[-1] - fp[-2]) / (xp[-1] - xp[-2])
    above = x > xp[-1]
    if above.any():
        y = np.where(above, fp[-1] + slope * (x - xp[-1]), y)
    return np.asarray(y, dtype=np.float64)


class _Value:
    """V_t on a cash grid, stored as its certainty equivalent tau (near-linear in X).

    tau = ((1 - gamma) V / A)^(1 / (1 - gamma)) (exp(V / A) at gamma = 1), A the utility
    terms left (years plus the goal's weight): the steady consumption, in scale units,
    worth V over the rest of the plan. It has the size of X whatever gamma is, where
    ((1 - gamma) V)^(1 / (1 - gamma)) carries a factor A^(1 / (1 - gamma)) that
    overflows as gamma nears 1, and V itself underflows to 0 for rich households at
    gamma = 20. The recursion is a power mean of logs (``log_power_mean``).
    """

    def __init__(
        self,
        grid: FloatArray,
        log_tau: FloatArray,
        terms: float,
        log_tail: float | None = None,
        gamma: float = 1.0,
    ) -> None:
        self.grid, self.terms = grid, terms
        self.transformed = np.asarray(np.exp(log_tau), dtype=np.float64)
        # Below grid[1] the constraint binds (c = X, savings 0): tau is the power mean of
        # max(X, f) (weight 1 / A) and the savings-0 successors' tau (``log_tail``, the
        # rest), exactly. A straight line from the X = 0 point understates it, by far
        # where a large sure income puts next year's cash there (an annuity bought).
        self.log_tail, self.power = log_tail, 1.0 - gamma

    def log_tau(self, x: FloatArray) -> FloatArray:
        y = np.maximum(_interp_lattice(x, self.grid, self.transformed), 1e-300)
        out = np.asarray(np.log(y), dtype=np.float64)
        if self.log_tail is None or self.grid.size < 2:
            return out
        constrained = x < self.grid[1]
        if constrained.any():
            now = np.log(np.maximum(x[constrained], FLOOR_FRACTION))
            logs = np.stack([now, np.full_like(now, self.log_tail)], axis=-1)
            weights = np.array([1.0 / self.terms, 1.0 - 1.0 / self.terms])
            out[constrained] = log_power_mean(logs, weights[None, :], self.power)
        return out


def _terminal(g: float, grid: FloatArray) -> tuple[FloatArray, _Value | None]:
    """Pseudo-consumption c_T (u'(c_T) = B'(W)) and V_T = B on ``grid`` (scale units).

    B(W) = g u(max(W / g, f)) with g the goal's weight, so its tau is max(W / g, f).
    """
    if g <= 0:
        return np.zeros_like(grid), None
    x = np.maximum(grid / g, FLOOR_FRACTION)
    return grid / g, _Value(grid, np.log(x), g)


def _share_from_foc(foc: FloatArray, levels: FloatArray) -> FloatArray:
    """Root in s of a decreasing FOC sampled on ``levels`` (rows: savings points)."""
    g = foc.shape[0]
    share = np.empty(g)
    positive = foc > 0
    all_pos = positive.all(axis=1)
    none_pos = ~positive.any(axis=1)
    # first level where FOC turns non-positive
    k = np.argmin(positive, axis=1)
    k = np.clip(k, 1, len(levels) - 1)
    rows = np.arange(g)
    f0, f1 = foc[rows, k - 1], foc[rows, k]
    denom = np.where(f0 - f1 != 0, f0 - f1, 1.0)
    frac = np.clip(f0 / denom, 0.0, 1.0)
    share[:] = levels[k - 1] + frac * (levels[k] - levels[k - 1])
    share[all_pos] = 1.0
    share[none_pos] = 0.0
    return share


@dataclass
class _Successor:
    """Year t + 1 of one life state (or the bequest) as the year t solve reads it."""

    grid: FloatArray  # cash grid (scale units)
    consumption: FloatArray  # c on it (the bequest: the pseudo-consumption W / g)
    value: _Value
    penalty: FloatArray | None  # expected floor penalty on ``grid`` (None: none ahead)
    floor: float  # the active floor F of that year (0: none), scale units
    income: float  # d of that year, scale units (the bequest: 0)
    gamma: float  # the household's risk aversion
    # ln V'(X) on ``grid`` (None: read it from consumption alone, as u'(c) 1{...}).
    log_mv: FloatArray | None = None

    def kink(self, c: FloatArray) -> BoolArray | None:
        """Where consumption sits on the floor's kink (c = F), or None without one."""
        if self.floor <= 0 or self.log_mv is None:
            return None
        return np.asarray(np.abs(c - self.floor) <= 1e-9 * self.floor)

    def log_marginal_at(self, x: FloatArray, c: FloatArray) -> FloatArray:
        """ln V'(X) at cash ``x`` where the policy consumes ``c``.

        Off the kink the envelope gives u'(c) (1 + K 1{c < F}) from consumption, the
        smooth quantity EGM interpolates best. On the kink (c held at the floor over a
        range of cash) u'(F) is only one end of the subgradient: the marginal value there
        is the Euler equation's own, the expected marginal value of the savings, which
        ``log_mv`` holds. Reading u'(F) instead understates how much wealth is worth
        where the floor binds, and the policy then saves too little to keep it.
        """
        out = _log_marginal(c, self.gamma, self.floor)
        kink = self.kink(c)
        if kink is not None and kink.any():
            assert self.log_mv is not None
            out = out.copy()
            out[kink] = np.interp(x[kink], self.grid, self.log_mv)
        return out

    def penalty_at(self, x: FloatArray) -> FloatArray:
        """The expected floor penalty at cash on hand ``x`` (requires ``penalty``).

        Below the first endogenous point the constraint binds: everything is consumed
        (c = X, savings 0), so the penalty is this year's at c = X plus what savings of
        0 carry ahead, exactly. Interpolating linearly there from the X = 0 point, whose
        penalty is the utility floor's, would spread that point's huge penalty over
        cash levels where consumption is above the floor.
        """
        assert self.penalty is not None
        out = np.interp(x, self.grid, self.penalty)
        if self.grid.size < 2:
            return np.asarray(out, dtype=np.float64)
        gamma = self.gamma
        at_zero = float(_penalty_now(np.zeros(1), gamma, self.floor)[0])
        carried = float(self.penalty[0]) - at_zero  # savings 0: what comes after
        constrained = x < self.grid[1]
        if constrained.any():
            exact = _penalty_now(x[constrained], gamma, self.floor) + carried
            out = np.asarray(out, dtype=np.float64).copy()
            out[constrained] = exact
        return np.asarray(out, dtype=np.float64)


@dataclass(frozen=True)
class _Problem:
    """The household's DP, in scale units."""

    gamma: float
    beta: float
    goal_weight: float
    income: FloatArray  # (S, T + 1)
    floors: FloatArray  # (S, T): active floors (0 where none or below the utility floor)
    to_state: FloatArray  # (T, S, S)
    to_none: FloatArray  # (T, S)
    has_floor: bool


def _problem(household: Household, scale: float, gamma: float, beta: float) -> _Problem:
    states = lives.life_states(household)
    p = lives.survival(household)
    horizon = p.shape[1]
    to_state, to_none = lives.transitions(states, p)
    flows = lives.state_flows(household, horizon)
    floors = flows.floor / scale
    floors = np.where(floors > FLOOR_FRACTION, floors, 0.0)
    goal = household.goals.capital_goal
    return _Problem(
        gamma=gamma,
        beta=beta,
        goal_weight=goal / scale if goal > 0 else 0.0,
        income=flows.net_income / scale,
        floors=floors,
        to_state=to_state,
        to_none=to_none,
        has_floor=bool(floors.max() > 0),
    )


def _log_marginal(c: FloatArray, gamma: float, floor: float) -> FloatArray:
    """ln of the marginal value u'(max(c, f)) (1 + K 1{c < F}) of a successor."""
    out = -gamma * np.log(np.maximum(c, FLOOR_FRACTION))
    if floor > 0:
        out = out + np.where(c < floor, math.log1p(FLOOR_PENALTY), 0.0)
    return np.asarray(out, dtype=np.float64)


def _invert_marginal(log_m: FloatArray, gamma: float, floor: float) -> FloatArray:
    """c with u'(c) (1 + K 1{c < F}) = e^log_m; c = F over the kink's range."""
    c = np.exp(-log_m / gamma)
    if floor <= 0:
        return np.asarray(c, dtype=np.float64)
    below = c * math.exp(math.log1p(FLOOR_PENALTY) / gamma)  # the penalised branch
    return np.asarray(np.where(c >= floor, c, np.minimum(below, floor)), dtype=np.float64)


def _penalty_now(c: FloatArray, gamma: float, floor: float) -> FloatArray:
    """min(0, u(max(c, f)) - u(F)) on a grid (0 without a floor)."""
    if floor <= 0:
        return np.zeros_like(c)
    with np.errstate(over="ignore"):
        gap = crra(np.maximum(c, FLOOR_FRACTION), gamma) - crra(np.array([floor]), gamma)[0]
    return np.asarray(np.minimum(gap, 0.0), dtype=np.float64)


def solve(household: Household, settings: OptimumSettings = OptimumSettings()) -> OptimumSolution:
    """Solve the DP for ``household`` (raises ValueError when ``dp_applies`` says no, and
    for a claiming window: :func:`solve_optimum` enumerates its ages)."""
    ok, reason = dp_applies(household)
    if not ok:
        raise ValueError(reason)
    if claiming.claimable(household):
        raise ValueError("a claiming window: solve_optimum enumerates the claiming ages")
    if household.market.switching is not None:  # observable regimes (dp_applies said so)
        from .optimum_regimes import solve_regimes  # builds on this module

        return solve_regimes(household, settings)
    if household.annuities is not None:
        raise ValueError("an annuity offer: optimum_annuity solves its purchase")
    began = time.perf_counter()
    setup = _setup(household, settings)
    policy = _Policy.empty(len(setup.states), setup.horizon)
    ahead = _induct(setup, setup.prob, [None] * len(setup.states), setup.horizon, 0, policy)
    return _solution(household, setup, ahead, policy, began)


@dataclass(frozen=True)
class _Setup:
    """What every year of a household's induction shares (scale units)."""

    scale: float
    gamma: float
    prob: _Problem
    states: tuple[tuple[int, ...], ...]
    horizon: int
    wealth0: float  # the initial wealth
    s_grid: FloatArray
    nodes: ReturnNodes
    levels: FloatArray  # stock share levels of the FOC
    log_w: FloatArray
    excess: FloatArray
    savings_returns: FloatArray  # S R_p on the (savings, share level, node) lattice
    bequest: _Successor | None
    bequest_lattice: _Lattice  # the same every year (and every income): computed once


def _setup(household: Household, settings: OptimumSettings) -> _Setup:
    schedule = build_schedule(household)
    scale = schedule.consumption_scale
    gamma = schedule.risk_aversion
    prob = _problem(household, scale, gamma, settings.time_preference)
    g = prob.goal_weight
    nodes: ReturnNodes = return_nodes(schedule.market, settings.nodes)
    levels = np.linspace(0.0, 1.0, settings.share_levels)
    rp_levels = nodes.portfolio(levels)  # (K, Q)
    wealth0 = schedule.initial_wealth / scale
    income_sum = float(np.maximum(prob.income, 0.0).sum(axis=1).max())
    top = 30.0 * (wealth0 + income_sum + float(g)) + 50.0
    s_grid = np.concatenate(
        [[0.0], np.geomspace(settings.min_savings, top, settings.savings_points - 1)]
    )
    return _Setup(
        scale=scale,
        gamma=gamma,
        prob=prob,
        states=lives.life_states(household),
        horizon=prob.to_none.shape[0],
        wealth0=wealth0,
        s_grid=s_grid,
        nodes=nodes,
        levels=levels,
        log_w=np.log(nodes.weights),
        excess=nodes.stocks - nodes.nonstock,
        savings_returns=s_grid[:, None, None] * rp_levels[None, :, :],
        bequest=_bequest(g, s_grid, prob.gamma),
        bequest_lattice={},
    )


@dataclass(frozen=True)
class _Policy:
    """Each life state's policy by year, in money, filled in as the induction runs."""

    grids: list[list[FloatArray]]
    cons: list[list[FloatArray]]
    shares: list[list[FloatArray]]

    @staticmethod
    def empty(n_states: int, horizon: int) -> _Policy:
        return _Policy(
            [[np.empty(0)] * horizon for _ in range(n_states)],
            [[np.empty(0)] * horizon for _ in range(n_states)],
            [[np.empty(0)] * horizon for _ in range(n_states)],
        )

    def by_state(self) -> tuple[StatePolicy, ...]:
        return tuple(
            StatePolicy(tuple(g), tuple(c), tuple(s))
            for g, c, s in zip(self.grids, self.cons, self.shares, strict=True)
        )


def _induct(
    setup: _Setup,
    prob: _Problem,
    ahead: list[_Successor | None],
    stop: int,
    start: int,
    policy: _Policy,
) -> list[_Successor | None]:
    """Backward induction over years stop - 1 down to ``start``, from ``ahead`` (year
    ``stop`` of each state; None past the plan's end), writing each year's policy into
    ``policy``; returns year ``start`` of each state."""
    scale = setup.scale
    for t in range(stop - 1, start - 1, -1):
        lattice = _successor_lattices(
            t,
            prob,
            ahead,
            setup.bequest,
            setup.savings_returns,
            setup.excess,
            setup.nodes.weights,
            setup.bequest_lattice,
        )
        year: list[_Successor | None] = [None] * len(ahead)
        for s in range(len(ahead)):
            succ = _weighted_successors(t, s, prob, ahead, setup.bequest)
            grid, c_t, share_t, v_t, penalty, log_mv = _solve_year(
                t, s, prob, succ, lattice, setup.s_grid, setup.nodes, setup.levels, setup.log_w
            )
            policy.grids[s][t], policy.cons[s][t] = grid * scale, c_t * scale
            policy.shares[s][t] = share_t
            year[s] = _Successor(
                grid,
                c_t,
                v_t,
                penalty,
                float(prob.floors[s, t]),
                float(prob.income[s, t]),
                prob.gamma,
                log_mv,
            )
        ahead = year
    return ahead


def _start_state(household: Household) -> int:
    """The life state of year 0 (everybody, or FIXED_HORIZON's certain one)."""
    if household.lifetimes is Lifetimes.MORTALITY:
        return 0
    return int(lives.fixed_state_path(household)[0])


def _value_at(
    first: _Successor, x0: float, gamma: float, scale: float
) -> tuple[float, float, float]:
    """(value, CE in money, utility terms) of ``first`` at cash on hand ``x0`` (scale units)."""
    x = np.array([max(x0, 0.0)])
    tau0 = float(np.exp(first.value.log_tau(x)[0]))
    terms = first.value.terms
    # V_0 = A_0 u(tau_0) (+ K x the expected penalty): without a floor the CE is tau_0.
    with np.errstate(over="ignore", under="ignore", divide="ignore"):
        value = float(terms * crra(np.array([tau0]), gamma)[0])
    ce = scale * tau0
    if first.penalty is not None:
        value += FLOOR_PENALTY * float(first.penalty_at(x)[0])
        ce = scale * crra_inverse(value / terms, gamma)
    return value, ce, terms


def _solution(
    household: Household,
    setup: _Setup,
    ahead: list[_Successor | None],
    policy: _Policy,
    began: float,
) -> OptimumSolution:
    start = _start_state(household)
    first = ahead[start]
    assert first is not None
    x0 = setup.wealth0 + float(setup.prob.income[start, 0])
    value, ce, terms = _value_at(first, x0, setup.gamma, setup.scale)
    return OptimumSolution(
        horizon=setup.horizon,
        scale=setup.scale,
        states=setup.states,
        by_state=policy.by_state(),
        state_path=(
            None
            if household.lifetimes is Lifetimes.MORTALITY
            else lives.fixed_state_path(household)
        ),
        savings_grid=setup.s_grid * setup.scale,
        value=value,
        certainty_equivalent=ce,
        utility_terms=terms,
        seconds=time.perf_counter() - began,
    )


def _bequest(g: float, s_grid: FloatArray, gamma: float) -> _Successor | None:
    """The bequest as a successor: pseudo-consumption W / g (u'(W / g) = B'(W)), V = B."""
    c_t, v_t = _terminal(g, s_grid.copy())
    if v_t is None:
        return None
    return _Successor(s_grid.copy(), c_t, v_t, None, 0.0, 0.0, gamma)


#: A successor's (savings x share level x node) FOC terms, scaled by their row maximum.
_Lattice = dict[int, tuple[FloatArray, FloatArray]]


def _successor_lattices(
    t: int,
    prob: _Problem,
    ahead: list[_Successor | None],
    bequest: _Successor | None,
    savings_returns: FloatArray,
    excess: FloatArray,
    w: FloatArray,
    bequest_lattice: _Lattice,
) -> _Lattice:
    """Per successor reached from some state in year t (key S = the bequest): the row
    maxima M (G,) of ln V'(X') and E[e^(ln V' - M) (R_s - R_ns)] at each share level (G, K).

    ``savings_returns`` is S R_p on the (savings, share level, node) lattice. The work
    is done in place on one buffer: this is the DP's hot loop.
    """
    n_states = len(ahead)
    used = [k for k in range(n_states) if prob.to_state[t, :, k].max() > 0]
    if bequest is not None and prob.to_none[t].max() > 0:
        used.append(n_states)
    out: _Lattice = {}
    for k in used:
        if k in bequest_lattice:
            out[k] = bequest_lattice[k]
            continue
        nxt = bequest if k == n_states else ahead[k]
        assert nxt is not None
        tops, focs = [], []
        for rows in range(0, savings_returns.shape[0], _LATTICE_ROWS):
            block = savings_returns[rows : rows + _LATTICE_ROWS]
            top, foc = _lattice_block(block, k == n_states, nxt, prob, excess, w)
            tops.append(top)
            focs.append(foc)
        out[k] = (np.concatenate(tops), np.concatenate(focs))  # (G,), (G, K)
        if k == n_states:
            bequest_lattice[k] = out[k]
    return out


#: Savings rows per block of the lattice: a block's arrays stay in the CPU cache.
_LATTICE_ROWS = 8


def _lattice_block(
    block: FloatArray,
    is_bequest: bool,
    nxt: _Successor,
    prob: _Problem,
    excess: FloatArray,
    w: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """``_successor_lattices`` for a block of savings rows, in place on one buffer."""
    kink = None
    if is_bequest:
        # The bequest's pseudo-consumption is W / g exactly (no interpolation).
        marg = np.divide(block, prob.goal_weight)
        floor = 0.0
    else:
        cash = np.add(block, nxt.income)
        marg = _interp_lattice(cash, nxt.grid, nxt.consumption)
        floor = nxt.floor
        kink = nxt.kink(marg)
    below = marg < floor if floor > 0 else None
    if kink is not None and kink.any():
        # On the floor's kink: the Euler equation's marginal value (see
        # ``_Successor.log_marginal_at``), written as the consumption whose plain u' it
        # is (no penalty factor on top).
        assert nxt.log_mv is not None and below is not None
        below &= ~kink
        marg[kink] = np.exp(-np.interp(cash[kink], nxt.grid, nxt.log_mv) / prob.gamma)
    np.maximum(marg, FLOOR_FRACTION, out=marg)
    # Each savings point's FOC divided by its largest term: the root in s is the
    # same, and u'(c) no longer underflows to 0 for consumption far above scale.
    if prob.gamma == 3.0:
        # The default risk aversion: (c / c_min)^-3 by multiplies, no log and exp.
        low = marg.min(axis=(1, 2))
        marg /= low[:, None, None]
        cube = marg * marg
        cube *= marg
        np.reciprocal(cube, out=cube)
        if below is not None:
            cube *= 1.0 + FLOOR_PENALTY * below
        cube *= excess
        return -3.0 * np.log(low), cube @ w
    np.log(marg, out=marg)
    marg *= -prob.gamma
    if below is not None:
        marg += math.log1p(FLOOR_PENALTY) * below
    top = marg.max(axis=(1, 2))
    marg -= top[:, None, None]
    np.exp(marg, out=marg)
    marg *= excess
    return top, marg @ w


def _interp_lattice(x: FloatArray, xp: FloatArray, fp: FloatArray) -> FloatArray:
    """``_interp_extrapolate`` in one np.interp call: the last segment's line is
    appended as a point at the largest x, so values above the grid extrapolate."""
    x_max = float(x.max())
    if x_max > xp[-1]:
        slope = (fp[-1] - fp[-2]) / (xp[-1] - xp[-2])
        xp = np.append(xp, x_max)
        fp = np.append(fp, fp[-1] + slope * (x_max - xp[-2]))
    return np.asarray(np.interp(x, xp, fp), dtype=np.float64)


def _weighted_successors(
    t: int, s: int, prob: _Problem, ahead: list[_Successor | None], bequest: _Successor | None
) -> list[tuple[int, float, _Successor]]:
    """(key, beta x pi, successor) of every successor state s reaches with pi > 0."""
    n_states = len(ahead)
    out: list[tuple[int, float, _Successor]] = []
    for k in range(n_states):
        pi = float(prob.to_state[t, s, k])
        if pi > 0:
            nxt = ahead[k]
            assert nxt is not None
            out.append((k, prob.beta * pi, nxt))
    pi_none = float(prob.to_none[t, s])
    if bequest is not None and pi_none > 0:
        out.append((n_states, prob.beta * pi_none, bequest))
    return out


def _solve_year(
    t: int,
    s: int,
    prob: _Problem,
    succ: list[tuple[int, float, _Successor]],
    lattice: _Lattice,
    s_grid: FloatArray,
    nodes: ReturnNodes,
    levels: FloatArray,
    log_w: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray, _Value, FloatArray | None, FloatArray]:
    """(cash grid, consumption, shares, value, expected penalty) of state s in year t."""
    gamma, floor = prob.gamma, float(prob.floors[s, t])
    w = nodes.weights
    if not succ:
        # Nothing ahead (the last year, or no goal and certain death): consume everything.
        grid = s_grid.copy()
        log_tau = np.log(np.maximum(grid, FLOOR_FRACTION))
        penalty = _penalty_now(grid, gamma, floor) if prob.has_floor else None
        log_mv = _log_marginal(grid, gamma, floor)  # c = X
        return grid, grid.copy(), np.ones_like(s_grid), _Value(grid, log_tau, 1.0), penalty, log_mv
    top = np.max([lattice[k][0] for k, _, _ in succ], axis=0)
    foc = sum(
        (weight * np.exp(lattice[k][0] - top))[:, None] * lattice[k][1] for k, weight, _ in succ
    )
    share_t = _share_from_foc(np.asarray(foc, dtype=np.float64), levels)
    share_t[0] = share_t[1] if len(share_t) > 1 else 1.0
    excess = nodes.stocks - nodes.nonstock
    rp = nodes.nonstock[None, :] + share_t[:, None] * excess[None, :]  # (G, Q)
    log_rp = np.log(rp)
    marginals, taus, weights, pens = [], [], [], []
    terms = 1.0
    for _, weight, nxt in succ:
        terms += weight * nxt.value.terms
    for _, weight, nxt in succ:
        x_star = s_grid[:, None] * rp + nxt.income
        flat = x_star.ravel()
        c_star = _interp_lattice(flat, nxt.grid, nxt.consumption).reshape(x_star.shape)
        # ln 1 = 0 exactly: one certain successor reproduces the plan without mortality.
        marginals.append(nxt.log_marginal_at(x_star, c_star) + log_rp + log_w + math.log(weight))
        taus.append(nxt.value.log_tau(flat).reshape(x_star.shape))
        weights.append((weight * nxt.value.terms / terms) * w)
        if nxt.penalty is not None:
            pens.append(weight * (nxt.penalty_at(flat).reshape(x_star.shape) @ w))
    # Euler: u'(c) (1 + K 1{c < F}) = beta E[sum pi V'(X') R_p], as a log-sum-exp.
    log_emarg = logsumexp(np.concatenate(marginals, axis=1), axis=1)
    c_s = _invert_marginal(log_emarg, gamma, floor)
    x_s = s_grid + c_s
    grid = np.concatenate([[0.0], x_s])
    c_t = np.concatenate([[0.0], c_s])
    grid = np.maximum.accumulate(grid)
    keep = np.concatenate([[True], np.diff(grid) > 0])
    grid, c_t = grid[keep], c_t[keep]
    # V_t = u(c) + beta E[sum pi V_{t+1}]: tau_t is the power mean (p = 1 - gamma) of
    # this year's consumption (weight 1 / A_t) and each successor's tau at each node
    # (weights beta pi A_{t+1} w_q / A_t). The X = 0 point has the savings-0 successor.
    log_tau_next = np.concatenate(taus, axis=1)
    successors = np.concatenate([log_tau_next[:1], log_tau_next])[keep]
    log_c = np.log(np.maximum(c_t, FLOOR_FRACTION))[:, None]
    all_weights = np.concatenate([[1.0 / terms], *weights])
    log_tau = log_power_mean(
        np.concatenate([log_c, successors], axis=1), all_weights[None, :], 1.0 - gamma
    )
    tail = all_weights[1:] / all_weights[1:].sum()
    log_tail = float(log_power_mean(successors[:1], tail[None, :], 1.0 - gamma)[0])
    penalty = None
    if prob.has_floor:
        later = np.asarray(sum(pens), dtype=np.float64) if pens else np.zeros_like(s_grid)
        later = np.broadcast_to(later, s_grid.shape)
        penalty = _penalty_now(c_t, gamma, floor) + np.concatenate([later[:1], later])[keep]
    # V'(X) = the Euler equation's marginal value at each endogenous point; at X = 0 the
    # constraint binds (c = 0).
    log_mv = np.concatenate([_log_marginal(np.zeros(1), gamma, floor), log_emarg])[keep]
    value = _Value(grid, log_tau, terms, log_tail, gamma)
    return grid, c_t, share_t, value, penalty, log_mv


def household_key(household: Household) -> str:
    """Exact digest of the household (see the module docstring for why not the canonical hash)."""
    return hashlib.sha256(repr(household).encode()).hexdigest()[:32]


@functools.lru_cache(maxsize=32)
def _solve_cached(key: str, household: Household, settings: OptimumSettings) -> OptimumSolution:
    del key  # part of the cache key only
    return solve(household, settings)


def solve_optimum(
    household: Household, settings: OptimumSettings = OptimumSettings()
) -> OptimumSolution:
    """``solve`` with a cache by the household's exact digest and the settings.

    With claiming windows: the exact DP of each combination of claiming ages (the
    pensions fixed at those ages, their amounts adjusted), the best value kept and its
    ages recorded; ``seconds`` is the enumeration's. It is the exact optimum among
    plans that fix the claiming ages at the start (every path claims at the same ages);
    a plan that chose the age by the market's path so far is not enumerated.

    With an annuity offer: the purchase-once DP (``optimum_annuity``), its value and
    solve time from year 0.
    """
    if household.annuities is not None:
        from .optimum_annuity import solve_annuity_cached

        return solve_annuity_cached(household, settings).before
    if not claiming.claimable(household):
        return _solve_cached(household_key(household), household, settings)
    began = time.perf_counter()
    best: OptimumSolution | None = None
    for ages in claiming.claim_combinations(household):
        variant = claiming.claim_variant(household, ages)
        solution = _solve_cached(household_key(variant), variant, settings)
        if best is None or solution.value > best.value:
            best = dataclasses.replace(solution, claim_ages=ages)
    assert best is not None
    return dataclasses.replace(best, seconds=time.perf_counter() - began)


@dataclass(frozen=True)
class OptimumStrategy:
    """Applies the DP policy per path by interpolation on cash on hand X = W + d.

    Under mortality the life state of each path comes from the year state's ``alive``
    (adults, n) mask (``lives.state_of_paths``); under FIXED_HORIZON it is certain.
    Under observable regimes the year's regime is ``regime_belief`` (0 or 1); no other
    solution reads the regime.
    """

    solution: OptimumSolution
    name: str = "optimum"

    def decide(self, state: YearState) -> Decision:
        if state.t >= self.solution.horizon:
            # Past every table's end nobody is alive: nothing to consume or invest.
            zero = np.zeros_like(state.cash_on_hand)
            return Decision(zero, zero.copy())
        who: IntArray | None = None
        if self.solution.state_path is None:
            alive = getattr(state, "alive", None)
            if alive is None:
                raise ValueError("the optimum of lives with mortality needs the year's alive mask")
            who = lives.state_of_paths(np.asarray(alive, dtype=np.bool_))
        if self.solution.regimes:  # the regime the household observes this year
            from .optimum_regimes import regime_states  # builds on this module

            who = regime_states(self.solution, state, who)
        ages = self.solution.claim_ages
        if ages is None:
            c, share = self.solution.policy(state.t, state.cash_on_hand, who)
            return Decision(share, c)
        plan = np.repeat(np.array(ages, dtype=np.float64)[:, None], state.n_paths, axis=1)
        claimed = claiming.claim(state, plan)  # the state the DP of those ages solved
        c, share = self.solution.policy(state.t, claimed.cash_on_hand, who)
        return Decision(share, c, claim=plan)


def optimum_strategy(
    household: Household, settings: OptimumSettings = OptimumSettings(), name: str = "optimum"
) -> Strategy:
    """The DP policy as a strategy (with an annuity offer: the purchase-once DP's)."""
    if household.annuities is not None:
        from .optimum_annuity import annuity_strategy

        return annuity_strategy(household, settings, name)
    return OptimumStrategy(solve_optimum(household, settings), name=name)
