"""The Monte Carlo engine: market, cash flows, the yearly step, strategies, metrics, optimum.

Public entry points:
- ``simulate(household, strategies, settings)`` (``run``): compare strategies on the
  same scenarios, with metrics, percentile bands and standard errors;
- ``initial_state`` / ``step`` (``step``) with ``YearState``, ``Decision``,
  ``YearOutcome`` (``state``): the pure yearly step the RL environment uses;
- ``MarketModel`` / ``Scenarios`` (``market``): returns, with common random numbers;
  market regimes and their stationary average (``regimes``), what a household sees of
  them (``regime_belief``);
- ``Strategy`` and the built-ins, ``make_strategy`` / ``STRATEGIES`` (``strategies``);
- ``Objective`` (``objective``): the utility, CE and RL reward;
- ``rollout`` (``rollout``): every path's arrays, year by year (bounded size);
- ``optimum_available`` / ``solve_optimum`` / ``optimum_strategy`` (``optimum``), and
  ``simplified_available`` / ``simplified_strategy``: ``dp_simplified``, the DP of the
  regimes-averaged market, where hidden regimes rule the exact optimum out; the exact
  DP with an observed regime as a state (``optimum_regimes``);
- ``claim`` / ``claimed`` (``claiming``): a pension's claiming age, planned per path.
"""

from .cashflows import Schedule, build_schedule
from .market import MarketModel, Scenarios, YearReturns
from .objective import Objective
from .rollout import Rollout, rollout
from .run import ComparisonResult, SimulationSettings, simulate
from .state import Decision, FlowTiming, YearOutcome, YearState
from .step import initial_state, step
from .strategies import STRATEGIES, Strategy, make_strategy

__all__ = [
    "STRATEGIES",
    "ComparisonResult",
    "Decision",
    "FlowTiming",
    "MarketModel",
    "Objective",
    "Rollout",
    "Scenarios",
    "Schedule",
    "SimulationSettings",
    "Strategy",
    "YearOutcome",
    "YearReturns",
    "YearState",
    "build_schedule",
    "initial_state",
    "make_strategy",
    "rollout",
    "simulate",
    "step",
]
