"""Claiming a pension: when to start it, one irreversible decision per pension and path.

A pension with a claiming window (``Income.claiming``) may be claimed at any age of its
adult in [earliest_age, latest_age] (from the adult's current age on); claimed at age a
it pays ``amount x window.factor(start_age, a)`` from that age on, for as long as the
income would have been paid had it started at ``start_age`` (its adult's life; the
survivor fraction after it). The household's schedule pays every pension from its
default age, ``start_age``, so a household whose strategies never decide is simulated
exactly as one without a window.

Per path the state carries each claimable pension's *planned* claiming age
(``YearState.claim_plan``, shape (pensions, n)): the default age to begin with. A
strategy may move the plan (``Decision.claim``) while the pension is unclaimed: a
pension is claimed in the year its adult reaches the planned age, and from then on the
plan is frozen (irreversible). A plan is clipped to [the adult's age this year,
latest_age], so a pension still unclaimed at latest_age is claimed then, automatically.

The flows of each claiming age are precomputed once per household, as *changes* against
the default (``ClaimablePension``: each age's income and survival-weighted human capital
by year and life code, minus the default's), from the schedules of the same household
with the pension fixed at that age: the rules that place an income in time and in who
is alive have one home (:mod:`glidepath.engine.cashflows` and
:mod:`glidepath.engine.lifetimes`). A year of n paths then gathers each pension's change
in one indexing operation (age option x life code), with no per-path Python.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from glidepath.household.model import Household, Income

if TYPE_CHECKING:
    from .cashflows import Schedule
    from .state import YearState

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class ClaimablePension:
    """One claimable pension's options and what each changes against the default age.

    The change arrays have shape (ages, codes, T + 1): codes are the life codes under
    mortality (4) and a single row under the fixed horizon (everyone's life is certain).
    Real, or nominal money of the year (deflated per path) for a non-indexed pension.
    """

    income: int  # index in ``household.incomes``
    adult: int
    default_age: int
    ages: tuple[int, ...]  # the claiming ages still open at the plan's start, ascending
    amounts: tuple[float, ...]  # the annual amount claimed at each of them
    income_real: FloatArray
    income_nominal: FloatArray
    hc_real: FloatArray
    hc_nominal: FloatArray

    @property
    def earliest(self) -> int:
        return self.ages[0]

    @property
    def latest(self) -> int:
        return self.ages[-1]


@dataclass(frozen=True)
class ClaimOptions:
    """Every claimable pension of a household (in the order of its incomes)."""

    pensions: tuple[ClaimablePension, ...]
    has_nominal: bool

    def default_plan(self, n_paths: int) -> IntArray:
        """Each pension claimed at its default age on every path: shape (pensions, n)."""
        ages = np.array([p.default_age for p in self.pensions], dtype=np.int64)
        return np.repeat(ages[:, None], n_paths, axis=1)


def claimable(household: Household) -> tuple[int, ...]:
    """Indexes of the incomes with a claiming window."""
    return tuple(i for i, inc in enumerate(household.incomes) if inc.claiming is not None)


def claim_ages(household: Household, index: int) -> tuple[int, ...]:
    """The ages at which income ``index`` may still be claimed (from the adult's age now)."""
    income = household.incomes[index]
    window = income.claiming
    assert window is not None
    now = household.adults[income.adult].current_age
    return tuple(range(max(window.earliest_age, now), window.latest_age + 1))


def claimed_income(income: Income, age: int) -> Income:
    """The income claimed at ``age``: paid from then, its amount adjusted, no window."""
    window = income.claiming
    assert window is not None
    factor = window.factor(income.start_age, age)
    return dataclasses.replace(income, start_age=age, amount=income.amount * factor, claiming=None)


def claim_variant(household: Household, ages: Sequence[int]) -> Household:
    """``household`` with its claimable pensions (``claimable`` order) claimed at ``ages``:
    a household without windows, whose schedule pays each at its age."""
    chosen = dict(zip(claimable(household), ages, strict=True))
    incomes = tuple(
        claimed_income(inc, chosen[i]) if i in chosen else inc
        for i, inc in enumerate(household.incomes)
    )
    return dataclasses.replace(household, incomes=incomes)


def claim_combinations(household: Household) -> list[tuple[int, ...]]:
    """Every combination of claiming ages (one per claimable pension)."""
    return list(itertools.product(*(claim_ages(household, i) for i in claimable(household))))


def _flows(schedule: Schedule) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """(pension real, nominal, human capital real, nominal) by (code, year)."""
    if schedule.lives is not None:
        f = schedule.lives.flows
        return (
            f.pension_real,
            f.pension_nominal,
            f.hc_real,
            f.hc_nominal,
        )
    return (
        schedule.pension_real[None, :],
        schedule.pension_nominal[None, :],
        schedule.hc_real[None, :],
        schedule.hc_nominal[None, :],
    )


def claim_options(household: Household) -> ClaimOptions | None:
    """The household's claimable pensions and each claiming age's flows; None: none."""
    from .cashflows import build_schedule  # the schedule holds these options: no cycle

    indexes = claimable(household)
    if not indexes:
        return None
    defaults = [household.incomes[i].start_age for i in indexes]
    base = _flows(build_schedule(claim_variant(household, defaults)))
    pensions = []
    for j, index in enumerate(indexes):
        ages = claim_ages(household, index)
        changes: list[list[FloatArray]] = [[], [], [], []]
        for age in ages:
            plan = [*defaults[:j], age, *defaults[j + 1 :]]
            flows = _flows(build_schedule(claim_variant(household, plan)))
            for out, now, default in zip(changes, flows, base, strict=True):
                out.append(now - default)
        income = household.incomes[index]
        window = income.claiming
        assert window is not None
        pensions.append(
            ClaimablePension(
                income=index,
                adult=income.adult,
                default_age=income.start_age,
                ages=ages,
                amounts=tuple(income.amount * window.factor(income.start_age, a) for a in ages),
                income_real=np.stack(changes[0]),
                income_nominal=np.stack(changes[1]),
                hc_real=np.stack(changes[2]),
                hc_nominal=np.stack(changes[3]),
            )
        )
    nominal = any(not household.incomes[i].indexed_to_inflation for i in indexes)
    return ClaimOptions(tuple(pensions), nominal)


def claim_flows(
    options: ClaimOptions,
    t: int,
    codes: IntArray | None,
    price_index: FloatArray,
    plan: IntArray,
) -> tuple[FloatArray, FloatArray]:
    """(income, human capital) of year t per path that the plan adds to the default's."""
    income = np.zeros(plan.shape[1])
    human = np.zeros(plan.shape[1])
    code: IntArray | int = 0 if codes is None else codes
    for i, p in enumerate(options.pensions):
        k = plan[i] - p.earliest
        income += p.income_real[k, code, t]
        human += p.hc_real[k, code, t]
        if options.has_nominal:
            income += p.income_nominal[k, code, t] / price_index
            human += p.hc_nominal[k, code, t] / price_index
    return income, human


def open_claims(state: YearState) -> NDArray[np.bool_]:
    """Per pension and path, whether the claim can still move this year: (pensions, n).

    Unclaimed (the plan not yet reached) or claimed this very year: the decision of a
    year comes first in it, so this year's claim may still be deferred.
    """
    options = state.schedule.claims
    assert options is not None and state.claim_plan is not None
    ages = np.array(
        [state.schedule.adult_ages[p.adult, state.t] for p in options.pensions], dtype=np.int64
    )
    return np.asarray(state.claim_plan >= ages[:, None])


def claim(state: YearState, ages: FloatArray | IntArray) -> YearState:
    """``state`` after each path plans to claim each pension at ``ages`` (pensions, n).

    Where the claim is still open the plan moves to the age asked for, rounded and
    clipped to [the adult's age this year, latest_age] (NaN keeps the plan); a claimed
    pension keeps its plan. This year's income and human capital follow.
    """
    options = state.schedule.claims
    if options is None or state.claim_plan is None:
        return state
    asked = np.asarray(ages, dtype=np.float64)
    old = state.claim_plan
    plan = old.copy()
    still = open_claims(state)
    for i, p in enumerate(options.pensions):
        now = int(state.schedule.adult_ages[p.adult, state.t])
        wanted = np.where(np.isnan(asked[i]), old[i], np.rint(np.nan_to_num(asked[i])))
        wanted = np.clip(wanted, max(p.earliest, now), p.latest).astype(np.int64)
        plan[i] = np.where(still[i], wanted, old[i])
    if np.array_equal(plan, old):
        return state
    codes = state.life_code
    income_new, human_new = claim_flows(options, state.t, codes, state.price_index, plan)
    income_old, human_old = claim_flows(options, state.t, codes, state.price_index, old)
    change = income_new - income_old
    return dataclasses.replace(
        state,
        income=state.income + change,
        pension=state.pension + change,
        human_capital=state.human_capital + human_new - human_old,
        claim_plan=plan,
    )


def claimed(state: YearState) -> NDArray[np.bool_]:
    """Per pension and path, whether it is claimed by this year (pensions, n)."""
    options = state.schedule.claims
    assert options is not None and state.claim_plan is not None
    ages = np.array(
        [state.schedule.adult_ages[p.adult, state.t] for p in options.pensions], dtype=np.int64
    )
    return np.asarray(state.claim_plan <= ages[:, None])
