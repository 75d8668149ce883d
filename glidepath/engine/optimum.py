"""The optimum by dynamic programming, where one can be computed.

Problem: cash flows deterministic in real terms, iid lognormal returns; each year choose
consumption c and the stock share s (the rest in the household's fixed bond:cash mix)
to maximise the objective of ``objective`` (CRRA utility of consumption, floored, plus
the capital-goal term): exactly the engine's objective.

Method: backward induction on cash on hand X = W + d (wealth plus this year's disposable
income), in units of the consumption scale. Savings S = X - c are invested, and
X' = S R_p(s) + d_{t+1}. For every savings level on a fixed log-spaced grid, the share
solves the first-order condition E[u'(c'(X')) (R_stock - R_nonstock)] = 0 (evaluated on
``share_levels`` levels, the root interpolated between them, clipped to [0, 1]);
consumption then follows from the Euler equation by the endogenous grid method
(Carroll 2006): u'(c) = E[u'(c'(X')) R_p], X = S + c; below the first endogenous point
the constraint binds (c = X). Expectations use Gauss-Hermite nodes on the real
(stock, bond, cash) log returns (``quadrature``). The value function is carried in the
transformed space ((1 - gamma) V)^(1 / (1 - gamma)) (exp(V / A) at gamma = 1), where it
is near-linear in X, and interpolated linearly (extrapolated linearly above the grid).
Marginal utility uses max(c, floor) so the floored objective stays concave.

Timing: the DP assumes the year's net flow meets the portfolio at the start of the year
(``FlowTiming.START_OF_YEAR``), the textbook timing of the closed forms. It is exact
for that timing; under the product's monthly flows the same policy is applied (reading
X = W + d each year) and is optimal to first order; comparisons then report the CE the
engine measures.

Cache: solutions are kept by an exact digest of the household (its full repr). The
canonical hash is not used as the key on purpose: it rounds inputs, and a DP solution
is only exact for the household it was solved for.
"""

from __future__ import annotations

import functools
import hashlib
import time
from dataclasses import dataclass

import numpy as np

from glidepath.household.model import Household, ReturnModel

from .cashflows import FloatArray, Schedule, build_schedule
from .logmath import log_power_mean, logsumexp
from .objective import FLOOR_FRACTION, Objective, crra
from .quadrature import DEFAULT_NODES, ReturnNodes, return_nodes
from .state import Decision, YearState


@dataclass(frozen=True)
class OptimumSettings:
    savings_points: int = 160
    share_levels: int = 21
    nodes: tuple[int, ...] = DEFAULT_NODES
    # Smallest positive savings grid point, in units of the consumption scale.
    min_savings: float = 1e-3


@dataclass(frozen=True)
class OptimumSolution:
    """The optimal policy, in money (real), by year t = 0..T-1."""

    horizon: int
    scale: float
    cash_grids: tuple[FloatArray, ...]  # X grid of year t (money)
    consumption: tuple[FloatArray, ...]  # c on that grid
    savings_grid: FloatArray  # S grid (money), shared by all years
    shares: tuple[FloatArray, ...]  # optimal stock share on the S grid
    value: float  # V_0(X_0): expected lifetime utility (objective units)
    certainty_equivalent: float  # CE of ``value`` (money per year)
    seconds: float

    def policy(self, t: int, cash_on_hand: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(consumption, stock share) of year t for cash on hand X (money, per path)."""
        x = np.maximum(cash_on_hand, 0.0)
        c = _interp_extrapolate(x, self.cash_grids[t], self.consumption[t])
        c = np.clip(c, 0.0, x)
        share = np.interp(x - c, self.savings_grid, self.shares[t])
        return c, np.asarray(share, dtype=np.float64)


def optimum_available(household: Household) -> tuple[bool, str]:
    """Whether the DP applies, and if not, why in plain words."""
    market = household.market
    if market.return_model is not ReturnModel.LOGNORMAL:
        return False, "no optimum: the DP assumes lognormal returns (the household uses Student-t)"
    schedule = build_schedule(household)
    if schedule.has_nominal and market.inflation_volatility > 0:
        return False, (
            "no optimum: some amounts are fixed in nominal terms while inflation is random, "
            "so cash flows are not deterministic in real terms"
        )
    return True, ""


def _interp_extrapolate(x: FloatArray, xp: FloatArray, fp: FloatArray) -> FloatArray:
    """np.interp, but linear extrapolation above the last point (clamped below)."""
    y = np.interp(x, xp, fp)
    slope = (fp[-1] - fp[-2]) / (xp[-1] - xp[-2])
    above = x > xp[-1]
    if above.any():
        y = np.where(above, fp[-1] + slope * (x - xp[-1]), y)
    return np.asarray(y, dtype=np.float64)


def _real_net_income(schedule: Schedule) -> FloatArray:
    deflate = 1.0 / schedule.expected_price_index()
    return np.asarray(
        schedule.real_net_income + schedule.nominal_net_income * deflate, dtype=np.float64
    )


class _Value:
    """V_t on a cash grid, stored as its certainty equivalent tau (near-linear in X).

    tau = ((1 - gamma) V / A)^(1 / (1 - gamma)) (exp(V / A) at gamma = 1), A the utility
    terms left (years plus the goal's weight): the steady consumption, in scale units,
    worth V over the rest of the plan. It has the size of X whatever gamma is, where
    ((1 - gamma) V)^(1 / (1 - gamma)) carries a factor A^(1 / (1 - gamma)) that
    overflows as gamma nears 1, and V itself underflows to 0 for rich households at
    gamma = 20. The recursion is a power mean of logs (``log_power_mean``).
    """

    def __init__(self, grid: FloatArray, log_tau: FloatArray, terms: float) -> None:
        self.grid, self.terms = grid, terms
        self.transformed = np.asarray(np.exp(log_tau), dtype=np.float64)

    def log_tau(self, x: FloatArray) -> FloatArray:
        y = np.maximum(_interp_extrapolate(x, self.grid, self.transformed), 1e-300)
        return np.asarray(np.log(y), dtype=np.float64)


def _terminal(objective: Objective, grid: FloatArray) -> tuple[FloatArray, _Value | None]:
    """Pseudo-consumption c_T (u'(c_T) = B'(W)) and V_T on ``grid`` (scale units).

    V_T = g u(max(W / g, f)) with g the goal's weight, so its tau is max(W / g, f).
    """
    g = objective.goal_weight
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


def solve(household: Household, settings: OptimumSettings = OptimumSettings()) -> OptimumSolution:
    """Solve the DP for ``household`` (raises ValueError when ``optimum_available`` says no)."""
    ok, reason = optimum_available(household)
    if not ok:
        raise ValueError(reason)
    began = time.perf_counter()
    schedule = build_schedule(household)
    scale = schedule.consumption_scale
    objective = Objective(schedule.horizon, scale, schedule.capital_goal, schedule.risk_aversion)
    gamma, horizon = objective.gamma, schedule.horizon
    d = _real_net_income(schedule) / scale  # length T + 1, d[T] = 0
    nodes: ReturnNodes = return_nodes(schedule.market, settings.nodes)
    w = nodes.weights
    excess = nodes.stocks - nodes.nonstock
    levels = np.linspace(0.0, 1.0, settings.share_levels)
    rp_levels = nodes.portfolio(levels)  # (K, Q)
    wealth0 = schedule.initial_wealth / scale
    top = 30.0 * (wealth0 + float(np.maximum(d, 0.0).sum()) + float(objective.goal_weight)) + 50.0
    s_grid = np.concatenate(
        [[0.0], np.geomspace(settings.min_savings, top, settings.savings_points - 1)]
    )
    floor = FLOOR_FRACTION

    # Successor (year t + 1) as: consumption function and value function on a cash grid.
    term_grid = s_grid.copy()
    next_c, next_v = _terminal(objective, term_grid)
    next_grid = term_grid
    cash_grids: list[FloatArray] = [np.empty(0)] * horizon
    cons: list[FloatArray] = [np.empty(0)] * horizon
    shares: list[FloatArray] = [np.empty(0)] * horizon
    log_w = np.log(w)
    for t in range(horizon - 1, -1, -1):
        terms = float(horizon - t) + objective.goal_weight  # utility terms left
        if next_v is None:
            # Last year, no goal: consume everything.
            grid = s_grid.copy()
            c_t = grid.copy()
            share_t = np.ones_like(s_grid)
            log_tau = np.log(np.maximum(grid, floor))
        else:
            x_next = s_grid[:, None, None] * rp_levels[None, :, :] + d[t + 1]
            c_next = _interp_extrapolate(x_next.ravel(), next_grid, next_c).reshape(x_next.shape)
            log_marg = -gamma * np.log(np.maximum(c_next, floor))
            # Each savings point's FOC divided by its largest term: the root in s is the
            # same, and u'(c) no longer underflows to 0 for consumption far above scale.
            scaled = np.exp(log_marg - log_marg.max(axis=(1, 2), keepdims=True))
            foc = (scaled * excess) @ w  # (G, K)
            share_t = _share_from_foc(foc, levels)
            share_t[0] = share_t[1] if len(share_t) > 1 else 1.0
            rp = nodes.nonstock[None, :] + share_t[:, None] * excess[None, :]  # (G, Q)
            x_star = s_grid[:, None] * rp + d[t + 1]
            c_star = _interp_extrapolate(x_star.ravel(), next_grid, next_c).reshape(x_star.shape)
            # Euler: c = E[u'(c') R_p]^(-1/gamma), the expectation as a log-sum-exp.
            log_emarg = logsumexp(
                -gamma * np.log(np.maximum(c_star, floor)) + np.log(rp) + log_w, axis=1
            )
            c_s = np.exp(-log_emarg / gamma)
            log_tau_next = next_v.log_tau(x_star.ravel()).reshape(x_star.shape)
            x_s = s_grid + c_s
            grid = np.concatenate([[0.0], x_s])
            c_t = np.concatenate([[0.0], c_s])
            grid = np.maximum.accumulate(grid)
            keep = np.concatenate([[True], np.diff(grid) > 0])
            grid, c_t = grid[keep], c_t[keep]
            # V_t = u(c) + E[V_{t+1}]: tau_t is the power mean (p = 1 - gamma) of this
            # year's consumption (weight 1 / A_t) and next year's tau at each node
            # (weights A_{t+1} w_q / A_t). The X = 0 point has the savings-0 successor.
            successors = np.concatenate([log_tau_next[:1], log_tau_next])[keep]
            log_c = np.log(np.maximum(c_t, floor))[:, None]
            weights = np.concatenate([[1.0 / terms], (next_v.terms / terms) * w])
            log_tau = log_power_mean(
                np.concatenate([log_c, successors], axis=1), weights[None, :], 1.0 - gamma
            )
        cash_grids[t], cons[t], shares[t] = grid * scale, c_t * scale, share_t
        next_grid, next_c = grid, c_t
        next_v = _Value(grid, log_tau, terms)
    assert next_v is not None
    x0 = wealth0 + d[0]
    tau0 = float(np.exp(next_v.log_tau(np.array([max(x0, 0.0)]))[0]))
    # V_0 = A_0 u(tau_0) with A_0 = T + g: the CE is tau_0 itself, in money.
    with np.errstate(over="ignore", under="ignore", divide="ignore"):
        value = float(next_v.terms * crra(np.array([tau0]), gamma)[0])
    ce = scale * tau0
    return OptimumSolution(
        horizon=horizon,
        scale=scale,
        cash_grids=tuple(cash_grids),
        consumption=tuple(cons),
        savings_grid=s_grid * scale,
        shares=tuple(shares),
        value=value,
        certainty_equivalent=ce,
        seconds=time.perf_counter() - began,
    )


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
    """``solve`` with a cache by the household's exact digest and the settings."""
    return _solve_cached(household_key(household), household, settings)


@dataclass(frozen=True)
class OptimumStrategy:
    """Applies the DP policy per path by interpolation on cash on hand X = W + d."""

    solution: OptimumSolution
    name: str = "optimum"

    def decide(self, state: YearState) -> Decision:
        c, share = self.solution.policy(state.t, state.cash_on_hand)
        return Decision(share, c)


def optimum_strategy(
    household: Household, settings: OptimumSettings = OptimumSettings()
) -> OptimumStrategy:
    return OptimumStrategy(solve_optimum(household, settings))
