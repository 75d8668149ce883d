"""Households for the DP optimum's tests and benchmark (lifetimes, couples, the floor)."""

from __future__ import annotations

from dataclasses import replace

from engine_support import example_household

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
