"""Every field of the household format, as the web form shows it.

One entry per field of ``glidepath.common.v1.Household`` (protos/.../household.proto),
named by its path in the household file's own spelling (``adults[0].currentAge``):
that is the name of the form's input and the path the validator names when the value
is wrong, so a message lands next to its field with no translation. The defaults shown
are read from the domain's dataclasses, so they cannot drift from what the engine uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from glidepath.household.model import (
    DEFAULT_CALM_TO_TURBULENT,
    DEFAULT_EARLY_ADJUSTMENT,
    DEFAULT_LATE_ADJUSTMENT,
    DEFAULT_MONEY_WORTH_RATIO,
    DEFAULT_TURBULENT_TO_CALM,
    Household,
    MarketAssumptions,
    MarketRegime,
)

Kind = Literal["text", "int", "float", "bool", "choice", "numbers"]


@dataclass(frozen=True)
class Field:
    """One input: its path under its group, label, type, and the hint shown below it."""

    path: str
    label: str
    kind: Kind
    hint: str = ""
    choices: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Group:
    """A fieldset: one object (``goals``) or a list of them (``incomes[i]``)."""

    key: str
    title: str
    fields: tuple[Field, ...]
    repeated: bool = False
    most: int = 32
    fewest: int = 0
    item: str = ""  # what one row is called, for the add and remove buttons


YES_NO = (("", "default"), ("true", "yes"), ("false", "no"))
_MARKET = MarketAssumptions()
_TURBULENT = MarketRegime()
_HOUSEHOLD = Household.__dataclass_fields__


def _default(value: object) -> str:
    return f"default {value}"


def _flat(matrix: tuple[tuple[float, ...], ...]) -> str:
    return ", ".join(f"{v:g}" for row in matrix for v in row)


HOUSEHOLD = Group(
    "",
    "Household",
    (
        Field("name", "Name of this plan", "text", "for you to read; changes nothing"),
        Field(
            "lifetimes",
            "How long lives last",
            "choice",
            "random lifetimes (mortality, the default) or every adult to their life expectancy",
            (
                ("", "default (mortality)"),
                ("mortality", "mortality"),
                ("fixed_horizon", "fixed horizon"),
            ),
        ),
        Field(
            "riskAversion",
            "Risk aversion (CRRA)",
            "float",
            f"in [0.1, 20]; 1 = log utility; {_default(_HOUSEHOLD['risk_aversion'].default)}",
        ),
        Field(
            "survivorSpendingFraction",
            "Survivor's spending (fraction of the couple's)",
            "float",
            "couples under mortality only; "
            + _default(_HOUSEHOLD["survivor_spending_fraction"].default),
        ),
    ),
)

ADULTS = Group(
    "adults",
    "Adults",
    (
        Field("name", "Name", "text"),
        Field("currentAge", "Age now", "int", "whole years"),
        Field("retirementAge", "Retirement age", "int", "equal to the age now: already retired"),
        Field(
            "lifeExpectancy",
            "Life expectancy",
            "int",
            "expected age at death; leave empty with a life table",
        ),
        Field(
            "netIncome", "Net income a year", "float", "after tax, today's money, until retirement"
        ),
        Field(
            "incomeGrowth",
            "Income growth a year",
            "float",
            "above inflation, a fraction; default 0",
        ),
        Field("mortalityTable.firstAge", "Life table: first age", "int", "optional"),
        Field(
            "mortalityTable.q",
            "Life table: death probabilities",
            "numbers",
            "q for the first age and each age after it, separated by commas; the last is 1",
        ),
    ),
    repeated=True,
    most=2,
    fewest=1,
    item="adult",
)

INCOMES = Group(
    "incomes",
    "Incomes (pensions, annuities, rent)",
    (
        Field("label", "Label", "text"),
        Field(
            "kind",
            "Kind",
            "choice",
            "only a pension may have a claiming window",
            (
                ("", "default (pension)"),
                ("INCOME_KIND_PENSION", "pension"),
                ("INCOME_KIND_OTHER", "other"),
            ),
        ),
        Field("amount", "Amount a year", "float"),
        Field(
            "adult",
            "Whose age places it",
            "choice",
            "",
            (
                ("", "default (the first adult)"),
                ("0", "the first adult"),
                ("1", "the second adult"),
            ),
        ),
        Field("startAge", "From age", "int"),
        Field("endAge", "Until age", "int", "empty: for life"),
        Field("indexedToInflation", "Keeps pace with inflation", "choice", "default yes", YES_NO),
        Field("growth", "Growth a year", "float", "above indexation, a fraction; default 0"),
        Field("survivorFraction", "Paid to the survivor", "float", "a fraction; default 0"),
        Field("claiming.earliestAge", "Claiming: earliest age", "int", "optional claiming window"),
        Field("claiming.latestAge", "Claiming: latest age", "int"),
        Field(
            "claiming.earlyAdjustment",
            "Claiming: lost per year early",
            "float",
            _default(DEFAULT_EARLY_ADJUSTMENT),
        ),
        Field(
            "claiming.lateAdjustment",
            "Claiming: gained per year late",
            "float",
            _default(DEFAULT_LATE_ADJUSTMENT),
        ),
    ),
    repeated=True,
    item="income",
)

CHARGES = Group(
    "charges",
    "Charges (mortgage, rent, school fees)",
    (
        Field("label", "Label", "text"),
        Field("amount", "Amount a year", "float"),
        Field("startAge", "From household age", "int", "empty: from now"),
        Field("endAge", "Until household age", "int", "empty: for life"),
        Field("indexedToInflation", "Keeps pace with inflation", "choice", "default yes", YES_NO),
    ),
    repeated=True,
    item="charge",
)

ACCOUNTS = Group(
    "accounts",
    "Accounts",
    (
        Field("label", "Label", "text"),
        Field("balance", "Balance", "float", "today's money"),
        Field("monthlyContribution", "Paid in a month", "float", "until retirement; default 0"),
        Field("stockShare", "Share in stocks", "float", "a fraction; none set: 0.6 / 0.4 / 0"),
        Field("bondShare", "Share in bonds", "float"),
        Field("cashShare", "Share in cash", "float"),
    ),
    repeated=True,
    item="account",
)

GOALS = Group(
    "goals",
    "Goals and floor",
    (
        Field("retirementSpending", "Spending a year in retirement", "float", "today's money"),
        Field(
            "essentialFraction",
            "Essential spending (floor)",
            "float",
            "a fraction of the target; default 0, no floor",
        ),
        Field("capitalGoal", "Capital to leave", "float", "default 0, no goal"),
    ),
)

PHASES = Group(
    "spendingPhases",
    "Spending phases",
    (
        Field("label", "Label", "text"),
        Field("startAge", "From household age", "int"),
        Field("annualSpending", "Spending a year", "float"),
    ),
    repeated=True,
    item="spending phase",
)

ANNUITIES = Group(
    "annuities",
    "Annuities on offer",
    (
        Field("fromAge", "Buy from household age", "int", "default: the retirement age"),
        Field(
            "moneyWorthRatio",
            "Money's worth ratio",
            "float",
            f"in (0, 1]; {_default(DEFAULT_MONEY_WORTH_RATIO)}",
        ),
        Field("indexedToInflation", "Keeps pace with inflation", "choice", "default yes", YES_NO),
        Field("survivorFraction", "Paid to the survivor", "float", "couples; default 1"),
        Field("onlyAtFromAge", "Only at that age", "choice", "default no", YES_NO),
    ),
)


def _asset(prefix: str, name: str, expected: float, volatility: float) -> tuple[Field, Field]:
    return (
        Field(
            f"{prefix}{name}.expectedReturn",
            f"{name.title()}: expected return",
            "float",
            _default(expected),
        ),
        Field(
            f"{prefix}{name}.volatility",
            f"{name.title()}: volatility",
            "float",
            _default(volatility),
        ),
    )


MARKET = Group(
    "market",
    "Market assumptions (advanced)",
    (
        *_asset("", "stocks", _MARKET.stocks.expected_return, _MARKET.stocks.volatility),
        *_asset("", "bonds", _MARKET.bonds.expected_return, _MARKET.bonds.volatility),
        *_asset("", "cash", _MARKET.cash.expected_return, _MARKET.cash.volatility),
        Field("inflationMean", "Inflation: mean", "float", _default(_MARKET.inflation_mean)),
        Field(
            "inflationVolatility",
            "Inflation: volatility",
            "float",
            _default(_MARKET.inflation_volatility),
        ),
        Field(
            "correlations",
            "Correlations (16 numbers, row by row)",
            "numbers",
            f"stocks, bonds, cash, inflation; default {_flat(_MARKET.correlations)}",
        ),
        Field(
            "returnModel",
            "Return model",
            "choice",
            "default lognormal",
            (
                ("", "default (lognormal)"),
                ("RETURN_MODEL_LOGNORMAL", "lognormal"),
                ("RETURN_MODEL_STUDENT_T", "Student-t (fat tails)"),
                ("RETURN_MODEL_REGIME_SWITCHING", "regime switching"),
            ),
        ),
        Field(
            "degreesOfFreedom",
            "Student-t degrees of freedom",
            "float",
            _default(_MARKET.degrees_of_freedom),
        ),
        Field(
            "regimes.calmToTurbulent",
            "Regimes: calm to turbulent",
            "float",
            f"a yearly probability; {_default(DEFAULT_CALM_TO_TURBULENT)}",
        ),
        Field(
            "regimes.turbulentToCalm",
            "Regimes: turbulent to calm",
            "float",
            f"a yearly probability; {_default(DEFAULT_TURBULENT_TO_CALM)}",
        ),
        Field(
            "regimes.observable",
            "Regimes: the household sees the regime",
            "choice",
            "default no",
            YES_NO,
        ),
        *_asset(
            "regimes.turbulent.",
            "stocks",
            _TURBULENT.stocks.expected_return,
            _TURBULENT.stocks.volatility,
        ),
        *_asset(
            "regimes.turbulent.",
            "bonds",
            _TURBULENT.bonds.expected_return,
            _TURBULENT.bonds.volatility,
        ),
        *_asset(
            "regimes.turbulent.",
            "cash",
            _TURBULENT.cash.expected_return,
            _TURBULENT.cash.volatility,
        ),
        Field(
            "regimes.turbulent.inflationMean",
            "Turbulent inflation: mean",
            "float",
            _default(_TURBULENT.inflation_mean),
        ),
        Field(
            "regimes.turbulent.inflationVolatility",
            "Turbulent inflation: volatility",
            "float",
            _default(_TURBULENT.inflation_volatility),
        ),
        Field(
            "regimes.turbulent.correlations",
            "Turbulent correlations (16 numbers)",
            "numbers",
            f"default {_flat(_TURBULENT.correlations)}",
        ),
    ),
)

# In the order the form shows them.
GROUPS: tuple[Group, ...] = (
    HOUSEHOLD,
    ADULTS,
    INCOMES,
    CHARGES,
    ACCOUNTS,
    GOALS,
    PHASES,
    ANNUITIES,
    MARKET,
)
REPEATED = {g.key: g for g in GROUPS if g.repeated}
