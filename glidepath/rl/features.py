"""A household's feature vector at the start of the plan, and the distance between two.

The registry indexes every profile model by the features of the household it was
trained for, so that a household without an exact model can find the stored models of
households near it (docs/ladder.md). The vector is short and scale-free:
money enters only as ratios to the household's consumption scale, so two households that
differ only by their currency (or by a uniform raise of every amount) have the same
features, and one unit of distance means a comparable change whichever feature moves.

This module is pure numpy and must not import torch or Stable-Baselines3: the registry
imports it to index models and it must stay light there.

Features, in order, with the weight each gets in :func:`distance` (``FEATURE_WEIGHTS``):

========================  ======  ======================================================
feature                   weight  why it matters to the policy
========================  ======  ======================================================
first adult's age / 100   10      the horizon left; one year of age weighs 0.1
years to retirement / 50  5       saving versus drawing down; one year weighs 0.1
couple (0 or 1)           1       a survivor's pension and spending change the problem
log1p(wealth / scale)     1       the main state of the problem; doubling it moves >= 0.4
log1p(net income / scale) 1       the human capital still to come
log1p(pensions / scale)   1       the floor of later income (the bond-like wealth)
essential fraction        1       the floor's weight in the objective
log1p(capital goal/scale) 1       the bequest motive
log(risk aversion)        1       the optimal stock share scales with 1 / gamma
mortality (0 or 1)        1       random lifetimes versus a fixed horizon
stocks' expected return   10      the risk premium; one percentage point weighs 0.1
stocks' volatility        5       the risk; one percentage point weighs 0.05
========================  ======  ======================================================

``scale`` is the retirement spending target, else the largest spending phase, else the
household's total net income, else wealth spread over the horizon, else 1: the same
order as the engine's consumption scale, computed without building the schedule.
"""

from __future__ import annotations

import math

import numpy as np

from glidepath.engine.cashflows import spending_scale
from glidepath.household.model import Household, Lifetimes

#: Bumped whenever the vector's contents, order or meaning change: the registry refuses
#: to compare vectors of different versions.
FEATURES_VERSION = 1

#: The weight of each feature in the distance (see the module docstring).
FEATURE_WEIGHTS: tuple[float, ...] = (10.0, 5.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 10.0, 5.0)

#: Number of features in a version-1 vector.
FEATURES_LENGTH = len(FEATURE_WEIGHTS)

#: The largest distance of a near match. Planning one birthday later moves the age and
#: the years to retirement by one year each (0.1 each, about 0.14 together), and raising
#: one income by 100 moves a log ratio by well under 0.01: both stay near. Ten years
#: older (1.0), doubling wealth that is at least the consumption scale (>= 0.41), or
#: doubling the risk aversion (0.69) are clearly other households and are not near.
NEAR_MATCH_THRESHOLD = 0.35


def _scale(household: Household) -> float:
    stated = spending_scale(household)
    if stated is not None:
        return stated
    income = sum(a.net_income for a in household.adults)
    if income > 0:
        return float(income)
    wealth = sum(a.balance for a in household.accounts)
    if wealth > 0:
        return wealth / max(household.horizon_years, 1)
    return 1.0


def household_features(household: Household) -> tuple[float, ...]:
    """The household's feature vector (version ``FEATURES_VERSION``), every number finite."""
    scale = _scale(household)
    first = household.adults[0]
    wealth = sum(max(a.balance, 0.0) for a in household.accounts)
    income = sum(max(a.net_income, 0.0) for a in household.adults)
    pensions = sum(max(i.amount, 0.0) for i in household.incomes)
    goals = household.goals
    stocks = household.market.stocks
    return (
        first.current_age / 100.0,
        household.retirement_year / 50.0,
        1.0 if len(household.adults) > 1 else 0.0,
        math.log1p(wealth / scale),
        math.log1p(income / scale),
        math.log1p(pensions / scale),
        float(goals.essential_fraction),
        math.log1p(max(goals.capital_goal, 0.0) / scale),
        math.log(household.risk_aversion),
        1.0 if household.lifetimes is Lifetimes.MORTALITY else 0.0,
        float(stocks.expected_return),
        float(stocks.volatility),
    )


def distance(a: tuple[float, ...] | list[float], b: tuple[float, ...] | list[float]) -> float:
    """The weighted Euclidean distance between two version-1 vectors (dimensionless)."""
    if len(a) != FEATURES_LENGTH or len(b) != FEATURES_LENGTH:
        raise ValueError(f"feature vectors must have {FEATURES_LENGTH} numbers")
    diff = (np.asarray(a, dtype=float) - np.asarray(b, dtype=float)) * np.asarray(FEATURE_WEIGHTS)
    return float(np.sqrt(np.sum(diff * diff)))
