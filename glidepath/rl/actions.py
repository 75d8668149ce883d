"""Actions: bounded corrections of the base rule, decoded into engine decisions.

The base rule is "floor and upside" (:class:`glidepath.engine.strategies.FloorAndUpside`):
the Merton-style rule with the essential-spending floor secured first, which is exactly
the Merton-style rule for a household without a floor. Correcting the best rule of the
household's world leaves the agent the least to learn.

The agent outputs a = (a0, a1) in [-1, 1]^2. With the base rule's decision (s_base, c_base)
for the same state and X the cash on hand (wealth + income - charges):

    stock share  s = clip(s_base + SHARE_RANGE * a0, 0, 1)
    consumption  c = clip(c_base * exp(CONSUMPTION_RANGE * a1), 0, max(X, 0))

and, where the household has an annuity offer open this year, a third output buys life
annuities (which the base rule never does):

    annuitise    f = clip(a2, 0, 1)

of the year's wealth. The deterministic policy starts at a2 = 0 (no purchase, the rule),
while exploration (std 0.14) tries small purchases half the time, so the rule-advantage
reward can tell the agent whether an annuity is worth its price. Without an offer the
third output is ignored, so one layout serves every household.

So a = 0 *is* the rule, the share moves at most +-0.3 around it and consumption at most
by a factor e^+-0.5 (x0.61 .. x1.65), and every decoded decision is inside its limits
(never more than is there, share in [0, 1]). Consumption is the single spending lever in
both phases: before retirement it sets the savings rate, (income - charges - c) /
(income - charges); in retirement the withdrawal, c - (income - charges).

Why corrections and not raw decisions: the rule is already within about 0.5 % of the
optimum (rl-findings), so the agent starts *at* a near-optimal policy (SB3 initialises
the action head near zero) and only has to learn the small part the rule gets wrong
(discrete years, constraints, the capital goal); a raw-decision agent spends its whole
budget rediscovering the rule, and multiplicative consumption keeps the action's meaning
the same for small and large households.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from glidepath.engine.cashflows import Schedule
from glidepath.engine.state import Decision, YearState
from glidepath.engine.strategies import FloorAndUpside, Strategy

FloatArray = NDArray[np.float64]

SHARE_RANGE = 0.3
CONSUMPTION_RANGE = 0.5
ACTION_DIM = 3
ACTION_SPACE = spaces.Box(low=-1.0, high=1.0, shape=(ACTION_DIM,), dtype=np.float32)


def base_rule(schedule: Schedule) -> Strategy:
    """The rule the agent corrects (and the rule-advantage reward continues with)."""
    return FloorAndUpside.for_schedule(schedule)


def decide(action: NDArray[np.floating], base: Decision, state: YearState) -> Decision:
    """The engine decision for actions (n, ACTION_DIM) in ``state``: corrections of the
    rule's ``base``, and an annuity purchase where the household's offer is open."""
    decision = decode(action, base, state.cash_on_hand)
    market = state.schedule.annuities
    a = np.asarray(action, dtype=np.float64)
    if market is None or not market.allowed(state.t) or a.shape[1] < ACTION_DIM:
        return decision
    level = np.clip(a[:, 2], -1.0, 1.0)
    fraction = np.clip(level, 0.0, 1.0)
    return Decision(decision.stock_share, decision.consumption, annuitise=fraction)


def decode(action: NDArray[np.floating], base: Decision, cash_on_hand: FloatArray) -> Decision:
    """The share and consumption for actions of shape (n, 2) or more around ``base``."""
    a = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
    share = np.clip(base.stock_share + SHARE_RANGE * a[:, 0], 0.0, 1.0)
    ceiling = np.maximum(cash_on_hand, 0.0)
    consumption = np.clip(base.consumption * np.exp(CONSUMPTION_RANGE * a[:, 1]), 0.0, ceiling)
    return Decision(stock_share=share, consumption=consumption)
