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

Where a pension has a claiming window (:mod:`glidepath.engine.claiming`), a fourth output
plans the age at which it is claimed. The base rule never decides a claim: it keeps each
pension's plan (the default age, ``start_age``, unless moved). Within a dead band,
|a3| <= CLAIM_DEADBAND, the output keeps the plan too; outside it, it asks for

    age = d + a3 * (d - earliest)   for a3 < 0
        = d + a3 * (latest - d)     for a3 > 0

with d each pension's default age (one shared output, mapped onto each pension's own
window). It is the engine's ``Decision.claim``, asked every year while a pension is
unclaimed: rounded, clipped to [the adult's age now, latest], the pension is claimed in
the year its adult reaches the plan, and from then on it stays claimed whatever the
output (irreversible); a pension never claimed is claimed at ``latest``. So a3 = 0 is
the rule in every state (the plan kept), +1 the latest and -1 the earliest age, and the
policy's mean output is the age it wants to claim at: exploration (std 0.14) tries the
neighbouring ages (the band, 0.1, is about where rounding would give the default age
anyway), so the rule-advantage reward compares claiming earlier or later on the same
market, and prices the whole move of the plan at once (the rule's continuation keeps
the plan), not one year of waiting at a time. One output for all of a household's
windows keeps one layout for every household (a couple's two pensions move together,
each within its own window). Without a window the fourth output is ignored.

A deferral past the default age is bounded by what the household can pay for: each year
a pension is put off forgoes a year of it (its amount at the default age, in today's
money), and those forgone payments may take at most DEFERRAL_CASH_SHARE (half) of this
year's cash on hand, the rest being left for the consumption of the same years. So the
plan may reach at most max(d, age now) + floor(0.5 X / P) with P the yearly amount of the
pensions still unclaimed, whatever the output asks (a plan kept from an earlier year is
pulled back to it too); claiming earlier than the default is never bounded. Why: the
rule that continues a decision spends (X + H) / f a year, never more than X, and a
deferred pension is human capital H it cannot spend until the claim. A household with
little wealth that defers runs out of cash in the waiting years, and one such year at
risk aversion 4 costs more than any later, larger pension gives back: the shipped generic
model, zero-shot, deferred both pensions of a couple holding 6,030 to 69 and 71 (default
65 and 69) and reached 48 % of the rule's CE (22,533 against 46,797, held-out household
21 of seed 12); the same weights under this bound reach 50,649, and no other held-out or
zoo household with a window changed by more than 0.2 %. The bound is the claiming
counterpart of the annuity output's (never more than the year's wealth): it keeps a
correction of the rule from being far below the rule, where the policy has seen too few
households like this one to know better.

A year whose claim moves the plan decodes its share and consumption around the rule's
decision *after* the claim (the rule seeing the pension it gives and its value, as
``claim_earliest`` / ``claim_latest`` do), inside the cash on hand the claim leaves.

So a = 0 *is* the rule, the share moves at most +-0.3 around it and consumption at most
by a factor e^+-0.5 (x0.61 .. x1.65), and every decoded decision is inside its limits
(never more than is there, share in [0, 1]). Consumption is the single spending lever in
both phases: before retirement it sets the savings rate, (income - charges - c) /
(income - charges); in retirement the withdrawal, c - (income - charges).

Why corrections and not raw decisions: the rule is already within about 0.5 % of the
optimum (docs/origins.md), so the agent starts *at* a near-optimal policy (SB3 initialises
the action head near zero) and only has to learn the small part the rule gets wrong
(discrete years, constraints, the capital goal); a raw-decision agent spends its whole
budget rediscovering the rule, and multiplicative consumption keeps the action's meaning
the same for small and large households.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from glidepath.engine import claiming
from glidepath.engine.cashflows import Schedule
from glidepath.engine.state import Decision, YearState
from glidepath.engine.strategies import FloorAndUpside, Strategy

FloatArray = NDArray[np.float64]

SHARE_RANGE = 0.3
CONSUMPTION_RANGE = 0.5
CLAIM_DEADBAND = 0.1
#: The most of the cash on hand that the pensions forgone by a deferral may take.
DEFERRAL_CASH_SHARE = 0.5
ACTION_DIM = 4
ACTION_SPACE = spaces.Box(low=-1.0, high=1.0, shape=(ACTION_DIM,), dtype=np.float32)


def base_rule(schedule: Schedule) -> Strategy:
    """The rule the agent corrects (and the rule-advantage reward continues with)."""
    return FloorAndUpside.for_schedule(schedule)


def decide(
    action: NDArray[np.floating],
    base: Decision,
    state: YearState,
    rule: Strategy | None = None,
) -> Decision:
    """The engine decision for actions (n, ACTION_DIM) in ``state``: corrections of the
    rule's ``base``, an annuity purchase where the household's offer is open, and the
    planned claiming age of each claimable pension.

    ``rule`` (the rule ``base`` came from) decides again on the state a claim leaves
    where the claim moves a plan; None keeps ``base`` (the share and consumption then
    correct the rule's decision before the claim)."""
    a = np.asarray(action, dtype=np.float64)
    plan = claim_plan(a, state)
    cash = state.cash_on_hand
    if plan is not None:
        claimed_state = claiming.claim(state, plan)
        if claimed_state is not state:
            cash = claimed_state.cash_on_hand
            if rule is not None:
                base = rule.decide(claimed_state)
    decision = decode(a, base, cash)
    market = state.schedule.annuities
    fraction = None
    if market is not None and market.allowed(state.t) and a.shape[1] > 2:
        fraction = np.clip(a[:, 2], 0.0, 1.0)
    return Decision(decision.stock_share, decision.consumption, fraction, plan)


def claim_plan(action: NDArray[np.float64], state: YearState) -> FloatArray | None:
    """The claiming age asked for each claimable pension (pensions, n) from the fourth
    output, NaN (keep the plan) in the dead band, no later than the deferral the cash
    on hand can pay for (:func:`deferral_years`); None without a window or a fourth
    output."""
    options = state.schedule.claims
    if options is None or state.claim_plan is None or action.shape[1] < ACTION_DIM:
        return None
    level = np.clip(action[:, 3], -1.0, 1.0)
    keep = np.abs(level) <= CLAIM_DEADBAND
    years = deferral_years(state)
    rows = []
    for i, p in enumerate(options.pensions):
        below, above = p.default_age - p.earliest, p.latest - p.default_age
        asked = p.default_age + level * np.where(level < 0.0, below, above)
        now = int(state.schedule.adult_ages[p.adult, state.t])
        limit = max(p.default_age, now) + years
        kept = np.where(state.claim_plan[i] > limit, limit, np.nan)
        rows.append(np.where(keep, kept, np.minimum(asked, limit)))
    return np.stack(rows)


def deferral_years(state: YearState) -> FloatArray:
    """Whole years past the default age (or past now) that a plan may still defer the
    unclaimed pensions on each path: DEFERRAL_CASH_SHARE of the cash on hand over their
    yearly amounts at the default age (today's money), rounded down; inf with none open."""
    options = state.schedule.claims
    assert options is not None and state.claim_plan is not None
    household = state.schedule.household
    per_year = np.zeros(state.n_paths)
    for i, p in enumerate(options.pensions):
        income = household.incomes[p.income]
        amount = income.amount if income.indexed_to_inflation else income.amount / state.price_index
        now = int(state.schedule.adult_ages[p.adult, state.t])
        per_year += np.where(state.claim_plan[i] >= now, amount, 0.0)
    budget = DEFERRAL_CASH_SHARE * np.maximum(state.cash_on_hand, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        years = np.where(per_year > 0.0, np.floor(budget / per_year), np.inf)
    return np.asarray(years, dtype=np.float64)


def decode(action: NDArray[np.floating], base: Decision, cash_on_hand: FloatArray) -> Decision:
    """The share and consumption for actions of shape (n, 2) or more around ``base``."""
    a = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
    share = np.clip(base.stock_share + SHARE_RANGE * a[:, 0], 0.0, 1.0)
    ceiling = np.maximum(cash_on_hand, 0.0)
    consumption = np.clip(base.consumption * np.exp(CONSUMPTION_RANGE * a[:, 1]), 0.0, ceiling)
    return Decision(stock_share=share, consumption=consumption)
