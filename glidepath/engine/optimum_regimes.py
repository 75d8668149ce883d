"""The exact optimum when the household observes the market's regime: the regime as a
discrete state of the dynamic programme.

Problem: that of :mod:`glidepath.engine.optimum`, but each year's returns come from the
year's regime r (calm 0, turbulent 1), which the household sees at the start of the
year (``RegimeSwitching.observable``); the regime follows the Markov chain
P(0 -> 1) = p, P(1 -> 0) = q. The state is (life state s, regime r), and

    V_t^{s,r}(X) = max_c u(c) + K min(0, u(c) - u(F_t^s))
                   + beta E_r[ sum_{s', r'} pi(s -> s') P(r -> r') V_{t+1}^{s',r'}(X')
                               + pi(s -> none) B(S R_p) ],

E_r over regime r's own real return nodes (``quadrature.return_nodes`` of that
regime's lognormal model), X' = S R_p + d_{s'}: the regime of year t sets the returns
of year t, the next regime only which value function follows. Given the regime, returns
are i.i.d. lognormal, so the DP of ``optimum`` solves it exactly with the product state:
the transitions are the survival transitions times the switching matrix (a Kronecker
product), the incomes and floors those of the life state in both regimes. The
successors' lattices depend on the origin's regime (its nodes), so a year costs
2 x (number of successor states) lattices: about four times the plain DP.

The value reported is the ex-ante one: each path's first regime is drawn from the
stationary law pi = p / (p + q), so V_0 = (1 - pi) V_0^{s,0} + pi V_0^{s,1}, the CE that
of V_0. With two identical regimes it is the plain DP's value (a test checks it).

Where the household does not observe the regime this is no optimum (the regime is then
a hidden state, and the belief a continuous one): ``optimum.dp_applies`` refuses it and
``dp_simplified`` stands in.
"""

from __future__ import annotations

import time

import numpy as np

from glidepath.household.model import Household, Lifetimes

from . import lives
from .cashflows import FloatArray, IntArray, build_schedule
from .objective import crra, crra_inverse
from .optimum import (
    FLOOR_PENALTY,
    OptimumSettings,
    OptimumSolution,
    StatePolicy,
    _bequest,
    _Lattice,
    _Problem,
    _problem,
    _solve_year,
    _Successor,
    _successor_lattices,
    _weighted_successors,
)
from .quadrature import ReturnNodes, return_nodes
from .state import YearState

#: The regimes, in the order of ``MarketModel.regime_models``.
CALM, TURBULENT = 0, 1


def regimes_apply(household: Household) -> tuple[bool, str]:
    """Whether the regime DP is exact for an observable-regime household (the rest of
    ``optimum.dp_applies`` already holds), and if not, why."""
    schedule = build_schedule(household)
    if schedule.has_nominal and not schedule.market.inflation_deterministic:
        return False, (
            "no optimum: some amounts are fixed in nominal terms while inflation is random "
            "(or differs between the regimes), so cash flows are not deterministic in real terms"
        )
    return True, ""


def switching_matrix(household: Household) -> FloatArray:
    """P[r, r']: the probability that a year of regime r is followed by one of r'."""
    switching = household.market.switching
    assert switching is not None, "only a regime-switching market has regimes"
    p, q = switching.calm_to_turbulent, switching.turbulent_to_calm
    return np.array([[1.0 - p, p], [q, 1.0 - q]])


def _with_regimes(prob: _Problem, chain: FloatArray) -> _Problem:
    """The life-state problem on the product states (regime r, life state s) -> r S + s."""
    to_state = np.einsum("ab,tij->taibj", chain, prob.to_state)
    t, n = prob.to_state.shape[0], prob.to_state.shape[1]
    return _Problem(
        gamma=prob.gamma,
        beta=prob.beta,
        goal_weight=prob.goal_weight,
        income=np.tile(prob.income, (2, 1)),
        floors=np.tile(prob.floors, (2, 1)),
        to_state=to_state.reshape(t, 2 * n, 2 * n),
        to_none=np.tile(prob.to_none, (1, 2)),
        has_floor=prob.has_floor,
    )


def solve_regimes(household: Household, settings: OptimumSettings) -> OptimumSolution:
    """The DP of ``household`` with the observed regime as a state (``optimum.solve``
    sends observable-regime households here after its checks)."""
    began = time.perf_counter()
    schedule = build_schedule(household)
    models = schedule.market.regime_models
    assert models is not None, "only a regime-switching market has regimes"
    scale, gamma = schedule.consumption_scale, schedule.risk_aversion
    life = lives.life_states(household)
    n_life = len(life)
    prob = _with_regimes(
        _problem(household, scale, gamma, settings.time_preference), switching_matrix(household)
    )
    n_states, horizon = 2 * n_life, prob.to_none.shape[0]
    g = prob.goal_weight
    nodes: list[ReturnNodes] = [return_nodes(m, settings.nodes) for m in models]
    levels = np.linspace(0.0, 1.0, settings.share_levels)
    wealth0 = schedule.initial_wealth / scale
    income_sum = float(np.maximum(prob.income, 0.0).sum(axis=1).max())
    top = 30.0 * (wealth0 + income_sum + float(g)) + 50.0
    s_grid = np.concatenate(
        [[0.0], np.geomspace(settings.min_savings, top, settings.savings_points - 1)]
    )
    bequest = _bequest(g, s_grid, gamma)
    # Per origin regime: its nodes' S R_p lattice, excess returns and weights.
    savings_returns = [s_grid[:, None, None] * n.portfolio(levels)[None, :, :] for n in nodes]
    excess = [n.stocks - n.nonstock for n in nodes]
    bequest_lattices: list[_Lattice] = [{}, {}]
    ahead: list[_Successor | None] = [None] * n_states
    grids = [[np.empty(0)] * horizon for _ in range(n_states)]
    cons = [[np.empty(0)] * horizon for _ in range(n_states)]
    shares = [[np.empty(0)] * horizon for _ in range(n_states)]
    for t in range(horizon - 1, -1, -1):
        year: list[_Successor | None] = [None] * n_states
        for r in (CALM, TURBULENT):
            w = nodes[r].weights
            lattice = _successor_lattices(
                t, prob, ahead, bequest, savings_returns[r], excess[r], w, bequest_lattices[r]
            )
            for s in range(r * n_life, (r + 1) * n_life):
                succ = _weighted_successors(t, s, prob, ahead, bequest)
                grid, c_t, share_t, v_t, penalty, log_mv = _solve_year(
                    t, s, prob, succ, lattice, s_grid, nodes[r], levels, np.log(w)
                )
                grids[s][t], cons[s][t], shares[s][t] = grid * scale, c_t * scale, share_t
                year[s] = _Successor(
                    grid,
                    c_t,
                    v_t,
                    penalty,
                    float(prob.floors[s, t]),
                    float(prob.income[s, t]),
                    gamma,
                    log_mv,
                )
        ahead = year
    fixed = household.lifetimes is not Lifetimes.MORTALITY
    start = int(lives.fixed_state_path(household)[0]) if fixed else 0
    switching = household.market.switching
    assert switching is not None
    pi = switching.stationary_turbulent()
    value, terms = 0.0, 1.0
    for r, weight in ((CALM, 1.0 - pi), (TURBULENT, pi)):
        first = ahead[r * n_life + start]
        assert first is not None
        x0 = np.array([max(wealth0 + float(prob.income[start, 0]), 0.0)])
        tau0 = float(np.exp(first.value.log_tau(x0)[0]))
        terms = first.value.terms
        with np.errstate(over="ignore", under="ignore", divide="ignore"):
            v = float(terms * crra(np.array([tau0]), gamma)[0])
        if first.penalty is not None:
            v += FLOOR_PENALTY * float(first.penalty_at(x0)[0])
        value += weight * v
    return OptimumSolution(
        horizon=horizon,
        scale=scale,
        states=life + life,
        by_state=tuple(
            StatePolicy(tuple(grids[s]), tuple(cons[s]), tuple(shares[s])) for s in range(n_states)
        ),
        state_path=lives.fixed_state_path(household) if fixed else None,
        savings_grid=s_grid * scale,
        value=value,
        certainty_equivalent=scale * crra_inverse(value / terms, gamma),
        utility_terms=terms,
        seconds=time.perf_counter() - began,
        regimes=True,
    )


def regime_states(solution: OptimumSolution, state: YearState, who: IntArray | None) -> IntArray:
    """Each path's product state r S + s for the policy: its life state ``who`` (None:
    the certain one of a FIXED_HORIZON year) and the regime the household observes
    (``YearState.regime_belief``, 0 or 1 when observable)."""
    belief = state.regime_belief
    if belief is None or not np.all((belief == 0.0) | (belief == 1.0)):
        raise ValueError("the regime DP's policy needs the observed regime (observable regimes)")
    n_life = len(solution.states) // 2
    if who is None:
        assert solution.state_path is not None
        who = np.full(state.n_paths, int(solution.state_path[state.t]), dtype=np.int64)
    product = who + n_life * belief.astype(np.int64)
    return np.asarray(np.where(who >= 0, product, -1), dtype=np.int64)
