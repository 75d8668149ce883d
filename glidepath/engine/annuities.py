"""Life annuities: their price from the household's own mortality, and their purchase.

An annuity bought at the start of year t pays its income at the start of every year
lived from t on (an annuity-due: the first payment in the year of purchase), while an
annuitant lives. The payment factor of a year depends on who is alive (the life codes
of :mod:`glidepath.engine.lifetimes`, a bit per adult): 1 for a single adult alive, 1
while both adults of a couple live, ``survivor_fraction`` once one has died (a
joint-and-survivor annuity), 0 once nobody is alive.

The price of 1 a year of income, for a household in code c in year t, is

    a_t(c) = sum_{k >= 0} E[payment factor in year t + k | c in year t] / (1 + r)^k / m

with r the expected real return of bonds (``MarketModel.expected_real_gross()[BONDS]``
- 1, what an insurer earns on the safe assets backing the annuity) and m the money's
worth ratio (the insurer's loading: the expected present value of the payments per unit
of premium). A level annuity pays a fixed amount of nominal money and is discounted at
(1 + r)(1 + expected inflation): its price is in nominal money of the purchase year per
1 of nominal income. Under FIXED_HORIZON every adult lives, certainly, until the year
before their life expectancy: the expectation runs over those known lives.

Tables by (code, year) are computed once per household (:func:`annuity_market`, over
codes and years, never over paths); a year of n paths then gathers its prices in one
indexing operation. The state carries each path's income bought so far
(``YearState.annuity_real`` and, for a level annuity, ``annuity_nominal`` in nominal
money), added to the year's income while someone lives, and to human capital as the
survival-weighted value of the later payments at the household's human-capital discount
rate (as every other income of it), so the Merton-style rule sees the annuity as the
pension it is.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from glidepath.household.model import Household, Lifetimes

from .lifetimes import CODES, Lives, survival_transitions, survival_weighted_pv
from .market import BONDS, MarketModel
from .regimes import expected_inflation

if TYPE_CHECKING:  # the state module imports the schedule, which builds this market
    from .state import YearState

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class AnnuityMarket:
    """A household's annuity offer as tables over (life code, year), shape (CODES, T + 1)."""

    first_year: int  # the first plan year in which a purchase is allowed
    indexed: bool  # True: real income; False: level in nominal money
    payment: FloatArray  # (CODES,): the payment factor of each life code
    # Price of 1 a year of income bought in year t in code c: today's money for an
    # indexed annuity, nominal money of year t per 1 of nominal income for a level one.
    price: FloatArray
    # Fair value at t of the payments of the years after t per 1 a year of income, at the
    # household's human-capital discount rate (nominal for a level annuity).
    later_value: FloatArray
    # FIXED_HORIZON: the life code of each year (T + 1,), deaths being certain; None
    # under MORTALITY, where each path's code is in its state.
    fixed_codes: IntArray | None = None
    # True: purchases are allowed in ``first_year`` only (``AnnuityOffer.only_at_from_age``).
    only_first_year: bool = False

    def codes(self, state: YearState) -> IntArray:
        """Each path's life code in the state's year."""
        if state.life_code is not None:
            return state.life_code
        assert self.fixed_codes is not None
        return np.full(state.n_paths, self.fixed_codes[state.t], dtype=np.int64)

    def allowed(self, t: int) -> bool:
        """Whether a purchase is allowed in plan year t."""
        return t == self.first_year if self.only_first_year else t >= self.first_year


def payment_factors(household: Household) -> FloatArray:
    """The payment factor of each life code: 1 while everyone lives, the survivor
    fraction after a couple's first death, 0 once nobody lives."""
    offer = household.annuities
    assert offer is not None
    out = np.zeros(CODES)
    if len(household.adults) == 1:
        out[1] = 1.0
    else:
        out[1] = out[2] = offer.survivor_share()
        out[3] = 1.0
    return out


def fixed_transitions(household: Household, horizon: int) -> tuple[FloatArray, IntArray]:
    """FIXED_HORIZON: the (certain) code transitions, (T, CODES, CODES), and each year's
    code, (T + 1,): adult j lives years t < life_expectancy - current_age."""
    t = np.arange(horizon + 1)
    lives = np.array([t < a.life_expectancy - a.current_age for a in household.adults])
    p = lives[:, 1:].astype(np.float64)  # alive in year t + 1 (given alive in t: certain)
    codes = np.zeros(horizon + 1, dtype=np.int64)
    for j in range(lives.shape[0]):
        codes |= lives[j].astype(np.int64) << j
    return survival_transitions(p), codes


def _payments(payment: FloatArray, horizon: int) -> FloatArray:
    """The payment factor of each code in each year, (CODES, T + 1); none in year T."""
    flows = np.repeat(payment[:, None], horizon + 1, axis=1)
    flows[:, horizon] = 0.0
    return flows


def due_value(payment: FloatArray, transitions: FloatArray, gross: float) -> FloatArray:
    """sum_{k >= 0} E[payment of year t + k | code c at t] / gross^k, (CODES, T + 1):
    an annuity-due of 1 a year, the year-t payment included."""
    flows = _payments(payment, transitions.shape[0])
    return np.asarray(flows + survival_weighted_pv(flows, transitions, gross), dtype=np.float64)


def annuity_market(
    household: Household,
    lives: Lives | None,
    market: MarketModel,
    discount_gross: float,
    horizon: int,
) -> AnnuityMarket | None:
    """The household's annuity tables; None when it has no offer."""
    offer = household.annuities
    if offer is None:
        return None
    if household.lifetimes is Lifetimes.MORTALITY:
        assert lives is not None
        transitions, fixed = lives.transitions, None
    else:
        transitions, codes = fixed_transitions(household, horizon)
        fixed = codes
    payment = payment_factors(household)
    inflation = 1.0 if offer.indexed_to_inflation else 1.0 + expected_inflation(household.market)
    rate_gross = float(market.expected_real_gross()[BONDS]) * inflation
    price = due_value(payment, transitions, rate_gross) / offer.money_worth_ratio
    later = survival_weighted_pv(
        _payments(payment, horizon), transitions, discount_gross * inflation
    )
    first_year = max(offer.purchase_age(household) - household.start_age, 0)
    return AnnuityMarket(
        first_year=first_year,
        indexed=offer.indexed_to_inflation,
        payment=payment,
        price=price,
        later_value=later,
        fixed_codes=fixed,
        only_first_year=offer.only_at_from_age,
    )


def held_later_value(state: YearState) -> FloatArray:
    """Real value at t of the later payments of the annuities each path holds (0 without
    any): what the income bought already covers of the years to come."""
    market = state.schedule.annuities
    if market is None or state.annuity_real is None or state.annuity_nominal is None:
        return np.zeros(state.n_paths)
    later = market.later_value[:, state.t].take(market.codes(state))
    income = state.annuity_real + state.annuity_nominal / state.price_index
    return np.asarray(later * income, dtype=np.float64)


def purchase(state: YearState, fraction: FloatArray) -> tuple[YearState, FloatArray]:
    """``state`` after each path annuitises ``fraction`` (clipped to [0, 1], NaN as 0) of
    its wealth, and the amounts paid (real). Irreversible: the income adds to what was
    bought before.

    Wealth falls by the amount, this year's income rises by its first payment
    (payment factor x amount / price) and human capital by the value of the later
    payments. Nothing is bought before the offer's first year, on a path nobody lives
    on, or with wealth that is not there.
    """
    market = state.schedule.annuities
    n = state.n_paths
    if market is None or not market.allowed(state.t):
        return state, np.zeros(n)
    codes = market.codes(state)
    price = market.price[:, state.t].take(codes)
    share = np.clip(np.nan_to_num(fraction, nan=0.0), 0.0, 1.0)  # NaN: no purchase
    amount = share * np.maximum(state.wealth, 0.0)
    amount = np.where(price > 0.0, amount, 0.0)
    if not amount.any():
        return state, amount
    with np.errstate(divide="ignore", invalid="ignore"):
        units_real = np.where(price > 0.0, amount / price, 0.0)  # real income now
    assert state.annuity_real is not None and state.annuity_nominal is not None
    real, nominal = state.annuity_real, state.annuity_nominal
    if market.indexed:
        real = real + units_real
    else:
        nominal = nominal + units_real * state.price_index
    payment = market.payment.take(codes)
    later = market.later_value[:, state.t].take(codes)
    bought = dataclasses.replace(
        state,
        wealth=state.wealth - amount,
        income=state.income + payment * units_real,
        human_capital=state.human_capital + later * units_real,
        annuity_real=real,
        annuity_nominal=nominal,
    )
    return bought, amount


def annuity_flows(
    market: AnnuityMarket,
    t: int,
    codes: IntArray | None,
    price_index: FloatArray,
    real: FloatArray,
    nominal: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """(income, human capital) in year t of the annuities held, real, per path."""
    if codes is None:
        assert market.fixed_codes is not None
        code = int(market.fixed_codes[t])
        payment = np.full(real.shape, market.payment[code])
        later = np.full(real.shape, market.later_value[code, t])
    else:
        payment = market.payment.take(codes)
        later = market.later_value[:, t].take(codes)
    held = real + nominal / price_index if not market.indexed else real
    return payment * held, later * held
