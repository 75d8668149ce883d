"""One year of a household's life for n paths at once: the pure step function.

The RL environment and the Monte Carlo runner both call exactly this:

    state = initial_state(household, n)
    while not state.done:
        decision = strategy.decide(state)
        state, outcome = step(state, decision, returns_for_year)

A year, in order:
1. The strategy sees the state (wealth W, this year's income y and charges k,
   disposable d = y - k) and chooses consumption c and the stock share s.
2. Net flow F = d - c meets the portfolio (gross real return
   R = R_nonstock + s (R_stock - R_nonstock)): W' = W R + F a(R), with
   a(R) = (1/12) sum_{j=1..12} R^(j/12) for monthly flows, a(R) = R at the start of year.
3. Wealth is floored at zero: when W R + F a(R) < 0, the withdrawal is cut to what was
   there, -F = W R / a(R): consumption falls to d + W R / a(R) (never below 0), W' = 0,
   and the cut is reported in the outcome (not hidden). The path is marked ruined when
   this happens before the last year: wealth ran out with years still to live. (In the
   last year, a rule that withdraws everything left asks, under monthly flows, for a
   little more than a falling market leaves; that cut is reported but is not ruin.)
   An annuity purchase (``Decision.annuitise``, :mod:`glidepath.engine.annuities`)
   comes before all of this: wealth falls by the amount, this year's income rises by
   the first payment; the income bought is paid in every later year someone lives.
   A claiming decision (``Decision.claim``, :mod:`glidepath.engine.claiming`) comes
   first of all: this year's pension and human capital follow the path's new plan.
4. The price index moves with the year's inflation; next year's income and charges
   follow the schedule (non-indexed ones deflated by the path's new price index).
5. Under regimes, next year's ``regime_belief`` (:mod:`glidepath.engine.regime_belief`):
   the filter updated with this year's returns, or next year's true regime where the
   household observes it.

Under MORTALITY (``Schedule.lives``) the flows of each path are those of its alive state
(:mod:`glidepath.engine.lifetimes`); a path on which nobody is alive any more is over:
no flows, no consumption, no returns, its wealth kept as the bequest, and a cut there is
no ruin. The floor (``Goals.essential_fraction`` x the path's spending target in a
retirement year) travels in the outcome for the objective and the metrics.

``step`` never mutates its inputs and allocates fresh arrays for the next state.
"""

from __future__ import annotations

import numpy as np

from glidepath.household.model import Household

from .annuities import annuity_flows, purchase
from .cashflows import FloatArray, Schedule, build_schedule
from .claiming import claim, claim_flows
from .lifetimes import alive_in_year
from .market import YearReturns
from .regime_belief import initial_belief, next_belief
from .state import BoolArray, Decision, FlowTiming, IntArray, YearOutcome, YearState


def monthly_factor(gross: FloatArray) -> FloatArray:
    """a(R) = (1/12) sum_{j=1..12} R^(j/12): the year-end value of 1/12 paid each month.

    Geometric sum q (R - 1) / (q - 1) with q = R^(1/12); both differences come from
    expm1 of the log return, so the ratio keeps full precision as R approaches 1.
    """
    log_r = np.log(gross)
    e = np.expm1(log_r * (1.0 / 12.0))  # q - 1
    a = np.expm1(log_r)  # R - 1
    a *= e + 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        a /= e
    a *= 1.0 / 12.0
    if not e.all():  # R exactly 1: the sum is 12 / 12
        a = np.where(e == 0.0, 1.0, a)
    return np.asarray(a, dtype=np.float64)


def flow_factor(gross: FloatArray, timing: FlowTiming) -> FloatArray:
    if timing is FlowTiming.START_OF_YEAR:
        return gross
    return monthly_factor(gross)


def _year_flows(
    schedule: Schedule, t: int, price_index: FloatArray, alive: IntArray | None = None
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """(income, pension, charges, human capital) of year t per path, real."""
    if alive is not None:
        return _alive_flows(schedule, t, price_index, alive)
    n = price_index.shape[0]
    pension = np.full(n, schedule.pension_real[t])
    other = schedule.salary[t] + schedule.other_income_real[t]
    charges = np.full(n, schedule.charges_real[t])
    human = np.full(n, schedule.hc_real[t])
    if schedule.has_nominal:
        deflator = 1.0 / price_index
        pension += schedule.pension_nominal[t] * deflator
        other = other + schedule.other_income_nominal[t] * deflator
        charges += schedule.charges_nominal[t] * deflator
        human += schedule.hc_nominal[t] * deflator
    income = pension + other
    return income, pension, charges, human


def _alive_flows(
    schedule: Schedule, t: int, price_index: FloatArray, alive: IntArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """MORTALITY: each path's flows gathered from its alive state's row."""
    assert schedule.lives is not None
    f = schedule.lives.flows

    def at(table: FloatArray) -> FloatArray:  # a take from the year's 4 values: fast
        return np.asarray(table[:, t].take(alive), dtype=np.float64)

    pension = at(f.pension_real)
    other = at(f.salary) + at(f.other_real)
    charges = at(f.charges_real)
    human = at(f.hc_real)
    if f.has_nominal:
        deflator = 1.0 / price_index
        pension += at(f.pension_nominal) * deflator
        other += at(f.other_nominal) * deflator
        charges += at(f.charges_nominal) * deflator
        human += at(f.hc_nominal) * deflator
    return pension + other, pension, charges, human


def initial_state(
    household: Household | Schedule,
    n_paths: int,
    *,
    timing: FlowTiming = FlowTiming.MONTHLY,
    death_year: IntArray | None = None,
    turbulent: BoolArray | None = None,
) -> YearState:
    """n identical paths at t = 0 (wealth = the accounts' balances, P_0 = 1).

    MORTALITY needs ``death_year`` (``lifetimes.draw_death_years``: each adult's last
    plan year on each path); FIXED_HORIZON refuses one. Observable regimes need
    ``turbulent``, each path's first regime (``Scenarios.first_turbulent``): the
    household sees it (``regime_belief``).
    """
    schedule = household if isinstance(household, Schedule) else build_schedule(household)
    if (schedule.lives is None) != (death_year is None):
        raise ValueError("death years are drawn for a MORTALITY household, and only for one")
    alive, code = (None, None) if death_year is None else alive_in_year(death_year, 0)
    price = np.ones(n_paths)
    income, pension, charges, human = _year_flows(schedule, 0, price, code)
    wealth = np.full(n_paths, schedule.initial_wealth)
    at_retirement = wealth.copy() if schedule.retirement_year == 0 else np.full(n_paths, np.nan)
    held = None if schedule.annuities is None else np.zeros(n_paths)
    plan = None
    if schedule.claims is not None:  # every pension planned at its default age
        plan = schedule.claims.default_plan(n_paths)
        extra, later = claim_flows(schedule.claims, 0, code, price, plan)
        income, pension, human = income + extra, pension + extra, human + later
    return YearState(
        schedule=schedule,
        timing=timing,
        t=0,
        wealth=wealth,
        price_index=price,
        income=income,
        pension=pension,
        charges=charges,
        human_capital=human,
        wealth_at_retirement=at_retirement,
        last_withdrawal=np.zeros(n_paths),
        ruined=np.zeros(n_paths, dtype=bool),
        death_year=death_year,
        alive=alive,
        life_code=code,
        annuity_real=held,
        annuity_nominal=None if held is None else held.copy(),
        claim_plan=plan,
        regime_belief=initial_belief(schedule.market, n_paths, turbulent),
    )


def step(
    state: YearState, decision: Decision, returns: YearReturns
) -> tuple[YearState, YearOutcome]:
    """Apply year ``state.t`` on every path; return the next state and what happened."""
    if state.done:
        raise ValueError("the plan is over: no year left to step")
    schedule, t = state.schedule, state.t
    if decision.claim is not None:  # first, at the start of the year
        state = claim(state, decision.claim)
    bought = None
    if decision.annuitise is not None:  # first, at the start of the year
        state, bought = purchase(state, decision.annuitise)
    share = np.clip(decision.stock_share, 0.0, 1.0)
    requested = np.maximum(decision.consumption, 0.0)
    lived = None if state.life_code is None else state.life_code > 0
    everyone = lived is None or bool(lived.all())
    if (
        lived is not None and not everyone
    ):  # nobody left to spend; the flows of such a path are 0 already
        requested = np.where(lived, requested, 0.0)
    gross = returns.stocks - returns.nonstock
    gross *= share
    gross += returns.nonstock
    factor = flow_factor(gross, state.timing)
    disposable = state.income - state.charges
    net_flow = disposable - requested
    wealth = state.wealth * gross
    wealth += net_flow * factor
    if (
        lived is not None and not everyone
    ):  # a path nobody lives on stays as it was: no returns, never a cut
        wealth = np.where(lived, wealth, state.wealth)
    consumption = requested
    cut_mask = wealth < 0.0
    ruined = state.ruined
    if cut_mask.any():
        affordable = disposable + state.wealth * gross / factor
        consumption = np.where(cut_mask, np.clip(affordable, 0.0, requested), requested)
        net_flow = disposable - consumption
        wealth = np.where(cut_mask, 0.0, wealth)
        if t < schedule.horizon - 1:
            ruined = ruined | cut_mask
    cut = requested - consumption
    floor = None
    if schedule.retired[t]:
        target = state.path_target if lived is not None else schedule.spending_target[t]
        shortfall = np.maximum(target - consumption, 0.0)
        essential = schedule.household.goals.essential_fraction
        if essential > 0:
            floor = np.asarray(
                np.broadcast_to(essential * target, consumption.shape), dtype=np.float64
            )
    else:
        shortfall = np.zeros_like(consumption)
    outcome = YearOutcome(
        t=t,
        consumption=consumption,
        requested=requested,
        net_flow=net_flow,
        shortfall=shortfall,
        cut=cut,
        stock_share=share,
        portfolio_return=gross,
        wealth_start=state.wealth,
        disposable=disposable,
        lived=lived,
        floor=floor,
        annuitised=bought,
    )
    price = state.price_index * returns.inflation
    nxt = t + 1
    alive, code = (None, None) if state.death_year is None else alive_in_year(state.death_year, nxt)
    income, pension, charges, human = _year_flows(schedule, nxt, price, code)
    held_real, held_nominal = state.annuity_real, state.annuity_nominal
    if schedule.annuities is not None and held_real is not None and held_nominal is not None:
        paid, later = annuity_flows(schedule.annuities, nxt, code, price, held_real, held_nominal)
        income, human = income + paid, human + later
    if schedule.claims is not None and state.claim_plan is not None:
        extra, later = claim_flows(schedule.claims, nxt, code, price, state.claim_plan)
        income, pension, human = income + extra, pension + extra, human + later
    at_retirement = state.wealth_at_retirement
    if nxt == schedule.retirement_year:
        at_retirement = wealth.copy()
    next_state = YearState(
        schedule=schedule,
        timing=state.timing,
        t=nxt,
        wealth=wealth,
        price_index=price,
        income=income,
        pension=pension,
        charges=charges,
        human_capital=human,
        wealth_at_retirement=at_retirement,
        last_withdrawal=-net_flow,
        ruined=ruined,
        death_year=state.death_year,
        alive=alive,
        life_code=code,
        annuity_real=held_real,
        annuity_nominal=held_nominal,
        claim_plan=state.claim_plan,
        regime_belief=(
            None
            if state.regime_belief is None
            else next_belief(schedule.market, state.regime_belief, returns)
        ),
    )
    return next_state, outcome
