"""Market regimes in the household: conversion, validation naming each field as the user
wrote it, the round trip, and the canonical form (absent regimes leave it as it was)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from glidepath.errors import InvalidArgument
from glidepath.household.canonical import canonical_form, household_hash
from glidepath.household.convert import (
    household_from_json,
    household_from_proto,
    household_to_proto,
)
from glidepath.household.model import Household, MarketRegime, RegimeSwitching, ReturnModel
from glidepath.household.validation import validate

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = json.loads((ROOT / "examples" / "household.json").read_text())


def document(**market: Any) -> str:
    doc = json.loads(json.dumps(EXAMPLE))
    doc.setdefault("market", {}).update(market)
    return json.dumps(doc)


def violations(text: str) -> dict[str, str]:
    with pytest.raises(InvalidArgument) as error:
        household_from_json(text)
    return {v.field: v.description for v in error.value.violations}


def test_the_model_alone_gets_the_default_regimes() -> None:
    h = household_from_json(document(returnModel="RETURN_MODEL_REGIME_SWITCHING"))
    assert h.market.return_model is ReturnModel.REGIME_SWITCHING
    assert h.market.regimes is None and h.market.switching == RegimeSwitching()


def test_each_given_field_is_read_and_the_rest_default() -> None:
    h = household_from_json(
        document(
            returnModel="RETURN_MODEL_REGIME_SWITCHING",
            regimes={
                "turbulent": {"stocks": {"volatility": 0.3}, "inflationMean": 0.05},
                "calmToTurbulent": 0.1,
            },
        )
    )
    regimes = h.market.regimes
    default = RegimeSwitching()
    assert regimes is not None
    assert regimes.turbulent.stocks.volatility == 0.3
    assert regimes.turbulent.stocks.expected_return == default.turbulent.stocks.expected_return
    assert regimes.turbulent.inflation_mean == 0.05
    assert regimes.turbulent.correlations == default.turbulent.correlations
    assert regimes.calm_to_turbulent == 0.1
    assert regimes.turbulent_to_calm == default.turbulent_to_calm
    assert household_from_proto(household_to_proto(h)) == h


def test_regimes_without_the_switching_model_are_refused_by_name() -> None:
    found = violations(document(regimes={"calmToTurbulent": 0.1}))
    assert "RETURN_MODEL_REGIME_SWITCHING" in found["market.regimes"]


@pytest.mark.parametrize(
    ("regimes", "field", "words"),
    [
        ({"calmToTurbulent": 0.0}, "market.regimes.calmToTurbulent", "above 0"),
        ({"turbulentToCalm": 1.5}, "market.regimes.turbulentToCalm", "probability"),
        (
            {"turbulent": {"stocks": {"volatility": 3.0}}},
            "market.regimes.turbulent.stocks.volatility",
            "[0, 2]",
        ),
        (
            {"turbulent": {"inflationMean": -0.9}},
            "market.regimes.turbulent.inflationMean",
            "[-0.5, 1]",
        ),
        (
            {"turbulent": {"correlations": [1.0, 0.5]}},
            "market.regimes.turbulent.correlations",
            "16 numbers",
        ),
        (
            {
                "turbulent": {
                    "correlations": [
                        *(1.0, 0.9, 0.9, 0.0),
                        *(0.9, 1.0, -0.9, 0.0),
                        *(0.9, -0.9, 1.0, 0.0),
                        *(0.0, 0.0, 0.0, 1.0),
                    ]
                }
            },
            "market.regimes.turbulent.correlations",
            "positive semi-definite",
        ),
    ],
)
def test_a_bad_regime_field_is_named_as_the_file_writes_it(
    regimes: dict[str, Any], field: str, words: str
) -> None:
    found = violations(document(returnModel="RETURN_MODEL_REGIME_SWITCHING", regimes=regimes))
    assert field in found, found
    assert words in found[field]


def test_snake_case_files_get_snake_case_names() -> None:
    doc = json.loads(document())
    doc["market"] = {
        "return_model": "RETURN_MODEL_REGIME_SWITCHING",
        "regimes": {"turbulent_to_calm": 0.0},
    }
    found = violations(json.dumps(doc))
    assert "market.regimes.turbulent_to_calm" in found


def example() -> Household:
    return household_from_json(json.dumps(EXAMPLE))


def test_without_regimes_the_form_has_no_regimes_and_with_them_the_defaults_are_written() -> None:
    plain = example()
    assert "regimes" not in canonical_form(plain)["market"]
    switching = replace(
        plain, market=replace(plain.market, return_model=ReturnModel.REGIME_SWITCHING)
    )
    form = canonical_form(switching)["market"]["regimes"]
    assert form["calm_to_turbulent"] == 0.14 and form["turbulent_to_calm"] == 0.57
    assert form["turbulent"]["stocks"] == {"expected_return": -0.02, "volatility": 0.27}
    spelled = replace(switching.market, regimes=RegimeSwitching())
    assert household_hash(replace(plain, market=spelled)) == household_hash(switching)
    assert household_hash(switching) != household_hash(plain)
    other = replace(
        switching.market,
        regimes=RegimeSwitching(turbulent=replace(MarketRegime(), inflation_mean=0.04)),
    )
    assert household_hash(replace(plain, market=other)) != household_hash(switching)


def test_observable_is_read_round_trips_and_only_a_seen_regime_enters_the_form() -> None:
    hidden = household_from_json(document(returnModel="RETURN_MODEL_REGIME_SWITCHING"))
    seen = household_from_json(
        document(returnModel="RETURN_MODEL_REGIME_SWITCHING", regimes={"observable": True})
    )
    assert seen.market.regimes is not None and seen.market.regimes.observable
    assert household_from_proto(household_to_proto(seen)) == seen
    # unseen (the default): the form regimes had before the option, so its hash too
    assert "observable" not in canonical_form(hidden)["market"]["regimes"]
    assert canonical_form(seen)["market"]["regimes"]["observable"] is True
    assert household_hash(seen) != household_hash(hidden)
    spelled = household_from_json(
        document(returnModel="RETURN_MODEL_REGIME_SWITCHING", regimes={"observable": False})
    )
    assert household_hash(spelled) == household_hash(hidden)


def test_an_observable_that_is_not_a_boolean_is_refused_by_name() -> None:
    h = household_from_json(document(returnModel="RETURN_MODEL_REGIME_SWITCHING"))
    regimes = replace(RegimeSwitching(), observable="yes")  # type: ignore[arg-type]
    bad = replace(h.market, regimes=regimes)
    with pytest.raises(InvalidArgument) as error:
        validate(replace(h, market=bad))
    fields = {v.field: v.description for v in error.value.violations}
    assert any(f.endswith("regimes.observable") for f in fields), fields
    assert "true or false" in next(iter(fields.values()))
