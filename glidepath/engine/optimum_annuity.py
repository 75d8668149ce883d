"""The dynamic programme of an annuity bought once, at one age (the purchase year A).

Problem: :mod:`glidepath.engine.optimum`'s, plus one decision. At the start of year A
(the offer's first year, ``AnnuityMarket.first_year``) the household annuitises a
fraction f of its wealth W; an annuity of income a = f W / P_s (P_s the price of 1 a
year in life state s, ``annuities``) is paid from that year on, a p_s in every year
someone lives (p_s the payment factor: 1, the survivor fraction after a couple's first
death). The purchase leaves cash on hand X - f W + p_s a.

Method. After the purchase, a (real: the annuity is indexed) is deterministic income,
so the years from A on are the plain DP with income d_s + a p_s. It is solved on a
small grid of income levels a_0 = 0 < a_1 < ... < a_J (evenly up to what the wealth
buys for a purchase now; for one years ahead up to a loose bound on the wealth then,
denser near 0; plus the income that just closes the floor's gap, where the value
bends), one backward induction per level, each year A value function kept. In year A, for
every cash on hand X of the grid and every fraction f of ``FRACTIONS`` at once (an
(X, f) array, numpy-vectorised), the value V_A(X - f W + p_s a; a) is read by linear
interpolation across the two bracketing levels (of the value's certainty equivalent
and of the floor penalty, as the DP carries them); the best f gives the year's value
before the purchase. By the envelope theorem its marginal value at an interior f is the
post-purchase one, u'(c) at the consumption the level-interpolated policy takes, so the
pre-purchase year A is a successor the EGM recursion of the years before A reads as any
other (``optimum._induct``). The strategy replays this: before A the plain policy, at A
each path's best fraction recomputed at its own cash on hand (the same vectorised
choice), from A on the policy interpolated across levels at the income actually held.

Exactness. It is the exact optimum (up to the grids) of the problem "buy once, at A".
A household whose offer allows purchases in every year from A (the default) can do at
least as well by spreading them: there this DP is ``dp_simplified``, a lower bound, never
"the optimum". With ``AnnuityOffer.only_at_from_age`` the purchase is allowed in year A
only, and the DP is that household's optimum. A level (nominal) annuity's real income
depends on the path of inflation, so it is not deterministic income: the DP solves
indexed annuities only.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from dataclasses import dataclass, replace

import numpy as np

from glidepath.household.model import Household

from . import claiming, lives
from .annuities import purchase
from .cashflows import FloatArray, IntArray, build_schedule
from .objective import crra
from .optimum import (
    FLOOR_PENALTY,
    OptimumSettings,
    OptimumSolution,
    StatePolicy,
    _induct,
    _interp_extrapolate,
    _Policy,
    _Problem,
    _Setup,
    _setup,
    _solution,
    _start_state,
    _Successor,
    _Value,
    household_key,
)
from .state import Decision, YearState

DEFAULT_SETTINGS = OptimumSettings()
#: The purchase fractions of wealth compared in the purchase year.
FRACTIONS: FloatArray = np.linspace(0.0, 1.0, 41)
#: Income levels a_j the post-purchase DP is solved on (a_0 = 0 included), besides the
#: floor gaps' (``_income_levels``). Each costs one backward induction from A.
INCOME_LEVELS = 6
#: Gross return bounding the wealth a household can reach by the purchase year (the
#: top level buys with wealth grown at it; larger purchases are not considered).
_WEALTH_GROWTH_BOUND = 1.10


def annuity_dp_applies(household: Household) -> tuple[bool, str]:
    """Whether the purchase-once DP solves ``household`` (its offer included), and if not,
    why. Silent on whether it is exact (see :func:`is_exact`)."""
    from .optimum import dp_applies  # the plain DP's conditions, the offer set aside

    offer = household.annuities
    assert offer is not None
    if not offer.indexed_to_inflation:
        return False, (
            "no optimum: a level annuity's real income depends on the path of inflation; "
            "the dynamic programme solves indexed annuities only"
        )
    if claiming.claimable(household):
        return False, (
            "no optimum: the dynamic programme does not decide annuity purchases and "
            "claiming ages together"
        )
    if household.market.switching is not None:
        return False, (
            "no optimum: the dynamic programme does not decide annuity purchases under "
            "market regimes; dp_simplified averages them, a lower bound on what is achievable"
        )
    return dp_applies(replace(household, annuities=None))


def is_exact(household: Household) -> bool:
    """Whether buying once at the offer's age is all the household may do (then the DP
    is its optimum; otherwise a lower bound)."""
    offer = household.annuities
    return offer is not None and offer.only_at_from_age


@dataclass(frozen=True)
class AnnuitySolution:
    """The purchase-once DP's policy (money, real) and value."""

    # Years before the purchase (their policy), and the value, CE and solve time of the
    # whole programme from year 0.
    before: OptimumSolution
    purchase_year: int  # A
    levels: FloatArray  # income levels a_j (money a year)
    after: tuple[tuple[StatePolicy, ...], ...]  # [level][state]: years A..T-1
    at_purchase: tuple[tuple[_Successor, ...], ...]  # [level][state]: year A (scale units)
    prices: FloatArray  # P_s of 1 a year bought in year A, by life state
    payments: FloatArray  # p_s, by life state

    @property
    def horizon(self) -> int:
        return self.before.horizon

    def fractions(self, cash: FloatArray, wealth: FloatArray, s: int) -> FloatArray:
        """The best purchase fraction at cash on hand ``cash`` and wealth (money) in
        life state s of year A, per point."""
        scale = self.before.scale
        f, *_ = _choose(
            cash / scale,
            wealth / scale,
            [row[s] for row in self.at_purchase],
            self.levels / scale,
            float(self.prices[s]),
            float(self.payments[s]),
        )
        return f

    def policy_after(
        self, t: int, cash: FloatArray, income: FloatArray, s: int
    ) -> tuple[FloatArray, FloatArray]:
        """(consumption, share) of year t >= A in state s at cash on hand ``cash`` and
        annuity income ``income`` (money), interpolated across the income levels."""
        lo, weight = _bracket(income, self.levels)
        x = np.maximum(cash, 0.0)
        c = np.zeros_like(x)
        share = np.zeros_like(x)
        for j in range(len(self.levels)):
            part = _part(lo, weight, j)
            used = part > 0
            if used.any():
                cj, sj = _state_policy(self.after[j][s], t, x[used], self.before.savings_grid)
                c[used] += part[used] * cj
                share[used] += part[used] * sj
        return np.clip(c, 0.0, x), share


def _state_policy(
    p: StatePolicy, t: int, x: FloatArray, savings_grid: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """``OptimumSolution._policy_of`` for one state's policy of one income level."""
    c = np.clip(_interp_extrapolate(x, p.cash_grids[t], p.consumption[t]), 0.0, x)
    share = np.interp(x - c, savings_grid, p.shares[t])
    return c, np.asarray(share, dtype=np.float64)


def _part(lo: IntArray, weight: FloatArray, j: int) -> FloatArray:
    """Level j's weight in the interpolation at each point (0 where it does not bracket)."""
    return np.where(lo == j, 1.0 - weight, 0.0) + np.where(lo + 1 == j, weight, 0.0)


def _bracket(a: FloatArray, levels: FloatArray) -> tuple[IntArray, FloatArray]:
    """The level j below each income a (a_j <= a < a_j+1) and the weight of a_j+1."""
    top = levels[-1]
    a = np.clip(a, 0.0, top)
    lo = np.clip(np.searchsorted(levels, a, side="right") - 1, 0, len(levels) - 2)
    weight = (a - levels[lo]) / (levels[lo + 1] - levels[lo])
    return lo.astype(np.int64), np.asarray(np.clip(weight, 0.0, 1.0), dtype=np.float64)


def _choose(
    x: FloatArray,
    wealth: FloatArray,
    succ: list[_Successor],
    levels: FloatArray,
    price: float,
    payment: float,
) -> tuple[FloatArray, FloatArray, FloatArray | None, FloatArray, IntArray, FloatArray]:
    """The best fraction of ``FRACTIONS`` at each point (scale units): (f, tau, penalty,
    cash after the purchase, level below, weight above), all at the best f.

    Every (point, fraction) pair at once; a purchase beyond the top level is not a
    choice (f = 0 always is)."""
    amount = FRACTIONS[None, :] * np.maximum(wealth, 0.0)[:, None]  # (G, F)
    a = amount / price
    allowed = a <= levels[-1] * (1.0 + 1e-12)
    x_post = x[:, None] - amount + payment * a
    lo, weight = _bracket(a.ravel(), levels)
    flat = x_post.ravel()
    tau = np.zeros(flat.shape)
    pen = np.zeros(flat.shape) if succ[0].penalty is not None else None
    for j, nxt in enumerate(succ):
        part = _part(lo, weight, j)
        used = part > 0
        if not used.any():
            continue
        tau[used] += part[used] * np.exp(nxt.value.log_tau(flat[used]))
        if pen is not None:
            pen[used] += part[used] * nxt.penalty_at(flat[used])
    terms = succ[0].value.terms
    gamma = succ[0].gamma
    with np.errstate(over="ignore", under="ignore", divide="ignore"):
        value = terms * crra(np.maximum(tau, 1e-300), gamma)
    if pen is not None:
        value = value + FLOOR_PENALTY * pen
    value = np.where(allowed.ravel(), value, -np.inf).reshape(a.shape)
    best = np.argmax(value, axis=1)  # ties: the smallest fraction (buy nothing first)
    rows = np.arange(a.shape[0])
    pick = rows * a.shape[1] + best
    return (
        FRACTIONS[best],
        tau[pick],
        None if pen is None else pen[pick],
        flat[pick],
        lo[pick],
        weight[pick],
    )


def _income_levels(
    setup: _Setup,
    year: int,
    prices: FloatArray,
    payments: FloatArray,
    start: int,
    levels: int,
) -> FloatArray:
    """a_0 = 0 < ... < a_J (scale units): evenly up to what the most wealth the household
    can have at A buys, plus the incomes that close a floor gap. A purchase now (A = 0)
    is made in the known life state ``start`` with the known wealth; a later one in any
    state."""
    if year == 0:
        top = setup.wealth0 / float(prices[start])
    else:
        inflow = float(np.maximum(setup.prob.income[:, :year], 0.0).sum(axis=1).max())
        wealth = (setup.wealth0 + inflow) * _WEALTH_GROWTH_BOUND**year
        top = wealth / float(prices.min())
    top = max(top, 1e-3)
    # Now: every income up to the top is within reach, evenly. Later: the top is a loose
    # bound on the wealth, the likely purchases far below it, so denser near 0.
    grid = top * np.linspace(0.0, 1.0, levels) ** (1.0 if year == 0 else 2.0)
    # The income that just covers a state's floor gap at A: the value bends there (the
    # floor's penalty stops), and a level on it keeps the interpolation exact.
    prob = setup.prob
    if year < prob.floors.shape[1]:
        states = [start] if year == 0 else list(range(len(payments)))
        gap = prob.floors[states, year] - prob.income[states, year]
        gaps = gap / np.maximum(payments[states], 1e-12)
        gaps = gaps[(gaps > 0.02 * top) & (gaps < 0.98 * top)]
        grid = np.union1d(grid, gaps)
    return grid


def _with_income(prob: _Problem, extra: FloatArray) -> _Problem:
    return dataclasses.replace(prob, income=prob.income + extra)


def _purchase_year(
    level_succ: list[_Successor], levels: FloatArray, price: float, pay: float
) -> _Successor:
    """A state's year A before the purchase (``level_succ``: its year A at each income
    level), the best fraction taken at every cash on hand of the no-annuity grid."""
    base = level_succ[0]
    grid = base.grid
    income = base.income  # no annuity held yet
    wealth = np.maximum(grid - income, 0.0)
    _, tau, pen, x_post, lo, weight = _choose(grid, wealth, level_succ, levels, price, pay)
    c = np.zeros_like(grid)
    log_mv = np.zeros_like(grid)
    for j, nxt in enumerate(level_succ):
        part = _part(lo, weight, j)
        used = part > 0
        if not used.any():
            continue
        c[used] += part[used] * _interp_extrapolate(x_post[used], nxt.grid, nxt.consumption)
        if nxt.log_mv is not None:
            log_mv[used] += part[used] * np.interp(x_post[used], nxt.grid, nxt.log_mv)
    return _Successor(
        grid,
        c,
        _Value(grid, np.log(np.maximum(tau, 1e-300)), base.value.terms),
        pen,
        base.floor,
        income,
        base.gamma,
        log_mv if base.log_mv is not None else None,
    )


def _state_code(state: tuple[int, ...]) -> int:
    """The life code (a bit per adult alive, ``lifetimes``) of a DP life state."""
    return sum(1 << j for j in state)


def solve_annuity(
    household: Household,
    settings: OptimumSettings = DEFAULT_SETTINGS,
    income_levels: int = INCOME_LEVELS,
) -> AnnuitySolution:
    """Solve the purchase-once DP (raises ValueError where ``annuity_dp_applies`` says no)
    on ``income_levels`` levels of annuity income."""
    ok, reason = annuity_dp_applies(household)
    if not ok:
        raise ValueError(reason)
    began = time.perf_counter()
    setup = _setup(replace(household, annuities=None), settings)
    market = build_schedule(household).annuities
    assert market is not None
    year, horizon, n_states = market.first_year, setup.horizon, len(setup.states)
    codes = [_state_code(s) for s in setup.states]
    prices = np.array([market.price[c, year] for c in codes])
    payments = np.array([market.payment[c] for c in codes])
    levels = _income_levels(setup, year, prices, payments, _start_state(household), income_levels)
    paid = np.zeros_like(setup.prob.income)
    paid[:, year:horizon] = payments[:, None]
    after: list[tuple[StatePolicy, ...]] = []
    at_purchase: list[tuple[_Successor, ...]] = []
    for a in levels:
        policy = _Policy.empty(n_states, horizon)
        prob = _with_income(setup.prob, a * paid)
        ahead = _induct(setup, prob, [None] * n_states, horizon, year, policy)
        after.append(policy.by_state())
        at_purchase.append(tuple(_not_none(s) for s in ahead))
    start: list[_Successor | None] = [
        _purchase_year(
            [row[s] for row in at_purchase],
            levels,
            float(prices[s]),
            float(payments[s]),
        )
        for s in range(n_states)
    ]
    policy = _Policy.empty(n_states, horizon)
    first = _induct(setup, setup.prob, start, year, 0, policy)
    before = _solution(household, setup, first, policy, began)
    return AnnuitySolution(
        before=before,
        purchase_year=year,
        levels=levels * setup.scale,
        after=tuple(after),
        at_purchase=tuple(at_purchase),
        prices=prices,
        payments=payments,
    )


def _not_none(s: _Successor | None) -> _Successor:
    assert s is not None
    return s


@functools.lru_cache(maxsize=16)
def _solve_cached(key: str, household: Household, settings: OptimumSettings) -> AnnuitySolution:
    del key  # part of the cache key only
    return solve_annuity(household, settings)


def solve_annuity_cached(
    household: Household, settings: OptimumSettings = DEFAULT_SETTINGS
) -> AnnuitySolution:
    """``solve_annuity`` with a cache by the household's exact digest and the settings."""
    return _solve_cached(household_key(household), household, settings)


@dataclass(frozen=True)
class AnnuityOptimumStrategy:
    """Replays the purchase-once DP: the plain policy before A, each path's best
    fraction at A (at its own cash on hand and wealth), then the policy interpolated
    across income levels at the annuity income the path holds."""

    solution: AnnuitySolution
    name: str = "optimum"

    def decide(self, state: YearState) -> Decision:
        sol = self.solution
        t, x = state.t, state.cash_on_hand
        if t >= sol.horizon:
            zero = np.zeros_like(x)
            return Decision(zero, zero.copy())
        if sol.before.state_path is None:
            alive = getattr(state, "alive", None)
            if alive is None:
                raise ValueError("the optimum of lives with mortality needs the year's alive mask")
            who = lives.state_of_paths(np.asarray(alive, dtype=np.bool_))
        else:
            who = np.full(state.n_paths, int(sol.before.state_path[t]), dtype=np.int64)
        if t < sol.purchase_year:
            c, share = sol.before.policy(t, x, who)
            return Decision(share, c)
        fraction = None
        if t == sol.purchase_year:
            fraction = np.zeros_like(x)
            for s in range(len(sol.before.states)):
                rows = who == s
                if rows.any():
                    fraction[rows] = sol.fractions(x[rows], state.wealth[rows], s)
            state, _ = purchase(state, fraction)
            x = state.cash_on_hand
        assert state.annuity_real is not None
        c = np.zeros_like(x)
        share = np.zeros_like(x)
        for s in range(len(sol.before.states)):
            rows = who == s
            if rows.any():
                c[rows], share[rows] = sol.policy_after(t, x[rows], state.annuity_real[rows], s)
        return Decision(share, c, annuitise=fraction)


def annuity_strategy(
    household: Household, settings: OptimumSettings = DEFAULT_SETTINGS, name: str = "optimum"
) -> AnnuityOptimumStrategy:
    return AnnuityOptimumStrategy(solve_annuity_cached(household, settings), name=name)
