"""Every input field of the household changes some output; labels and names change none.

The walk is generic (``dataclasses.fields``, recursively through tuples of dataclasses),
so a field added to the model later is covered, or fails here until the engine uses it.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterator
from typing import Any

import pytest
from engine_support import Annuitising

from glidepath.engine import SimulationSettings, simulate
from glidepath.engine.cashflows import build_schedule
from glidepath.engine.strategies import MertonRule, Strategy
from glidepath.household.model import (
    Account,
    Adult,
    AnnuityOffer,
    Charge,
    ClaimingWindow,
    Goals,
    Household,
    Income,
    IncomeKind,
    Lifetimes,
    MarketAssumptions,
    MortalityTable,
    RegimeSwitching,
    ReturnModel,
    SpendingPhase,
)

LABELS = {"name", "label"}
# Only the Student-t model reads its degrees of freedom (the model's docstring says so):
# that field is walked on a Student-t variant of the base household.
STUDENT_T_ONLY = {"degrees_of_freedom"}
# The kind of an income only sorts it into the schedule's pensions or other incomes (a
# summary for people); every kind is paid alike, so no simulated figure moves.
DESCRIPTIVE = {"kind"}
STRATEGIES = ["own_plan", "four_percent_rule", "glide_path", "vpw", "guardrails", "merton"]
# Read only under lifetimes mortality (refused under the fixed horizon, where nobody is a
# survivor): walked on the mortality variant of the base household.
MORTALITY_ONLY = {"mortality_table", "survivor_fraction", "survivor_spending_fraction"}
# The annuity offer: read by the strategies that buy annuities, walked (each of its
# fields) on the variant that has one; without one there is no offer to perturb.
ANNUITY_STRATEGIES = ["annuitise_25", "annuitise_50", "floor_annuity"]
# A pension's claiming window: read by the strategies that choose claiming ages, walked
# (each of its fields) on the variant whose first pension has one.
CLAIMING_STRATEGIES = ["claim_earliest", "claim_latest"]


def base_household() -> Household:
    """Two adults, every kind of flow, every asset class held: every field can matter."""
    return Household(
        adults=(
            Adult(50, 62, 85, 50_000.0, 0.01, name="Ann"),
            Adult(48, 60, 88, 30_000.0, 0.005, name="Bo"),
        ),
        accounts=(Account(200_000.0, 500.0, 0.5, 0.3, 0.2, label="broker"),),
        incomes=(
            Income(15_000.0, 62, None, 0, IncomeKind.PENSION, True, 0.0, label="state"),
            Income(8_000.0, 60, 80, 1, IncomeKind.OTHER, False, 0.01, label="rent"),
        ),
        charges=(Charge(10_000.0, 60, 52, False, label="mortgage"),),
        spending_phases=(SpendingPhase(70, 35_000.0, label="calmer"),),
        goals=Goals(capital_goal=100_000.0, retirement_spending=40_000.0),
        risk_aversion=3.0,
        market=MarketAssumptions(),
        name="the Smiths",
    )


def fingerprint(h: Household) -> tuple[Any, ...]:
    names: list[Strategy | str] = [*STRATEGIES]
    if h.annuities is not None:
        # the rules buy at retirement only; a yearly buyer meets every year the offer allows
        merton = MertonRule.for_schedule(build_schedule(h))
        names += [*ANNUITY_STRATEGIES, Annuitising(merton, 0.1, year=None, name="yearly_buyer")]
    if any(i.claiming is not None for i in h.incomes):
        names += CLAIMING_STRATEGIES
    result = simulate(h, names, SimulationSettings(paths=256, seed=1))
    # which reference exists, and why not: what seeing the regime changes for the rules,
    # which never read it (the exact regime DP's own figures: test_engine_optimum_regimes)
    out: list[Any] = [dataclasses.astuple(result.schedule)]
    out += [result.optimum_available, result.optimum_reason]
    for s in result.strategies:
        assert s.lifetimes is not None
        out += [s.lifetimes.years_lived.value, s.lifetimes.years_without_money.value]
        out += [s.lifetimes.spending_ce.value, s.lifetimes.last_death_ages]
        out += [s.lifetimes.below_floor_probability, s.lifetimes.years_below_floor]
        out += [
            s.certainty_equivalent.value,
            s.success_probability.value,
            s.terminal.mean.value,
            s.terminal.mean_nominal.value,
            s.shortfall.mean_total.value,
            s.wealth.means,
            s.consumption.means,
        ]
    return tuple(out)


def perturb(name: str, value: Any, owner: Any) -> Any:
    if name == "adult":
        return 1 - value
    if name == "correlations":
        rows = [list(r) for r in value]
        rows[0][1] = rows[1][0] = rows[0][1] + 0.2
        return tuple(tuple(r) for r in rows)
    if isinstance(value, bool):
        return not value
    if isinstance(value, enum.Enum):
        members = list(type(value))
        return members[(members.index(value) + 1) % len(members)]
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 1.1 + 0.01
    if value is None:
        if isinstance(owner, Income):
            return 84
        if name == "mortality_table":  # a flat 2 % a year from the adult's age, 1 at 100
            return MortalityTable(owner.current_age, (0.02,) * (99 - owner.current_age) + (1.0,))
        return 53
    if isinstance(value, str):
        return value + " (renamed)"
    raise AssertionError(f"no perturbation for {name}={value!r}")


def walk(obj: Any, path: str = "household") -> Iterator[tuple[str, str, Any]]:
    """(dotted path, field name, replace function) for every leaf field."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        here = f"{path}.{f.name}"
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            for sub_path, sub_name, fn in walk(value, here):
                yield sub_path, sub_name, _lift(obj, f.name, fn)
        elif (
            isinstance(value, tuple)
            and value
            and dataclasses.is_dataclass(value[0])
            and not isinstance(value[0], type)
        ):
            for i, item in enumerate(value):
                for sub_path, sub_name, fn in walk(item, f"{here}[{i}]"):
                    yield sub_path, sub_name, _lift_item(obj, f.name, i, fn)
        else:
            yield here, f.name, _leaf(obj, f.name)


def _leaf(obj: Any, name: str) -> Any:
    def apply(_: Any) -> Any:
        return dataclasses.replace(obj, **{name: perturb(name, getattr(obj, name), obj)})

    return apply


def _lift(obj: Any, name: str, fn: Any) -> Any:
    def apply(_: Any) -> Any:
        return dataclasses.replace(obj, **{name: fn(None)})

    return apply


def _lift_item(obj: Any, name: str, index: int, fn: Any) -> Any:
    def apply(_: Any) -> Any:
        items = list(getattr(obj, name))
        items[index] = fn(None)
        return dataclasses.replace(obj, **{name: tuple(items)})

    return apply


BASE = base_household()
STUDENT = dataclasses.replace(
    BASE, market=dataclasses.replace(BASE.market, return_model=ReturnModel.STUDENT_T)
)
MORTAL = dataclasses.replace(
    BASE,
    lifetimes=Lifetimes.MORTALITY,
    survivor_spending_fraction=0.6,
    incomes=(dataclasses.replace(BASE.incomes[0], survivor_fraction=0.5), *BASE.incomes[1:]),
    goals=dataclasses.replace(BASE.goals, essential_fraction=0.6),
)
ANNUITIES = dataclasses.replace(
    MORTAL,
    annuities=AnnuityOffer(
        from_age=62, money_worth_ratio=0.85, indexed_to_inflation=True, survivor_fraction=0.8
    ),
)
CLAIMING = dataclasses.replace(
    MORTAL,
    incomes=(
        dataclasses.replace(
            MORTAL.incomes[0],
            claiming=ClaimingWindow(60, 66, early_adjustment=0.06, late_adjustment=0.07),
        ),
        *MORTAL.incomes[1:],
    ),
)
# The market regimes: read under RETURN_MODEL_REGIME_SWITCHING only, walked (every field
# of the turbulent regime and the chain) on the variant that switches.
REGIMES = dataclasses.replace(
    BASE,
    market=dataclasses.replace(
        BASE.market, return_model=ReturnModel.REGIME_SWITCHING, regimes=RegimeSwitching()
    ),
)
NO_OFFER = {"annuities", "claiming", "regimes"}
CASES = [(path, name, fn) for path, name, fn in walk(BASE) if name not in MORTALITY_ONLY | NO_OFFER]
MORTAL_CASES = [
    (path, name, fn)
    for path, name, fn in walk(MORTAL)
    if name not in LABELS | STUDENT_T_ONLY | NO_OFFER
]
REGIME_CASES = [
    (path, name, fn)
    for path, name, fn in walk(REGIMES)
    if path.startswith("household.market.regimes.")
]
ANNUITY_CASES = [
    (path, name, fn)
    for path, name, fn in walk(ANNUITIES)
    if path.startswith("household.annuities.")
]
CLAIMING_CASES = [
    (path, name, fn)
    for path, name, fn in walk(CLAIMING)
    if path.startswith("household.incomes[0].claiming.")
]


def test_the_walk_covers_the_model() -> None:
    paths = {p for p, _, _ in CASES}
    assert "household.market.stocks.volatility" in paths
    assert "household.incomes[1].indexed_to_inflation" in paths
    assert "household.charges[0].start_age" in paths
    assert "household.adults[1].income_growth" in paths
    assert len(paths) > 45


@pytest.fixture(scope="module")
def base_prints() -> dict[str, tuple[Any, ...]]:
    return {
        "lognormal": fingerprint(BASE),
        "student_t": fingerprint(STUDENT),
        "mortality": fingerprint(MORTAL),
        "annuities": fingerprint(ANNUITIES),
        "claiming": fingerprint(CLAIMING),
        "regimes": fingerprint(REGIMES),
    }


def test_the_claiming_walk_covers_the_window() -> None:
    names = {name for _, name, _ in CLAIMING_CASES}
    assert names == {f.name for f in dataclasses.fields(ClaimingWindow)}


@pytest.mark.parametrize(("path", "name", "fn"), CLAIMING_CASES, ids=[c[0] for c in CLAIMING_CASES])
def test_each_claiming_field_changes_some_output(
    path: str, name: str, fn: Any, base_prints: dict[str, tuple[Any, ...]]
) -> None:
    assert fingerprint(fn(None)) != base_prints["claiming"], path


def test_the_regime_walk_covers_the_turbulent_regime_and_the_chain() -> None:
    paths = {p for p, _, _ in REGIME_CASES}
    assert "household.market.regimes.calm_to_turbulent" in paths
    assert "household.market.regimes.turbulent_to_calm" in paths
    assert "household.market.regimes.turbulent.correlations" in paths
    assert "household.market.regimes.turbulent.cash.volatility" in paths
    assert "household.market.regimes.observable" in paths
    assert len(paths) == 3 + 6 + 3


@pytest.mark.parametrize(("path", "name", "fn"), REGIME_CASES, ids=[c[0] for c in REGIME_CASES])
def test_each_regime_field_changes_some_output(
    path: str, name: str, fn: Any, base_prints: dict[str, tuple[Any, ...]]
) -> None:
    assert fingerprint(fn(None)) != base_prints["regimes"], path


def test_regimes_change_the_results_of_the_calm_market() -> None:
    assert fingerprint(REGIMES) != fingerprint(BASE)


def test_the_annuity_walk_covers_the_offer() -> None:
    names = {name for _, name, _ in ANNUITY_CASES}
    assert names == {f.name for f in dataclasses.fields(AnnuityOffer)}


@pytest.mark.parametrize(("path", "name", "fn"), ANNUITY_CASES, ids=[c[0] for c in ANNUITY_CASES])
def test_each_annuity_field_changes_some_output(
    path: str, name: str, fn: Any, base_prints: dict[str, tuple[Any, ...]]
) -> None:
    assert fingerprint(fn(None)) != base_prints["annuities"], path


@pytest.mark.parametrize(("path", "name", "fn"), MORTAL_CASES, ids=[c[0] for c in MORTAL_CASES])
def test_each_field_changes_some_output_under_mortality(
    path: str, name: str, fn: Any, base_prints: dict[str, tuple[Any, ...]]
) -> None:
    perturbed = fingerprint(fn(None))
    if name in DESCRIPTIVE:
        assert perturbed[1:] == base_prints["mortality"][1:], path
    else:
        assert perturbed != base_prints["mortality"], path


@pytest.mark.parametrize(("path", "name", "fn"), CASES, ids=[c[0] for c in CASES])
def test_each_field_changes_some_output_and_labels_change_none(
    path: str, name: str, fn: Any, base_prints: dict[str, tuple[Any, ...]]
) -> None:
    if name in STUDENT_T_ONLY:
        variant = next(f for p, _, f in walk(STUDENT) if p == path)(None)
        assert fingerprint(variant) != base_prints["student_t"], path
        assert fingerprint(fn(None)) == base_prints["lognormal"], path
        return
    perturbed = fn(None)
    if name in DESCRIPTIVE:
        assert fingerprint(perturbed)[1:] == base_prints["lognormal"][1:], path
        return
    if name in LABELS:
        assert fingerprint(perturbed) == base_prints["lognormal"], path
    else:
        assert fingerprint(perturbed) != base_prints["lognormal"], path
