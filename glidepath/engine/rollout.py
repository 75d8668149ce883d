"""Every path's life, year by year: for diagnostics, small evaluations and the RL side.

``simulate`` keeps only summaries (bounded memory); ``rollout`` keeps the full arrays of
one strategy's paths, so it is bounded by ``MAX_ROLLOUT_VALUES`` (paths x years).
It runs exactly the loop of ``simulate`` (same scenarios, same step, same objective):
per-path utilities agree with ``simulate(..., keep_path_utilities=True)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from glidepath.errors import InvalidArgument, ResourceExhausted
from glidepath.household.model import Household

from .cashflows import FloatArray, build_schedule
from .lifetimes import draw_death_years
from .market import Scenarios
from .objective import Objective
from .state import FlowTiming
from .step import initial_state, step
from .strategies import Strategy, make_strategy

#: Paths x years a rollout may hold (each value costs ~60 bytes over all its arrays).
MAX_ROLLOUT_VALUES = 5_000_000


@dataclass(frozen=True)
class Rollout:
    """Arrays by (year, path); wealth and the price index have T + 1 rows (the last: the end)."""

    ages: tuple[int, ...]
    wealth: FloatArray
    price_index: FloatArray
    consumption: FloatArray
    stock_share: FloatArray
    net_flow: FloatArray
    shortfall: FloatArray
    ruined: NDArray[np.bool_]  # wealth ran out with years left
    utility: FloatArray  # lifetime utility per path (the objective)
    lived: NDArray[np.bool_]  # (year, path): someone alive that year (all under FIXED_HORIZON)


def rollout(
    household: Household,
    strategy: Strategy | str,
    n_paths: int,
    *,
    seed: int = 0,
    first_path: int = 0,
    timing: FlowTiming = FlowTiming.MONTHLY,
) -> Rollout:
    """Paths [first_path, first_path + n_paths) of ``seed`` under ``strategy``."""
    if n_paths <= 0:
        raise InvalidArgument.field("n_paths", "must be > 0")
    schedule = build_schedule(household)
    horizon = schedule.horizon
    if n_paths * horizon > MAX_ROLLOUT_VALUES:
        raise ResourceExhausted(
            f"a rollout holds at most {MAX_ROLLOUT_VALUES:,} path-years; use simulate()",
            reason="TOO_LARGE",
        )
    if isinstance(strategy, str):
        strategy = make_strategy(strategy, household)
    objective = Objective.for_schedule(schedule)
    scenarios = Scenarios(schedule.market, seed, first_path, n_paths)
    wealth = np.empty((horizon + 1, n_paths))
    price = np.empty((horizon + 1, n_paths))
    consumption = np.empty((horizon, n_paths))
    share = np.empty((horizon, n_paths))
    flow = np.empty((horizon, n_paths))
    shortfall = np.empty((horizon, n_paths))
    lived = np.ones((horizon, n_paths), dtype=bool)
    utility = np.zeros(n_paths)
    deaths = None
    if schedule.lives is not None:  # the same lives as ``simulate`` draws for these paths
        deaths = draw_death_years(schedule.lives, seed, first_path, n_paths)
    state = initial_state(
        schedule, n_paths, timing=timing, death_year=deaths, turbulent=scenarios.first_turbulent
    )
    for t in range(horizon):
        wealth[t], price[t] = state.wealth, state.price_index
        state, out = step(state, strategy.decide(state), scenarios.year(t))
        consumption[t], share[t], flow[t], shortfall[t] = (
            out.consumption,
            out.stock_share,
            out.net_flow,
            out.shortfall,
        )
        if out.lived is not None:
            lived[t] = out.lived
        utility += objective.outcome_utility(out)
    wealth[horizon], price[horizon] = state.wealth, state.price_index
    utility += objective.terminal_utility(state.wealth)
    return Rollout(
        ages=tuple(int(a) for a in schedule.household_age),
        wealth=wealth,
        price_index=price,
        consumption=consumption,
        stock_share=share,
        net_flow=flow,
        shortfall=shortfall,
        ruined=state.ruined,
        utility=utility,
        lived=lived,
    )
