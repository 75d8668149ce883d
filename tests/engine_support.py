"""Households and markets the engine tests share, under the fixed horizon: every life ends
at its life expectancy, the world the closed forms are written for."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glidepath.engine.state import Decision, YearState
from glidepath.engine.strategies import Strategy
from glidepath.household.model import (
    Account,
    Adult,
    AssetClass,
    Charge,
    Goals,
    Household,
    Income,
    Lifetimes,
    MarketAssumptions,
)


@dataclass(frozen=True)
class Annuitising:
    """``inner``'s decisions, annuitising ``fraction`` of wealth in year ``year`` (every
    year with ``year=None``: a buyer that meets every year an offer allows)."""

    inner: Strategy
    fraction: float
    year: int | None = 0
    name: str = "annuitising"

    def decide(self, state: YearState) -> Decision:
        d = self.inner.decide(state)
        if self.year is not None and state.t != self.year:
            return d
        return Decision(d.stock_share, d.consumption, np.full(state.n_paths, self.fraction))


IDENTITY = tuple(tuple(1.0 if i == j else 0.0 for j in range(4)) for i in range(4))


def samuelson_market(mu: float = 0.06, sigma: float = 0.18, rf: float = 0.01) -> MarketAssumptions:
    """One lognormal risky asset and a riskless one (bonds = cash), no inflation."""
    return MarketAssumptions(
        stocks=AssetClass(mu, sigma),
        bonds=AssetClass(rf, 0.0),
        cash=AssetClass(rf, 0.0),
        inflation_mean=0.0,
        inflation_volatility=0.0,
        correlations=IDENTITY,
    )


def retiree(
    wealth: float = 1_000_000.0,
    years: int = 30,
    gamma: float = 3.0,
    goal: float = 0.0,
    market: MarketAssumptions | None = None,
) -> Household:
    """Retired now, no income, no charges, no spending target: Samuelson's problem."""
    return Household(
        lifetimes=Lifetimes.FIXED_HORIZON,
        adults=(Adult(65, 65, 65 + years),),
        accounts=(Account(wealth, 0.0, 0.6, 0.4, 0.0),),
        goals=Goals(capital_goal=goal),
        risk_aversion=gamma,
        market=market or samuelson_market(),
    )


def example_household() -> Household:
    """The product's example: 40, salary 60k, retires at 65, pension 20k, mortgage to 55."""
    return Household(
        lifetimes=Lifetimes.FIXED_HORIZON,
        adults=(Adult(40, 65, 90, 60_000.0, 0.01, name="Alex"),),
        incomes=(Income(20_000.0, 65, label="pension"),),
        charges=(Charge(12_000.0, 55, label="mortgage"),),
        accounts=(Account(100_000.0, 800.0, 0.6, 0.4, 0.0, label="brokerage"),),
        goals=Goals(capital_goal=200_000.0, retirement_spending=40_000.0),
        risk_aversion=3.0,
    )
