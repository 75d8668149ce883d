"""Profile families: documented distributions of households, kept as data.

A generic model is trained over a family rather than for one household, so the family
must be something a reviewer can read and a registry can key: a JSON file under
``glidepath/rl/families/`` (docs/families.md explains the format and the default one).
This module reads it strictly, samples households from it, says whether a household
lies inside it, and hashes its specification.

Decisions worth knowing:
- Every range is ``[low, high]``, drawn uniformly (whole numbers for ages and years);
  ``low == high`` fixes a value. Uniform draws keep the family's edges as likely as its
  middle, which is where a generic policy is most likely to be wrong.
- Reading is strict: an unknown or missing key, a value of the wrong type, ``low >
  high`` or a bound the household validator would refuse is an ``InvalidArgument``
  naming the field as the file writes it (``family.adults.current_age``), all at once.
- Money bounds must sit on the 3-significant-figure grid and rates on the 4-decimal
  grid of :mod:`glidepath.household.rounding`: sampled amounts are rounded like the
  canonical household, and monotone rounding of a value inside grid bounds stays inside.
- Amounts derived from two others (contributions from a saving rate, spending phases
  from the target) are rounded too, so :func:`outside` allows their ratio
  ``RATIO_TOLERANCE`` either side of its range.
- :func:`family_hash` reuses the household hash's canonical JSON (sorted keys, compact,
  ASCII, floats by ``repr``) over the parsed specification, so key order, spacing and
  ``1`` against ``1.0`` do not matter; ``name`` and ``description`` are for people and
  are left out, like a household's labels; the household schema (with the policy
  layout) is folded in, as a model trained under another layout must not be reused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, cast, get_args, get_type_hints

import numpy as np

from glidepath.errors import FieldViolation, InvalidArgument
from glidepath.household import rounding
from glidepath.household.canonical import SCHEMA, canonicalize
from glidepath.household.model import (
    DEFAULT_EARLY_ADJUSTMENT,
    DEFAULT_LATE_ADJUSTMENT,
    Account,
    Adult,
    AnnuityOffer,
    AssetClass,
    Charge,
    ClaimingWindow,
    Goals,
    Household,
    Income,
    Lifetimes,
    MarketAssumptions,
    ReturnModel,
    SpendingPhase,
)
from glidepath.household.validation import (
    DEFAULT_SURVIVOR_SPENDING_FRACTION,
    GROWTH_BOUNDS,
    MAX_AGE,
    MAX_MONEY,
    MAX_RISK_AVERSION,
    MIN_RISK_AVERSION,
    RETURN_BOUNDS,
    VOLATILITY_BOUNDS,
)

FAMILY_FORMAT = "glidepath.family/1"
FAMILIES_DIR = Path(__file__).resolve().parent / "families"
DEFAULT_FAMILY_PATH = FAMILIES_DIR / "default.json"
ROOT = "family"
HASH_HEX_CHARS = 16
#: Relative slack on ratios of two rounded amounts (each rounded to 3 significant
#: figures, so their ratio moves by at most about 1 %).
RATIO_TOLERANCE = 0.01
#: The market's correlations are not sampled: every household of a family has these.
CORRELATIONS = rounding.round_correlations(MarketAssumptions().correlations)
_PEOPLE_FIELDS = ("name", "description")


@dataclass(frozen=True)
class IntRange:
    """Whole numbers low..high, both included, drawn uniformly."""

    low: int
    high: int

    def holds(self, value: int) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True)
class Range:
    """Real numbers in [low, high], drawn uniformly."""

    low: float
    high: float

    def holds(self, value: float, slack: float = 0.0) -> bool:
        return self.low * (1 - slack) <= value <= self.high * (1 + slack)


@dataclass(frozen=True)
class Kind:
    """How a field's value is read from the file: its kind and the validator's bounds."""

    kind: str
    low: float = 0.0
    high: float = 0.0


@dataclass(frozen=True)
class AdultRanges:
    """Each adult's draws; the second adult's age is the first's plus ``partner_age_gap``."""

    current_age: Annotated[IntRange, Kind("age", 0, MAX_AGE)]
    partner_age_gap: Annotated[IntRange, Kind("years", -30, 30)]
    # Drawn, then raised to the current age (an adult past it has retired: retires now).
    retirement_age: Annotated[IntRange, Kind("age", 0, MAX_AGE)]
    life_expectancy: Annotated[IntRange, Kind("age", 0, MAX_AGE)]
    # Annual net income while working (0 for an adult retiring now).
    net_income: Annotated[Range, Kind("money", 0, MAX_MONEY)]
    income_growth: Annotated[Range, Kind("rate", *GROWTH_BOUNDS)]


@dataclass(frozen=True)
class PensionRanges:
    """One pension per adult (an amount of 0: none), for life, indexed."""

    amount: Annotated[Range, Kind("money", 0, MAX_MONEY)]
    # Drawn, then raised to the adult's current age (a pension already in payment).
    start_age: Annotated[IntRange, Kind("age", 0, MAX_AGE)]
    # Couples under mortality only; 0 otherwise.
    survivor_fraction: Annotated[Range, Kind("rate", 0, 1)]
    # The chance that a pension not yet in payment has a claiming window.
    claiming_probability: Annotated[float, Kind("probability", 0, 1)]
    # The window: from start_age - early (not before now) to start_age + late.
    claiming_years_early: Annotated[IntRange, Kind("years", 0, 30)]
    claiming_years_late: Annotated[IntRange, Kind("years", 1, 30)]


@dataclass(frozen=True)
class WealthRanges:
    """One account: its balance, its stock share (the rest in bonds), its contributions."""

    balance: Annotated[Range, Kind("money", 0, MAX_MONEY)]
    stock_share: Annotated[Range, Kind("rate", 0, 1)]
    # 12 x monthly contribution / the adults' net income (earners only).
    saving_rate: Annotated[Range, Kind("rate", 0, 1)]


@dataclass(frozen=True)
class MortgageRanges:
    """An indexed charge from now for ``years_left`` years, with some probability."""

    probability: Annotated[float, Kind("probability", 0, 1)]
    amount: Annotated[Range, Kind("money", 0, MAX_MONEY)]
    years_left: Annotated[IntRange, Kind("years", 1, 100)]


@dataclass(frozen=True)
class GoalRanges:
    retirement_spending: Annotated[Range, Kind("money", 0, MAX_MONEY)]
    capital_goal: Annotated[Range, Kind("money", 0, MAX_MONEY)]
    essential_fraction: Annotated[Range, Kind("rate", 0, 1)]


@dataclass(frozen=True)
class PhaseRanges:
    """Two spending phases, with some probability: from the first adult's retirement,
    target x ``early_ratio``; from ``late_start_age``, target x ``late_ratio``."""

    probability: Annotated[float, Kind("probability", 0, 1)]
    early_ratio: Annotated[Range, Kind("rate", 0, 10)]
    late_start_age: Annotated[IntRange, Kind("age", 0, MAX_AGE)]
    late_ratio: Annotated[Range, Kind("rate", 0, 10)]


@dataclass(frozen=True)
class MarketRanges:
    """Lognormal markets only; the correlations are the default ones (``CORRELATIONS``)."""

    stocks_return: Annotated[Range, Kind("rate", *RETURN_BOUNDS)]
    stocks_volatility: Annotated[Range, Kind("rate", *VOLATILITY_BOUNDS)]
    bonds_return: Annotated[Range, Kind("rate", *RETURN_BOUNDS)]
    bonds_volatility: Annotated[Range, Kind("rate", *VOLATILITY_BOUNDS)]
    cash_return: Annotated[Range, Kind("rate", *RETURN_BOUNDS)]
    cash_volatility: Annotated[Range, Kind("rate", *VOLATILITY_BOUNDS)]
    inflation_mean: Annotated[Range, Kind("rate", *RETURN_BOUNDS)]
    inflation_volatility: Annotated[Range, Kind("rate", *VOLATILITY_BOUNDS)]


@dataclass(frozen=True)
class AnnuityRanges:
    """An indexed offer open every year from the first adult's retirement."""

    probability: Annotated[float, Kind("probability", 0, 1)]
    money_worth_ratio: Annotated[Range, Kind("rate", 0.0001, 1)]


@dataclass(frozen=True)
class ProfileFamily:
    """A distribution of households: every field below is required in the file."""

    name: Annotated[str, Kind("text")]
    description: Annotated[str, Kind("text")]
    couple_probability: Annotated[float, Kind("probability", 0, 1)]
    # Lifetimes modes drawn with equal chance ("fixed_horizon", "mortality"), kept sorted.
    lifetimes: Annotated[tuple[str, ...], Kind("lifetimes")]
    adults: Annotated[AdultRanges, Kind("section")]
    pensions: Annotated[PensionRanges, Kind("section")]
    wealth: Annotated[WealthRanges, Kind("section")]
    mortgage: Annotated[MortgageRanges, Kind("section")]
    goals: Annotated[GoalRanges, Kind("section")]
    spending_phases: Annotated[PhaseRanges, Kind("section")]
    # Couples under mortality; the default (0.7) otherwise.
    survivor_spending_fraction: Annotated[Range, Kind("rate", 0, 1)]
    risk_aversion: Annotated[Range, Kind("parameter", MIN_RISK_AVERSION, MAX_RISK_AVERSION)]
    market: Annotated[MarketRanges, Kind("section")]
    annuity: Annotated[AnnuityRanges, Kind("section")]


# ----------------------------------------------------------------------------- reading


def load_family(path: Path | str = DEFAULT_FAMILY_PATH) -> ProfileFamily:
    """The family in a JSON file, validated (InvalidArgument naming each bad field)."""
    text = Path(path).read_text()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidArgument(FieldViolation(ROOT, f"is not JSON: {error}")) from error
    return family_from_dict(data)


def family_from_dict(data: object) -> ProfileFamily:
    """The family a JSON object describes; every problem reported at once."""
    problems: list[FieldViolation] = []
    family = _section(ProfileFamily, data, ROOT, problems)
    if family is not None and not problems:
        _coherence(family, problems)
    if problems or family is None:
        raise InvalidArgument(problems)
    return cast(ProfileFamily, family)


def _section(cls: type[Any], data: object, path: str, problems: list[FieldViolation]) -> Any:
    if not isinstance(data, dict):
        problems.append(FieldViolation(path, f"must be an object, got {_shown(data)}"))
        return None
    names = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in names:
            problems.append(FieldViolation(f"{path}.{key}", f"unknown field (known: {names})"))
    hints = get_type_hints(cls, include_extras=True)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        where = f"{path}.{f.name}"
        if f.name not in data:
            problems.append(FieldViolation(where, "is required"))
            continue
        inner, spec = get_args(hints[f.name])
        value = data[f.name]
        if spec.kind == "section":
            values[f.name] = _section(inner, value, where, problems)
        else:
            values[f.name] = _value(spec.kind, (spec.low, spec.high), value, where, problems)
    if any(v is None for v in values.values()) or len(values) < len(names):
        return None
    return cls(**values)


def _value(
    kind: str, bounds: tuple[float, float], value: object, path: str, problems: list[FieldViolation]
) -> Any:
    def fail(description: str) -> None:
        problems.append(FieldViolation(path, description))

    if kind == "text":
        if not isinstance(value, str):
            return fail(f"must be text, got {_shown(value)}")
        return value
    if kind == "lifetimes":
        modes = [m.value for m in Lifetimes]
        if not isinstance(value, list) or not value or any(v not in modes for v in value):
            return fail(f"must be a non-empty list of {modes}, got {_shown(value)}")
        return tuple(sorted(set(value)))  # a set: its order draws nothing else
    low, high = bounds
    if kind == "probability":
        if not _is_number(value) or not 0 <= float(value) <= 1:  # type: ignore[arg-type]
            return fail(f"must be a probability in [0, 1], got {_shown(value)}")
        return float(value)  # type: ignore[arg-type]
    if not isinstance(value, list) or len(value) != 2:
        return fail(f"must be a range [low, high], got {_shown(value)}")
    whole = kind in ("age", "years")
    for end, x in zip(("low", "high"), value, strict=True):
        if whole and (isinstance(x, bool) or not isinstance(x, int)):
            return fail(f"{end} must be a whole number of years, got {_shown(x)}")
        if not _is_number(x):
            return fail(f"{end} must be a finite number, got {_shown(x)}")
        if not low <= x <= high:
            return fail(f"{end} must be in [{low:g}, {high:g}], got {_shown(x)}")
        if kind == "money" and rounding.round_money(x) != x:
            return fail(f"{end} must have at most 3 significant figures, got {_shown(x)}")
        if kind == "rate" and rounding.round_rate(x) != x:
            return fail(f"{end} must have at most 4 decimals, got {_shown(x)}")
        if kind == "parameter" and rounding.round_parameter(x) != x:
            return fail(f"{end} must have at most 4 significant figures, got {_shown(x)}")
    if value[0] > value[1]:
        return fail(f"low must be <= high, got [{value[0]}, {value[1]}]")
    if whole:
        return IntRange(int(value[0]), int(value[1]))
    return Range(float(value[0]), float(value[1]))


def _coherence(family: ProfileFamily, problems: list[FieldViolation]) -> None:
    """Rules across fields, so that every household the family draws is valid."""
    adults = family.adults
    oldest = adults.current_age.high + max(adults.partner_age_gap.high, 0)
    youngest = adults.current_age.low + min(adults.partner_age_gap.low, 0)
    latest_retirement = max(adults.retirement_age.high, oldest)
    if youngest < 11:
        problems.append(
            FieldViolation(
                f"{ROOT}.adults.partner_age_gap",
                f"lets a partner be {youngest}, younger than 11 (a plan is at most 100 years)",
            )
        )
    if adults.life_expectancy.low <= latest_retirement:
        problems.append(
            FieldViolation(
                f"{ROOT}.adults.life_expectancy",
                f"low must be above every retirement and current age drawn "
                f"({latest_retirement}), got {adults.life_expectancy.low}",
            )
        )
    first_retirement = max(adults.retirement_age.high, adults.current_age.high)
    if family.spending_phases.late_start_age.low <= first_retirement:
        problems.append(
            FieldViolation(
                f"{ROOT}.spending_phases.late_start_age",
                f"low must be above the first adult's latest retirement age "
                f"({first_retirement}), got {family.spending_phases.late_start_age.low}",
            )
        )
    if Lifetimes.FIXED_HORIZON.value in family.lifetimes:
        # A fixed horizon ends each plan at a life expectancy: nothing may be placed later.
        ends = adults.life_expectancy.low
        late = family.spending_phases.late_start_age.high
        if late >= ends:
            problems.append(
                FieldViolation(
                    f"{ROOT}.spending_phases.late_start_age",
                    f"high must be below the lowest life expectancy ({ends}) with lifetimes "
                    f"fixed_horizon (the plan ends there), got {late}",
                )
            )
        closes = max(family.pensions.start_age.high, oldest)
        closes += family.pensions.claiming_years_late.high
        if closes >= ends:
            problems.append(
                FieldViolation(
                    f"{ROOT}.pensions.claiming_years_late",
                    f"high lets a window close at {closes}, not before the lowest life "
                    f"expectancy ({ends}) with lifetimes fixed_horizon",
                )
            )
    if family.goals.retirement_spending.low <= 0:
        problems.append(
            FieldViolation(
                f"{ROOT}.goals.retirement_spending",
                "low must be above 0 (a household needs a spending target)",
            )
        )
    # Contributions are at most rate x income and charges at most their high: something
    # must be left to save in the leanest year, or validation refuses the contribution.
    lean = adults.net_income.low * (1 - family.wealth.saving_rate.high)
    if adults.net_income.low > 0 and lean < family.mortgage.amount.high:
        problems.append(
            FieldViolation(
                f"{ROOT}.wealth.saving_rate",
                f"high leaves {lean:g} of the lowest net income, less than the largest "
                f"mortgage ({family.mortgage.amount.high:g}): contributions would exceed "
                "what is left to save",
            )
        )
    if family.wealth.saving_rate.high > 0 and adults.net_income.low <= 0:
        problems.append(
            FieldViolation(
                f"{ROOT}.adults.net_income",
                "low must be above 0 when saving_rate allows contributions",
            )
        )


def _is_number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _shown(value: object) -> str:
    return repr(value)[:80]


# ---------------------------------------------------------------------------- hashing


def family_form(family: ProfileFamily) -> dict[str, Any]:
    """The specification as plain JSON data (people's fields left out), with versions."""
    spec = _plain(family)
    assert isinstance(spec, dict)
    for name in _PEOPLE_FIELDS:
        spec.pop(name)
    return {"format": FAMILY_FORMAT, "household_schema": SCHEMA, "spec": spec}


def family_canonical_json(family: ProfileFamily) -> str:
    """The exact text the family hash is taken of: :func:`family_form` written as the
    household hash writes its form (``canonical.canonical_json``). A generic model's
    registry record keeps it as its canonical parameters."""
    return json.dumps(
        family_form(family),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        allow_nan=False,
    )


def family_hash(family: ProfileFamily) -> str:
    """First 16 hex characters of SHA-256 of :func:`family_canonical_json`."""
    digest = hashlib.sha256(family_canonical_json(family).encode("ascii")).hexdigest()
    return digest[:HASH_HEX_CHARS]


def _plain(value: object) -> object:
    if isinstance(value, IntRange):
        return [value.low, value.high]
    if isinstance(value, Range):
        return [float(value.low) + 0.0, float(value.high) + 0.0]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, float):
        return value + 0.0
    return value


# --------------------------------------------------------------------------- sampling


class _Draws:
    """All of one sample's random numbers, drawn as arrays in a fixed order."""

    def __init__(self, rng: np.random.Generator, n: int) -> None:
        self.rng = rng
        self.n = n

    def ints(self, r: IntRange) -> list[int]:
        return [int(x) for x in self.rng.integers(r.low, r.high + 1, size=self.n)]

    def floats(self, r: Range) -> np.ndarray[Any, np.dtype[np.float64]]:
        return self.rng.uniform(r.low, r.high, size=self.n)

    def money(self, r: Range) -> list[float]:
        return [rounding.round_money(float(x)) for x in self.floats(r)]

    def rates(self, r: Range) -> list[float]:
        return [rounding.round_rate(float(x)) for x in self.floats(r)]

    def chance(self, p: float) -> list[bool]:
        return [bool(x) for x in self.rng.random(self.n) < p]


def sample(family: ProfileFamily, n: int, seed: int) -> list[Household]:
    """``n`` canonical households drawn from ``family``; the same seed gives the same list.

    The draws are numpy arrays, one per field, in a fixed order, so a sample is
    reproducible for a given (family, n, seed) (a different ``n`` draws other households:
    the arrays are drawn whole). The households are then assembled one by one (objects,
    not arithmetic) and canonicalised, which validates each: about 6 ms a household,
    nearly all of it validation.
    """
    if n < 0:
        raise InvalidArgument(FieldViolation("n", f"must be >= 0, got {n}"))
    d = _Draws(np.random.default_rng(seed), n)
    a, p, w, m = family.adults, family.pensions, family.wealth, family.mortgage
    g, ph, mk, an = family.goals, family.spending_phases, family.market, family.annuity
    couple = d.chance(family.couple_probability)
    modes = [family.lifetimes[i] for i in d.rng.integers(0, len(family.lifetimes), size=n)]
    ages = d.ints(a.current_age)
    gaps = d.ints(a.partner_age_gap)
    retire = [d.ints(a.retirement_age) for _ in range(2)]
    lives = [d.ints(a.life_expectancy) for _ in range(2)]
    salaries = [d.money(a.net_income) for _ in range(2)]
    growth = [d.rates(a.income_growth) for _ in range(2)]
    pension = [d.money(p.amount) for _ in range(2)]
    pension_start = [d.ints(p.start_age) for _ in range(2)]
    survivors = [d.rates(p.survivor_fraction) for _ in range(2)]
    claims = [d.chance(p.claiming_probability) for _ in range(2)]
    early_years = [d.ints(p.claiming_years_early) for _ in range(2)]
    late_years = [d.ints(p.claiming_years_late) for _ in range(2)]
    balance, stock, saving = d.money(w.balance), d.rates(w.stock_share), d.floats(w.saving_rate)
    has_mortgage, mortgage, years_left = (
        d.chance(m.probability),
        d.money(m.amount),
        d.ints(m.years_left),
    )
    target, capital, floor = (
        d.money(g.retirement_spending),
        d.money(g.capital_goal),
        d.rates(g.essential_fraction),
    )
    has_phases, early, late_age, late = (
        d.chance(ph.probability),
        d.floats(ph.early_ratio),
        d.ints(ph.late_start_age),
        d.floats(ph.late_ratio),
    )
    survivor_spending = d.rates(family.survivor_spending_fraction)
    risk = [rounding.round_parameter(float(x)) for x in d.floats(family.risk_aversion)]
    market = [
        d.rates(getattr(mk, f.name)) for f in dataclasses.fields(MarketRanges)
    ]  # in MarketRanges' order
    has_annuity, worth = d.chance(an.probability), d.rates(an.money_worth_ratio)

    households = []
    for k in range(n):
        mortal = modes[k] == Lifetimes.MORTALITY.value
        size = 2 if couple[k] else 1
        current = [ages[k], ages[k] + gaps[k]][:size]
        adults = []
        incomes = []
        for j in range(size):
            retirement = max(retire[j][k], current[j])
            earns = salaries[j][k] if retirement > current[j] else 0.0
            adults.append(
                Adult(
                    current_age=current[j],
                    retirement_age=retirement,
                    life_expectancy=lives[j][k],
                    net_income=earns,
                    income_growth=growth[j][k] if earns else 0.0,
                )
            )
            if pension[j][k] <= 0:
                continue
            start = max(pension_start[j][k], current[j])
            window = None
            if claims[j][k] and start > current[j]:
                window = ClaimingWindow(
                    earliest_age=max(start - early_years[j][k], current[j]),
                    latest_age=start + late_years[j][k],
                )
            incomes.append(
                Income(
                    amount=pension[j][k],
                    start_age=start,
                    adult=j,
                    survivor_fraction=survivors[j][k] if size == 2 and mortal else 0.0,
                    claiming=window,
                )
            )
        salary = sum(x.net_income for x in adults)
        monthly = rounding.round_money(float(saving[k]) * salary / 12) if salary else 0.0
        phases: tuple[SpendingPhase, ...] = ()
        if has_phases[k]:
            phases = (
                SpendingPhase(
                    adults[0].retirement_age, rounding.round_money(target[k] * float(early[k]))
                ),
                SpendingPhase(late_age[k], rounding.round_money(target[k] * float(late[k]))),
            )
        (sr, sv, br, bv, cr, cv, im, iv) = (x[k] for x in market)
        households.append(
            canonicalize(
                Household(
                    adults=tuple(adults),
                    accounts=(
                        Account(
                            balance=balance[k],
                            monthly_contribution=monthly,
                            stock_share=stock[k],
                            bond_share=rounding.round_rate(1.0 - stock[k]),
                        ),
                    ),
                    incomes=tuple(incomes),
                    charges=(
                        (Charge(amount=mortgage[k], end_age=current[0] + years_left[k]),)
                        if has_mortgage[k] and mortgage[k] > 0
                        else ()
                    ),
                    spending_phases=phases,
                    goals=Goals(
                        capital_goal=capital[k],
                        retirement_spending=target[k],
                        essential_fraction=floor[k],
                    ),
                    risk_aversion=risk[k],
                    market=MarketAssumptions(
                        stocks=AssetClass(sr, sv),
                        bonds=AssetClass(br, bv),
                        cash=AssetClass(cr, cv),
                        inflation_mean=im,
                        inflation_volatility=iv,
                        correlations=CORRELATIONS,
                    ),
                    lifetimes=Lifetimes(modes[k]),
                    survivor_spending_fraction=(
                        survivor_spending[k]
                        if size == 2 and mortal
                        else DEFAULT_SURVIVOR_SPENDING_FRACTION
                    ),
                    annuities=(
                        AnnuityOffer(money_worth_ratio=worth[k]) if has_annuity[k] else None
                    ),
                )
            )
        )
    return households


# ----------------------------------------------------------------------------- inside


def contains(family: ProfileFamily, household: Household) -> bool:
    """Whether ``household`` (valid) lies inside every range of ``family``."""
    return not outside(family, household)


def outside(family: ProfileFamily, household: Household) -> list[str]:
    """The fields of ``household`` (canonical form) outside ``family``, as messages;
    empty when it lies inside. Validates the household first (InvalidArgument)."""
    h = canonicalize(household)
    out: list[str] = []

    def need(ok: bool, what: str) -> None:
        if not ok:
            out.append(what)

    a, p = family.adults, family.pensions
    mortal = h.lifetimes is Lifetimes.MORTALITY
    couple = len(h.adults) == 2
    need(h.lifetimes.value in family.lifetimes, f"lifetimes {h.lifetimes.value}")
    need(couple or family.couple_probability < 1, "a single adult")
    need(not couple or family.couple_probability > 0, "a couple")
    need(a.current_age.holds(h.start_age), "adults[0].current_age")
    if couple:
        need(a.partner_age_gap.holds(h.adults[1].current_age - h.start_age), "partner_age_gap")
    for j, adult in enumerate(h.adults):
        at = f"adults[{j}]"
        r = adult.retirement_age
        need(
            a.retirement_age.holds(r) or (r == adult.current_age > a.retirement_age.high),
            f"{at}.retirement_age",
        )
        need(a.life_expectancy.holds(adult.life_expectancy), f"{at}.life_expectancy")
        need(adult.mortality_table is None, f"{at}.mortality_table")
        if r > adult.current_age:
            need(a.net_income.holds(adult.net_income), f"{at}.net_income")
            need(a.income_growth.holds(adult.income_growth), f"{at}.income_growth")
    per_adult = [i.adult for i in h.incomes]
    need(len(per_adult) == len(set(per_adult)), "incomes: more than one pension per adult")
    for i, income in enumerate(h.incomes):
        at = f"incomes[{i}]"
        current = h.adults[income.adult].current_age
        need(p.amount.holds(income.amount), f"{at}.amount")
        need(
            p.start_age.holds(income.start_age) or income.start_age == current,
            f"{at}.start_age",
        )
        need(income.end_age is None, f"{at}.end_age")
        need(income.indexed_to_inflation and income.growth == 0, f"{at}: indexed, no growth")
        if couple and mortal:
            need(p.survivor_fraction.holds(income.survivor_fraction), f"{at}.survivor_fraction")
        window = income.claiming
        if window is not None:
            need(p.claiming_probability > 0, f"{at}.claiming")
            need(
                0 <= income.start_age - window.earliest_age <= p.claiming_years_early.high
                and p.claiming_years_late.holds(window.latest_age - income.start_age)
                and window.early_adjustment in (0.0, DEFAULT_EARLY_ADJUSTMENT)
                and window.late_adjustment == DEFAULT_LATE_ADJUSTMENT,
                f"{at}.claiming",
            )
    w = family.wealth
    account = h.accounts[0] if h.accounts else Account(balance=0.0)
    need(w.balance.holds(account.balance), "accounts.balance")
    need(w.stock_share.holds(account.stock_share), "accounts.stock_share")
    salary = sum(x.net_income for x in h.adults)
    if salary:
        rate = 12 * account.monthly_contribution / salary
        need(w.saving_rate.holds(rate, RATIO_TOLERANCE), "accounts.monthly_contribution")
    need(len(h.charges) <= 1, "charges: more than one")
    for charge in h.charges:
        m = family.mortgage
        need(m.probability > 0 and m.amount.holds(charge.amount), "charges[0].amount")
        need(
            charge.start_age is None
            and charge.indexed_to_inflation
            and charge.end_age is not None
            and m.years_left.holds(charge.end_age - h.start_age),
            "charges[0].end_age",
        )
    g = family.goals
    target = h.goals.retirement_spending
    need(g.retirement_spending.holds(target), "goals.retirement_spending")
    need(g.capital_goal.holds(h.goals.capital_goal), "goals.capital_goal")
    need(g.essential_fraction.holds(h.goals.essential_fraction), "goals.essential_fraction")
    phases = h.spending_phases
    if phases:
        ph = family.spending_phases
        need(
            ph.probability > 0
            and len(phases) == 2
            and phases[0].start_age == h.adults[0].retirement_age
            and ph.early_ratio.holds(phases[0].annual_spending / target, RATIO_TOLERANCE)
            and ph.late_start_age.holds(phases[1].start_age)
            and ph.late_ratio.holds(phases[1].annual_spending / target, RATIO_TOLERANCE),
            "spending_phases",
        )
    if couple and mortal:
        need(
            family.survivor_spending_fraction.holds(h.survivor_spending_fraction),
            "survivor_spending_fraction",
        )
    need(family.risk_aversion.holds(h.risk_aversion), "risk_aversion")
    mk, market = family.market, h.market
    need(market.return_model is ReturnModel.LOGNORMAL, "market.return_model")
    need(market.correlations == CORRELATIONS, "market.correlations")
    observed = {
        "stocks_return": market.stocks.expected_return,
        "stocks_volatility": market.stocks.volatility,
        "bonds_return": market.bonds.expected_return,
        "bonds_volatility": market.bonds.volatility,
        "cash_return": market.cash.expected_return,
        "cash_volatility": market.cash.volatility,
        "inflation_mean": market.inflation_mean,
        "inflation_volatility": market.inflation_volatility,
    }
    for name, value in observed.items():
        need(getattr(mk, name).holds(value), f"market.{name}")
    offer = h.annuities
    if offer is not None:
        need(
            family.annuity.probability > 0
            and family.annuity.money_worth_ratio.holds(offer.money_worth_ratio)
            and offer.indexed_to_inflation
            and not offer.only_at_from_age
            and offer.from_age == max(h.adults[0].retirement_age, h.start_age)
            and offer.survivor_share() == 1.0,
            "annuities",
        )
    return out
