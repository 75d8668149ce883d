""" "Floor and upside": the floor it secures is one the household can fund, its reserve
under mortality is what the floor would cost as a life annuity, and annuities bought
already cover their share of it."""

from __future__ import annotations

import dataclasses

import numpy as np

from glidepath.engine import annuities
from glidepath.engine.cashflows import build_schedule
from glidepath.engine.state import YearState
from glidepath.engine.step import initial_state
from glidepath.engine.strategies import FloorAndUpside, MertonRule
from glidepath.household.model import (
    Account,
    Adult,
    AnnuityOffer,
    Goals,
    Household,
    Income,
    Lifetimes,
)


def retiree(wealth: float, lifetimes: Lifetimes = Lifetimes.FIXED_HORIZON) -> Household:
    return Household(
        adults=(Adult(65, 65, 85),),
        accounts=(Account(wealth, 0.0, 0.5, 0.5, 0.0),),
        incomes=(Income(15_000.0, 65),),
        goals=Goals(capital_goal=0.0, retirement_spending=45_000.0, essential_fraction=0.9),
        lifetimes=lifetimes,
    )


def first_year(household: Household) -> tuple[YearState, FloorAndUpside, MertonRule]:
    schedule = build_schedule(household)
    state = initial_state(schedule, 4)
    return state, FloorAndUpside.for_schedule(schedule), MertonRule.for_schedule(schedule)


def test_an_affordable_floor_is_spent_whole_and_an_unaffordable_one_in_proportion() -> None:
    floor = 0.9 * 45_000.0
    rich, rule, _ = first_year(retiree(2_000_000.0))
    assert np.all(rule.decide(rich).consumption >= floor)
    poor, rule, merton = first_year(retiree(150_000.0))
    x = poor.cash_on_hand
    reserve = rule.reserve[0, 0]
    assert np.all(x < floor + reserve)  # 25,500 a year uncovered for 19 years: unaffordable
    c = rule.decide(poor).consumption
    expected = np.maximum(merton.decide(poor).consumption, floor * x / (floor + reserve))
    np.testing.assert_allclose(c, expected)
    assert np.all(c < floor)  # the whole floor now would leave nothing for the years after


def test_under_mortality_the_reserve_is_the_floors_life_annuity_not_its_last_age() -> None:
    fixed = FloorAndUpside.for_schedule(build_schedule(retiree(900_000.0)))
    schedule = build_schedule(retiree(900_000.0, Lifetimes.MORTALITY))
    mortal = FloorAndUpside.for_schedule(schedule)
    uncovered = 0.9 * 45_000.0 - 15_000.0
    # Deaths certain at 85: the plain present value of 19 later years.
    assert 15 * uncovered < fixed.reserve[0, 0] < 19 * uncovered
    # Mortality (life expectancy 85, a table to ~110): survival-weighted, nobody alive 0.
    assert mortal.reserve.shape[0] > 1
    assert np.all(mortal.reserve[0] == 0.0)
    assert 0.5 * fixed.reserve[0, 0] < mortal.reserve[1, 0] < 1.2 * fixed.reserve[0, 0]
    # The floor secured to the life table's last age would keep far more out of stocks.
    years = np.arange(1, schedule.horizon)
    to_the_end = float(np.sum(uncovered / schedule.discount_gross**years))
    assert mortal.reserve[1, 0] < 0.75 * to_the_end


def test_an_annuity_bought_covers_its_share_of_the_reserve() -> None:
    household = dataclasses.replace(retiree(1_500_000.0), annuities=AnnuityOffer())
    state, rule, merton = first_year(household)
    before = rule.decide(state).stock_share
    bought, _ = annuities.purchase(state, np.full(state.n_paths, 0.5))
    covered = annuities.held_later_value(bought)
    assert np.all(covered > 0)
    after = rule.decide(bought)
    # The floor now mostly paid by income for life: more of what is left goes to stocks.
    assert np.all(after.stock_share > before)
    uncovered_reserve = np.maximum(rule.reserve[0, 0] - covered, 0.0)
    s = bought.cash_on_hand - after.consumption
    stocks = np.minimum(
        np.clip(merton.pi_star * (s - uncovered_reserve + bought.human_capital), 0.0, None),
        np.maximum(s - uncovered_reserve, 0.0),
    )
    np.testing.assert_allclose(after.stock_share, np.clip(stocks / s, 0.0, 1.0))
