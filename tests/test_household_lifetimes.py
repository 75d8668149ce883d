"""The lifetimes fields of a household: validation, the file and wire forms, defaults."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from household_support import COUPLE_JSON, TABLE_Q, couple, example, rich_lives

from glidepath.errors import InvalidArgument
from glidepath.household.convert import (
    household_from_json,
    household_from_proto,
    household_to_json,
    household_to_proto,
)
from glidepath.household.model import Household, Lifetimes, MortalityTable
from glidepath.household.validation import table_life_expectancy, validate


def fields_of(error: pytest.ExceptionInfo[InvalidArgument]) -> list[str]:
    return [v.field for v in error.value.violations]


def document() -> dict[str, object]:
    loaded = json.loads(COUPLE_JSON.read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_the_couple_example_says_what_it_holds() -> None:
    household = couple()
    assert household.lifetimes is Lifetimes.MORTALITY
    assert len(household.adults) == 2 and len(household.accounts) == 2
    assert [i.survivor_fraction for i in household.incomes] == [0.6, 0.0]
    assert household.goals.essential_fraction == 0.6 and household.charges
    assert household.survivor_spending_fraction == 0.7
    # The plan runs until the younger adult (55) could reach 110.
    assert household.horizon_years == 56


def test_a_household_that_does_not_say_gets_mortality_and_no_survivor_or_floor() -> None:
    household = example()
    assert household.lifetimes is Lifetimes.MORTALITY
    assert household.goals.essential_fraction == 0.0
    assert household.survivor_spending_fraction == 0.7
    assert all(i.survivor_fraction == 0.0 for i in household.incomes)
    assert household.horizon_years == 110 + 1 - 40  # ages 40 .. 110, the last age anyone lives
    fixed = replace(household, lifetimes=Lifetimes.FIXED_HORIZON)
    assert fixed.horizon_years == 50  # to the life expectancy


@pytest.mark.parametrize("spelling", ["mortality", "LIFETIMES_MORTALITY"])
def test_lifetimes_is_read_in_either_spelling(spelling: str) -> None:
    doc = document()
    doc["lifetimes"] = spelling
    assert household_from_json(json.dumps(doc)).lifetimes is Lifetimes.MORTALITY
    doc["lifetimes"] = "fixed_horizon" if spelling.islower() else "LIFETIMES_FIXED_HORIZON"
    doc.pop("survivorSpendingFraction")
    for income in doc["incomes"]:  # type: ignore[attr-defined]
        income.pop("survivorFraction", None)
    assert household_from_json(json.dumps(doc)).lifetimes is Lifetimes.FIXED_HORIZON


@pytest.mark.parametrize("household", [couple(), rich_lives()], ids=["couple", "rich_lives"])
def test_lifetimes_fields_round_trip_exactly(household: Household) -> None:
    assert household_from_proto(household_to_proto(household)) == household
    assert household_from_json(household_to_json(household)) == household


def test_a_life_expectancy_the_default_law_cannot_reach_is_a_field_error() -> None:
    doc = document()
    doc["adults"][1]["lifeExpectancy"] = 110  # type: ignore[index]
    with pytest.raises(InvalidArgument) as error:
        household_from_json(json.dumps(doc))
    assert fields_of(error) == ["adults[1].lifeExpectancy"]
    assert "maximum age 110" in error.value.violations[0].description
    # The same life expectancy under the fixed horizon is a plan to age 110: accepted.
    fixed = replace(couple(), lifetimes=Lifetimes.FIXED_HORIZON)
    fixed = replace(
        fixed,
        survivor_spending_fraction=0.7,
        incomes=tuple(replace(i, survivor_fraction=0.0) for i in fixed.incomes),
    )
    validate(
        replace(fixed, adults=(fixed.adults[0], replace(fixed.adults[1], life_expectancy=110)))
    )


def test_a_table_sets_the_life_expectancy_and_must_stand_alone() -> None:
    doc = document()
    adult = doc["adults"][1]  # type: ignore[index]
    adult.pop("lifeExpectancy")
    adult["mortalityTable"] = {"firstAge": 38, "q": list(TABLE_Q)}
    household = household_from_json(json.dumps(doc))
    table = MortalityTable(38, TABLE_Q)
    assert household.adults[1].mortality_table == table
    assert household.adults[1].life_expectancy == table_life_expectancy(table, 55)
    adult["lifeExpectancy"] = 89
    with pytest.raises(InvalidArgument) as error:
        household_from_json(json.dumps(doc))
    assert fields_of(error) == ["adults[1].lifeExpectancy"]
    assert "left unset" in error.value.violations[0].description


@pytest.mark.parametrize(
    ("table", "field"),
    [
        ({"firstAge": 38, "q": [*TABLE_Q[:-1], 0.5]}, "adults[1].mortalityTable.q[62]"),
        ({"firstAge": 38, "q": [0.01, -0.1, 1.0]}, "adults[1].mortalityTable.q[1]"),
        ({"firstAge": 60, "q": [0.1] * 10 + [1.0]}, "adults[1].mortalityTable.firstAge"),
        ({"firstAge": 50, "q": [0.01] * 70 + [1.0]}, "adults[1].mortalityTable.q"),
        ({"q": [1.0]}, "adults[1].mortalityTable.firstAge"),
        ({"firstAge": 50, "q": [0.01, 0.999999, 1.0]}, "adults[1].mortalityTable.q[1]"),
    ],
    ids=["last-not-1", "negative", "after-current-age", "past-110", "first-age-missing", "rounds"],
)
def test_a_bad_table_is_named_field_by_field(table: dict[str, object], field: str) -> None:
    doc = document()
    adult = doc["adults"][1]  # type: ignore[index]
    adult.pop("lifeExpectancy")
    adult["mortalityTable"] = table
    with pytest.raises(InvalidArgument) as error:
        household_from_json(json.dumps(doc))
    assert field in fields_of(error)


def test_inputs_the_fixed_horizon_would_ignore_are_refused() -> None:
    doc = document()
    doc["lifetimes"] = "fixed_horizon"
    doc["survivorSpendingFraction"] = 0.5
    doc["adults"][0].pop("lifeExpectancy")  # type: ignore[index]
    doc["adults"][0]["mortalityTable"] = {"firstAge": 58, "q": [0.01] * 40 + [1.0]}  # type: ignore[index]
    with pytest.raises(InvalidArgument) as error:
        household_from_json(json.dumps(doc))
    assert set(fields_of(error)) == {
        "survivorSpendingFraction",
        "incomes[0].survivorFraction",
        "adults[0].mortalityTable",
    }


def test_survivor_fractions_of_one_adult_are_refused() -> None:
    single = rich_lives()
    single = replace(
        single,
        adults=single.adults[:1],
        incomes=(single.incomes[0],),
        survivor_spending_fraction=0.5,
    )
    with pytest.raises(InvalidArgument) as error:
        validate(single)
    assert set(fields_of(error)) == {
        "household.survivor_spending_fraction",
        "household.incomes[0].survivor_fraction",
    }


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [
        ("essentialFraction", 1.2, "goals.essentialFraction"),
        ("essentialFraction", -0.1, "goals.essentialFraction"),
        ("survivorSpendingFraction", 1.5, "survivorSpendingFraction"),
        ("survivorFraction", 2.0, "incomes[0].survivorFraction"),
    ],
)
def test_fractions_are_bounded(key: str, value: float, field: str) -> None:
    doc = document()
    if key == "essentialFraction":
        doc["goals"][key] = value  # type: ignore[index]
    elif key == "survivorFraction":
        doc["incomes"][0][key] = value  # type: ignore[index]
    else:
        doc[key] = value
    with pytest.raises(InvalidArgument) as error:
        household_from_json(json.dumps(doc))
    assert fields_of(error) == [field]


def test_mortality_needs_an_age_the_plan_can_run_from() -> None:
    young = replace(
        couple(), adults=(replace(couple().adults[0], current_age=8), couple().adults[1])
    )
    with pytest.raises(InvalidArgument) as error:
        validate(young)
    assert "household.adults[0].current_age" in fields_of(error)
