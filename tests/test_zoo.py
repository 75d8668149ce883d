"""The zoo of ``benchmarks/zoo/``: every household loads through the household format's
own validation, the kinds the benchmark promises are there, and each names its
reference honestly (exact where a programme solves it, simplified otherwise)."""

from __future__ import annotations

from pathlib import Path

import pytest

from glidepath.engine.optimum import optimum_available, simplified_available
from glidepath.household.convert import household_from_json

ZOO = Path(__file__).resolve().parents[1] / "benchmarks" / "zoo"


def test_the_zoo_holds_at_least_twelve_households_that_load() -> None:
    files = sorted(ZOO.glob("*.json"))
    assert len(files) >= 12
    names = {household_from_json(f.read_text()).name for f in files}
    assert len(names) == len(files)  # each one named, no copy under another file name


@pytest.mark.parametrize(
    ("stem", "exact", "simplified"),
    [
        ("simple_single", True, False),
        ("claiming_matters", True, False),
        ("annuity_once", True, False),  # one purchase allowed: its DP is exact
        ("annuity_retiree", False, True),  # open every year: one purchase is a lower bound
        ("regime_observable", True, True),  # the regime DP; the averaged one beside it
        ("regime_sensitive", False, True),
        ("combined", False, True),
    ],
)
def test_each_household_names_its_reference(stem: str, exact: bool, simplified: bool) -> None:
    household = household_from_json((ZOO / f"{stem}.json").read_text())
    assert optimum_available(household)[0] is exact
    assert simplified_available(household)[0] is simplified
