"""The household's deterministic schedules, year by year (t = 0 .. T-1).

Conventions (the model module's, made precise):
- Year t is the year in which the household (first adult) is ``start_age + t`` and adult
  i is ``adults[i].current_age + t``. The plan lasts T = ``household.horizon_years``.
- Salary: adult i earns ``net_income * (1 + income_growth)^t`` (real) while younger than
  their retirement age (and alive: younger than their life expectancy).
- Incomes are paid while their adult's age is in [start_age, end_age), and never beyond
  that adult's life expectancy ("for life" = until the life expectancy; no survivor
  benefit is modelled). The amount grows by ``(1 + growth)^t`` from today. Indexed
  amounts are real. Non-indexed amounts (and their growth) are nominal: the engine
  deflates them per path by the path's price index at the start of the year.
- Charges are placed on the household's clock: [start_age or now, end_age or the end).
- The spending target of year t is ``goals.retirement_spending``, replaced by the latest
  spending phase whose start age the household has reached. It is what the household
  wants to consume in retirement (years t >= ``retirement_year``); metrics judge
  retirement years against it.
- Contributions: 12 x the sum of the accounts' monthly contributions, real, every year
  before ``retirement_year``.
- Human capital H_t: the present value, at the start of year t, of the net incomes
  (incomes - charges, salary included) of years t+1 .. T-1, discounted at the expected
  real return of the household's non-stock mix (the bond's when it holds only bonds).
  Non-indexed parts are deflated with the expected inflation: per path,
  H_t = hc_real[t] + hc_nominal[t] / P_t.
- Lifetimes: under FIXED_HORIZON (above) every flow ends with its adult's life
  expectancy. Under MORTALITY the plan runs to the last age anyone can live, "for life"
  means until the drawn death, and ``lives`` (:mod:`glidepath.engine.lifetimes`) holds
  the life tables and each alive state's flows; the arrays here are then those of the
  state where every adult is alive.
- Claiming windows: a pension with one is scheduled from its default age (its
  ``start_age``); ``claims`` (:mod:`glidepath.engine.claiming`) holds what claiming it
  at each other age changes, which the state applies per path.
- The consumption scale s (utility normalisation and reporting): the retirement spending
  target when > 0, else the largest spending phase, else the mean positive real net
  income, else initial wealth spread over the horizon, else 1.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from glidepath.errors import InvalidArgument
from glidepath.household.model import Household, IncomeKind

from .annuities import AnnuityMarket, annuity_market
from .claiming import ClaimOptions, claim_options
from .lifetimes import Lives, build_lives
from .market import MarketModel
from .regimes import expected_inflation

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class Schedule:
    """Everything deterministic about one household, as arrays over years.

    Arrays indexed by year have length T + 1: entry T (after the plan) is zero, so the
    engine can read "next year" without a special case.
    """

    household: Household
    horizon: int
    retirement_year: int
    household_age: IntArray  # (T+1,)
    adult_ages: IntArray  # (n_adults, T+1)
    salary: FloatArray  # real
    pension_real: FloatArray
    pension_nominal: FloatArray  # nominal money of year t
    other_income_real: FloatArray
    other_income_nominal: FloatArray
    charges_real: FloatArray
    charges_nominal: FloatArray
    spending_target: FloatArray
    retired: BoolArray
    contributions: FloatArray  # annual, real
    hc_real: FloatArray  # PV of future real net income, per year
    hc_nominal: FloatArray  # PV of future nominal net income (divide by P_t)
    has_nominal: bool
    initial_wealth: float
    stock_share: float  # the household's current aggregate stock share
    bond_fraction: float  # share of the non-stock part held in bonds
    consumption_scale: float
    capital_goal: float
    risk_aversion: float
    discount_gross: float  # real gross rate used for H
    market: MarketModel
    lives: Lives | None = None  # MORTALITY: life tables and each alive state's flows
    annuities: AnnuityMarket | None = None  # the annuity offer's prices; None: no market
    # Claimable pensions (paid above from their default ages) and each claiming age's
    # flows; None: no pension has a claiming window.
    claims: ClaimOptions | None = None

    @property
    def real_net_income(self) -> FloatArray:
        """Real part of income - charges (salary included), by year."""
        return self.salary + self.pension_real + self.other_income_real - self.charges_real

    @property
    def nominal_net_income(self) -> FloatArray:
        return self.pension_nominal + self.other_income_nominal - self.charges_nominal

    def expected_price_index(self) -> FloatArray:
        """E[P_t] under the market's mean inflation, t = 0..T."""
        gross = 1.0 + expected_inflation(self.household.market)
        return np.asarray(gross ** np.arange(self.horizon + 1), dtype=np.float64)


def aggregate_allocation(household: Household) -> tuple[float, float]:
    """(stock share, bond fraction of the non-stock part) of all accounts as one portfolio.

    Weighted by balance; by contributions when every balance is 0; plain mean when both
    are 0; 60/40 with no account. Bonds only when the non-stock part holds neither.
    """
    accounts = household.accounts
    if not accounts:
        return 0.6, 1.0
    weights = np.array([a.balance for a in accounts], dtype=np.float64)
    if weights.sum() <= 0:
        weights = np.array([a.monthly_contribution for a in accounts], dtype=np.float64)
    if weights.sum() <= 0:
        weights = np.ones(len(accounts))
    weights = weights / weights.sum()
    stock = float(sum(w * a.stock_share for w, a in zip(weights, accounts, strict=True)))
    bond = float(sum(w * a.bond_share for w, a in zip(weights, accounts, strict=True)))
    cash = float(sum(w * a.cash_share for w, a in zip(weights, accounts, strict=True)))
    bond_fraction = 1.0 if bond + cash <= 0 else bond / (bond + cash)
    return min(max(stock, 0.0), 1.0), bond_fraction


def _present_values(flows: FloatArray, gross: float) -> FloatArray:
    """pv[t] = sum_{k > t} flows[k] / gross^(k - t), for t = 0..T (flows has length T+1)."""
    pv = np.zeros_like(flows)
    acc = 0.0
    for t in range(len(flows) - 2, -1, -1):
        acc = (acc + flows[t + 1]) / gross
        pv[t] = acc
    return pv


def spending_scale(household: Household) -> float | None:
    """The household's own spending target as a scale: the retirement target, else the
    largest spending phase; None when it states neither."""
    goals = household.goals
    if goals.retirement_spending > 0:
        return float(goals.retirement_spending)
    phases = [p.annual_spending for p in household.spending_phases if p.annual_spending > 0]
    if phases:
        return float(max(phases))
    return None


def consumption_scale(household: Household, real_net: FloatArray, wealth: float) -> float:
    stated = spending_scale(household)
    if stated is not None:
        return stated
    positive = real_net[:-1][real_net[:-1] > 0]
    if positive.size:
        return float(positive.mean())
    if wealth > 0:
        return wealth / max(household.horizon_years, 1)
    return 1.0


@functools.lru_cache(maxsize=64)
def build_schedule(household: Household) -> Schedule:
    """The schedule of ``household`` (cached: households are immutable and hashable)."""
    if not household.adults:
        raise InvalidArgument.field("household.adults", "at least one adult is needed")
    horizon = household.horizon_years
    if horizon <= 0:
        raise InvalidArgument.field(
            "household.adults", "the horizon (latest life expectancy - age) must be > 0"
        )
    n = horizon + 1
    t = np.arange(n)
    live = t < horizon
    hh_age = household.start_age + t
    adult_ages = np.array([a.current_age + t for a in household.adults], dtype=np.int64)

    salary = np.zeros(n)
    for i, a in enumerate(household.adults):
        working = (adult_ages[i] < a.retirement_age) & (adult_ages[i] < a.life_expectancy) & live
        salary += np.where(working, a.net_income * (1.0 + a.income_growth) ** t, 0.0)

    streams = {
        (k, idx): np.zeros(n) for k in (IncomeKind.PENSION, IncomeKind.OTHER) for idx in (0, 1)
    }
    for j, inc in enumerate(household.incomes):
        if not 0 <= inc.adult < len(household.adults):
            raise InvalidArgument.field(
                f"household.incomes[{j}].adult", "refers to an adult the household lacks"
            )
        owner = household.adults[inc.adult]
        ages = adult_ages[inc.adult]
        end = (
            owner.life_expectancy
            if inc.end_age is None
            else min(inc.end_age, owner.life_expectancy)
        )
        active = (ages >= inc.start_age) & (ages < end) & live
        amount = np.where(active, inc.amount * (1.0 + inc.growth) ** t, 0.0)
        streams[(inc.kind, 0 if inc.indexed_to_inflation else 1)] += amount

    charges_real = np.zeros(n)
    charges_nominal = np.zeros(n)
    for ch in household.charges:
        active = live.copy()
        if ch.start_age is not None:
            active &= hh_age >= ch.start_age
        if ch.end_age is not None:
            active &= hh_age < ch.end_age
        (charges_real if ch.indexed_to_inflation else charges_nominal)[active] += ch.amount

    target = np.full(n, household.goals.retirement_spending, dtype=np.float64)
    for phase in sorted(household.spending_phases, key=lambda p: p.start_age):
        target[hh_age >= phase.start_age] = phase.annual_spending
    target[~live] = 0.0

    retirement_year = min(household.retirement_year, horizon)
    retired = (t >= retirement_year) & live
    monthly = sum(a.monthly_contribution for a in household.accounts)
    contributions = np.where((t < retirement_year) & live, 12.0 * monthly, 0.0)

    stock_share, bond_fraction = aggregate_allocation(household)
    market = MarketModel(household.market, bond_fraction)
    discount = market.expected_nonstock_gross()
    pension_real, pension_nominal = (
        streams[(IncomeKind.PENSION, 0)],
        streams[(IncomeKind.PENSION, 1)],
    )
    other_real, other_nominal = streams[(IncomeKind.OTHER, 0)], streams[(IncomeKind.OTHER, 1)]
    lives = build_lives(household, adult_ages, live, hh_age, discount)
    if lives is not None:  # every adult alive: incomes "for life" until the drawn death
        full, f = lives.full_code, lives.flows
        salary, pension_real, pension_nominal = (
            f.salary[full],
            f.pension_real[full],
            f.pension_nominal[full],
        )
        other_real, other_nominal = f.other_real[full], f.other_nominal[full]
        charges_real, charges_nominal = f.charges_real[full], f.charges_nominal[full]
    real_net = salary + pension_real + other_real - charges_real
    nominal_net = pension_nominal + other_nominal - charges_nominal
    infl_gross = 1.0 + expected_inflation(household.market)
    wealth = float(sum(a.balance for a in household.accounts))

    return Schedule(
        household=household,
        horizon=horizon,
        retirement_year=retirement_year,
        household_age=hh_age.astype(np.int64),
        adult_ages=adult_ages,
        salary=salary,
        pension_real=pension_real,
        pension_nominal=pension_nominal,
        other_income_real=other_real,
        other_income_nominal=other_nominal,
        charges_real=charges_real,
        charges_nominal=charges_nominal,
        spending_target=target,
        retired=retired,
        contributions=contributions,
        hc_real=_present_values(real_net, discount),
        hc_nominal=_present_values(nominal_net, discount * infl_gross),
        has_nominal=bool(np.any(nominal_net != 0.0)),
        initial_wealth=wealth,
        stock_share=stock_share,
        bond_fraction=bond_fraction,
        consumption_scale=consumption_scale(household, real_net, wealth),
        capital_goal=float(household.goals.capital_goal),
        risk_aversion=float(household.risk_aversion),
        discount_gross=discount,
        market=market,
        lives=lives,
        annuities=annuity_market(household, lives, market, discount, horizon),
        claims=claim_options(household),
    )
