"""Reject households that make no sense, naming every bad field at once.

A caller fixing a form wants all its mistakes in one answer, so :func:`validate`
collects every violation and raises a single :class:`InvalidArgument`. Paths are proto
style (``household.adults[0].retirement_age``) so that a gRPC client, the CLI and a JSON
file all point at the same field.

Decisions worth knowing:
- ``retirement_age == current_age`` means "retires now" and is how an adult who has
  already retired is entered; ``retirement_age < current_age`` is rejected
  because it would be ambiguous (and silently ignored). An adult retiring now has no
  earned years left, so a positive ``net_income`` would be ignored: it is rejected.
- Inputs that would be silently ignored are rejected: monthly contributions when every
  adult retires now, or larger than anything a year before retirement leaves (the
  engine saves at most income - charges, so 800 or 5,000 a month with no income gave
  the same answer; see :func:`largest_yearly_saving`), incomes and charges that end
  before they could be paid, a spending phase that starts after the plan ends.
- There must be something to live on (a balance, a contribution, earned income or an
  income) and a spending target (``goals.retirement_spending`` or a spending phase above
  zero): the household's own plan spends that target, and success is measured against it.
- Every bound sits on the rounding grid of :mod:`glidepath.household.rounding`, and the
  correlation matrix is checked both as given and as rounded, so the canonical
  (rounded) household of a valid household is valid too.
- Lifetimes (``household.lifetimes``). Under MORTALITY each adult's life expectancy
  must be one the default Gompertz-Makeham law can reach before ``MAX_LIFE_AGE``
  (a field error on ``life_expectancy`` otherwise), or the adult gives an explicit
  ``mortality_table`` (checked entry by entry, as given and as the hash rounds it; it must
  cover the current age; its ``life_expectancy`` must then be the table's own, rounded).
  Inputs the chosen mode would ignore are refused: a table, an income's
  ``survivor_fraction`` or a ``survivor_spending_fraction`` other than the default under
  FIXED_HORIZON (every life ends on its date, nobody is a survivor), the two survivor
  fractions for a household of one adult.
- Claiming windows (``incomes[i].claiming``, pensions only): earliest <= start_age <=
  latest with earliest < latest, within the plan and before ``end_age``, the adult not
  past start_age (a pension in payment has nothing left to decide), adjustments in
  [0, 1] and the amount claimed at the earliest age positive.
- Annuities (``household.annuities``, absent: no market). ``from_age`` is on the
  household's clock and must come before the plan's end (a later one would allow no
  purchase); ``money_worth_ratio`` in (0, 1] (also once rounded); ``survivor_fraction``
  in [0, 1] and only for a couple (one adult has no survivor: it would change nothing).
- Sizes are bounded (32 items per collection, 256 characters per label) so a request
  cannot make the engine or the hash arbitrarily expensive; so is the answer: at most
  ``MAX_VIOLATIONS`` violations are listed (:func:`listed`), the last saying how many
  more there are, and echoed values are clipped (``glidepath.text.clip``). A gRPC error
  travels in metadata, which the client refuses above 8-16 KiB (a household wrong in
  each of its 32 incomes, charges and phases made 26 KB): the caller would get
  RESOURCE_EXHAUSTED instead of the fields to fix.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from glidepath.errors import FieldViolation, InvalidArgument
from glidepath.household import rounding
from glidepath.household.model import (
    ASSET_NAMES,
    Account,
    Adult,
    AnnuityOffer,
    AssetClass,
    Charge,
    ClaimingWindow,
    Household,
    Income,
    IncomeKind,
    Lifetimes,
    MarketAssumptions,
    MarketRegime,
    MortalityTable,
    RegimeSwitching,
    ReturnModel,
    SpendingPhase,
)
from glidepath.text import clip

ROOT = "household"
MAX_ADULTS = 2
MAX_AGE = 120
MAX_HORIZON_YEARS = 100
MAX_MONEY = 1e12
MAX_ITEMS = 32
# Entries of an explicit mortality table (ages 0 to 110 at most).
MAX_TABLE_AGES = 111
DEFAULT_SURVIVOR_SPENDING_FRACTION = Household(adults=()).survivor_spending_fraction
MAX_LABEL_CHARS = 256
SHARE_TOLERANCE = 1e-6
GROWTH_BOUNDS = (-0.5, 0.5)
RETURN_BOUNDS = (-0.5, 1.0)
VOLATILITY_BOUNDS = (0.0, 2.0)
MAX_RISK_AVERSION = 20.0
# No household is that close to risk-neutral in practice. (The Merton rule's
# b = E[R^(1-g)]^(1/g), about 1e16 here in the most optimistic markets allowed, and the
# powers it is raised to are computed through logs: glidepath/engine/logmath.py.)
MIN_RISK_AVERSION = 0.1
DEGREES_OF_FREEDOM_BOUNDS = (2.1, 1000.0)
MAX_VIOLATIONS = 12
CORRELATION_TOLERANCE = 1e-9
EIGENVALUE_TOLERANCE = -1e-10


# Significant digits a number is echoed with: as a person typed it (1.1, not the
# 1.0999999999999999 that a sum or a rounding can leave), yet every digit a household
# file plausibly holds.
SHOWN_DIGITS = 12


def _shown(value: object) -> str:
    """A rejected value as echoed back: a number as typed, anything else as its repr,
    clipped (it may be a hostile string)."""
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.{SHOWN_DIGITS}g}"
    return clip(repr(value))


class _Checker:
    """Accumulates violations; each helper returns the value when usable, else None."""

    def __init__(self) -> None:
        self.violations: list[FieldViolation] = []

    def fail(self, path: str, description: str) -> None:
        self.violations.append(FieldViolation(path, description))

    def number(self, path: str, value: object) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(path, f"must be a number, got {_shown(value)}")
            return None
        if not math.isfinite(value):
            self.fail(path, f"must be a finite number, got {_shown(value)}")
            return None
        return float(value)

    def money(self, path: str, value: object) -> float | None:
        amount = self.number(path, value)
        if amount is None:
            return None
        if not 0.0 <= amount <= MAX_MONEY:
            self.fail(path, f"must be an amount in [0, {MAX_MONEY:g}], got {_shown(amount)}")
            return None
        return amount

    def within(self, path: str, value: object, low: float, high: float, what: str) -> float | None:
        x = self.number(path, value)
        if x is None:
            return None
        if not low <= x <= high:
            self.fail(path, f"must be {what} in [{low:g}, {high:g}], got {_shown(x)}")
            return None
        return x

    def age(self, path: str, value: object) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(path, f"must be a whole number of years, got {_shown(value)}")
            return None
        if not 0 <= value <= MAX_AGE:
            self.fail(path, f"must be an age in [0, {MAX_AGE}], got {value}")
            return None
        return value

    def label(self, path: str, value: object) -> None:
        if not isinstance(value, str):
            self.fail(path, f"must be text, got {_shown(value)}")
        elif len(value) > MAX_LABEL_CHARS:
            self.fail(path, f"must be at most {MAX_LABEL_CHARS} characters, got {len(value)}")

    def count(self, path: str, items: Sequence[object], low: int, high: int) -> None:
        if not low <= len(items) <= high:
            self.fail(path, f"must hold {low} to {high} entries, got {len(items)}")


def validate(household: Household) -> None:
    """Raise one InvalidArgument listing every violation; return None when sane."""
    check = _Checker()
    check.label(f"{ROOT}.name", household.name)
    mortality = _lifetimes(check, household)
    timeline = _adults(check, household, mortality)
    _accounts(check, household.accounts, timeline)
    _incomes(check, household, timeline)
    _charges(check, household.charges, timeline)
    _phases(check, household.spending_phases, timeline)
    goals = household.goals
    check.money(f"{ROOT}.goals.capital_goal", goals.capital_goal)
    check.money(f"{ROOT}.goals.retirement_spending", goals.retirement_spending)
    check.within(
        f"{ROOT}.goals.essential_fraction", goals.essential_fraction, 0.0, 1.0, "a fraction"
    )
    ra = check.number(f"{ROOT}.risk_aversion", household.risk_aversion)
    if ra is not None and not MIN_RISK_AVERSION <= ra <= MAX_RISK_AVERSION:
        check.fail(
            f"{ROOT}.risk_aversion",
            f"must be in [{MIN_RISK_AVERSION:g}, {MAX_RISK_AVERSION:g}], got {_shown(ra)}",
        )
    _market(check, household.market)
    _annuities(check, household, timeline)
    _purpose(check, household)
    if not check.violations:  # the rule below needs the cash flows of a sane household
        _contributions(check, household)
    if check.violations:
        raise InvalidArgument(listed(check.violations))


def listed(violations: Sequence[FieldViolation]) -> list[FieldViolation]:
    """The first ``MAX_VIOLATIONS`` violations, the last replaced by a count when cut.

    Fields are reported in the request's order, so the first mistakes come first and a
    caller fixing them all in one go gets the rest on the next answer.
    """
    if len(violations) <= MAX_VIOLATIONS:
        return list(violations)
    kept = list(violations[: MAX_VIOLATIONS - 1])
    more = len(violations) - len(kept)
    last = violations[len(kept)]
    kept.append(
        FieldViolation(last.field, f"and {more} more problems, from here on: fix these first")
    )
    return kept


def largest_yearly_saving(household: Household) -> float:
    """The most that any year before retirement leaves to save (income - charges, >= 0).

    Read from the engine's own schedule of the rounded household (the one the hash
    describes): salary, incomes and charges in today's money, amounts fixed in nominal
    terms at their value today. Contributions are saved out of this, never beyond it.
    """
    from glidepath.engine.cashflows import build_schedule  # the engine imports the model
    from glidepath.household.canonical import rounded  # canonical imports this module

    schedule = build_schedule(rounded(household))
    years = schedule.retirement_year
    if years == 0:
        return 0.0
    left = schedule.real_net_income[:years] + schedule.nominal_net_income[:years]
    return max(float(left.max()), 0.0)


def _contributions(check: _Checker, household: Household) -> None:
    """12 x the monthly contributions beyond what any year leaves would change nothing.

    Checked on the rounded household (contributions merged and rounded as the hash
    does), so that a valid household's canonical form passes too.
    """
    from glidepath.household.canonical import merge_accounts, rounded

    merged = merge_accounts(rounded(household).accounts)
    if merged is None or merged.monthly_contribution <= 0:
        return
    yearly = 12.0 * merged.monthly_contribution
    most = largest_yearly_saving(household)
    if yearly <= most * (1.0 + 1e-12):
        return
    paying = [i for i, a in enumerate(household.accounts) if _positive(a.monthly_contribution)]
    path = f"{ROOT}.accounts"
    if len(paying) == 1:
        path = f"{ROOT}.accounts[{paying[0]}].monthly_contribution"
    if most <= 0:
        check.fail(
            path,
            f"12 x the monthly contributions is {yearly:,.0f} a year, but income minus charges "
            "leaves nothing to save in any year before retirement: it would change nothing "
            "(enter 0, or the income that pays for it)",
        )
        return
    check.fail(
        path,
        f"12 x the monthly contributions is {yearly:,.0f} a year, more than income minus "
        f"charges leaves in any year before retirement (at most {most:,.0f}): savings are "
        f"capped there, so a larger amount would change nothing (at most {most / 12:,.2f} "
        "a month; is it a yearly amount?)",
    )


@dataclass(frozen=True)
class _Timeline:
    """The adults' ages, known to be sane; rules that place money in time need them."""

    current_ages: tuple[int, ...]
    last_ages: tuple[int, ...]  # each adult's age in the plan's last year
    everyone_retires_now: bool


def _lifetimes(check: _Checker, household: Household) -> bool | None:
    """The mode and the survivor's spending; True under MORTALITY, None when unknown."""
    mode = household.lifetimes
    if not isinstance(mode, Lifetimes):
        check.fail(f"{ROOT}.lifetimes", f"must be mortality or fixed_horizon, got {_shown(mode)}")
        return None
    path = f"{ROOT}.survivor_spending_fraction"
    fraction = check.within(path, household.survivor_spending_fraction, 0.0, 1.0, "a fraction")
    if fraction is not None and fraction != DEFAULT_SURVIVOR_SPENDING_FRACTION:
        if mode is Lifetimes.FIXED_HORIZON:
            check.fail(
                path,
                "applies only with lifetimes mortality (nobody is a survivor "
                "under fixed_horizon): it would change nothing",
            )
        elif len(household.adults) < 2:
            check.fail(
                path,
                "applies only to a couple (a survivor's spending): it would "
                "change nothing for one adult",
            )
    return mode is Lifetimes.MORTALITY


def _adults(check: _Checker, household: Household, mortality: bool | None) -> _Timeline | None:
    """Check each adult; return their timeline when every adult is sane, else None.

    Rules that depend on ages (incomes that are never paid, ...) are skipped when the
    ages themselves are wrong, so one mistake is reported once, not echoed.
    """
    adults = household.adults
    before = len(check.violations)
    check.count(f"{ROOT}.adults", adults, 1, MAX_ADULTS)
    for i, adult in enumerate(adults[:MAX_ADULTS]):
        path = f"{ROOT}.adults[{i}]"
        check.label(f"{path}.name", adult.name)
        current = check.age(f"{path}.current_age", adult.current_age)
        retirement = check.age(f"{path}.retirement_age", adult.retirement_age)
        life = check.age(f"{path}.life_expectancy", adult.life_expectancy)
        income = check.money(f"{path}.net_income", adult.net_income)
        check.within(f"{path}.income_growth", adult.income_growth, *GROWTH_BOUNDS, "a fraction")
        if current is not None and retirement is not None:
            if retirement < current:
                check.fail(
                    f"{path}.retirement_age",
                    f"must be >= current_age ({current}); an adult already retired enters "
                    "retirement_age = current_age",
                )
            elif retirement == current and income:
                check.fail(
                    f"{path}.net_income",
                    "must be 0 for an adult retiring now (retirement_age = current_age): "
                    "no earned years are left to pay it",
                )
        if adult.mortality_table is not None and not mortality:
            if mortality is not None:
                check.fail(
                    f"{path}.mortality_table",
                    "applies only with lifetimes mortality (under fixed_horizon the life "
                    "ends at life_expectancy): it would change nothing",
                )
        elif mortality and current is not None and life is not None:
            known = len(check.violations)
            _lifetime(check, path, adult, current, life)
            named = {v.field for v in check.violations[known:]}
            if retirement is not None and life <= retirement and not named:
                check.fail(f"{path}.life_expectancy", f"must be > retirement_age ({retirement})")
            continue
        if life is not None and current is not None:
            if life <= current:
                check.fail(f"{path}.life_expectancy", f"must be > current_age ({current})")
                continue
            if life - current > MAX_HORIZON_YEARS:
                check.fail(
                    f"{path}.life_expectancy",
                    f"plan horizon must be at most {MAX_HORIZON_YEARS} years, got {life - current}",
                )
        if life is not None and retirement is not None and life <= retirement:
            check.fail(f"{path}.life_expectancy", f"must be > retirement_age ({retirement})")
    if len(check.violations) > before:
        return None
    horizon = household.horizon_years
    return _Timeline(
        current_ages=tuple(a.current_age for a in adults),
        last_ages=tuple(a.current_age + horizon - 1 for a in adults),
        everyone_retires_now=all(a.retirement_age == a.current_age for a in adults),
    )


def _lifetime(check: _Checker, path: str, adult: Adult, current: int, life: int) -> None:
    """MORTALITY: the adult's table (explicit, or the default law calibrated to ``life``)."""
    from glidepath.engine import mortality  # the engine imports the model

    if current > mortality.MAX_LIFE_AGE:
        check.fail(
            f"{path}.current_age",
            f"must be at most {mortality.MAX_LIFE_AGE} (the last age anyone lives) with "
            f"lifetimes mortality, got {current}",
        )
        return
    if adult.current_age + MAX_HORIZON_YEARS < adult.last_age + 1 and adult.mortality_table is None:
        check.fail(
            f"{path}.current_age",
            f"must be at least {mortality.MAX_LIFE_AGE + 1 - MAX_HORIZON_YEARS} with lifetimes "
            f"mortality (the plan runs to age {mortality.MAX_LIFE_AGE}, at most "
            f"{MAX_HORIZON_YEARS} years), got {current}",
        )
        return
    table = adult.mortality_table
    if table is None:
        try:
            mortality.calibrate_makeham_b(current, life, field=f"{path}.life_expectancy")
        except InvalidArgument as error:
            check.violations.extend(error.violations)
        return
    _table(check, f"{path}.mortality_table", table, current, life)


def _table(check: _Checker, path: str, table: MortalityTable, current: int, life: int) -> None:
    from glidepath.engine import mortality

    first = check.age(f"{path}.first_age", table.first_age)
    if first is None:
        return
    if not 1 <= len(table.q) <= MAX_TABLE_AGES:
        check.fail(f"{path}.q", f"must hold 1 to {MAX_TABLE_AGES} ages, got {len(table.q)}")
        return
    checked = [check.number(f"{path}.q[{i}]", v) for i, v in enumerate(table.q)]
    q = [v for v in checked if v is not None]
    if len(q) < len(checked):
        return
    problems = mortality.table_violations(first, q, field=path)
    if not problems:
        rounded_q = [rounding.round_parameter(v) for v in table.q]
        problems = [
            FieldViolation(
                v.field,
                f"{v.description} once rounded to "
                f"{rounding.PARAMETER_SIGNIFICANT} significant figures (as the "
                "canonical hash rounds it)",
            )
            for v in mortality.table_violations(first, rounded_q, field=path)
        ]
    if problems:
        check.violations.extend(problems)
        return
    last = first + len(q) - 1
    if not first <= current <= last:
        check.fail(
            f"{path}.first_age",
            f"the table covers ages {first} to {last}; it must cover current_age ({current})",
        )
        return
    if current + MAX_HORIZON_YEARS < last + 1:
        check.fail(
            f"{path}.q",
            f"ends at age {last}, more than {MAX_HORIZON_YEARS} years from current_age "
            f"({current}): end it by age {current + MAX_HORIZON_YEARS - 1}",
        )
        return
    expected = table_life_expectancy(table, current)
    if life != expected:
        check.fail(
            f"{path.rsplit('.', 1)[0]}.life_expectancy",
            f"must be the mortality table's life expectancy at current_age, {expected} "
            f"(leave it out of a household file: the table sets it), got {life}",
        )


def table_life_expectancy(table: MortalityTable, current_age: int) -> int:
    """An explicit table's expected age at death at ``current_age``, to the nearest year
    (rounded half up): the ``life_expectancy`` of an adult who gives that table. Taken of
    the table as the hash rounds it, so a valid household's canonical form is valid."""
    from glidepath.engine import mortality

    q = np.array([rounding.round_parameter(v) for v in table.q], dtype=np.float64)
    exact = mortality.expected_age_at_death(mortality.LifeTable(table.first_age, q), current_age)
    return math.floor(exact + 0.5)


def _accounts(check: _Checker, accounts: Sequence[Account], timeline: _Timeline | None) -> None:
    check.count(f"{ROOT}.accounts", accounts, 0, MAX_ITEMS)
    balances: list[float] = []
    contributions: list[float] = []
    for i, account in enumerate(accounts):
        path = f"{ROOT}.accounts[{i}]"
        check.label(f"{path}.label", account.label)
        balance = check.money(f"{path}.balance", account.balance)
        contribution = check.money(f"{path}.monthly_contribution", account.monthly_contribution)
        balances.append(balance or 0.0)
        contributions.append(contribution or 0.0)
        if contribution and timeline is not None and timeline.everyone_retires_now:
            check.fail(
                f"{path}.monthly_contribution",
                "contributions stop at retirement and every adult retires now: it would be ignored",
            )
        _shares(check, path, account)
    if math.fsum(balances) > MAX_MONEY:
        check.fail(f"{ROOT}.accounts", f"total balance must be at most {MAX_MONEY:g}")
    if math.fsum(contributions) > MAX_MONEY:
        check.fail(f"{ROOT}.accounts", f"total monthly contribution must be at most {MAX_MONEY:g}")


def _shares(check: _Checker, path: str, account: Account) -> None:
    names = ("stock_share", "bond_share", "cash_share")
    shares = [
        check.within(f"{path}.{n}", getattr(account, n), 0.0, 1.0, "a fraction") for n in names
    ]
    if any(s is None for s in shares):
        return
    total = math.fsum(s for s in shares if s is not None)
    if abs(total - 1.0) > SHARE_TOLERANCE:
        check.fail(
            path, f"stock_share + bond_share + cash_share must sum to 1, got {_shown(total)}"
        )


#: The most incomes with a claiming window: each window's ages cost a schedule apiece
#: when the household is prepared (a household has at most one public pension an adult).
MAX_CLAIMING_WINDOWS = 4


def _incomes(check: _Checker, household: Household, timeline: _Timeline | None) -> None:
    check.count(f"{ROOT}.incomes", household.incomes, 0, MAX_ITEMS)
    windows = sum(1 for i in household.incomes if getattr(i, "claiming", None) is not None)
    if windows > MAX_CLAIMING_WINDOWS:
        check.fail(
            f"{ROOT}.incomes",
            f"at most {MAX_CLAIMING_WINDOWS} incomes may have a claiming window, got {windows}",
        )
    for i, income in enumerate(household.incomes):
        _income(
            check,
            f"{ROOT}.incomes[{i}]",
            income,
            len(household.adults),
            timeline,
            _mode(household),
        )


def _income(
    check: _Checker,
    path: str,
    income: Income,
    adults: int,
    timeline: _Timeline | None,
    mortality: bool | None,
) -> None:
    check.label(f"{path}.label", income.label)
    check.money(f"{path}.amount", income.amount)
    check.within(f"{path}.growth", income.growth, *GROWTH_BOUNDS, "a fraction")
    survivor = check.within(
        f"{path}.survivor_fraction", income.survivor_fraction, 0.0, 1.0, "a fraction"
    )
    if survivor and mortality is not None:
        if not mortality:
            check.fail(
                f"{path}.survivor_fraction",
                "applies only with lifetimes mortality "
                "(nobody is a survivor under fixed_horizon): it would change nothing",
            )
        elif adults < 2:
            check.fail(
                f"{path}.survivor_fraction",
                "applies only to a couple (paid to the "
                "survivor): it would change nothing for one adult",
            )
    start = check.age(f"{path}.start_age", income.start_age)
    end = None if income.end_age is None else check.age(f"{path}.end_age", income.end_age)
    if start is not None and end is not None and end <= start:
        check.fail(f"{path}.end_age", f"must be > start_age ({start})")
    adult = income.adult
    if isinstance(adult, bool) or not isinstance(adult, int) or not 0 <= adult < adults:
        if adults:
            check.fail(
                f"{path}.adult", f"must index an adult (0 to {adults - 1}), got {_shown(adult)}"
            )
        return
    if timeline is not None:
        _within_plan(check, path, start, end, timeline, adult, f"adult {adult}'s")
    if income.claiming is not None:
        _claiming(check, f"{path}.claiming", income, start, end, timeline)


def _claiming(
    check: _Checker,
    path: str,
    income: Income,
    start: int | None,
    end: int | None,
    timeline: _Timeline | None,
) -> None:
    """A claiming window: a pension's, around its start_age, still to be decided (its
    adult not past start_age), within the plan, its amount positive at every age."""
    window = income.claiming
    if not isinstance(window, ClaimingWindow):
        check.fail(path, f"must be a claiming window, got {_shown(window)}")
        return
    if income.kind is not IncomeKind.PENSION:
        check.fail(path, "applies only to an income of kind pension")
    earliest = check.age(f"{path}.earliest_age", window.earliest_age)
    latest = check.age(f"{path}.latest_age", window.latest_age)
    early = check.within(
        f"{path}.early_adjustment", window.early_adjustment, 0.0, 1.0, "a fraction per year"
    )
    check.within(f"{path}.late_adjustment", window.late_adjustment, 0.0, 1.0, "a fraction per year")
    if earliest is None or latest is None or start is None:
        return
    if earliest > start:
        check.fail(f"{path}.earliest_age", f"must be <= start_age ({start}), the default age")
    if latest < start:
        check.fail(f"{path}.latest_age", f"must be >= start_age ({start}), the default age")
    elif latest <= earliest:
        check.fail(
            f"{path}.latest_age",
            f"must be > earliest_age ({earliest}): a single age leaves nothing to decide",
        )
    if end is not None and end <= latest:
        check.fail(f"{path}.latest_age", f"must be < end_age ({end}): claimed then, never paid")
    if early is not None and earliest <= start and early * (start - earliest) >= 1.0:
        check.fail(
            f"{path}.early_adjustment",
            f"x (start_age - earliest_age) must be < 1 (the amount claimed at {earliest} "
            f"would be nothing), got {_shown(early)}",
        )
    if timeline is None or not 0 <= income.adult < len(timeline.current_ages):
        return
    current, last = timeline.current_ages[income.adult], timeline.last_ages[income.adult]
    if current > start:
        check.fail(
            path,
            f"the pension is already in payment (its adult is {current}, past start_age "
            f"{start}): a claiming window would change nothing",
        )
    if latest > last:
        check.fail(
            f"{path}.latest_age",
            f"must be at most {last}, the adult's age in the plan's last year",
        )
    elif earliest < latest <= current:
        check.fail(
            f"{path}.latest_age",
            f"must be > the adult's age now ({current}): a single age is left, nothing to decide",
        )


def _within_plan(
    check: _Checker,
    path: str,
    start: int | None,
    end: int | None,
    timeline: _Timeline,
    adult: int,
    whose: str,
) -> None:
    """An amount that could never be paid would be silently ignored: reject it."""
    current, last = timeline.current_ages[adult], timeline.last_ages[adult]
    if end is not None and end <= current:
        check.fail(f"{path}.end_age", f"ends before {whose} current age ({current}): never paid")
    if start is not None and start > last:
        check.fail(f"{path}.start_age", f"starts after the plan ends (age {last}): never paid")


def _charges(check: _Checker, charges: Sequence[Charge], timeline: _Timeline | None) -> None:
    check.count(f"{ROOT}.charges", charges, 0, MAX_ITEMS)
    for i, charge in enumerate(charges):
        _charge(check, f"{ROOT}.charges[{i}]", charge, timeline)


def _charge(check: _Checker, path: str, charge: Charge, timeline: _Timeline | None) -> None:
    check.label(f"{path}.label", charge.label)
    check.money(f"{path}.amount", charge.amount)
    start = None if charge.start_age is None else check.age(f"{path}.start_age", charge.start_age)
    end = None if charge.end_age is None else check.age(f"{path}.end_age", charge.end_age)
    if start is not None and end is not None and end <= start:
        check.fail(f"{path}.end_age", f"must be > start_age ({start})")
    if timeline is not None:
        _within_plan(check, path, start, end, timeline, 0, "the household's")


def _phases(check: _Checker, phases: Sequence[SpendingPhase], timeline: _Timeline | None) -> None:
    check.count(f"{ROOT}.spending_phases", phases, 0, MAX_ITEMS)
    seen: dict[int, int] = {}
    last = None if timeline is None else timeline.last_ages[0]
    for i, phase in enumerate(phases):
        path = f"{ROOT}.spending_phases[{i}]"
        check.label(f"{path}.label", phase.label)
        check.money(f"{path}.annual_spending", phase.annual_spending)
        start = check.age(f"{path}.start_age", phase.start_age)
        if start is None:
            continue
        if start in seen:
            check.fail(
                f"{path}.start_age",
                f"phases must start at distinct ages; spending_phases[{seen[start]}] also "
                f"starts at {start}",
            )
        seen.setdefault(start, i)
        if last is not None and start > last:
            check.fail(f"{path}.start_age", f"starts after the plan ends (age {last}): ignored")


def _market(check: _Checker, market: MarketAssumptions) -> None:
    path = f"{ROOT}.market"
    _regime_fields(check, path, market)
    check.within(
        f"{path}.degrees_of_freedom",
        market.degrees_of_freedom,
        *DEGREES_OF_FREEDOM_BOUNDS,
        "a number of degrees of freedom",
    )
    _regimes(check, path, market)


def _regimes(check: _Checker, path: str, market: MarketAssumptions) -> None:
    """The turbulent regime and the chain, only under REGIME_SWITCHING."""
    regimes, path = market.regimes, f"{path}.regimes"
    if regimes is None:
        return
    if market.return_model is not ReturnModel.REGIME_SWITCHING:
        check.fail(
            path,
            "applies only to return_model RETURN_MODEL_REGIME_SWITCHING: it would change "
            "nothing; set that return model or leave regimes out",
        )
        return
    if not isinstance(regimes, RegimeSwitching) or not isinstance(regimes.turbulent, MarketRegime):
        check.fail(path, f"must be a regime-switching market, got {_shown(regimes)}")
        return
    _regime_fields(check, f"{path}.turbulent", regimes.turbulent)
    for name in ("calm_to_turbulent", "turbulent_to_calm"):
        p = check.within(f"{path}.{name}", getattr(regimes, name), 0.0, 1.0, "a probability")
        if p is not None and rounding.round_rate(p) <= 0.0:
            check.fail(
                f"{path}.{name}",
                f"must be above 0 (at least {10.0**-rounding.RATE_DECIMALS:g}): at 0 one "
                "regime is never reached or never left, so its fields would change nothing",
            )
    if not isinstance(regimes.observable, bool):
        check.fail(f"{path}.observable", f"must be true or false, got {_shown(regimes.observable)}")


def _regime_fields(check: _Checker, path: str, market: MarketAssumptions | MarketRegime) -> None:
    """One regime's assets, inflation and correlations (the calm one is the market's)."""
    for name in ("stocks", "bonds", "cash"):
        asset: AssetClass = getattr(market, name)
        check.within(
            f"{path}.{name}.expected_return", asset.expected_return, *RETURN_BOUNDS, "a fraction"
        )
        check.within(
            f"{path}.{name}.volatility", asset.volatility, *VOLATILITY_BOUNDS, "a fraction"
        )
    check.within(f"{path}.inflation_mean", market.inflation_mean, *RETURN_BOUNDS, "a fraction")
    check.within(
        f"{path}.inflation_volatility",
        market.inflation_volatility,
        *VOLATILITY_BOUNDS,
        "a fraction",
    )
    problem = correlation_problem(market.correlations)
    if problem:
        check.fail(f"{path}.correlations", problem)


def correlation_problem(matrix: object) -> str | None:
    """Why ``matrix`` is not a usable correlation matrix of ASSET_NAMES, or None."""
    n = len(ASSET_NAMES)
    try:
        values = np.array(matrix, dtype=float)
    except (TypeError, ValueError):
        return f"must be a {n}x{n} matrix of numbers"
    if values.shape != (n, n):
        return f"must be a {n}x{n} matrix ({', '.join(ASSET_NAMES)}), got shape {values.shape}"
    if not np.all(np.isfinite(values)):
        return "must hold finite numbers"
    if np.any(np.abs(values) > 1.0):
        return "entries must be in [-1, 1]"
    if np.any(np.abs(np.diag(values) - 1.0) > CORRELATION_TOLERANCE):
        return "diagonal must be 1"
    if np.any(np.abs(values - values.T) > CORRELATION_TOLERANCE):
        return "must be symmetric"
    lowest = float(np.linalg.eigvalsh(values).min())
    if lowest < EIGENVALUE_TOLERANCE:
        return f"must be positive semi-definite; smallest eigenvalue {lowest:.3g}"
    rounded = np.array(rounding.round_correlations(values.tolist()), dtype=float)
    lowest = float(np.linalg.eigvalsh(rounded).min())
    if lowest < EIGENVALUE_TOLERANCE:
        return (
            f"must stay positive semi-definite once rounded to {rounding.RATE_DECIMALS} "
            f"decimals (as the canonical hash rounds it); smallest eigenvalue {lowest:.3g}"
        )
    return None


def _purpose(check: _Checker, household: Household) -> None:
    """Something to live on and something to aim for."""
    resources = (
        any(_positive(a.balance) or _positive(a.monthly_contribution) for a in household.accounts)
        or any(_positive(a.net_income) for a in household.adults)
        or any(_positive(i.amount) for i in household.incomes)
    )
    if not resources:
        check.fail(
            ROOT,
            "nothing to live on: give an account balance or contribution, a net income or an "
            "income above 0",
        )
    target_field = f"{ROOT}.goals.retirement_spending"
    target = _positive(household.goals.retirement_spending) or any(
        _positive(p.annual_spending) for p in household.spending_phases
    )
    already_flagged = any(v.field == target_field for v in check.violations)
    if not target and not already_flagged:
        check.fail(
            target_field,
            "a spending target is needed: retirement_spending or a spending phase above 0",
        )


def _annuities(check: _Checker, household: Household, timeline: _Timeline | None) -> None:
    """The annuity offer's fields, each named as the household gives it."""
    offer = household.annuities
    if offer is None:
        return
    path = f"{ROOT}.annuities"
    if not isinstance(offer, AnnuityOffer):
        check.fail(path, f"must be an annuity offer, got {_shown(offer)}")
        return
    if offer.from_age is not None:
        age = check.age(f"{path}.from_age", offer.from_age)
        if age is not None and timeline is not None and age > timeline.last_ages[0]:
            check.fail(
                f"{path}.from_age",
                f"must be at most {timeline.last_ages[0]}, the household's age in the plan's "
                f"last year: no annuity could be bought, it would change nothing",
            )
    ratio = check.number(f"{path}.money_worth_ratio", offer.money_worth_ratio)
    if ratio is not None and not (rounding.round_rate(ratio) > 0.0 and ratio <= 1.0):
        check.fail(
            f"{path}.money_worth_ratio",
            f"must be a ratio in (0, 1] (at least {10.0**-rounding.RATE_DECIMALS:g}; "
            f"real markets: 0.85-0.95), got {_shown(ratio)}",
        )
    if not isinstance(offer.indexed_to_inflation, bool):
        check.fail(
            f"{path}.indexed_to_inflation",
            f"must be true or false, got {_shown(offer.indexed_to_inflation)}",
        )
    if not isinstance(offer.only_at_from_age, bool):
        check.fail(
            f"{path}.only_at_from_age",
            f"must be true or false, got {_shown(offer.only_at_from_age)}",
        )
    if offer.survivor_fraction is not None:
        fraction = check.within(
            f"{path}.survivor_fraction", offer.survivor_fraction, 0.0, 1.0, "a fraction"
        )
        if fraction is not None and len(household.adults) < 2:
            check.fail(
                f"{path}.survivor_fraction",
                "applies only to a couple (a joint-and-survivor annuity): it would change "
                "nothing for one adult",
            )


def _mode(household: Household) -> bool | None:
    """True under MORTALITY, False under FIXED_HORIZON, None for an unknown mode."""
    if not isinstance(household.lifetimes, Lifetimes):
        return None
    return household.lifetimes is Lifetimes.MORTALITY


def _positive(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )
