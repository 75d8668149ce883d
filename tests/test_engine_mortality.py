"""Lifetimes: the calibrated law, explicit tables, survival, and deaths drawn per path."""

from __future__ import annotations

import math

import numpy as np
import pytest

from glidepath.engine import MarketModel, Scenarios
from glidepath.engine.market import BLOCK_PATHS
from glidepath.engine.mortality import (
    DRAWS_PER_PATH,
    GOMPERTZ_C,
    MAKEHAM_A,
    MAX_LIFE_AGE,
    MORTALITY_SPAWN_KEY,
    LifeTable,
    birthdays_reached,
    calibrate_makeham_b,
    constant_hazard_table,
    death_ages,
    death_uniforms,
    draw_death_ages,
    expected_age_at_death,
    expected_remaining_lifetime,
    makeham_q,
    makeham_table,
    survival_curve,
    table_for_life_expectancy,
    table_violations,
)
from glidepath.errors import InvalidArgument
from glidepath.household.model import MarketAssumptions

N_DRAWS = 1_000_000


def ceiling(age: int, max_age: int = MAX_LIFE_AGE) -> float:
    """The longest life expectancy the law reaches at ``age`` (B = 0, Makeham alone)."""
    k = np.arange(1, max_age - age + 1)
    return age + 0.5 + float(np.exp(-MAKEHAM_A * k).sum())


# -- calibration ----------------------------------------------------------------------------


def test_calibration_hits_the_target_life_expectancy_at_many_ages_and_targets() -> None:
    ages = np.arange(0, MAX_LIFE_AGE)  # at MAX_LIFE_AGE every life ends within the year
    fractions = np.array([1e-6, 0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99, 1 - 1e-6])
    grid_age, grid_fraction = np.meshgrid(ages, fractions)
    low = grid_age + 0.5
    high = np.array([ceiling(int(a)) for a in grid_age.ravel()]).reshape(grid_age.shape)
    targets = low + grid_fraction * (high - low)
    b = calibrate_makeham_b(grid_age, targets)
    assert b.shape == grid_age.shape
    assert np.all(b > 0)
    for age, target, level in zip(grid_age.ravel(), targets.ravel(), b.ravel(), strict=True):
        # Checked through the generic table route (cumulative products of 1 - q), not the
        # closed form the calibration solved.
        e = expected_age_at_death(makeham_table(float(level), int(age)), int(age))
        assert abs(e - target) < 1e-9, (age, target, e)


def test_the_households_integer_life_expectancies_calibrate() -> None:
    """Whole-year targets as a household gives them, from age + 1 to the ceiling."""
    pairs = [
        (age, life)
        for age in range(20, 101, 4)
        for life in range(age + 1, min(math.ceil(ceiling(age)), MAX_LIFE_AGE + 1))
    ]
    ages, lives = (np.array(column) for column in zip(*pairs, strict=True))
    levels = calibrate_makeham_b(ages, lives)
    for (age, life), level in zip(pairs, levels.tolist(), strict=True):
        table = makeham_table(level, age)
        assert abs(expected_remaining_lifetime(table, age) - (life - age)) < 1e-9
    table = table_for_life_expectancy(65, 85)
    assert table.first_age == 65 and table.max_age == MAX_LIFE_AGE
    assert abs(expected_age_at_death(table, 65) - 85) < 1e-9


def test_calibration_is_the_same_one_pair_at_a_time() -> None:
    ages, targets = np.array([30, 65, 80]), np.array([84.0, 86.5, 91.0])
    together = calibrate_makeham_b(ages, targets)
    alone = [
        float(calibrate_makeham_b(int(a), float(t))) for a, t in zip(ages, targets, strict=True)
    ]
    assert np.allclose(together, alone, rtol=1e-9, atol=0.0)
    assert calibrate_makeham_b(65, 85.0).shape == ()


def test_default_law_q_increases_with_age_and_is_a_probability() -> None:
    for age, life in [(25, 80), (40, 85), (65, 85), (65, 95), (90, 95)]:
        table = table_for_life_expectancy(age, life)
        assert np.all((table.q >= 0.0) & (table.q <= 1.0))
        assert np.all(np.diff(table.q) > 0.0), (age, life)
        assert table.q[-1] == 1.0
        assert table.max_age == MAX_LIFE_AGE
    # The law itself, in closed form: q = 1 - exp(-(A + B e^{cx} (e^c - 1) / c)).
    b = 3e-5
    expected = 1.0 - math.exp(
        -(MAKEHAM_A + b * math.exp(GOMPERTZ_C * 70) * math.expm1(GOMPERTZ_C) / GOMPERTZ_C)
    )
    assert abs(float(makeham_q(70, b)) - expected) < 1e-15


def test_the_module_docstrings_example_figures() -> None:
    """At 65 with a life expectancy of 85: B = 3.4e-5, q_65 = 0.0126, q_85 = 0.072, ..."""
    b = float(calibrate_makeham_b(65, 85))
    assert abs(b - 3.4e-5) < 0.05e-5
    table = makeham_table(b, 65)
    assert [round(float(table.q[age - 65]), 4) for age in (65, 85)] == [0.0126, 0.0717]
    assert abs(float(table.q[100 - 65]) - 0.25) < 0.005


def test_a_longer_life_expectancy_means_a_lower_hazard() -> None:
    b = calibrate_makeham_b(65, np.array([80.0, 85.0, 90.0, 95.0]))
    assert np.all(np.diff(b) < 0.0)


@pytest.mark.parametrize(
    ("age", "life", "words"),
    [
        (65, 65.0, "current_age + 1/2"),
        (65, 60.0, "current_age + 1/2"),
        (65, 65.5, "current_age + 1/2"),
        (65, math.nan, "current_age + 1/2"),
        (30, 109.0, "maximum age 110"),
        (65, 111.0, "maximum age 110"),
        (111, 115.0, "outside the ages"),
    ],
)
def test_an_impossible_life_expectancy_is_refused_by_name(
    age: int, life: float, words: str
) -> None:
    with pytest.raises(InvalidArgument) as error:
        calibrate_makeham_b(age, life, field="household.adults[1].life_expectancy")
    [violation] = error.value.violations
    assert violation.field == "household.adults[1].life_expectancy"
    assert words in violation.description


def test_every_impossible_target_of_a_batch_is_reported_at_once() -> None:
    with pytest.raises(InvalidArgument) as error:
        calibrate_makeham_b([60, 65, 70], [59.0, 85.0, 112.0])
    assert [v.field for v in error.value.violations] == ["life_expectancy[0]", "life_expectancy[2]"]


def test_a_shorter_maximum_age_lowers_the_ceiling() -> None:
    table = table_for_life_expectancy(65, 85, max_age=100)
    assert table.max_age == 100
    assert abs(expected_age_at_death(table, 65) - 85) < 1e-9
    assert ceiling(65, max_age=100) < 100.5 < ceiling(65)
    with pytest.raises(InvalidArgument, match="maximum age 100"):
        table_for_life_expectancy(65, 100.5, max_age=100)
    with pytest.raises(ValueError, match="max_age"):
        calibrate_makeham_b(65, 85, max_age=MAX_LIFE_AGE + 1)


# -- explicit tables ------------------------------------------------------------------------


def test_survival_and_life_expectancy_of_an_explicit_table() -> None:
    table = LifeTable(100, np.array([0.5, 0.25, 1.0]))
    assert table.max_age == 102
    assert np.allclose(survival_curve(table, 100), [1.0, 0.5, 0.375, 0.0])
    # Deaths at mid-year: 0.5 die at 100.5, 0.125 at 101.5, 0.375 at 102.5.
    assert (
        abs(expected_age_at_death(table, 100) - (0.5 * 100.5 + 0.125 * 101.5 + 0.375 * 102.5))
        < 1e-12
    )
    assert np.allclose(survival_curve(table, 101), [1.0, 0.75, 0.0])
    assert abs(expected_remaining_lifetime(table, 102) - 0.5) < 1e-15


def test_a_table_is_kept_as_a_read_only_copy() -> None:
    q = np.array([0.1, 1.0])
    table = LifeTable(109, q)
    q[0] = 0.9
    assert table.q[0] == 0.1
    with pytest.raises(ValueError):
        table.q[0] = 0.5


@pytest.mark.parametrize(
    ("first_age", "q", "fields"),
    [
        (60, [], ["t.q"]),
        (60, [0.1, -0.1, 1.0], ["t.q[1]"]),
        (60, [0.1, 1.5, math.nan, 1.0], ["t.q[1]", "t.q[2]"]),
        (60, [0.1, 0.2], ["t.q[1]"]),
        (60, [0.1, 1.0, 0.5, 1.0], ["t.q[1]"]),
        (-1, [1.0], ["t.first_age"]),
        (MAX_LIFE_AGE, [0.5, 1.0], ["t.q"]),
        (60, [math.inf], ["t.q[0]"]),
    ],
)
def test_an_explicit_table_is_validated_field_by_field(
    first_age: int, q: list[float], fields: list[str]
) -> None:
    assert [v.field for v in table_violations(first_age, q, field="t")] == fields
    with pytest.raises(InvalidArgument):
        LifeTable(first_age, np.array(q, dtype=np.float64))


def test_the_violation_messages_say_what_to_do() -> None:
    [last] = table_violations(60, [0.1, 0.2])
    assert "must be 1 at the table's last age 61" in last.description
    [early] = table_violations(60, [1.0, 0.5, 1.0])
    assert "end the table at age 60" in early.description
    [past] = table_violations(MAX_LIFE_AGE - 1, [0.5, 0.5, 1.0])
    assert f"end it at {MAX_LIFE_AGE}" in past.description


def test_an_age_outside_the_table_is_refused() -> None:
    table = LifeTable(60, np.array([0.1, 0.2, 1.0]))
    with pytest.raises(InvalidArgument, match=r"current_age: 59 is outside .* \[60, 62\]"):
        survival_curve(table, 59)
    with pytest.raises(InvalidArgument, match="63 is outside"):
        expected_age_at_death(table, 63)


def test_q_of_one_at_the_current_age_means_death_within_the_first_year() -> None:
    table = LifeTable(60, np.array([0.01, 0.02, 0.03, 0.04, 0.05, 1.0]))
    assert np.array_equal(survival_curve(table, 65), [1.0, 0.0])
    assert expected_age_at_death(table, 65) == 65.5
    deaths = draw_death_ages([(table, 65)], seed=3, start=0, n_paths=5000)
    assert np.all(deaths == 65)


def test_a_table_that_ends_before_the_default_maximum_age_ends_the_lives() -> None:
    table = LifeTable(80, np.array([0.2, 0.2, 0.2, 1.0]))
    deaths = draw_death_ages([(table, 80)], seed=4, start=0, n_paths=20_000)
    assert deaths.min() == 80 and deaths.max() == 83
    assert set(np.unique(deaths).tolist()) == {80, 81, 82, 83}


# -- constant hazard ------------------------------------------------------------------------


def test_a_constant_hazard_is_a_time_preference_factor() -> None:
    lam, age, end = 0.03, 60, 90
    table = constant_hazard_table(lam, age, end)
    assert np.all(table.q[:-1] == lam) and table.q[-1] == 1.0
    survival = survival_curve(table, age)
    years = np.arange(end - age + 1)  # the years of age 60 .. 90 of the plan
    assert np.allclose(survival[: years.size], (1.0 - lam) ** years, rtol=1e-13, atol=0.0)
    assert survival[-1] == 0.0
    # Any consumption stream: the survival-weighted utility is the discounted one with
    # beta (1 - lambda), in expectation over the drawn deaths too.
    beta = 0.97
    utility = -1.0 / (1.0 + 0.01 * years)
    exact = float(np.sum((beta * (1.0 - lam)) ** years * utility))
    deaths = draw_death_ages([(table, age)], seed=9, start=0, n_paths=200_000)[0]
    alive = (age + years)[None, :] <= deaths[:, None]
    per_path = (alive * (beta**years * utility)).sum(axis=1)
    se = per_path.std() / math.sqrt(per_path.size)
    assert abs(per_path.mean() - exact) < 4 * se
    assert abs(float(np.sum(survival[: years.size] * beta**years * utility)) - exact) < 1e-12


def test_a_zero_hazard_is_the_fixed_horizon() -> None:
    """Nobody dies before the last age: 30 years lived (60 .. 89), as a 30-year plan."""
    table = constant_hazard_table(0.0, 60, 89)
    assert expected_age_at_death(table, 60) == 89.5  # the death at mid-year of age 89
    assert float(survival_curve(table, 60).sum()) == 30.0  # years started alive: e - x + 1/2
    assert np.all(draw_death_ages([(table, 60)], 1, 0, 3000) == 89)


@pytest.mark.parametrize("lam", [-0.1, 1.0, math.nan])
def test_a_constant_hazard_must_be_a_probability_below_one(lam: float) -> None:
    with pytest.raises(InvalidArgument, match="death_probability"):
        constant_hazard_table(lam, 60, 90)


# -- drawing deaths -------------------------------------------------------------------------


def test_simulated_ages_at_death_reproduce_the_table() -> None:
    table = table_for_life_expectancy(65, 87)
    deaths = draw_death_ages([(table, 65)], seed=2026, start=0, n_paths=N_DRAWS)[0]
    # Deaths at mid-year: the mean age in the year of death, plus 1/2, is e(65).
    assert abs(deaths.mean() + 0.5 - 87.0) < 0.05
    # The whole distribution: P(alive at 65 + k) for every k (a Kolmogorov-type bound).
    survival = survival_curve(table, 65)
    counts = np.bincount(deaths - 65, minlength=survival.size)
    alive = 1.0 - np.concatenate([[0.0], np.cumsum(counts)[:-1]]) / N_DRAWS
    assert np.max(np.abs(alive - survival[: alive.size])) < 3.0 / math.sqrt(N_DRAWS)


def test_two_adults_survive_independently() -> None:
    first, second = table_for_life_expectancy(60, 84), table_for_life_expectancy(58, 88)
    deaths = draw_death_ages([(first, 60), (second, 58)], 5, 0, N_DRAWS)
    assert abs(deaths[0].mean() + 0.5 - 84.0) < 0.05
    assert abs(deaths[1].mean() + 0.5 - 88.0) < 0.05
    assert abs(float(np.corrcoef(deaths[0], deaths[1])[0, 1])) < 4.0 / math.sqrt(N_DRAWS)
    # Both alive 20 years on: the product of the two survivals.
    both = np.mean((deaths[0] >= 80) & (deaths[1] >= 78))
    expected = survival_curve(first, 60)[20] * survival_curve(second, 58)[20]
    assert abs(both - expected) < 4.0 * math.sqrt(expected * (1 - expected) / N_DRAWS)


def test_a_path_dies_at_the_same_age_whatever_the_batch_split() -> None:
    adults = [(table_for_life_expectancy(60, 85), 60), (table_for_life_expectancy(62, 88), 62)]
    whole = draw_death_ages(adults, 5, 0, 3 * BLOCK_PATHS + 17)
    part = draw_death_ages(adults, 5, BLOCK_PATHS + 100, 1500)
    assert np.array_equal(whole[:, BLOCK_PATHS + 100 : BLOCK_PATHS + 1600], part)
    single = draw_death_ages(adults[:1], 5, 0, 3 * BLOCK_PATHS + 17)
    assert np.array_equal(single[0], whole[0])  # alone or in a couple
    assert not np.array_equal(draw_death_ages(adults, 6, 0, 1000), whole[:, :1000])


def test_uniforms_follow_the_block_layout() -> None:
    u = death_uniforms(7, 0, 2 * BLOCK_PATHS)
    assert u.shape == (DRAWS_PER_PATH, 2 * BLOCK_PATHS)
    sequence = np.random.SeedSequence(7, spawn_key=(MORTALITY_SPAWN_KEY, 1))
    block = np.random.Generator(np.random.SFC64(sequence)).random((DRAWS_PER_PATH, BLOCK_PATHS))
    assert np.array_equal(u[:, BLOCK_PATHS:], block)
    with pytest.raises(ValueError):
        death_uniforms(7, -1, 10)


def test_deaths_never_share_a_stream_with_the_market_and_leave_it_unchanged() -> None:
    model = MarketModel(MarketAssumptions(), 0.7)
    n, seed = 2 * BLOCK_PATHS + 5, 11
    before = Scenarios(model, seed, 0, n)
    first = [before.year(t).stocks.copy() for t in range(3)]
    adults = [(table_for_life_expectancy(60, 85), 60), (table_for_life_expectancy(60, 85), 60)]
    market = Scenarios(model, seed, 0, n)
    deaths = draw_death_ages(adults, seed, 0, n)
    after = [market.year(t).stocks for t in range(3)]
    for a, b in zip(first, after, strict=True):
        assert np.array_equal(a, b)
    assert deaths.shape == (2, n)
    # The market's block generators produce other numbers than the death streams.
    for block in range(3):
        market_gen = np.random.Generator(
            np.random.SFC64(np.random.SeedSequence(seed, spawn_key=(block,)))
        )
        own = death_uniforms(seed, block * BLOCK_PATHS, BLOCK_PATHS)
        assert not np.array_equal(market_gen.random((DRAWS_PER_PATH, BLOCK_PATHS)), own)
        assert abs(np.corrcoef(market_gen.random(BLOCK_PATHS), own[0])[0, 1]) < 0.15


def test_death_ages_invert_the_survival_curve() -> None:
    table = LifeTable(100, np.array([0.5, 0.25, 1.0]))
    # Survival 1, 0.5, 0.375, 0: alive at 101 iff u < 0.5, at 102 iff u < 0.375.
    u = np.array([0.0, 0.374, 0.375, 0.499, 0.5, 0.9999])
    assert death_ages(table, 100, u).tolist() == [102, 102, 101, 101, 100, 100]


def test_the_cell_lookup_inverts_exactly_as_a_binary_search() -> None:
    """Random draws, draws on the survival values themselves and on the cells' ends."""
    rng = np.random.default_rng(0)
    tables = [
        table_for_life_expectancy(65, 85),
        table_for_life_expectancy(30, 60),
        LifeTable(100, np.array([0.5, 0.25, 1.0])),
        LifeTable(90, np.array([0.0, 0.0, 0.5, 1.0])),
        constant_hazard_table(1e-9, 20, 110),  # many survival values inside one cell
        LifeTable(110, np.array([1.0])),
    ]
    for table in tables:
        survival = survival_curve(table, table.first_age)[1:]
        inside = survival[(survival >= 0.0) & (survival < 1.0)]
        edges = np.arange(4097) / 4096
        u = np.concatenate(
            [
                rng.random(50_000),
                inside,
                np.nextafter(inside, 0.0),
                np.nextafter(inside, 1.0),
                edges[:-1],
                np.nextafter(edges[1:], 0.0),
                [0.0, np.nextafter(1.0, 0.0)],
            ]
        )
        u = u[(u >= 0.0) & (u < 1.0)]
        expected = (survival[None, :] > u[:, None]).sum(axis=1)
        assert np.array_equal(birthdays_reached(survival, u), expected)


def test_one_or_two_adults_only() -> None:
    table = constant_hazard_table(0.1, 60, 70)
    with pytest.raises(ValueError):
        draw_death_ages([], 1, 0, 10)
    with pytest.raises(ValueError):
        draw_death_ages([(table, 60)] * 3, 1, 0, 10)
