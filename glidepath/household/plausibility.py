"""Legal but implausible values: warnings that travel with the answer, never refusals.

Validation refuses what cannot be meant (a negative age, shares not summing to 1). Some
values inside its bounds are legal yet almost always a slip: an expected return of 0.7
typed for 0.07 (the engine then answers "success 100 %" with wealth of 5e10), a yearly
amount in a monthly field, a monthly amount in a yearly one. Each rule below names the
field and says in one line what looks wrong; the simulation runs on the household as
sent, and the warnings come back beside its figures (``FieldWarning`` in every
simulation-service response, printed by the CLI).

Thresholds (all amounts annual unless the field is monthly; rates are fractions):

- ``HIGH_RETURN`` 0.20: an asset class's expected nominal return above 20 % a year
  (long-run equities are about 7 %); ``LOW_RETURN`` -0.10: below -10 % a year.
- ``HIGH_VOLATILITY`` 0.60: an asset class's volatility above 60 % a year (equities are
  about 17 %; 17 typed as 0.17 cannot pass validation, 0.17 typed as 1.7 can).
- ``HIGH_INFLATION`` 0.15 and ``LOW_INFLATION`` -0.05: mean inflation above 15 % or
  below -5 % a year, sustained over the whole plan; ``HIGH_INFLATION_VOLATILITY`` 0.10.
- ``HIGH_GROWTH`` 0.10 and ``LOW_GROWTH`` -0.10: a salary or an income growing (or
  shrinking) by more than 10 % a year above inflation, every year of the plan.
- ``RISK_AVERSION_RANGE`` (0.5, 15): relative risk aversion outside the range measured
  for households (about 1 to 10).
- ``MONTHLY_SHARE`` 0.15: a yearly spending target (``goals.retirement_spending`` or a
  spending phase) below 15 % of the household's largest yearly income, or the largest
  net income below 15 % of the spending target: one of them looks like a monthly amount.
- ``SAVING_SHARE`` 0.75: 12 x the monthly contributions above 75 % of the most a year
  before retirement leaves (income - charges): the contribution may be a yearly amount.
  (Above 100 % validation refuses it: it would change nothing.)
- ``LONG_LIFE`` 110: a life expectancy beyond 110 years.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from glidepath.household.canonical import merge_accounts
from glidepath.household.model import AssetClass, Household
from glidepath.household.validation import ROOT, largest_yearly_saving

HIGH_RETURN = 0.20
LOW_RETURN = -0.10
HIGH_VOLATILITY = 0.60
HIGH_INFLATION = 0.15
LOW_INFLATION = -0.05
HIGH_INFLATION_VOLATILITY = 0.10
HIGH_GROWTH = 0.10
LOW_GROWTH = -0.10
RISK_AVERSION_RANGE = (0.5, 15.0)
MONTHLY_SHARE = 0.15
SAVING_SHARE = 0.75
LONG_LIFE = 110


@dataclass(frozen=True)
class FieldWarning:
    """One implausible value: its proto path and a one-line message."""

    field: str
    message: str


def warnings(household: Household) -> tuple[FieldWarning, ...]:
    """Every warning for a valid ``household``, in field order; empty when nothing is odd."""
    found: list[FieldWarning] = []
    _adults(household, found)
    _market(household, found)
    _amounts(household, found)
    low, high = RISK_AVERSION_RANGE
    if not low <= household.risk_aversion <= high:
        found.append(
            FieldWarning(
                f"{ROOT}.risk_aversion",
                f"{household.risk_aversion:g} is outside the {low:g} to {high:g} measured for "
                "households (3 is typical)",
            )
        )
    return tuple(found)


def _percent(rate: float) -> str:
    return f"{rate * 100:.4g} %"


def _adults(household: Household, found: list[FieldWarning]) -> None:
    for i, adult in enumerate(household.adults):
        path = f"{ROOT}.adults[{i}]"
        _growth(f"{path}.income_growth", adult.income_growth if adult.net_income else 0.0, found)
        if adult.life_expectancy > LONG_LIFE:
            found.append(
                FieldWarning(
                    f"{path}.life_expectancy",
                    f"{adult.life_expectancy} is beyond {LONG_LIFE} years, an age very few reach",
                )
            )
    for j, income in enumerate(household.incomes):
        _growth(f"{ROOT}.incomes[{j}].growth", income.growth, found)


def _growth(path: str, growth: float, found: list[FieldWarning]) -> None:
    if growth > HIGH_GROWTH or growth < LOW_GROWTH:
        found.append(
            FieldWarning(
                path,
                f"{growth:g} is {_percent(growth)} a year above inflation, every year of the "
                f"plan (beyond +-{_percent(HIGH_GROWTH)}); rates are fractions (0.01 = 1 %)",
            )
        )


def _market(household: Household, found: list[FieldWarning]) -> None:
    market = household.market
    path = f"{ROOT}.market"
    for name in ("stocks", "bonds", "cash"):
        asset: AssetClass = getattr(market, name)
        r = asset.expected_return
        if r > HIGH_RETURN or r < LOW_RETURN:
            found.append(
                FieldWarning(
                    f"{path}.{name}.expected_return",
                    f"{r:g} is an expected return of {_percent(r)} a year, outside "
                    f"{_percent(LOW_RETURN)} to {_percent(HIGH_RETURN)}; rates are fractions "
                    "(0.07 = 7 %)",
                )
            )
        if asset.volatility > HIGH_VOLATILITY:
            found.append(
                FieldWarning(
                    f"{path}.{name}.volatility",
                    f"{asset.volatility:g} is a volatility of {_percent(asset.volatility)} a "
                    f"year, above {_percent(HIGH_VOLATILITY)}; rates are fractions (0.17 = 17 %)",
                )
            )
    inflation = market.inflation_mean
    if inflation > HIGH_INFLATION or inflation < LOW_INFLATION:
        found.append(
            FieldWarning(
                f"{path}.inflation_mean",
                f"{inflation:g} is {_percent(inflation)} a year of inflation for the whole plan, "
                f"outside {_percent(LOW_INFLATION)} to {_percent(HIGH_INFLATION)}; rates are "
                "fractions (0.025 = 2.5 %)",
            )
        )
    if market.inflation_volatility > HIGH_INFLATION_VOLATILITY:
        found.append(
            FieldWarning(
                f"{path}.inflation_volatility",
                f"{market.inflation_volatility:g} is {_percent(market.inflation_volatility)} a "
                f"year, above {_percent(HIGH_INFLATION_VOLATILITY)}; rates are fractions",
            )
        )


def _amounts(household: Household, found: list[FieldWarning]) -> None:
    """Yearly amounts that look monthly, and monthly ones that look yearly."""
    target = household.goals.retirement_spending
    incomes = [a.net_income for a in household.adults] + [i.amount for i in household.incomes]
    largest_income = max(incomes, default=0.0)
    if 0 < target < MONTHLY_SHARE * largest_income:
        found.append(
            FieldWarning(
                f"{ROOT}.goals.retirement_spending",
                f"{target:,.0f} a year is under {_percent(MONTHLY_SHARE)} of the largest yearly "
                f"income ({largest_income:,.0f}): the spending target is a YEARLY amount",
            )
        )
    for k, phase in enumerate(household.spending_phases):
        if 0 < phase.annual_spending < MONTHLY_SHARE * largest_income:
            found.append(
                FieldWarning(
                    f"{ROOT}.spending_phases[{k}].annual_spending",
                    f"{phase.annual_spending:,.0f} a year is under {_percent(MONTHLY_SHARE)} of "
                    f"the largest yearly income ({largest_income:,.0f}): it is a YEARLY amount",
                )
            )
    spending = max([target] + [p.annual_spending for p in household.spending_phases])
    earners = [(a.net_income, i) for i, a in enumerate(household.adults) if a.net_income > 0]
    if earners:
        salary, i = max(earners)
        if salary < MONTHLY_SHARE * spending:
            found.append(
                FieldWarning(
                    f"{ROOT}.adults[{i}].net_income",
                    f"{salary:,.0f} a year is under {_percent(MONTHLY_SHARE)} of the spending "
                    f"target ({spending:,.0f}): net_income is a YEARLY amount",
                )
            )
    _contributions(household, found)


def _contributions(household: Household, found: list[FieldWarning]) -> None:
    merged = merge_accounts(household.accounts)
    if merged is None or merged.monthly_contribution <= 0:
        return
    yearly = 12.0 * merged.monthly_contribution
    most = largest_yearly_saving(household)
    if most > 0 and yearly > SAVING_SHARE * most:
        paying = [i for i, a in enumerate(household.accounts) if a.monthly_contribution > 0]
        path = f"{ROOT}.accounts"
        if len(paying) == 1:
            path = f"{ROOT}.accounts[{paying[0]}].monthly_contribution"
        share = math.floor(100 * yearly / most)
        found.append(
            FieldWarning(
                path,
                f"12 x the monthly contributions ({yearly:,.0f} a year) is {share} % of the most "
                f"a year before retirement leaves ({most:,.0f}): contributions are MONTHLY amounts",
            )
        )
