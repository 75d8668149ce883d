"""Proto and JSON conversion of the household: exact round trips, defaults, errors."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from household_support import (
    EXAMPLE_JSON,
    example,
    households,
    retiree,
    rich,
    rich_annuities,
    rich_claiming,
)
from hypothesis import given, settings

from glidepath.common.v1 import household_pb2 as pb
from glidepath.errors import InvalidArgument
from glidepath.household.convert import (
    household_from_json,
    household_from_proto,
    household_to_json,
    household_to_proto,
)
from glidepath.household.model import (
    Account,
    AnnuityOffer,
    ClaimingWindow,
    Household,
    IncomeKind,
    MarketAssumptions,
    ReturnModel,
)

MINIMAL = {
    "adults": [{"currentAge": 40, "retirementAge": 65, "lifeExpectancy": 90, "netIncome": 1000}],
    "goals": {"retirementSpending": 30000},
}


def with_fields(**extra: object) -> str:
    return json.dumps({**MINIMAL, **extra})


def violated_fields(error: pytest.ExceptionInfo[InvalidArgument]) -> list[str]:
    return [v.field for v in error.value.violations]


@settings(max_examples=60, deadline=None)
@given(households())
def test_domain_proto_domain_round_trip_is_exact(household: Household) -> None:
    message = household_to_proto(household)
    assert household_from_proto(message) == household
    wire = pb.Household.FromString(message.SerializeToString())
    assert household_from_proto(wire) == household


@settings(max_examples=40, deadline=None)
@given(households())
def test_json_round_trip_is_exact(household: Household) -> None:
    assert household_from_json(household_to_json(household)) == household


@pytest.mark.parametrize("household", [example(), retiree(), rich()], ids=["ex", "ret", "rich"])
def test_known_households_round_trip(household: Household) -> None:
    assert household_from_proto(household_to_proto(household)) == household


def test_example_file_parses_with_the_documented_values() -> None:
    household = example()
    (adult,) = household.adults
    assert (adult.current_age, adult.retirement_age, adult.life_expectancy) == (40, 65, 90)
    assert (adult.net_income, adult.income_growth) == (60000.0, 0.01)
    (pension,) = household.incomes
    assert (pension.amount, pension.start_age, pension.end_age) == (20000.0, 65, None)
    assert pension.indexed_to_inflation and pension.kind is IncomeKind.PENSION
    (mortgage,) = household.charges
    assert (mortgage.amount, mortgage.end_age, mortgage.indexed_to_inflation) == (12000, 55, True)
    (account,) = household.accounts
    assert (account.balance, account.monthly_contribution) == (100000.0, 800.0)
    assert (account.stock_share, account.bond_share, account.cash_share) == (0.6, 0.4, 0.0)
    assert household.goals.retirement_spending == 40000.0
    assert household.goals.capital_goal == 200000.0
    assert household.risk_aversion == 3.0
    assert household.market == MarketAssumptions()


def test_original_field_names_are_accepted_too() -> None:
    camel = json.loads(EXAMPLE_JSON.read_text())
    snake = json.loads(
        json.dumps(camel)
        .replace("currentAge", "current_age")
        .replace("monthlyContribution", "monthly_contribution")
        .replace("retirementSpending", "retirement_spending")
    )
    assert household_from_json(json.dumps(snake)) == example()


def test_unset_fields_take_the_documented_defaults() -> None:
    household = household_from_json(
        with_fields(
            accounts=[{"balance": 1000}],
            incomes=[{"amount": 5000, "startAge": 67}],
            charges=[{"amount": 100}],
        )
    )
    assert household.risk_aversion == 3.0
    assert household.market == MarketAssumptions()
    assert household.accounts == (Account(1000.0, 0.0, 0.6, 0.4, 0.0),)
    (income,) = household.incomes
    assert income.end_age is None and income.indexed_to_inflation
    assert income.kind is IncomeKind.PENSION and income.adult == 0
    (charge,) = household.charges
    assert charge.end_age is None and charge.start_age is None and charge.indexed_to_inflation


def test_explicit_zero_is_not_the_default_where_defaults_differ() -> None:
    household = household_from_json(
        with_fields(
            riskAversion=2.5,
            incomes=[{"amount": 5000, "startAge": 67, "indexedToInflation": False}],
            market={"inflationMean": 0, "stocks": {"volatility": 0.2}},
        )
    )
    assert household.risk_aversion == 2.5
    assert not household.incomes[0].indexed_to_inflation
    assert household.market.inflation_mean == 0.0
    # Unset expected_return keeps the stocks default beside the set volatility.
    assert household.market.stocks.expected_return == MarketAssumptions().stocks.expected_return
    assert household.market.stocks.volatility == 0.2


def test_one_share_given_means_the_others_are_zero() -> None:
    household = household_from_json(with_fields(accounts=[{"balance": 1, "stockShare": 1}]))
    account = household.accounts[0]
    assert (account.stock_share, account.bond_share, account.cash_share) == (1.0, 0.0, 0.0)


def test_enums_map_both_ways() -> None:
    household = household_from_json(
        with_fields(
            incomes=[{"amount": 1, "startAge": 50, "kind": "INCOME_KIND_OTHER"}],
            market={"returnModel": "RETURN_MODEL_STUDENT_T"},
        )
    )
    assert household.incomes[0].kind is IncomeKind.OTHER
    assert household.market.return_model is ReturnModel.STUDENT_T
    message = household_to_proto(household)
    assert message.incomes[0].kind == pb.INCOME_KIND_OTHER
    assert message.market.return_model == pb.RETURN_MODEL_STUDENT_T


def test_correlations_are_row_major() -> None:
    flat = [float(i) for i in range(16)]
    message = pb.Household(market=pb.MarketAssumptions(correlations=flat))
    household = household_from_proto(message, validated=False)
    assert household.market.correlations[1] == (4.0, 5.0, 6.0, 7.0)
    assert list(household_to_proto(household).market.correlations) == flat


def test_wrong_correlation_count_names_the_field() -> None:
    message = household_to_proto(example())
    del message.market.correlations[3:]
    with pytest.raises(InvalidArgument) as error:
        household_from_proto(message)
    assert violated_fields(error) == ["household.market.correlations"]


def test_unknown_enum_numbers_name_their_fields() -> None:
    message = household_to_proto(rich())
    message.incomes[1].kind = 7  # type: ignore[assignment]
    message.market.return_model = 9  # type: ignore[assignment]
    with pytest.raises(InvalidArgument) as error:
        household_from_proto(message)
    assert violated_fields(error) == ["household.incomes[1].kind", "household.market.return_model"]


def test_conversion_validates_unless_told_not_to() -> None:
    text = with_fields(riskAversion=-1)
    with pytest.raises(InvalidArgument) as error:
        household_from_json(text)
    assert violated_fields(error) == ["riskAversion"]
    assert household_from_json(text, validated=False).risk_aversion == -1


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"adults": [{"currentAge": "forty"}]}', "adults.currentAge"),
        ('{"adults": [{"age": 40}]}', "adults[0].age"),
        ('{"market": {"stocks": {"volatility": "high"}}}', "market.stocks.volatility"),
        ('{"incomes": [{}, {"kind": "SALARY"}]}', "incomes[1].kind"),
        ('{"adults": [{"current_age": 40.5}]}', "adults[0].current_age"),
        ('{"goals": {"capitalGoal": 1}, "nmae": "x"}', "nmae"),
        ("not json", "household"),
    ],
)
def test_json_parse_errors_name_the_field(text: str, field: str) -> None:
    with pytest.raises(InvalidArgument) as error:
        household_from_json(text)
    assert violated_fields(error) == [field]


def test_json_nan_parses_then_fails_validation() -> None:
    with pytest.raises(InvalidArgument) as error:
        household_from_json(with_fields(goals={"retirementSpending": "NaN"}))
    assert violated_fields(error) == ["goals.retirementSpending"]


def _without(document: Mapping[str, object], path: str) -> Any:
    """A deep copy of ``document`` without the key at dotted ``path`` (``adults.0.netIncome``)."""
    copy = json.loads(json.dumps(document))
    *parents, last = path.split(".")
    node = copy
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    del node[last]
    return copy


FULL = {
    **MINIMAL,
    "accounts": [{"balance": 1000, "monthlyContribution": 10}],
    "incomes": [{"amount": 5000, "startAge": 67}],
    "charges": [{"amount": 100, "endAge": 60}],
    "spendingPhases": [{"startAge": 70, "annualSpending": 25000}],
}


@pytest.mark.parametrize(
    ("missing", "field"),
    [
        ("adults.0.currentAge", "adults[0].currentAge"),
        ("adults.0.retirementAge", "adults[0].retirementAge"),
        ("adults.0.lifeExpectancy", "adults[0].lifeExpectancy"),
        ("adults.0.netIncome", "adults[0].netIncome"),
        ("accounts.0.balance", "accounts[0].balance"),
        ("incomes.0.amount", "incomes[0].amount"),
        ("incomes.0.startAge", "incomes[0].startAge"),
        ("charges.0.amount", "charges[0].amount"),
        ("spendingPhases.0.startAge", "spendingPhases[0].startAge"),
        ("spendingPhases.0.annualSpending", "spendingPhases[0].annualSpending"),
    ],
)
def test_a_missing_required_field_is_named_as_the_file_writes_it(missing: str, field: str) -> None:
    household_from_json(json.dumps(FULL))  # complete, it is valid
    with pytest.raises(InvalidArgument) as error:
        household_from_json(json.dumps(_without(FULL, missing)))
    assert violated_fields(error) == [field]
    assert "required" in error.value.violations[0].description


def test_a_missing_field_in_a_file_of_original_names_keeps_that_spelling() -> None:
    text = '{"adults": [{"retirement_age": 65, "life_expectancy": 90, "net_income": 1}]}'
    with pytest.raises(InvalidArgument) as error:
        household_from_json(text)
    assert violated_fields(error) == ["adults[0].current_age"]


def test_every_missing_field_is_reported_at_once() -> None:
    text = json.dumps({"adults": [{"retirementAge": 65}], "accounts": [{"stockShare": 1}]})
    with pytest.raises(InvalidArgument) as error:
        household_from_json(text)
    assert violated_fields(error) == [
        "adults[0].currentAge",
        "adults[0].lifeExpectancy",
        "accounts[0].balance",
    ]


def test_net_income_defaults_to_zero_only_for_an_adult_retiring_now() -> None:
    retired = {"adults": [{"currentAge": 70, "retirementAge": 70, "lifeExpectancy": 95}]}
    household = household_from_json(
        json.dumps({**retired, "accounts": [{"balance": 1e5}], "goals": MINIMAL["goals"]})
    )
    assert household.adults[0].net_income == 0.0
    # A working adult with no earned income says so explicitly, and is accepted.
    zero = json.loads(json.dumps(FULL))
    zero["adults"][0]["netIncome"] = 0
    del zero["accounts"][0]["monthlyContribution"]  # nothing left to pay it from
    assert household_from_json(json.dumps(zero)).adults[0].net_income == 0.0


def test_a_missing_field_on_the_wire_is_named_by_its_proto_path() -> None:
    message = household_to_proto(example())
    message.adults[0].ClearField("current_age")
    message.accounts[0].ClearField("balance")
    with pytest.raises(InvalidArgument) as error:
        household_from_proto(message)
    assert violated_fields(error) == [
        "household.adults[0].current_age",
        "household.accounts[0].balance",
    ]


def test_a_huge_unknown_key_is_clipped_in_the_error() -> None:
    key = "k" * 100_000
    with pytest.raises(InvalidArgument) as error:
        household_from_json(json.dumps({key: 1}))
    (violation,) = error.value.violations
    assert violation.field.endswith("(100000 characters)") and len(violation.field) < 300
    assert len(violation.description) < 400


def test_an_annuity_offer_round_trips_and_unset_fields_take_their_defaults() -> None:
    household = rich_annuities()
    assert household_from_json(household_to_json(household)) == household
    assert household_from_proto(household_to_proto(household)) == household
    text = with_fields(annuities={"moneyWorthRatio": 0.85})
    offer = household_from_json(text).annuities
    assert offer == AnnuityOffer(money_worth_ratio=0.85)
    assert household_from_json(with_fields(annuities={})).annuities == AnnuityOffer()
    assert household_from_json(with_fields()).annuities is None


def test_a_claiming_window_round_trips_and_unset_adjustments_take_their_defaults() -> None:
    household = rich_claiming()
    assert household_from_json(household_to_json(household)) == household
    assert household_from_proto(household_to_proto(household)) == household
    pension = {"kind": "INCOME_KIND_PENSION", "amount": 20000, "startAge": 65}
    text = with_fields(incomes=[{**pension, "claiming": {"earliestAge": 62, "latestAge": 70}}])
    (income,) = household_from_json(text).incomes
    assert income.claiming == ClaimingWindow(62, 70, 0.0667, 0.08)
    (plain,) = household_from_json(with_fields(incomes=[pension])).incomes
    assert plain.claiming is None


def test_a_claiming_window_without_its_ages_names_them() -> None:
    pension = {"kind": "INCOME_KIND_PENSION", "amount": 20000, "startAge": 65, "claiming": {}}
    with pytest.raises(InvalidArgument) as error:
        household_from_json(with_fields(incomes=[pension]))
    named = {v.field for v in error.value.violations}
    assert named == {
        "incomes[0].claiming.earliestAge",
        "incomes[0].claiming.latestAge",
    }
