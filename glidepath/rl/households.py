"""Reference households for the learning-quality tests and benchmark.

- :func:`merton_case`: the textbook problem (docs/origins.md): a 65-year-old with 1,000,000,
  no income, a fixed horizon to 90 (no mortality), a spending target of 40,000 (the
  consumption scale; validation requires one), stocks 6 % arithmetic real with 18 %
  volatility, bonds 1 % real and riskless, no inflation, gamma = 3. The engine's
  Merton-style rule is Samuelson's discrete-time optimum here (up to the monthly timing
  of withdrawals).
- :func:`example_household`: ``examples/household.json`` (age 40, salary, pension, a
  mortgage, a capital goal), the product's running example.
"""

from __future__ import annotations

from pathlib import Path

from glidepath.household.canonical import canonicalize
from glidepath.household.convert import household_from_json
from glidepath.household.model import (
    Account,
    Adult,
    AssetClass,
    Goals,
    Household,
    Lifetimes,
    MarketAssumptions,
)

EXAMPLE_PATH = Path(__file__).resolve().parents[2] / "examples" / "household.json"

_IDENTITY = tuple(tuple(1.0 if i == j else 0.0 for j in range(4)) for i in range(4))


def merton_case() -> Household:
    market = MarketAssumptions(
        stocks=AssetClass(0.06, 0.18),
        bonds=AssetClass(0.01, 0.0),
        cash=AssetClass(0.01, 0.0),
        inflation_mean=0.0,
        inflation_volatility=0.0,
        correlations=_IDENTITY,
    )
    return canonicalize(
        Household(
            adults=(Adult(current_age=65, retirement_age=65, life_expectancy=90),),
            accounts=(Account(balance=1_000_000.0, stock_share=0.5, bond_share=0.5),),
            goals=Goals(retirement_spending=40_000.0),
            market=market,
            name="Merton case",
            lifetimes=Lifetimes.FIXED_HORIZON,
        )
    )


def example_household() -> Household:
    return canonicalize(household_from_json(EXAMPLE_PATH.read_text()))
