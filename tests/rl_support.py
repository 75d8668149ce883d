"""Helpers for the RL tests: small households and one tiny trained model, cached."""

from __future__ import annotations

import functools
from dataclasses import replace

from glidepath.household.canonical import canonicalize
from glidepath.household.model import (
    Account,
    Adult,
    Charge,
    Goals,
    Household,
    Income,
    Lifetimes,
)
from glidepath.rl.training import TrainedModel, TrainingSpec, train


def small_household(scale: float = 1.0) -> Household:
    """A short (8-year) life with every kind of flow: salary, pension, charge, goal; the
    fixed horizon keeps it short."""
    return Household(
        lifetimes=Lifetimes.FIXED_HORIZON,
        adults=(
            Adult(
                current_age=60,
                retirement_age=63,
                life_expectancy=68,
                net_income=50_000.0 * scale,
                income_growth=0.01,
            ),
        ),
        incomes=(Income(amount=15_000.0 * scale, start_age=63),),
        charges=(Charge(amount=6_000.0 * scale, end_age=62),),
        accounts=(
            Account(
                balance=300_000.0 * scale,
                monthly_contribution=500.0 * scale,
                stock_share=0.6,
                bond_share=0.4,
            ),
        ),
        goals=Goals(capital_goal=100_000.0 * scale, retirement_spending=40_000.0 * scale),
    )


def mortal_couple() -> Household:
    """A couple of 93 and 90 under mortality (20 years to age 110, short enough for unit
    tests): a pension with 60 % to the survivor, an essential floor of 60 %, a bequest."""
    return Household(
        adults=(Adult(93, 93, 97), Adult(90, 90, 95)),
        incomes=(Income(amount=20_000.0, start_age=93, survivor_fraction=0.6),),
        accounts=(Account(balance=400_000.0, stock_share=0.5, bond_share=0.5),),
        goals=Goals(capital_goal=50_000.0, retirement_spending=45_000.0, essential_fraction=0.6),
        lifetimes=Lifetimes.MORTALITY,
    )


def scaled(household: Household, k: float) -> Household:
    """Every amount of money multiplied by ``k`` (rates, ages and shares unchanged)."""
    return replace(
        household,
        adults=tuple(replace(a, net_income=a.net_income * k) for a in household.adults),
        incomes=tuple(replace(i, amount=i.amount * k) for i in household.incomes),
        charges=tuple(replace(c, amount=c.amount * k) for c in household.charges),
        accounts=tuple(
            replace(a, balance=a.balance * k, monthly_contribution=a.monthly_contribution * k)
            for a in household.accounts
        ),
        spending_phases=tuple(
            replace(p, annual_spending=p.annual_spending * k) for p in household.spending_phases
        ),
        goals=replace(
            household.goals,
            capital_goal=household.goals.capital_goal * k,
            retirement_spending=household.goals.retirement_spending * k,
        ),
    )


@functools.lru_cache(maxsize=1)
def tiny_model() -> TrainedModel:
    """A real PPO trained on 64 lives of the small household (about a second)."""
    spec = TrainingSpec(household=canonicalize(small_household()), episodes=64, seed=3)
    return train(spec, lambda _: None, lambda: False)
