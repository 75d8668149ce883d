"""Profile families: the data file read strictly, sampled reproducibly, hashed canonically."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from glidepath.errors import InvalidArgument
from glidepath.household import rounding
from glidepath.household.canonical import canonicalize
from glidepath.household.convert import household_from_json
from glidepath.household.model import Lifetimes
from glidepath.household.validation import validate
from glidepath.rl.family import (
    DEFAULT_FAMILY_PATH,
    contains,
    family_from_dict,
    family_hash,
    load_family,
    outside,
    sample,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))
FAMILY = load_family()


def _data() -> dict[str, Any]:
    data = json.loads(DEFAULT_FAMILY_PATH.read_text())
    assert isinstance(data, dict)
    return data


def _leaves(data: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The path of every specified value (people's fields left out)."""
    found: list[tuple[str, ...]] = []
    for key, value in data.items():
        if key in ("name", "description"):
            continue
        if isinstance(value, dict):
            found += _leaves(value, (*prefix, key))
        else:
            found.append((*prefix, key))
    return found


LEAVES = _leaves(_data())


def _get(path: tuple[str, ...]) -> Any:
    node: Any = _data()
    for key in path:
        node = node[key]
    return node


def _changed(value: Any) -> Any:
    """A different value that keeps the default family valid: the range's high a step
    down (on the rounding grid), a probability halved, one more lifetimes mode."""
    if isinstance(value, float | int) and not isinstance(value, bool):
        return value / 2
    if value == ["mortality"]:
        return ["fixed_horizon"]
    low, high = value
    if isinstance(low, int) and isinstance(high, int) and high > 200:
        return [low, rounding.round_money(high * 0.99)]  # money
    if isinstance(low, int) and isinstance(high, int):
        return [low, high - 1]  # ages and years
    return [low, rounding.round_rate(high - 0.001)]


def _raised_low(value: list[Any]) -> list[Any]:
    """The range's low a step up (on the rounding grid), its high kept."""
    low, high = value
    if isinstance(low, int) and isinstance(high, int) and high > 200:  # money
        return [rounding.round_money(max(low * 1.01, high / 100)), high]
    if isinstance(low, int) and isinstance(high, int):
        return [low + 1, high]
    return [rounding.round_rate(low + 0.001), high]


def _with(path: tuple[str, ...], value: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    data = copy.deepcopy(_data() if base is None else base)
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


def _fields(data: object) -> list[str]:
    with pytest.raises(InvalidArgument) as caught:
        family_from_dict(data)
    return [v.field for v in caught.value.violations]


def test_sampling_is_reproducible_and_depends_on_the_seed() -> None:
    first = sample(FAMILY, 20, seed=7)
    assert sample(FAMILY, 20, seed=7) == first
    other = sample(FAMILY, 20, seed=8)
    assert len(other) == 20
    assert sum(a != b for a, b in zip(first, other, strict=True)) >= 15
    assert sample(FAMILY, 0, seed=7) == []


def test_every_sample_is_valid_inside_the_family_and_spans_it() -> None:
    households = sample(FAMILY, 120, seed=3)
    for household in households:
        validate(household)
        assert canonicalize(household) == household
        assert outside(FAMILY, household) == []
    ages = [h.start_age for h in households]
    low, high = FAMILY.adults.current_age.low, FAMILY.adults.current_age.high
    assert min(ages) <= low + 2 and max(ages) >= high - 2
    # every optional feature of the family is drawn, and so is its absence
    for feature in (
        lambda h: len(h.adults) == 2,
        lambda h: h.annuities is not None,
        lambda h: any(i.claiming is not None for i in h.incomes),
        lambda h: bool(h.spending_phases),
        lambda h: bool(h.charges),
        lambda h: h.accounts[0].monthly_contribution > 0,
        lambda h: h.adults[0].retirement_age == h.start_age,
    ):
        drawn = sum(1 for h in households if feature(h))
        assert 0 < drawn < len(households)


def test_a_family_with_both_lifetimes_modes_samples_valid_households_of_each() -> None:
    data = _with(("lifetimes",), ["mortality", "fixed_horizon"])
    assert _fields(data) == ["family.spending_phases.late_start_age"]
    data["spending_phases"]["late_start_age"] = [75, 81]
    family = family_from_dict(data)
    households = sample(family, 40, seed=5)
    modes = {h.lifetimes for h in households}
    assert modes == {Lifetimes.MORTALITY, Lifetimes.FIXED_HORIZON}
    data["lifetimes"] = ["fixed_horizon", "mortality", "mortality"]  # the same set of modes
    same = family_from_dict(data)
    assert family_hash(same) == family_hash(family)
    assert sample(same, 40, seed=5) == households
    assert all(contains(family, h) for h in households)
    assert not all(contains(FAMILY, h) for h in households)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_each_example_household_lies_inside_the_default_family(path: Path) -> None:
    household = household_from_json(path.read_text())
    assert outside(FAMILY, household) == []
    assert contains(FAMILY, household)


def test_a_household_outside_a_range_is_named() -> None:
    household = household_from_json((ROOT / "examples" / "household.json").read_text())
    narrowed = family_from_dict(_with(("risk_aversion",), [4.0, 6.0]))
    assert outside(narrowed, household) == ["risk_aversion"]
    narrowed = family_from_dict(_with(("adults", "current_age"), [45, 70]))
    assert outside(narrowed, household) == ["adults[0].current_age"]
    assert not contains(narrowed, household)


def test_the_hash_ignores_how_the_spec_is_written() -> None:
    data = _data()
    rewritten = json.loads(json.dumps(data, indent=7, sort_keys=True))
    rewritten = dict(reversed(list(rewritten.items())))
    rewritten["name"] = "another name"
    rewritten["description"] = "people's words only"
    rewritten["risk_aversion"] = [1.5, 6]  # 6 for 6.0
    rewritten["adults"]["income_growth"] = [0, 0.02]
    assert family_hash(family_from_dict(rewritten)) == family_hash(FAMILY)
    assert family_hash(family_from_dict(data)) == family_hash(load_family(DEFAULT_FAMILY_PATH))


@pytest.mark.parametrize("path", LEAVES, ids=[".".join(p) for p in LEAVES])
def test_each_specified_value_changes_the_hash_and_the_samples(path: tuple[str, ...]) -> None:
    base = _data()
    if path == ("lifetimes",):  # a fixed horizon needs the late phase before it ends
        base["spending_phases"]["late_start_age"] = [75, 81]
    node: Any = base
    for key in path:
        node = node[key]
    changed = _with(path, _changed(node), base)
    family, unchanged = family_from_dict(changed), family_from_dict(base)
    assert family_hash(family) != family_hash(unchanged)
    drawn = sample(family, 25, seed=11)
    assert drawn != sample(unchanged, 25, seed=11)
    assert all(contains(family, h) for h in drawn[:5])


RANGES = [p for p in LEAVES if isinstance(_get(p), list) and p != ("lifetimes",)]


@pytest.mark.parametrize("path", RANGES, ids=[".".join(p) for p in RANGES])
def test_raising_each_range_low_changes_the_hash(path: tuple[str, ...]) -> None:
    family = family_from_dict(_with(path, _raised_low(_get(path))))
    assert family_hash(family) != family_hash(FAMILY)


def test_validation_names_each_bad_field_as_the_file_writes_it() -> None:
    data = _data()
    data["colour"] = "blue"
    data["adults"]["curent_age"] = [1, 2]
    del data["adults"]["current_age"]
    data["goals"]["capital_goal"] = [300000, 0]
    data["wealth"]["balance"] = [0, 1234567]
    data["adults"]["retirement_age"] = [60.5, 70]
    data["couple_probability"] = 1.5
    data["lifetimes"] = ["forever"]
    del data["annuity"]
    assert sorted(_fields(data)) == sorted(
        [
            "family.colour",
            "family.couple_probability",
            "family.lifetimes",
            "family.adults.curent_age",
            "family.adults.current_age",
            "family.adults.retirement_age",
            "family.wealth.balance",
            "family.goals.capital_goal",
            "family.annuity",
        ]
    )
    assert _fields([]) == ["family"]
    assert _fields(_with(("market", "stocks_return"), [0.06])) == ["family.market.stocks_return"]


def test_validation_refuses_ranges_that_would_draw_invalid_households() -> None:
    assert _fields(_with(("adults", "life_expectancy"), [70, 95])) == [
        "family.adults.life_expectancy"
    ]
    assert _fields(_with(("spending_phases", "late_start_age"), [65, 85])) == [
        "family.spending_phases.late_start_age"
    ]
    assert _fields(_with(("goals", "retirement_spending"), [0, 70000])) == [
        "family.goals.retirement_spending"
    ]
    assert _fields(_with(("wealth", "saving_rate"), [0.0, 0.5])) == ["family.wealth.saving_rate"]
    assert _fields(_with(("adults", "partner_age_gap"), [-30, 5])) == [
        "family.adults.partner_age_gap"
    ]


def test_a_file_that_is_not_json_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "family.json"
    bad.write_text("{not json")
    with pytest.raises(InvalidArgument) as caught:
        load_family(bad)
    assert caught.value.violations[0].field == "family"


def test_the_zoo_households_inside_the_default_family_are_the_ones_docs_name() -> None:
    zoo = sorted((ROOT / "benchmarks" / "zoo").glob("*.json"))
    inside = {p.stem for p in zoo if contains(FAMILY, household_from_json(p.read_text()))}
    assert inside == {
        "annuity_retiree",
        "claiming_matters",
        "couple_mortality",
        "floor_binds",
        "floor_with_annuities",
        "random_1",
        "simple_single",
    }
    assert len(zoo) == 15
