"""Actions: bounded corrections of the base rule, decoded into engine decisions.

The base rule is "floor and upside" (:class:`glidepath.engine.strategies.FloorAndUpside`):
the Merton-style rule with the essential-spending floor secured first, which is exactly
the Merton-style rule for a household without a floor. Correcting the best rule of the
household's world leaves the agent the least to learn.

The agent outputs a = (a0, a1) in [-1, 1]^2. With the base rule's decision (s_base, c_base)
for the same state and X the cash on hand (wealth + income - charges):

    stock share  s = clip(s_base + SHARE_RANGE * a0, 0, 1)
    consumption  c = clip(c_base * exp(CONSUMPTION_RANGE * a1), 0, max(X, 0))

so a = 0 *is* the rule, the share moves at most +-0.3 around it and consumption at most
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
from glidepath.engine.state import Decision
from glidepath.engine.strategies import FloorAndUpside, Strategy

FloatArray = NDArray[np.float64]

SHARE_RANGE = 0.3
CONSUMPTION_RANGE = 0.5
ACTION_SPACE = spaces.Box(low=-1.0, high=1.0, shape=(2,), dtype=np.float32)


def base_rule(schedule: Schedule) -> Strategy:
    """The rule the agent corrects (and the rule-advantage reward continues with)."""
    return FloorAndUpside.for_schedule(schedule)


def decode(action: NDArray[np.floating], base: Decision, cash_on_hand: FloatArray) -> Decision:
    """The engine decision for actions of shape (n, 2) around the rule's ``base``."""
    a = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
    share = np.clip(base.stock_share + SHARE_RANGE * a[:, 0], 0.0, 1.0)
    ceiling = np.maximum(cash_on_hand, 0.0)
    consumption = np.clip(base.consumption * np.exp(CONSUMPTION_RANGE * a[:, 1]), 0.0, ceiling)
    return Decision(stock_share=share, consumption=consumption)
