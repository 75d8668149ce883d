"""Households for the DP optimum's tests and benchmark (lifetimes, couples, the floor)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from engine_support import example_household

from glidepath.engine import lives, mortality
from glidepath.engine.cashflows import FloatArray, build_schedule
from glidepath.engine.objective import FLOOR_FRACTION, Objective, crra
from glidepath.engine.optimum import FLOOR_PENALTY, OptimumSolution
from glidepath.engine.optimum_annuity import AnnuitySolution
from glidepath.engine.quadrature import return_nodes
from glidepath.household.model import (
    Account,
    Adult,
    Charge,
    Goals,
    Household,
    Income,
    Lifetimes,
)


def example_single() -> Household:
    """The product's example household with mortality (the default law)."""
    return replace(example_household(), lifetimes=Lifetimes.MORTALITY)


def example_couple(lifetimes: Lifetimes = Lifetimes.MORTALITY) -> Household:
    """A couple with a mortgage, two accounts and two pensions (one reversionary)."""
    return Household(
        adults=(
            Adult(45, 65, 88, 70_000.0, 0.01, name="Sam"),
            Adult(43, 64, 91, 45_000.0, 0.01, name="Robin"),
        ),
        incomes=(
            Income(24_000.0, 65, adult=0, label="pension Sam", survivor_fraction=0.6),
            Income(16_000.0, 64, adult=1, label="pension Robin"),
        ),
        charges=(Charge(18_000.0, 60, label="mortgage"),),
        accounts=(
            Account(150_000.0, 900.0, 0.7, 0.3, 0.0, label="brokerage"),
            Account(60_000.0, 300.0, 0.4, 0.5, 0.1, label="retirement"),
        ),
        goals=Goals(capital_goal=150_000.0, retirement_spending=60_000.0, essential_fraction=0.6),
        risk_aversion=3.0,
        lifetimes=lifetimes,
    )


def replay_utility(
    household: Household,
    solution: OptimumSolution,
    paths: int,
    seed: int,
) -> FloatArray:
    """Lifetime utility (objective units) of the DP's own policy, path by path.

    An independent reading of the problem the DP solves: deaths drawn from the
    household's tables (``mortality.draw_death_ages``, FIXED_HORIZON: at the end of the
    year before the life expectancy), returns drawn from the DP's own quadrature nodes
    (so its expectations are exact for them), flows at the start of the year, each
    year's utility u(max(c, f)) + K min(0, u(max(c, f)) - u(F)) while someone is alive
    and the bequest term on the wealth left at the last death. A solution with the
    observed regime as a state (``solution.regimes``) is replayed on the regime chain:
    the first regime from the stationary law, each year's returns from its regime's
    nodes, the policy told the regime.
    """
    schedule = build_schedule(household)
    scale, gamma = schedule.consumption_scale, schedule.risk_aversion
    objective = Objective.for_schedule(schedule)
    models = schedule.market.regime_models
    by_regime = models if solution.regimes and models is not None else (schedule.market,)
    node_sets = [return_nodes(m) for m in by_regime]
    switching = household.market.switching
    rng = np.random.default_rng(seed)
    regime = np.zeros(paths, dtype=np.int64)
    if solution.regimes:
        assert switching is not None
        regime = (rng.random(paths) < switching.stationary_turbulent()).astype(np.int64)
    n_life = len(lives.life_states(household))
    horizon = solution.horizon
    flows = lives.state_flows(household, horizon)
    adults = household.adults
    if household.lifetimes is Lifetimes.MORTALITY:
        tables = [(lives.life_table(household, j), a.current_age) for j, a in enumerate(adults)]
        death = mortality.draw_death_ages(tables, seed, 0, paths)
    else:
        death = np.array([np.full(paths, a.life_expectancy - 1) for a in adults])
    wealth = np.full(paths, schedule.initial_wealth)
    total = np.zeros(paths)
    done = np.zeros(paths, dtype=bool)
    for t in range(horizon):
        ages = np.array([a.current_age + t for a in adults])[:, None]
        alive = ages <= death
        state = lives.state_of_paths(alive)
        living = state >= 0
        d = np.where(living, flows.net_income[np.maximum(state, 0), t], 0.0)
        floor = np.where(living, flows.floor[np.maximum(state, 0), t], 0.0)
        x = wealth + d
        who = np.where(living, state + n_life * regime, -1) if solution.regimes else state
        c, share = solution.policy(t, x, who)
        y = np.maximum(c / scale, FLOOR_FRACTION)
        u = crra(y, gamma)
        active = floor / scale > FLOOR_FRACTION
        gap = np.minimum(u - crra(np.where(active, floor / scale, 1.0), gamma), 0.0)
        penalty = np.where(active, gap, 0.0)
        total += np.where(living, u + FLOOR_PENALTY * penalty, 0.0)
        gross = np.zeros(paths)
        for r, nodes in enumerate(node_sets):
            q = rng.choice(len(nodes.weights), size=paths, p=nodes.weights)
            drawn = nodes.nonstock[q] + share * (nodes.stocks[q] - nodes.nonstock[q])
            gross = np.where(regime == r, drawn, gross)
        if solution.regimes:
            assert switching is not None
            u = rng.random(paths)
            up, down = switching.calm_to_turbulent, switching.turbulent_to_calm
            regime = np.where(regime == 1, u >= down, u < up).astype(np.int64)
        wealth = np.where(living, (x - c) * gross, wealth)
        last = living & ~((ages + 1) <= death).any(axis=0)
        total += np.where(last & ~done, objective.terminal_utility(wealth), 0.0)
        done |= last
    return total


def replay_annuity_utility(
    household: Household, solution: AnnuitySolution, paths: int, seed: int
) -> FloatArray:
    """``replay_utility`` for the purchase-once DP: before year A the plain policy; in
    year A each path buys the fraction the solution picks at its cash on hand, an income
    a = amount / P_s paid a p_s in every later year someone lives; from A on the policy
    interpolated across income levels at that a. Written from the problem's statement,
    not from the strategy, so the two readings check each other."""
    schedule = build_schedule(household)
    scale, gamma = schedule.consumption_scale, schedule.risk_aversion
    objective = Objective.for_schedule(schedule)
    nodes = return_nodes(schedule.market)
    rng = np.random.default_rng(seed)
    horizon = solution.horizon
    flows = lives.state_flows(household, horizon)
    adults = household.adults
    tables = [(lives.life_table(household, j), a.current_age) for j, a in enumerate(adults)]
    death = mortality.draw_death_ages(tables, seed, 0, paths)
    wealth = np.full(paths, schedule.initial_wealth)
    income = np.zeros(paths)  # annuity bought (full payment), real
    total = np.zeros(paths)
    done = np.zeros(paths, dtype=bool)
    year = solution.purchase_year
    for t in range(horizon):
        ages = np.array([a.current_age + t for a in adults])[:, None]
        alive = ages <= death
        state = lives.state_of_paths(alive)
        living = state >= 0
        s = np.maximum(state, 0)
        d = np.where(living, flows.net_income[s, t], 0.0)
        floor = np.where(living, flows.floor[s, t], 0.0)
        if t == year:
            fraction = np.zeros(paths)
            for k in range(len(solution.before.states)):
                rows = state == k
                fraction[rows] = solution.fractions(wealth[rows] + d[rows], wealth[rows], k)
            amount = fraction * wealth
            income = np.where(living, amount / solution.prices[s], 0.0)
            wealth = wealth - amount
        d = d + np.where(living & (t >= year), income * solution.payments[s], 0.0)
        x = wealth + d
        if t < year:
            c, share = solution.before.policy(t, x, state)
        else:
            c, share = np.zeros(paths), np.zeros(paths)
            for k in range(len(solution.before.states)):
                rows = state == k
                c[rows], share[rows] = solution.policy_after(t, x[rows], income[rows], k)
        y = np.maximum(c / scale, FLOOR_FRACTION)
        u = crra(y, gamma)
        active = floor / scale > FLOOR_FRACTION
        gap = np.minimum(u - crra(np.where(active, floor / scale, 1.0), gamma), 0.0)
        penalty = np.where(active, gap, 0.0)
        total += np.where(living, u + FLOOR_PENALTY * penalty, 0.0)
        q = rng.choice(len(nodes.weights), size=paths, p=nodes.weights)
        gross = nodes.nonstock[q] + share * (nodes.stocks[q] - nodes.nonstock[q])
        wealth = np.where(living, (x - c) * gross, wealth)
        last = living & ~((ages + 1) <= death).any(axis=0)
        total += np.where(last & ~done, objective.terminal_utility(wealth), 0.0)
        done |= last
    return total
