"""A mistake in a household file is said in the file's own words.

A typo names the field as the file spells it (``netIncom``, or ``net_incom`` in a file of
original names), with the name probably meant; a bad enum value lists the values
allowed; a number is echoed as typed (``1.1``), not as the float a sum left
(``1.0999999999999999``). The same wording reaches the CLI, the services and the web
page, since all of them read a file through ``household_from_json``.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cli_support import EXAMPLE, one_error_line, run_cli

from glidepath.errors import InvalidArgument
from glidepath.household.convert import household_from_json
from glidepath.household.validation import validate

NOWHERE = {"SIMULATION_ADDR": "127.0.0.1:9"}


def _example() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(EXAMPLE.read_text())
    return document


def _problems(document: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(InvalidArgument) as caught:
        household_from_json(json.dumps(document))
    return [(v.field, v.description) for v in caught.value.violations]


def test_a_misspelt_field_is_named_as_typed_with_the_name_meant() -> None:
    document = _example()
    document["adults"][0]["netIncom"] = document["adults"][0].pop("netIncome")
    [(field, description)] = _problems(document)
    assert field == "adults[0].netIncom"
    assert description.startswith('unknown field "netIncom"; did you mean "netIncome"?')
    assert "currentAge" in description and "Message type" not in description


def test_a_file_of_original_names_is_answered_in_original_names() -> None:
    document = {
        "adults": [{"current_age": 40, "retirement_age": 65, "life_expectancy": 90}],
        "goals": {"retirment_spending": 40_000},
    }
    [(field, description)] = _problems(document)
    assert field == "goals.retirment_spending"
    assert '"retirement_spending"?' in description and "retirementSpending" not in description


def test_an_unknown_top_level_field_lists_the_household_fields() -> None:
    document = {**_example(), "riskAverson": 3}
    [(field, description)] = _problems(document)
    assert field == "riskAverson"
    assert 'did you mean "riskAversion"?' in description
    assert "the fields of the household: adults" in description


@pytest.mark.parametrize(
    ("where", "typed", "meant", "allowed"),
    [
        (("incomes", 0, "kind"), "PENSION", "INCOME_KIND_PENSION", "INCOME_KIND_OTHER"),
        (("incomes", 0, "kind"), "income_kind_pension", "INCOME_KIND_PENSION", "INCOME_KIND_"),
        (("lifetimes",), "mortalty", "mortality", "fixed_horizon"),
    ],
)
def test_a_bad_enum_value_suggests_one_and_lists_the_allowed_values(
    where: tuple[str | int, ...], typed: str, meant: str, allowed: str
) -> None:
    document = _example()
    target: Any = document
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = typed
    [(field, description)] = _problems(document)
    assert field == (
        "lifetimes" if where == ("lifetimes",) else f"{where[0]}[{where[1]}].{where[2]}"
    )
    assert f'"{typed}" is not one of the values allowed here; did you mean "{meant}"?' in (
        description
    )
    assert "(allowed: " in description and allowed in description
    assert "UNSPECIFIED" not in description


def test_a_fraction_where_a_whole_number_belongs_is_said_plainly() -> None:
    document = _example()
    document["adults"][0]["currentAge"] = 40.5
    assert _problems(document) == [("adults[0].currentAge", "must be a whole number, got 40.5")]


def test_field_names_inside_a_message_are_spelt_as_the_file_spells_them() -> None:
    document = _example()
    document["adults"][0]["retirementAge"] = 30
    [(field, description)] = _problems(document)
    assert field == "adults[0].retirementAge"
    assert "currentAge" in description and "current_age" not in description


def test_a_number_is_echoed_as_typed_not_as_the_float_a_sum_left() -> None:
    household = household_from_json(EXAMPLE.read_text())
    adult = replace(household.adults[0], income_growth=0.7 + 0.4)  # 1.0999999999999999
    with pytest.raises(InvalidArgument) as caught:
        validate(replace(household, adults=(adult,)))
    [violation] = caught.value.violations
    assert violation.description.endswith("got 1.1")


def test_the_cli_prints_the_did_you_mean_line_before_any_call(tmp_path: Path) -> None:
    document = _example()
    document["accounts"][0]["stokShare"] = document["accounts"][0].pop("stockShare")
    path = tmp_path / "household.json"
    path.write_text(json.dumps(document))
    line = one_error_line(run_cli("simulate", str(path), env=NOWHERE), 2)
    assert line.startswith(
        f"glidepath: {path} is not a valid household: accounts[0].stokShare: unknown field "
        '"stokShare"; did you mean "stockShare"?'
    )
