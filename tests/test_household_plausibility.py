"""Legal but implausible values give a warning naming the field; sane households none."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from household_support import example, retiree, rich

from glidepath.household import plausibility
from glidepath.household.model import (
    Adult,
    AssetClass,
    Household,
    Income,
    Lifetimes,
    SpendingPhase,
)
from glidepath.household.plausibility import warnings
from glidepath.household.validation import validate

Mutation = Callable[[Household], Household]


def market(**changes: object) -> Mutation:
    return lambda h: replace(h, market=replace(h.market, **changes))  # type: ignore[arg-type]


def first_adult(**changes: object) -> Mutation:
    return lambda h: replace(h, adults=(replace(h.adults[0], **changes), *h.adults[1:]))  # type: ignore[arg-type]


CASES: list[tuple[str, Mutation, str]] = [
    (
        "0.7 for 0.07",
        market(stocks=AssetClass(0.7, 0.17)),
        "household.market.stocks.expected_return",
    ),
    (
        "a crash every year",
        market(bonds=AssetClass(-0.2, 0.06)),
        "household.market.bonds.expected_return",
    ),
    ("1.7 for 0.17", market(stocks=AssetClass(0.07, 1.7)), "household.market.stocks.volatility"),
    ("25 % inflation", market(inflation_mean=0.25), "household.market.inflation_mean"),
    ("deflation", market(inflation_mean=-0.08), "household.market.inflation_mean"),
    ("wild inflation", market(inflation_volatility=0.3), "household.market.inflation_volatility"),
    ("salary +20 % a year", first_adult(income_growth=0.2), "household.adults[0].income_growth"),
    (
        "pension +15 % a year",
        lambda h: replace(h, incomes=(replace(h.incomes[0], growth=0.15),)),
        "household.incomes[0].growth",
    ),
    ("risk aversion 0.2", lambda h: replace(h, risk_aversion=0.2), "household.risk_aversion"),
    ("risk aversion 18", lambda h: replace(h, risk_aversion=18.0), "household.risk_aversion"),
    (
        "monthly spending in a yearly field",
        lambda h: replace(h, goals=replace(h.goals, retirement_spending=3_300.0)),
        "household.goals.retirement_spending",
    ),
    (
        "a monthly phase",
        lambda h: replace(h, spending_phases=(SpendingPhase(75, 3_000.0),)),
        "household.spending_phases[0].annual_spending",
    ),
    (
        "a monthly salary",
        lambda h: first_adult(net_income=5_000.0)(
            replace(h, accounts=(replace(h.accounts[0], monthly_contribution=0.0),))
        ),
        "household.adults[0].net_income",
    ),
    (
        "a contribution near everything left",
        lambda h: replace(h, accounts=(replace(h.accounts[0], monthly_contribution=5_500.0),)),
        "household.accounts[0].monthly_contribution",
    ),
    (
        "living to 115",
        lambda h: first_adult(life_expectancy=115)(replace(h, lifetimes=Lifetimes.FIXED_HORIZON)),
        "household.adults[0].life_expectancy",
    ),
]


@pytest.mark.parametrize(("slip", "mutate", "field"), CASES, ids=[c[0] for c in CASES])
def test_each_implausible_value_is_warned_about_by_its_field(
    slip: str, mutate: Mutation, field: str
) -> None:
    household = mutate(example())
    validate(household)  # legal: it runs, with a warning
    found = warnings(household)
    assert [w.field for w in found] == [field], slip
    (warning,) = found
    assert "\n" not in warning.message and 20 < len(warning.message) < 200


@pytest.mark.parametrize("household", [example(), retiree(), rich()], ids=["ex", "ret", "rich"])
def test_the_known_households_have_no_warning(household: Household) -> None:
    assert warnings(household) == ()


def test_the_thresholds_are_where_the_module_says() -> None:
    at = market(stocks=AssetClass(plausibility.HIGH_RETURN, 0.17))(example())
    above = market(stocks=AssetClass(plausibility.HIGH_RETURN + 1e-4, 0.17))(example())
    assert warnings(at) == ()
    assert len(warnings(above)) == 1


def test_a_couple_is_judged_on_its_largest_salary() -> None:
    couple = replace(example(), adults=(*example().adults, Adult(38, 60, 90, net_income=4_000.0)))
    assert warnings(couple) == ()  # a part-time second earner is plausible
    retired_pension = replace(retiree(), incomes=(Income(15_000.0, 65),))
    assert warnings(retired_pension) == ()
