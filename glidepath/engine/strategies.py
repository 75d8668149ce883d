"""Strategies: given the state of all paths, the stock share and consumption of each.

A strategy is bound to one household (it may precompute from its schedule and market)
and must be pure: ``decide`` reads the state and returns new arrays. The RL policy plugs
in through the same :class:`Strategy` protocol.

Rules of thumb (4 % rule, glide path, VPW, guardrails) are decumulation rules: before
retirement they save like the household's own plan (its monthly contributions, or all
of the disposable income if that is less); they differ in retirement and in allocation.
In retirement a withdrawal w means consumption = disposable + w (pensions - charges + w).
The Merton rule and the optimum choose consumption in every year; "floor and upside"
is the Merton rule with the essential-spending floor secured first.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from glidepath.errors import InvalidArgument
from glidepath.household.model import Household
from glidepath.text import clip

from . import annuities, claiming
from .cashflows import FloatArray, Schedule, build_schedule
from .lifetimes import survival_weighted_pv
from .logmath import exp_or_inf
from .quadrature import return_nodes, samuelson_log_b, samuelson_share
from .state import Decision, YearState


@runtime_checkable
class Strategy(Protocol):
    """Decides for every path at once; never mutates the state."""

    @property
    def name(self) -> str: ...

    def decide(self, state: YearState) -> Decision: ...


def plan_consumption(state: YearState) -> FloatArray:
    """Before retirement: disposable - planned contributions (>= 0). In retirement: the
    path's target (a lone survivor's is the survivor fraction of the couple's)."""
    if state.retired:
        return state.path_target
    return np.maximum(state.disposable - state.planned_contributions, 0.0)


def _constant(state: YearState, value: float) -> FloatArray:
    return np.full(state.n_paths, value)


def annuity_due_factor(rate: float, years: int) -> float:
    """Value at the start of year 1 of 1 paid at the start of each of ``years`` years."""
    if years <= 0:
        return 0.0
    if rate == 0.0:
        return float(years)
    v = 1.0 / (1.0 + rate)
    return float((1.0 - v**years) / (1.0 - v))


@dataclass(frozen=True)
class OwnPlan:
    """The household's plan: current allocation, planned contributions, target spending."""

    stock_share: float
    name: str = "own_plan"

    def decide(self, state: YearState) -> Decision:
        return Decision(_constant(state, self.stock_share), plan_consumption(state))


@dataclass(frozen=True)
class FourPercentRule:
    """Fixed mix; in retirement withdraw ``rate`` x wealth at retirement, constant in real terms."""

    stock_share: float
    rate: float = 0.04
    name: str = "four_percent_rule"

    def decide(self, state: YearState) -> Decision:
        if not state.retired:
            return Decision(_constant(state, self.stock_share), plan_consumption(state))
        withdrawal = self.rate * state.wealth_at_retirement
        return Decision(_constant(state, self.stock_share), state.disposable + withdrawal)


@dataclass(frozen=True)
class GlidePath:
    """Stocks = clip((base - age) / 100, 0, 1) on the household's age; target spending."""

    base: float = 110.0
    name: str = "glide_path"

    def decide(self, state: YearState) -> Decision:
        share = min(max((self.base - state.household_age) / 100.0, 0.0), 1.0)
        return Decision(_constant(state, share), plan_consumption(state))


@dataclass(frozen=True)
class VariablePercentageWithdrawal:
    """Fixed mix; in retirement withdraw (W - reserve) / annuity-due factor (years left, ``rate``).

    The reserve is the capital goal discounted at ``rate`` to today (0 without a goal): VPW
    annuitises the wealth not earmarked for the goal instead of running it to zero.
    """

    stock_share: float
    goal: float = 0.0
    rate: float = 0.03
    name: str = "vpw"

    def decide(self, state: YearState) -> Decision:
        if not state.retired:
            return Decision(_constant(state, self.stock_share), plan_consumption(state))
        n = state.years_left
        reserve = self.goal / (1.0 + self.rate) ** n
        free = np.maximum(state.wealth - reserve, 0.0)
        withdrawal = free / annuity_due_factor(self.rate, n)
        return Decision(_constant(state, self.stock_share), state.disposable + withdrawal)


@dataclass(frozen=True)
class Guardrails:
    """Guyton-Klinger, in real terms: start at ``initial_rate`` x wealth at retirement, keep
    last year's real withdrawal, cut it by ``adjustment`` when the current rate exceeds
    (1 + ``band``) x the initial rate, raise it by ``adjustment`` below (1 - ``band``) x."""

    stock_share: float
    initial_rate: float = 0.05
    band: float = 0.20
    adjustment: float = 0.10
    name: str = "guardrails"

    def decide(self, state: YearState) -> Decision:
        share = _constant(state, self.stock_share)
        if not state.retired:
            return Decision(share, plan_consumption(state))
        if state.t == state.schedule.retirement_year:
            withdrawal = self.initial_rate * state.wealth
        else:
            withdrawal = np.maximum(state.last_withdrawal, 0.0)
            safe_wealth = np.where(state.wealth > 0, state.wealth, np.nan)
            rate = withdrawal / safe_wealth
            high = ~(rate <= self.initial_rate * (1.0 + self.band))  # nan (no wealth) counts high
            low = rate < self.initial_rate * (1.0 - self.band)
            withdrawal = np.where(high, withdrawal * (1.0 - self.adjustment), withdrawal)
            withdrawal = np.where(low, withdrawal * (1.0 + self.adjustment), withdrawal)
        return Decision(share, state.disposable + withdrawal)


@dataclass(frozen=True)
class MertonRule:
    """Total-wealth rule (docs/origins.md), Samuelson's discrete optimum on total wealth.

    Cash on hand X = W + d, human capital H (PV of later net income). Consumption
    c = (X + H) / f_n with n years left and f_n = sum_{k<n} b^k + b^n g (g = goal / scale,
    b = E[R_p*^(1-gamma)]^(1/gamma)): exactly Samuelson's optimum, bequest included, when
    there is no income. Stock share of savings S = X - c: clip(pi* (S + H) / S, 0, 1).

    b is held as ln b and f_n computed through logs (:meth:`log_consumption_factor`): at
    risk aversion 0.1 in an optimistic market b is about 1e16, so b^n overflows a float
    within 20 years while the rate 1 / f_n it gives is merely tiny.
    """

    pi_star: float
    log_b: float
    goal_weight: float
    name: str = "merton"
    # Under mortality: ln f by (life code, year), survival-weighted (``survival_log_factors``).
    log_factors: FloatArray | None = field(default=None, compare=False, repr=False)

    def log_consumption_factor(self, years_left: int) -> float:
        """ln f_n, f_n = sum_{k<n} b^k + b^n g: the annuity in closed form, through logs."""
        n, log_b = years_left, self.log_b
        if log_b == 0.0:
            log_annuity = math.log(n)
        elif log_b > 0.0:  # (b^n - 1) / (b - 1)
            log_annuity = n * log_b + math.log(-math.expm1(-n * log_b)) - _log_expm1(log_b)
        else:  # (1 - b^n) / (1 - b)
            log_annuity = math.log(-math.expm1(n * log_b)) - math.log(-math.expm1(log_b))
        if self.goal_weight <= 0.0:
            return log_annuity
        return float(np.logaddexp(log_annuity, n * log_b + math.log(self.goal_weight)))

    def consumption_factor(self, years_left: int) -> float:
        """f_n itself (inf where it leaves the floats: the rate 1 / f_n is then 0)."""
        return exp_or_inf(self.log_consumption_factor(years_left))

    def consumption_rate(self, state: YearState) -> FloatArray | float:
        """1 / f: the share of total wealth consumed this year, per path under mortality."""
        if self.log_factors is not None and state.life_code is not None:
            return np.asarray(np.exp(-self.log_factors[state.life_code, state.t]))
        return math.exp(-self.log_consumption_factor(state.years_left))

    def decide(self, state: YearState) -> Decision:
        x = state.cash_on_hand
        h = state.human_capital
        rate = self.consumption_rate(state)
        c = np.maximum((x + h) * rate, 0.0)
        c = np.minimum(c, np.maximum(x, 0.0))
        s = x - c
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(s > 0, self.pi_star * (s + h) / s, 1.0)
        return Decision(np.clip(share, 0.0, 1.0), c)

    @classmethod
    def for_schedule(cls, schedule: Schedule) -> MertonRule:
        nodes = return_nodes(schedule.market)
        gamma = schedule.risk_aversion
        pi = samuelson_share(nodes, gamma)
        goal_weight = schedule.capital_goal / schedule.consumption_scale
        log_b = samuelson_log_b(nodes, pi, gamma)
        factors = None
        if schedule.lives is not None:
            factors = survival_log_factors(schedule.lives.transitions, log_b, gamma, goal_weight)
        return cls(pi, log_b, goal_weight, log_factors=factors)


def survival_log_factors(
    transitions: FloatArray, log_b: float, gamma: float, goal_weight: float
) -> FloatArray:
    """ln f by (life code, year) under mortality: Yaari's version of Samuelson's factor.

    With CRRA utility, i.i.d. returns and no income, the value of cash on hand X in life
    code c at year t is f_t(c)^gamma u(X), and the bequest's is g^gamma u(W) (the
    warm-glow term g u(W / g)). One year of the Bellman equation gives

        f_t(c) = 1 + b [ sum_c' P(c -> c') f_{t+1}(c')^gamma ]^(1 / gamma),  f(0) = g

    (code 0: nobody alive, the wealth is the bequest). Without deaths it is the fixed
    horizon's sum_{k<n} b^k + b^n g. Planning to the table's last age instead would
    spread wealth over years the household will probably not live. In logs, as
    :meth:`MertonRule.log_consumption_factor`, so extreme b stay finite.
    """
    horizon = transitions.shape[0]
    codes = transitions.shape[1]
    log_goal = math.log(goal_weight) if goal_weight > 0 else -math.inf
    out = np.zeros((codes, horizon + 1))
    following = np.full(codes, log_goal)  # year T: the plan is over everywhere
    with np.errstate(divide="ignore"):
        log_moves = np.log(transitions)
    for t in range(horizon - 1, -1, -1):  # once per household, over codes, not paths
        mixed = np.logaddexp.reduce(log_moves[t] + gamma * following[None, :], axis=1)
        now = np.logaddexp(0.0, log_b + mixed / gamma)
        now[0] = log_goal
        out[:, t] = now
        following = now
    out[0] = 0.0  # a path that is over consumes nothing whatever its rate
    return out


@dataclass(frozen=True)
class FloorAndUpside:
    """The essential-spending floor secured first, the rest invested by the Merton rule.

    Consumption is the Merton rule's, but never below this year's floor (the path's
    ``essential_fraction`` x target in a retirement year). The present value of the
    floor's spending in later years not covered by the household's own incomes
    (``reserve``, at the expected non-stock return, the mix that holds it) is kept out of
    stocks: stocks = clip(pi* (S - R + H), 0, S - R) of savings S, the Merton share
    applied to the wealth above the reserve. Without a floor it is the Merton rule.

    Two choices keep the rule from ruining the households it is meant to protect:
    - Under MORTALITY the reserve is survival-weighted, by who is alive (what the floor's
      income would cost as a fair life annuity): the floor to the last age of the life
      table would keep nearly everything out of stocks for a life that rarely lasts so
      long. Under FIXED_HORIZON, with deaths certain, it is the plain present value.
    - A floor the cash on hand X cannot fund (X < F + R, this year's floor F plus the
      reserve) is secured in proportion, k = X / (F + R) of it, this year and in the
      reserve: spending the whole floor now would leave nothing for the years after.
      Annuities bought since (by another strategy continued with this rule, or the
      trained policy) cover their share of the reserve.
    """

    merton: MertonRule
    essential_fraction: float
    # By (life code, year): PV at t of the uncovered floor of the years after t. One row
    # under FIXED_HORIZON (deaths certain); under MORTALITY one per code (0: nobody).
    reserve: FloatArray = field(compare=False)
    name: str = "floor_upside"

    def decide(self, state: YearState) -> Decision:
        base = self.merton.decide(state)
        x = np.maximum(state.cash_on_hand, 0.0)
        code = 0 if state.life_code is None else state.life_code
        # What the annuities already bought pay in the years to come covers that much of
        # the floor (the reserve counts only the household's own incomes).
        covered = annuities.held_later_value(state)
        reserve = np.maximum(self.reserve[code, state.t] - covered, 0.0)
        floor = self.essential_fraction * state.path_target if state.retired else np.zeros_like(x)
        need = floor + reserve
        with np.errstate(divide="ignore", invalid="ignore"):
            secured = np.where(need > x, x / need, 1.0)  # the share of the floor affordable
        c = np.maximum(base.consumption, np.minimum(secured * floor, x))
        s = state.cash_on_hand - c
        free = s - secured * reserve
        stocks = np.clip(self.merton.pi_star * (free + state.human_capital), 0.0, None)
        stocks = np.minimum(stocks, np.maximum(free, 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):  # nothing saved: Merton's mix
            share = np.where(s > 0, stocks / s, base.stock_share)
        return Decision(np.clip(share, 0.0, 1.0), c)

    @classmethod
    def for_schedule(cls, schedule: Schedule) -> FloorAndUpside:
        essential = schedule.household.goals.essential_fraction
        merton = MertonRule.for_schedule(schedule)
        return cls(merton, essential, _floor_reserve(schedule, essential))


def _floor_reserve(schedule: Schedule, essential: float) -> FloatArray:
    """PV at t of the floor not covered by incomes in the years after t: (codes, T + 1)."""
    deflate = 1.0 / schedule.expected_price_index()
    lives = schedule.lives
    if lives is None:
        disposable = schedule.real_net_income + schedule.nominal_net_income * deflate
        floor = np.where(schedule.retired, essential * schedule.spending_target, 0.0)
        uncovered = np.maximum(floor - disposable, 0.0)[None, :]
        reserve = np.zeros((1, schedule.horizon + 1))
        for t in range(schedule.horizon - 1, -1, -1):  # once per household, not per path
            reserve[:, t] = (reserve[:, t + 1] + uncovered[:, t + 1]) / schedule.discount_gross
        return reserve
    f = lives.flows
    real = f.salary + f.pension_real + f.other_real - f.charges_real
    nominal = f.pension_nominal + f.other_nominal - f.charges_nominal
    floor = np.where(schedule.retired, essential * f.spending_target, 0.0)
    uncovered = np.maximum(floor - real - nominal * deflate, 0.0)
    uncovered[0] = 0.0  # nobody alive
    uncovered[:, schedule.horizon] = 0.0
    return survival_weighted_pv(uncovered, lives.transitions, schedule.discount_gross)


def purchase_year(schedule: Schedule) -> int | None:
    """The year the annuity baselines buy: retirement, or the offer's first year if
    later (its only year, where the offer allows one); None without an offer (or when
    that year is past the plan)."""
    market = schedule.annuities
    if market is None:
        return None
    year = market.first_year
    if not market.only_first_year:
        year = max(schedule.retirement_year, year)
    return year if year < schedule.horizon else None


@dataclass(frozen=True)
class AnnuitiseAtRetirement:
    """Annuitise ``fraction`` of liquid wealth once, in the retirement year (or the first
    year the offer allows, if later), and follow the Merton-style rule on the state the
    purchase leaves (the annuity's income and value in it). Without an offer: Merton."""

    merton: MertonRule
    fraction: float
    year: int | None
    name: str

    def decide(self, state: YearState) -> Decision:
        if state.t != self.year:
            return self.merton.decide(state)
        fraction = np.full(state.n_paths, self.fraction)
        bought, _ = annuities.purchase(state, fraction)
        base = self.merton.decide(bought)
        return Decision(base.stock_share, base.consumption, fraction)

    @classmethod
    def for_schedule(cls, schedule: Schedule, fraction: float, name: str) -> AnnuitiseAtRetirement:
        return cls(MertonRule.for_schedule(schedule), fraction, purchase_year(schedule), name)


@dataclass(frozen=True)
class FloorWithAnnuities:
    """ "Floor with annuities": in the purchase year (as :class:`AnnuitiseAtRetirement`)
    buy the income that covers the essential floor the household's other incomes leave
    uncovered, or as much of it as wealth allows; the rest invested by the Merton-style
    rule (its consumption never below the floor while cash on hand allows, as
    :class:`FloorAndUpside`). The income bought is the largest uncovered floor of the
    years from then on (expected, in today's money; for a level annuity its amount in
    money of the purchase year, so inflation erodes its cover later). Without a floor
    it buys nothing.
    """

    merton: MertonRule
    essential_fraction: float
    year: int | None
    need: float  # the annual income to buy (today's money); 0: no floor to cover
    name: str = "floor_annuity"

    def decide(self, state: YearState) -> Decision:
        market = state.schedule.annuities
        if state.t != self.year or self.need <= 0 or market is None:
            return self._spend(state, None)
        price = market.price[:, state.t].take(market.codes(state))
        cost = self.need * price
        wealth = np.maximum(state.wealth, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            fraction = np.where(wealth > 0, np.minimum(cost, wealth) / wealth, 0.0)
        bought, _ = annuities.purchase(state, fraction)
        return self._spend(bought, fraction)

    def _spend(self, state: YearState, fraction: FloatArray | None) -> Decision:
        """The Merton rule, its consumption never below the floor while cash allows (the
        floor is what the annuity was bought for; the rule alone may save out of it)."""
        base = self.merton.decide(state)
        c = base.consumption
        if state.retired and self.essential_fraction > 0:
            floor = self.essential_fraction * state.path_target
            c = np.maximum(c, np.minimum(floor, np.maximum(state.cash_on_hand, 0.0)))
            s = state.cash_on_hand - c
            stocks = base.stock_share * np.maximum(state.cash_on_hand - base.consumption, 0.0)
            with np.errstate(divide="ignore", invalid="ignore"):  # the same amount in stocks
                share = np.where(s > 0, np.minimum(stocks / s, 1.0), base.stock_share)
            return Decision(share, c, fraction)
        return Decision(base.stock_share, c, fraction)

    @classmethod
    def for_schedule(cls, schedule: Schedule) -> FloorWithAnnuities:
        year = purchase_year(schedule)
        need = 0.0
        essential = schedule.household.goals.essential_fraction
        if year is not None and essential > 0:
            deflate = 1.0 / schedule.expected_price_index()
            disposable = schedule.real_net_income + schedule.nominal_net_income * deflate
            floor = np.where(schedule.retired, essential * schedule.spending_target, 0.0)
            uncovered = np.maximum(floor - disposable, 0.0)[year : schedule.horizon]
            need = float(uncovered.max())
        return cls(MertonRule.for_schedule(schedule), essential, year, need)


@dataclass(frozen=True)
class ClaimAt:
    """Claim every claimable pension at the earliest (``latest`` False) or the latest age
    of its window, and follow the Merton-style rule on the state that plan gives (its
    pensions' amounts and survival-weighted value in it). Without a window: Merton."""

    merton: MertonRule
    latest: bool
    name: str

    def decide(self, state: YearState) -> Decision:
        options = state.schedule.claims
        if options is None:
            return self.merton.decide(state)
        ages = [p.latest if self.latest else p.earliest for p in options.pensions]
        plan = np.repeat(np.array(ages, dtype=np.float64)[:, None], state.n_paths, axis=1)
        base = self.merton.decide(claiming.claim(state, plan))
        return Decision(base.stock_share, base.consumption, claim=plan)


def _log_expm1(x: float) -> float:
    """ln(e^x - 1) for x > 0, without overflow for large x."""
    return x + math.log(-math.expm1(-x)) if x > 1.0 else math.log(math.expm1(x))


StrategyFactory = Callable[[Household], Strategy]


def _own(h: Household) -> Strategy:
    return OwnPlan(build_schedule(h).stock_share)


def _four(h: Household) -> Strategy:
    return FourPercentRule(build_schedule(h).stock_share)


def _glide(h: Household) -> Strategy:
    return GlidePath()


def _vpw(h: Household) -> Strategy:
    schedule = build_schedule(h)
    return VariablePercentageWithdrawal(schedule.stock_share, schedule.capital_goal)


def _guard(h: Household) -> Strategy:
    return Guardrails(build_schedule(h).stock_share)


def _merton(h: Household) -> Strategy:
    return MertonRule.for_schedule(build_schedule(h))


def optimum_applies(household: Household) -> tuple[bool, str]:
    """Whether the DP optimum can be run for ``household``, and if not, why (never a
    wrong optimum: a household the DP does not solve has none)."""
    from . import optimum

    return optimum.optimum_available(household)


def simplified_applies(household: Household) -> tuple[bool, str]:
    """Whether ``dp_simplified`` (the DP of the simplified model) applies, and if not, why."""
    from . import optimum

    return optimum.simplified_available(household)


def _floor_upside(h: Household) -> Strategy:
    return FloorAndUpside.for_schedule(build_schedule(h))


def _annuitise(fraction: float, name: str) -> StrategyFactory:
    def factory(h: Household) -> Strategy:
        return AnnuitiseAtRetirement.for_schedule(build_schedule(h), fraction, name)

    return factory


def _floor_annuity(h: Household) -> Strategy:
    return FloorWithAnnuities.for_schedule(build_schedule(h))


def _claim_at(latest: bool, name: str) -> StrategyFactory:
    def factory(h: Household) -> Strategy:
        return ClaimAt(MertonRule.for_schedule(build_schedule(h)), latest, name)

    return factory


def _optimum(h: Household) -> Strategy:
    from .optimum import optimum_strategy  # heavy solver, imported on demand

    return optimum_strategy(h)


def _dp_simplified(h: Household) -> Strategy:
    from .optimum import simplified_strategy  # heavy solver, imported on demand

    try:
        return simplified_strategy(h)
    except ValueError as error:
        raise InvalidArgument.field("strategies", str(error)) from None


#: Built-in strategies by the names the simulation service uses.
STRATEGIES: dict[str, StrategyFactory] = {
    "own_plan": _own,
    "four_percent_rule": _four,
    "glide_path": _glide,
    "vpw": _vpw,
    "guardrails": _guard,
    "merton": _merton,
    "floor_upside": _floor_upside,
    "optimum": _optimum,
    "dp_simplified": _dp_simplified,
    "annuitise_25": _annuitise(0.25, "annuitise_25"),
    "annuitise_50": _annuitise(0.50, "annuitise_50"),
    "floor_annuity": _floor_annuity,
    "claim_earliest": _claim_at(False, "claim_earliest"),
    "claim_latest": _claim_at(True, "claim_latest"),
}

#: The strategies that buy annuities: offered only to a household with an annuity offer.
ANNUITY_STRATEGIES: tuple[str, ...] = ("annuitise_25", "annuitise_50", "floor_annuity")

#: The strategies that choose claiming ages: offered only to a household with a
#: claiming window (every other strategy claims at the default age).
CLAIMING_STRATEGIES: tuple[str, ...] = ("claim_earliest", "claim_latest")


def has_claiming(household: Household) -> bool:
    """Whether some pension of ``household`` has a claiming window."""
    return bool(claiming.claimable(household))


#: The references by dynamic programming: offered only where each applies.
REFERENCE_STRATEGIES: tuple[str, ...] = ("optimum", "dp_simplified")


def strategies_for(household: Household) -> tuple[str, ...]:
    """The built-in strategies that apply to ``household`` (the references aside): the
    annuity baselines only where it has an annuity offer, the claiming baselines only
    where a pension has a claiming window."""
    refused = () if household.annuities is not None else ANNUITY_STRATEGIES
    if not has_claiming(household):
        refused = (*refused, *CLAIMING_STRATEGIES)
    return tuple(n for n in STRATEGIES if n not in REFERENCE_STRATEGIES and n not in refused)


def unknown_strategy(name: str) -> str:
    """Why ``name`` is refused: the name meant when one is close, and every known one."""
    close = difflib.get_close_matches(name.strip().lower(), STRATEGIES, n=1, cutoff=0.6)
    meant = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown strategy {clip(name)!r}{meant} (known: {', '.join(STRATEGIES)})"


def make_strategy(name: str, household: Household) -> Strategy:
    """The built-in strategy ``name`` bound to ``household``; InvalidArgument if unknown."""
    factory = STRATEGIES.get(name)
    if factory is None:
        raise InvalidArgument.field("strategies", unknown_strategy(name))
    return factory(household)
