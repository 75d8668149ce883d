"""Claiming a pension: the adjustment, early claims paying more years of less, the claim
irreversible and automatic at the latest age, the baselines, the optimum by enumeration,
and households without a window unchanged. Real engine runs."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pytest
from household_support import couple, example, retiree

from glidepath.engine import SimulationSettings, simulate
from glidepath.engine.cashflows import build_schedule
from glidepath.engine.claiming import claim, claim_combinations, claim_variant, claimed
from glidepath.engine.lifetimes import draw_death_years
from glidepath.engine.market import Scenarios
from glidepath.engine.optimum import optimum_available, solve_optimum
from glidepath.engine.state import Decision, YearState
from glidepath.engine.step import initial_state, step
from glidepath.engine.strategies import CLAIMING_STRATEGIES, MertonRule, make_strategy
from glidepath.household.model import ClaimingWindow, Household, Lifetimes
from glidepath.rl.gate import other_strategies
from simulation_service.convert import default_strategies

AMOUNT = 15_000.0


def windowed(
    lifetimes: Lifetimes = Lifetimes.FIXED_HORIZON,
    window: ClaimingWindow | None = None,
    age: int = 60,
) -> Household:
    """The example retiree, ``age`` now, retired at 62, whose pension of 15,000 at 67 may
    be claimed from 62 to 70 (US Social Security's adjustments)."""
    base = retiree()
    adult = replace(base.adults[0], current_age=age, retirement_age=62)
    pension = replace(
        base.incomes[0],
        amount=AMOUNT,
        start_age=67,
        claiming=window or ClaimingWindow(62, 70),
    )
    return replace(base, adults=(adult,), incomes=(pension,), lifetimes=lifetimes)


@dataclass(frozen=True)
class Planned:
    """Merton's rule, asking each year for the claiming age ``ages[t]`` (None: no ask)."""

    ages: tuple[float | None, ...]
    name: str = "planned"

    def decide(self, state: YearState) -> Decision:
        base = MertonRule.for_schedule(state.schedule).decide(state)
        age = self.ages[state.t] if state.t < len(self.ages) else None
        if age is None:
            return base
        plan = np.full((1, state.n_paths), age)
        return Decision(base.stock_share, base.consumption, claim=plan)


def pensions(household: Household, strategy: Planned | None, n: int = 64) -> np.ndarray:
    """The pension paid each year (after the year's decision) on n paths: (T, n)."""
    schedule = build_schedule(household)
    deaths = None
    if schedule.lives is not None:
        deaths = draw_death_years(schedule.lives, 5, 0, n)
    state = initial_state(household, n, death_year=deaths)
    scenarios = Scenarios(schedule.market, 7, 0, n)
    paid = []
    for t in range(schedule.horizon):
        decision = (strategy or Planned(())).decide(state)
        if decision.claim is not None:
            paid.append(claim(state, decision.claim).pension)
        else:
            paid.append(state.pension)
        state, _ = step(state, decision, scenarios.year(t))
    return np.array(paid)


# --------------------------------------------------------------------------- the adjustment


def test_the_adjustment_is_linear_around_the_default_age() -> None:
    window = ClaimingWindow(62, 70)
    assert window.factor(67, 67) == 1.0
    assert window.factor(67, 62) == pytest.approx(1.0 - 5 * 0.0667)  # 66.65 %
    assert window.factor(67, 64) == pytest.approx(1.0 - 3 * 0.0667)
    assert window.factor(67, 70) == pytest.approx(1.24)  # 3 years of 8 %
    custom = ClaimingWindow(60, 72, early_adjustment=0.05, late_adjustment=0.058)
    assert custom.factor(66, 60) == pytest.approx(0.7)
    assert custom.factor(66, 72) == pytest.approx(1.348)
    options = build_schedule(windowed()).claims
    assert options is not None
    (pension,) = options.pensions
    assert pension.ages == tuple(range(62, 71))
    assert pension.amounts[0] == pytest.approx(AMOUNT * 0.6665)
    assert pension.amounts[-1] == pytest.approx(AMOUNT * 1.24)


def test_the_window_opens_at_the_adults_age_now() -> None:
    options = build_schedule(windowed(age=64)).claims
    assert options is not None and options.pensions[0].ages == tuple(range(64, 71))


# --------------------------------------------------------------------------- the claim


def test_claiming_early_pays_more_years_of_a_smaller_amount() -> None:
    household = windowed()
    early = pensions(household, Planned((62.0,)))
    default = pensions(household, None)
    late = pensions(household, Planned((70.0,)))
    ages = 60 + np.arange(early.shape[0])
    first = {
        name: int(ages[(p[:, 0] > 0)][0])
        for name, p in (("early", early), ("default", default), ("late", late))
    }
    assert first == {"early": 62, "default": 67, "late": 70}
    assert early[ages == 62, 0][0] == pytest.approx(AMOUNT * 0.6665)
    assert default[ages == 67, 0][0] == pytest.approx(AMOUNT)
    assert late[ages == 70, 0][0] == pytest.approx(AMOUNT * 1.24)
    years = {
        name: int((p[:, 0] > 0).sum())
        for name, p in (("early", early), ("default", default), ("late", late))
    }
    assert years["early"] == years["default"] + 5 == years["late"] + 8
    # Paid to the same last year (the life expectancy): more years of less, or fewer of more.
    assert (early[:, 0] > 0)[-1] and (late[:, 0] > 0)[-1]


def test_the_claim_is_irreversible_and_automatic_at_the_latest_age() -> None:
    household = windowed()
    ages_asked: list[float | None] = [62.0, None, None, 70.0, 70.0]  # 60, 61, 62 claimed
    paid = pensions(household, Planned(tuple(ages_asked)))
    assert paid[2, 0] == pytest.approx(AMOUNT * 0.6665)  # claimed at 62
    assert paid[4, 0] == pytest.approx(AMOUNT * 0.6665)  # asking for 70 later: no change
    # Asking for an age past the window (or never) claims at the latest age.
    never = pensions(household, Planned((120.0,) * 40))
    ages = 60 + np.arange(never.shape[0])
    assert int(ages[never[:, 0] > 0][0]) == 70
    assert never[ages == 70, 0][0] == pytest.approx(AMOUNT * 1.24)
    # Deferred past the default age, then asked for an age already passed: claimed now.
    passed = pensions(household, Planned((70.0, None, None, None, None, None, None, 64.0)))
    assert int(ages[passed[:, 0] > 0][0]) == 67
    assert passed[ages == 67, 0][0] == pytest.approx(AMOUNT)


def test_claimed_reports_the_claim_once_the_age_is_reached() -> None:
    state = initial_state(windowed(), 4)
    planned = claim(state, np.full((1, 4), 62.0))
    assert not claimed(planned).any()
    assert planned.claim_plan is not None and (planned.claim_plan == 62).all()


def test_the_income_stops_at_the_adults_death() -> None:
    household = windowed(Lifetimes.MORTALITY)
    schedule = build_schedule(household)
    assert schedule.lives is not None
    n = 256
    deaths = draw_death_years(schedule.lives, 5, 0, n)[0]
    paid = pensions(household, Planned((62.0,)), n)
    years = np.arange(paid.shape[0])[:, None]
    assert (paid[years > deaths[None, :]] == 0.0).all()
    alive_claimed = (years <= deaths[None, :]) & (years >= 2)
    np.testing.assert_allclose(paid[alive_claimed], AMOUNT * 0.6665)


@pytest.mark.parametrize("lifetimes", list(Lifetimes))
def test_human_capital_follows_the_claim_survival_weighted(lifetimes: Lifetimes) -> None:
    """The state of a plan to claim at a ages is the state of the household that is paid
    from a (the same survival-weighted value of the income to come)."""
    household = windowed(lifetimes)
    schedule = build_schedule(household)
    n = 8
    deaths = None if schedule.lives is None else draw_death_years(schedule.lives, 5, 0, n)
    for age in (62, 65, 70):
        state = claim(initial_state(household, n, death_year=deaths), np.full((1, n), age))
        variant = initial_state(claim_variant(household, (age,)), n, death_year=deaths)
        np.testing.assert_allclose(state.human_capital, variant.human_capital, rtol=1e-12)
        np.testing.assert_allclose(state.income, variant.income, rtol=1e-12)
    early, late = (
        claim(initial_state(household, n, death_year=deaths), np.full((1, n), a)).human_capital
        for a in (62, 70)
    )
    assert (early != late).all()


# --------------------------------------------------------------------------- unchanged


def test_a_window_nobody_uses_changes_no_figure() -> None:
    household = windowed(Lifetimes.MORTALITY)
    plain = claim_variant(household, (67,))  # no window, paid from 67
    names = ["own_plan", "merton", "floor_upside", "vpw"]
    settings = SimulationSettings(paths=1000, seed=3)
    a, b = simulate(household, names, settings), simulate(plain, names, settings)
    for x, y in zip(a.strategies, b.strategies, strict=True):
        assert x.certainty_equivalent.value == y.certainty_equivalent.value
        assert x.terminal.median.value == y.terminal.median.value


def test_without_a_window_the_claiming_baselines_are_merton() -> None:
    household = example()
    assert build_schedule(household).claims is None
    names = ["merton", *CLAIMING_STRATEGIES]
    result = simulate(household, names, SimulationSettings(paths=500, seed=1))
    values = {s.name: s.certainty_equivalent.value for s in result.strategies}
    assert values["claim_earliest"] == values["merton"] == values["claim_latest"]


# --------------------------------------------------------------------------- the baselines


def test_the_claiming_baselines_differ_from_one_another_and_from_the_default() -> None:
    household = windowed(Lifetimes.MORTALITY)
    names = ["merton", *CLAIMING_STRATEGIES]
    result = simulate(household, names, SimulationSettings(paths=2000, seed=1))
    values = {s.name: s.certainty_equivalent.value for s in result.strategies}
    assert len(set(values.values())) == 3, values


def test_the_claiming_baselines_claim_at_the_windows_ends() -> None:
    household = windowed()
    for name, age in (("claim_earliest", 62), ("claim_latest", 70)):
        strategy = make_strategy(name, household)
        state = initial_state(household, 4)
        decision = strategy.decide(state)
        assert decision.claim is not None and (decision.claim == age).all()


def test_the_claiming_baselines_are_offered_only_with_a_window() -> None:
    for household in (windowed(), windowed(Lifetimes.MORTALITY)):
        assert set(CLAIMING_STRATEGIES) <= set(default_strategies(household))
        assert set(CLAIMING_STRATEGIES) <= set(other_strategies(household))
    for household in (example(), couple()):
        assert not set(CLAIMING_STRATEGIES) & set(default_strategies(household))
        assert not set(CLAIMING_STRATEGIES) & set(other_strategies(household))


# --------------------------------------------------------------------------- the optimum


def test_the_optimums_claiming_age_is_the_best_of_the_enumeration() -> None:
    household = windowed(Lifetimes.MORTALITY, ClaimingWindow(65, 69), age=64)
    assert optimum_available(household) == (True, "")
    solution = solve_optimum(household)
    values = {
        ages: solve_optimum(claim_variant(household, ages)).value
        for ages in claim_combinations(household)
    }
    assert len(values) == 5
    best = max(values, key=lambda ages: values[ages])
    assert solution.claim_ages == best
    assert solution.value == values[best]
    # The optimum strategy claims at that age, and beats the other strategies.
    names = ["optimum", "merton", *CLAIMING_STRATEGIES]
    result = simulate(household, names, SimulationSettings(paths=2000, seed=1))
    ces = {s.name: s.certainty_equivalent.value for s in result.strategies}
    assert ces["optimum"] > max(v for n, v in ces.items() if n != "optimum"), ces
    lives = build_schedule(household).lives
    assert lives is not None
    state = initial_state(household, 3, death_year=draw_death_years(lives, 1, 0, 3))
    decision = make_strategy("optimum", household).decide(state)
    assert decision.claim is not None and (decision.claim == best[0]).all()


def test_the_optimum_is_unavailable_when_the_enumeration_is_too_large() -> None:
    base = couple()
    incomes = tuple(
        replace(i, claiming=ClaimingWindow(i.start_age - 3, i.start_age + 3)) for i in base.incomes
    )
    household = replace(base, incomes=incomes)
    ok, reason = optimum_available(household)
    assert not ok and "combinations of claiming ages" in reason
    assert "optimum" not in default_strategies(household)


def test_the_optimum_is_unavailable_when_the_scale_follows_the_pension() -> None:
    household = windowed()
    household = replace(household, goals=replace(household.goals, retirement_spending=0.0))
    ok, reason = optimum_available(household)
    assert not ok and "spending target" in reason


# --------------------------------------------------------------------------- in the results


def test_results_say_at_what_age_each_strategy_claimed() -> None:
    household = windowed()  # fixed horizon: every life reaches every age of the window
    names = ["merton", *CLAIMING_STRATEGIES]
    result = simulate(household, names, SimulationSettings(paths=500, seed=1))
    for metrics, age in zip(result.strategies, (67, 62, 70), strict=True):
        (stats,) = metrics.claims
        assert (stats.income, stats.default_age, stats.first_age) == (0, 67, 62)
        assert len(stats.at_age) == 70 - 62 + 1
        shares = [e.value for e in stats.at_age]
        assert shares[age - 62] == 1.0 and sum(shares) == 1.0, metrics.name
        assert stats.died_first.value == 0.0
        assert stats.median_age == age and stats.mean_age.value == age


def test_a_plan_that_differs_by_path_spreads_the_claiming_ages() -> None:
    """A strategy that claims at 64 on every fourth path and at 69 elsewhere: the shares
    follow the paths, each path counted once, at the age it claimed."""

    @dataclass(frozen=True)
    class Split:
        name: str = "split"

        def decide(self, state: YearState) -> Decision:
            base = MertonRule.for_schedule(state.schedule).decide(state)
            if state.t != 0:
                return base
            ages = np.where(np.arange(state.n_paths) % 4 == 0, 64.0, 69.0)
            return Decision(base.stock_share, base.consumption, claim=ages[None, :])

    result = simulate(windowed(), [Split()], SimulationSettings(paths=400, seed=2))
    (stats,) = result.strategies[0].claims
    shares = {62 + k: e.value for k, e in enumerate(stats.at_age) if e.value > 0}
    assert shares == {64: pytest.approx(0.25), 69: pytest.approx(0.75)}
    assert stats.median_age == 69
    assert stats.mean_age.value == pytest.approx(0.25 * 64 + 0.75 * 69)
    assert stats.at_age[64 - 62].standard_error == pytest.approx((0.25 * 0.75 / 400) ** 0.5)


def test_under_mortality_the_lives_that_die_first_never_claim() -> None:
    household = windowed(Lifetimes.MORTALITY)
    result = simulate(household, ["claim_latest"], SimulationSettings(paths=4000, seed=3))
    metrics = result.strategies[0]
    (stats,) = metrics.claims
    assert metrics.lifetimes is not None
    # The adult's own ages at death: dying before 70 (at 69 or younger) means never
    # claiming at 70; an adult lives the whole year of age in which they die.
    deaths = metrics.lifetimes.death_ages[0]
    first = metrics.lifetimes.first_death_age
    before = sum(c for k, c in enumerate(deaths) if first + k < 70) / 4000
    assert stats.died_first.value == pytest.approx(before, abs=1e-12)
    assert 0.0 < stats.died_first.value < 0.5
    assert stats.at_age[-1].value == pytest.approx(1.0 - before, abs=1e-12)
    assert sum(e.value for e in stats.at_age[:-1]) == 0.0


def test_without_a_window_results_carry_no_claims() -> None:
    result = simulate(example(), ["merton"], SimulationSettings(paths=200, seed=1))
    assert result.strategies[0].claims == ()
