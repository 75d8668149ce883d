"""Every validation rule names the right field; all violations come back together."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from household_support import (
    PSD_ONLY_BEFORE_ROUNDING,
    couple,
    example,
    households,
    retiree,
    rich,
)
from hypothesis import given, settings

from glidepath.errors import InvalidArgument
from glidepath.household.model import (
    Account,
    Adult,
    AnnuityOffer,
    AssetClass,
    Charge,
    ClaimingWindow,
    Goals,
    Household,
    Income,
    IncomeKind,
    Lifetimes,
    MarketAssumptions,
    ReturnModel,
    SpendingPhase,
)
from glidepath.household.validation import validate
from glidepath.rpc.status import to_status

Mutation = Callable[[Household], Household]
NAN = math.nan
INF = math.inf


def fields_violated(household: Household) -> list[str]:
    with pytest.raises(InvalidArgument) as error:
        validate(household)
    return [v.field for v in error.value.violations]


def adult(**changes: Any) -> Mutation:
    return lambda h: replace(h, adults=(replace(h.adults[0], **changes), *h.adults[1:]))


def account(**changes: Any) -> Mutation:
    return lambda h: replace(h, accounts=(replace(h.accounts[0], **changes), *h.accounts[1:]))


def income(**changes: Any) -> Mutation:
    return lambda h: replace(h, incomes=(replace(h.incomes[0], **changes), *h.incomes[1:]))


def charge(**changes: Any) -> Mutation:
    return lambda h: replace(h, charges=(replace(h.charges[0], **changes), *h.charges[1:]))


def phases(*items: SpendingPhase) -> Mutation:
    return lambda h: replace(h, spending_phases=items)


def goals(**changes: Any) -> Mutation:
    return lambda h: replace(h, goals=replace(h.goals, **changes))


def market(**changes: Any) -> Mutation:
    return lambda h: replace(h, market=replace(h.market, **changes))


def correlation(i: int, j: int, value: float, symmetric: bool = True) -> Mutation:
    def mutate(h: Household) -> Household:
        rows = [list(r) for r in h.market.correlations]
        rows[i][j] = value
        if symmetric:
            rows[j][i] = value
        return replace(h, market=replace(h.market, correlations=tuple(tuple(r) for r in rows)))

    return mutate


def top(**changes: Any) -> Mutation:
    return lambda h: replace(h, **changes)  # type: ignore[arg-type]


def offer(**fields: Any) -> Mutation:
    return lambda h: replace(h, annuities=AnnuityOffer(**fields))


def window(earliest: Any = 62, latest: Any = 70, **fields: Any) -> Mutation:
    """The example's pension (default age 65) with a claiming window."""

    def mutate(h: Household) -> Household:
        claiming = ClaimingWindow(earliest, latest, **fields)
        return replace(h, incomes=(replace(h.incomes[0], claiming=claiming), *h.incomes[1:]))

    return mutate


def compose(*mutations: Mutation) -> Mutation:
    def mutate(h: Household) -> Household:
        for m in mutations:
            h = m(h)
        return h

    return mutate


def fixed(mutation: Mutation) -> Mutation:
    """``mutation`` of the household under the fixed horizon, whose plan ends at the last
    life expectancy (under mortality it runs to age 110, and these values are legal)."""
    return lambda h: mutation(replace(h, lifetimes=Lifetimes.FIXED_HORIZON))


GROWN = Adult(40, 65, 90, 1000.0)
A = "household.adults[0]"
AN = "household.annuities"
CW = "household.incomes[0].claiming"
# (case, mutation of the example household, every field it must violate)
CASES: list[tuple[str, Mutation, str | tuple[str, ...]]] = [
    ("no adult", top(adults=()), "household.adults"),
    ("three adults", top(adults=(GROWN, GROWN, GROWN)), "household.adults"),
    ("negative age", adult(current_age=-1), f"{A}.current_age"),
    ("age over 120", adult(current_age=121), f"{A}.current_age"),
    ("fractional age", adult(current_age=40.5), f"{A}.current_age"),
    ("retired before now", adult(retirement_age=39), f"{A}.retirement_age"),
    ("retirement over 120", adult(retirement_age=130), f"{A}.retirement_age"),
    ("dies before now", fixed(adult(life_expectancy=40)), f"{A}.life_expectancy"),
    ("dies before retiring", adult(life_expectancy=60), f"{A}.life_expectancy"),
    ("expected to die now, mortality", adult(life_expectancy=40), f"{A}.life_expectancy"),
    ("plan over 100 years, mortality", adult(current_age=9, retirement_age=30), f"{A}.current_age"),
    (
        "horizon over 100 years",
        fixed(adult(current_age=10, retirement_age=30, life_expectancy=115)),
        f"{A}.life_expectancy",
    ),
    ("negative income", adult(net_income=-1.0), f"{A}.net_income"),
    ("NaN income", adult(net_income=NAN), f"{A}.net_income"),
    ("infinite income", adult(net_income=INF), f"{A}.net_income"),
    ("absurd income", adult(net_income=2e12), f"{A}.net_income"),
    ("income in text", adult(net_income="60000"), f"{A}.net_income"),
    ("income when retiring now", adult(retirement_age=40), f"{A}.net_income"),
    ("income growth 60 %", adult(income_growth=0.6), f"{A}.income_growth"),
    ("income growth NaN", adult(income_growth=NAN), f"{A}.income_growth"),
    ("adult name too long", adult(name="x" * 257), f"{A}.name"),
    ("negative balance", account(balance=-1.0), "household.accounts[0].balance"),
    (
        "NaN contribution",
        account(monthly_contribution=NAN),
        "household.accounts[0].monthly_contribution",
    ),
    (
        "share above 1",
        account(stock_share=1.5, bond_share=0.0),
        "household.accounts[0].stock_share",
    ),
    (
        "negative share",
        account(stock_share=0.7, cash_share=-0.1),
        "household.accounts[0].cash_share",
    ),
    ("shares sum to 1.1", account(stock_share=0.7), "household.accounts[0]"),
    (
        "total balance absurd",
        top(accounts=(Account(9e11), Account(9e11))),
        "household.accounts",
    ),
    ("33 accounts", top(accounts=(Account(1.0),) * 33), "household.accounts"),
    ("account label too long", account(label="x" * 300), "household.accounts[0].label"),
    ("negative pension", income(amount=-5.0), "household.incomes[0].amount"),
    ("income ends before start", income(end_age=65), "household.incomes[0].end_age"),
    ("income of a missing adult", income(adult=1), "household.incomes[0].adult"),
    ("income growth -60 %", income(growth=-0.6), "household.incomes[0].growth"),
    (
        "income ended already",
        income(start_age=20, end_age=30),
        "household.incomes[0].end_age",
    ),
    ("income after the plan", fixed(income(start_age=95)), "household.incomes[0].start_age"),
    ("income at negative age", income(start_age=-5), "household.incomes[0].start_age"),
    ("income end over 120", income(end_age=121), "household.incomes[0].end_age"),
    ("infinite charge", charge(amount=INF), "household.charges[0].amount"),
    ("charge ends before start", charge(start_age=50, end_age=50), "household.charges[0].end_age"),
    ("charge ended already", charge(end_age=40), "household.charges[0].end_age"),
    (
        "charge after the plan",
        fixed(charge(start_age=90, end_age=None)),
        "household.charges[0].start_age",
    ),
    (
        "phases at one age",
        phases(SpendingPhase(70, 1.0), SpendingPhase(70, 2.0)),
        "household.spending_phases[1].start_age",
    ),
    (
        "negative phase spending",
        phases(SpendingPhase(70, -1.0)),
        "household.spending_phases[0].annual_spending",
    ),
    (
        "phase after the plan",
        fixed(phases(SpendingPhase(95, 1.0))),
        "household.spending_phases[0].start_age",
    ),
    ("negative capital goal", goals(capital_goal=-1.0), "household.goals.capital_goal"),
    ("NaN spending target", goals(retirement_spending=NAN), "household.goals.retirement_spending"),
    ("no spending target", goals(retirement_spending=0.0), "household.goals.retirement_spending"),
    (
        "nothing to live on",
        lambda h: replace(
            h, adults=(replace(h.adults[0], net_income=0.0),), accounts=(), incomes=()
        ),
        "household",
    ),
    ("risk aversion 0", top(risk_aversion=0.0), "household.risk_aversion"),
    ("risk aversion 21", top(risk_aversion=21.0), "household.risk_aversion"),
    ("risk aversion NaN", top(risk_aversion=NAN), "household.risk_aversion"),
    ("household name too long", top(name="x" * 257), "household.name"),
    (
        "stocks return 150 %",
        market(stocks=AssetClass(1.5, 0.17)),
        "household.market.stocks.expected_return",
    ),
    (
        "negative bond volatility",
        market(bonds=AssetClass(0.04, -0.1)),
        "household.market.bonds.volatility",
    ),
    (
        "cash volatility 250 %",
        market(cash=AssetClass(0.03, 2.5)),
        "household.market.cash.volatility",
    ),
    ("inflation -60 %", market(inflation_mean=-0.6), "household.market.inflation_mean"),
    (
        "inflation volatility NaN",
        market(inflation_volatility=NAN),
        "household.market.inflation_volatility",
    ),
    (
        "2 degrees of freedom",
        market(return_model=ReturnModel.STUDENT_T, degrees_of_freedom=2.0),
        "household.market.degrees_of_freedom",
    ),
    (
        "asymmetric correlations",
        correlation(0, 1, 0.5, symmetric=False),
        "household.market.correlations",
    ),
    ("diagonal not 1", correlation(2, 2, 0.9), "household.market.correlations"),
    ("correlation above 1", correlation(0, 3, 1.2), "household.market.correlations"),
    ("correlation NaN", correlation(0, 3, NAN), "household.market.correlations"),
    (
        "not positive semi-definite",
        lambda h: correlation(0, 1, 0.9)(correlation(0, 2, 0.9)(correlation(1, 2, -0.9)(h))),
        "household.market.correlations",
    ),
    (
        "not PSD once rounded",
        market(correlations=PSD_ONLY_BEFORE_ROUNDING),
        "household.market.correlations",
    ),
    (
        "3x3 correlations",
        market(correlations=((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))),
        "household.market.correlations",
    ),
    ("annuities after the plan", offer(from_age=111), f"{AN}.from_age"),
    ("annuities at no age", offer(from_age=121), f"{AN}.from_age"),
    (
        "free annuities",
        offer(money_worth_ratio=0.0),
        f"{AN}.money_worth_ratio",
    ),
    (
        "a gift annuity",
        offer(money_worth_ratio=1.2),
        f"{AN}.money_worth_ratio",
    ),
    ("nan ratio", offer(money_worth_ratio=NAN), f"{AN}.money_worth_ratio"),
    (
        "single survivor",
        offer(survivor_fraction=0.5),
        f"{AN}.survivor_fraction",
    ),
    ("survivor > 1", offer(survivor_fraction=1.5), f"{AN}.survivor_fraction"),
    ("one purchase not a bool", offer(only_at_from_age="yes"), f"{AN}.only_at_from_age"),
    ("claim after the default", window(earliest=66), f"{CW}.earliest_age"),
    ("claim only before the default", window(latest=64), f"{CW}.latest_age"),
    ("claim at one age", window(65, 65), f"{CW}.latest_age"),
    ("claim at no age", window(latest=130), f"{CW}.latest_age"),
    ("claim at a text age", window(earliest="62"), f"{CW}.earliest_age"),
    ("claim early for nothing", window(50, 70, early_adjustment=0.07), f"{CW}.early_adjustment"),
    ("claim early for more", window(early_adjustment=-0.05), f"{CW}.early_adjustment"),
    ("claim late for less", window(late_adjustment=-0.05), f"{CW}.late_adjustment"),
    ("nan adjustment", window(late_adjustment=NAN), f"{CW}.late_adjustment"),
    (
        "claim after the end",
        compose(window(), lambda h: replace(h, incomes=(replace(h.incomes[0], end_age=70),))),
        f"{CW}.latest_age",
    ),
    (
        "claim other income",
        compose(
            window(), lambda h: replace(h, incomes=(replace(h.incomes[0], kind=IncomeKind.OTHER),))
        ),
        CW,
    ),
    (
        "claim five pensions",
        compose(window(), lambda h: replace(h, incomes=h.incomes * 5)),
        "household.incomes",
    ),
    (
        "claim with one age left",
        compose(
            window(36, 40), lambda h: replace(h, incomes=(replace(h.incomes[0], start_age=40),))
        ),
        f"{CW}.latest_age",
    ),
    (
        "claim a pension in payment",
        compose(
            window(36, 45), lambda h: replace(h, incomes=(replace(h.incomes[0], start_age=38),))
        ),
        CW,
    ),
]


@pytest.mark.parametrize(
    ("mutation", "field"), [(m, f) for _, m, f in CASES], ids=[name for name, _, _ in CASES]
)
def test_each_rule_names_its_field(mutation: Mutation, field: str | tuple[str, ...]) -> None:
    expected = [field] if isinstance(field, str) else list(field)
    assert fields_violated(mutation(example())) == expected


@pytest.mark.parametrize("household", [example(), retiree(), rich()], ids=["ex", "ret", "rich"])
def test_example_households_are_valid(household: Household) -> None:
    validate(household)


@settings(max_examples=60, deadline=None)
@given(households())
def test_generated_households_are_valid(household: Household) -> None:
    validate(household)


def test_retiring_now_is_valid_but_contributing_then_is_not() -> None:
    validate(retiree())
    contributing = account(monthly_contribution=100.0)(retiree())
    assert fields_violated(contributing) == ["household.accounts[0].monthly_contribution"]


def test_a_couple_may_place_an_income_on_the_second_adult() -> None:
    couple = replace(example(), adults=(*example().adults, Adult(38, 64, 92, 20000.0)))
    validate(income(adult=1)(couple))


def test_a_phase_alone_is_a_spending_target() -> None:
    household = phases(SpendingPhase(65, 30000.0))(goals(retirement_spending=0.0)(example()))
    validate(household)


def test_unknown_correlation_shape_is_reported_not_raised() -> None:
    household = market(correlations=(("a",),))(example())
    assert fields_violated(household) == ["household.market.correlations"]


def test_all_violations_come_back_together() -> None:
    household = replace(
        example(),
        adults=(replace(example().adults[0], current_age=-3, net_income=NAN),),
        goals=Goals(capital_goal=-1.0, retirement_spending=40000.0),
        charges=(Charge(amount=-1.0, end_age=50),),
        risk_aversion=0.0,
        market=MarketAssumptions(stocks=AssetClass(0.07, -1.0)),
    )
    assert fields_violated(household) == [
        "household.adults[0].current_age",
        "household.adults[0].net_income",
        "household.charges[0].amount",
        "household.goals.capital_goal",
        "household.risk_aversion",
        "household.market.stocks.volatility",
    ]


def test_violations_become_a_bad_request_status() -> None:
    household = replace(example(), risk_aversion=-1.0, incomes=(Income(-1.0, 65),))
    with pytest.raises(InvalidArgument) as error:
        validate(household)
    status = to_status(error.value)
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT
    details = [d for _, d in status.trailing_metadata if isinstance(d, bytes)]
    (raw,) = details
    decoded = status_pb2.Status.FromString(raw)
    bad = error_details_pb2.BadRequest()
    assert any(d.Unpack(bad) for d in decoded.details)
    assert [v.field for v in bad.field_violations] == [
        "household.incomes[0].amount",
        "household.risk_aversion",
    ]


# --------------------------------------------------------------------------- contributions


def test_a_contribution_with_no_income_to_pay_it_is_refused() -> None:
    """With no income, 800 or 5,000 a month used to give the same answer: both are refused."""
    no_income = adult(net_income=0.0)(example())
    no_income = replace(no_income, charges=())
    for monthly in (800.0, 5_000.0):
        household = account(monthly_contribution=monthly)(no_income)
        with pytest.raises(InvalidArgument) as error:
            validate(household)
        (violation,) = error.value.violations
        assert violation.field == "household.accounts[0].monthly_contribution"
        assert "would change nothing" in violation.description
    validate(account(monthly_contribution=0.0)(no_income))


def test_contributions_up_to_what_a_year_leaves_are_accepted_beyond_refused() -> None:
    from glidepath.household.validation import largest_yearly_saving

    household = example()
    most = largest_yearly_saving(household)
    # 60,000 growing 1 % a year for 25 years, the mortgage (12,000) ended at 55.
    assert most == pytest.approx(60_000 * 1.01**24, rel=1e-3)
    validate(account(monthly_contribution=math.floor(most / 12 / 10) * 10)(household))
    yearly_typed_as_monthly = account(monthly_contribution=most)(household)
    (violation,) = error_of(yearly_typed_as_monthly).violations
    assert violation.field == "household.accounts[0].monthly_contribution"
    assert "is it a yearly amount?" in violation.description
    two = replace(
        household,
        accounts=(
            replace(household.accounts[0], monthly_contribution=most / 12),
            Account(1_000.0, most / 12),
        ),
    )
    assert [v.field for v in error_of(two).violations] == ["household.accounts"]


def error_of(household: Household) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as error:
        validate(household)
    return error.value


def test_a_couples_annuity_offer_is_valid_and_its_message_names_the_rule() -> None:
    validate(replace(couple(), annuities=AnnuityOffer(survivor_fraction=0.6)))
    single = replace(example(), annuities=AnnuityOffer(survivor_fraction=0.6))
    with pytest.raises(InvalidArgument, match="applies only to a couple"):
        validate(single)


def test_a_claiming_window_around_the_default_age_is_valid() -> None:
    validate(window()(example()))
    validate(window(65, 66)(example()))  # only later
    validate(window(60, 65, early_adjustment=0.19)(example()))  # 95 % less at 60: still paid
