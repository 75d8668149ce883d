"""The household, as plain immutable Python objects the engine works on.

Conventions, everywhere in this module:
- money is **annual** and in **today's money** (real terms) unless a field says otherwise
  (``monthly_contribution`` is monthly; an amount with ``indexed_to_inflation=False`` is
  fixed in nominal terms, so its real value erodes with inflation);
- rates and shares are **fractions** (0.05 means 5 %), never percents;
- ages are whole years; an age range ``[start_age, end_age)`` includes the year the person
  turns ``start_age`` and stops before the year they turn ``end_age``;
- "the household's age" means the first adult's age: spending phases and charges are
  placed on that clock, incomes on their own adult's clock.

The gRPC messages (``glidepath.common.v1.Household``) mirror these objects; conversion and
validation live beside this module, so the engine never sees an unchecked value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

#: The last age anyone lives under MORTALITY without an explicit table (q = 1 there): the
#: default law's end (``glidepath.engine.mortality`` reads it from here).
MAX_LIFE_AGE = 110


class Lifetimes(Enum):
    """How long the simulated lives last.

    MORTALITY: each adult survives each year with the probability of a life table (the
    adult's ``mortality_table``, else a Gompertz-Makeham law calibrated so that the
    expected age at death is ``life_expectancy``); the plan runs to ``MAX_LIFE_AGE``.
    FIXED_HORIZON: every life ends at ``life_expectancy`` (closed-form checks, comparison).
    """

    MORTALITY = "mortality"
    FIXED_HORIZON = "fixed_horizon"


@dataclass(frozen=True)
class MortalityTable:
    """One-year death probabilities q_x for ages first_age, first_age + 1, ...; the last
    is 1 (nobody outlives the table)."""

    first_age: int
    q: tuple[float, ...]


@dataclass(frozen=True)
class Adult:
    """One adult of the household; see ``Lifetimes`` for how long their life lasts."""

    current_age: int
    retirement_age: int
    # Expected age at death (MORTALITY: the calibration target of the default law; deaths
    # counted at mid-year), or the age the life ends at (FIXED_HORIZON).
    life_expectancy: int
    # Net (after-tax) earned income until retirement: annual, today's money.
    net_income: float = 0.0
    # Real growth of that income per year (fraction): 0.01 = 1 % above inflation.
    income_growth: float = 0.0
    # An explicit life table; None: the default law calibrated to life_expectancy.
    mortality_table: MortalityTable | None = None
    # A label for people to read; never changes a result or the hash.
    name: str = ""

    @property
    def last_age(self) -> int:
        """MORTALITY: the last age this adult can live (their table's, else ``MAX_LIFE_AGE``)."""
        if self.mortality_table is not None:
            return self.mortality_table.first_age + len(self.mortality_table.q) - 1
        return MAX_LIFE_AGE


class IncomeKind(Enum):
    """What an income is, for people to read: every kind is paid alike, and the canonical
    hash ignores it (a pension and an annuity of the same amount pose the same problem)."""

    PENSION = "pension"
    OTHER = "other"


#: Default adjustments of a claiming window, per year claimed before or after the
#: income's ``start_age`` (linear, as the rules they come from): US Social Security
#: reduces a benefit claimed early by 5/9 of 1 % a month for the first 36 months (6.67 %
#: a year) and credits 8 % a year for each year it is delayed past the full retirement
#: age (docs/claiming.md).
DEFAULT_EARLY_ADJUSTMENT = 0.0667
DEFAULT_LATE_ADJUSTMENT = 0.08


@dataclass(frozen=True)
class ClaimingWindow:
    """A pension the household may claim at any age in [earliest_age, latest_age] of its
    adult (the income's ``start_age`` is the default age). The amount is the income's
    ``amount`` claimed at ``start_age``, reduced by ``early_adjustment`` for each year
    claimed earlier and raised by ``late_adjustment`` for each year later, linearly:
    amount x (1 - early x (start_age - age)) or amount x (1 + late x (age - start_age)).
    Claiming is one irreversible decision; at ``latest_age`` it is made automatically.
    """

    earliest_age: int
    latest_age: int
    early_adjustment: float = DEFAULT_EARLY_ADJUSTMENT
    late_adjustment: float = DEFAULT_LATE_ADJUSTMENT

    def factor(self, default_age: int, age: int) -> float:
        """The amount claimed at ``age`` per 1 of the amount claimed at ``default_age``."""
        if age < default_age:
            return 1.0 - self.early_adjustment * (default_age - age)
        return 1.0 + self.late_adjustment * (age - default_age)


@dataclass(frozen=True)
class Income:
    """A pension, an annuity, rent received...: paid while ``adult`` is in [start_age, end_age)."""

    # Annual amount, in today's money when indexed, else in nominal money fixed today.
    amount: float
    start_age: int
    # Exclusive; None means for life.
    end_age: int | None = None
    # Index (0 or 1) of the adult whose age places this income.
    adult: int = 0
    kind: IncomeKind = IncomeKind.PENSION
    # True: keeps pace with inflation (amount is real). False: fixed in nominal terms.
    indexed_to_inflation: bool = True
    # Real growth per year (fraction) on top of indexation, e.g. rent rises.
    growth: float = 0.0
    label: str = ""
    # Fraction of the amount still paid after ``adult`` has died while the other adult
    # lives (a reversionary pension: 0.5 to 0.6 is common); 0 = it stops at death.
    survivor_fraction: float = 0.0
    # A pension's claiming window (``start_age`` its default age); None: paid from
    # ``start_age``, no decision.
    claiming: ClaimingWindow | None = None


@dataclass(frozen=True)
class Charge:
    """A fixed household charge (mortgage, rent, school fees) over the household's age range."""

    # Annual amount; real when indexed, nominal (e.g. a fixed-rate mortgage) when not.
    amount: float
    # Exclusive end on the household's (first adult's) age; None means for life.
    end_age: int | None
    start_age: int | None = None
    indexed_to_inflation: bool = True
    label: str = ""


@dataclass(frozen=True)
class SpendingPhase:
    """From ``start_age`` (household's age) on, the spending target becomes ``annual_spending``.

    Phases model the usual retirement shape: more in the active early years, less later,
    more again for care. The latest phase whose start_age is reached applies.
    """

    start_age: int
    # Annual, today's money.
    annual_spending: float
    label: str = ""


@dataclass(frozen=True)
class Account:
    """An investment account. All accounts are invested as one portfolio."""

    # Current balance, today's money.
    balance: float
    # Amount the household plans to add every month until retirement: **monthly**, today's money.
    monthly_contribution: float = 0.0
    # Current allocation, fractions summing to 1.
    stock_share: float = 0.6
    bond_share: float = 0.4
    cash_share: float = 0.0
    label: str = ""


@dataclass(frozen=True)
class AssetClass:
    """Annual return assumptions for one asset class, in nominal terms."""

    # Arithmetic mean of the annual nominal return (fraction).
    expected_return: float
    # Standard deviation of the annual nominal return (fraction).
    volatility: float


class ReturnModel(Enum):
    # Log returns jointly normal: returns are lognormal.
    LOGNORMAL = "lognormal"
    # Log returns jointly Student-t (fat tails), scaled to the same mean and volatility.
    STUDENT_T = "student_t"
    # Two market regimes (calm: the market's own fields; turbulent: ``regimes``), each
    # lognormal, the regime following a yearly Markov chain.
    REGIME_SWITCHING = "regime_switching"


ASSET_NAMES = ("stocks", "bonds", "cash", "inflation")


@dataclass(frozen=True)
class MarketRegime:
    """One regime's lognormal market: annual, nominal, fractions (as MarketAssumptions).

    The defaults are the turbulent regime of docs/regimes.md: lower stock returns, about
    1.6 times the calm volatility, higher interest rates and inflation, stocks and bonds
    moving apart (the calibration and its source are there).
    """

    stocks: AssetClass = field(default_factory=lambda: AssetClass(-0.02, 0.27))
    bonds: AssetClass = field(default_factory=lambda: AssetClass(0.05, 0.08))
    cash: AssetClass = field(default_factory=lambda: AssetClass(0.035, 0.015))
    inflation_mean: float = 0.035
    inflation_volatility: float = 0.025
    correlations: tuple[tuple[float, ...], ...] = (
        (1.0, -0.2, 0.0, -0.2),
        (-0.2, 1.0, 0.3, -0.2),
        (0.0, 0.3, 1.0, 0.5),
        (-0.2, -0.2, 0.5, 1.0),
    )


#: Yearly switching probabilities of the default regime chain (docs/regimes.md: monthly
#: persistence 0.98 calm and 0.92 turbulent, taken to the 12th power).
DEFAULT_CALM_TO_TURBULENT = 0.14
DEFAULT_TURBULENT_TO_CALM = 0.57


@dataclass(frozen=True)
class RegimeSwitching:
    """The turbulent regime and the yearly Markov chain between it and the calm one.

    Each year's regime is one of the two; from a calm year the next is turbulent with
    probability ``calm_to_turbulent``, from a turbulent year the next is calm with
    probability ``turbulent_to_calm``; a life starts in the chain's stationary
    distribution. ``observable``: whether the household sees each year's regime at the
    start of that year (by default it does not: it infers a probability from the returns
    it has seen, ``engine.regime_belief``).
    """

    turbulent: MarketRegime = field(default_factory=MarketRegime)
    # P(turbulent next year | calm this year), in [0, 1].
    calm_to_turbulent: float = DEFAULT_CALM_TO_TURBULENT
    # P(calm next year | turbulent this year), in [0, 1].
    turbulent_to_calm: float = DEFAULT_TURBULENT_TO_CALM
    # Whether the household sees this year's regime before deciding (default: no).
    observable: bool = False

    def stationary_turbulent(self) -> float:
        """The long-run share of turbulent years, p / (p + q) (0 when neither moves)."""
        total = self.calm_to_turbulent + self.turbulent_to_calm
        return 0.0 if total <= 0 else self.calm_to_turbulent / total


@dataclass(frozen=True)
class MarketAssumptions:
    """Capital-market assumptions; annual, nominal, fractions.

    Defaults are long-run figures in the range of published long-horizon studies
    (global equities about 5 % real with 17-18 % volatility, government bonds about 1.5-2 %
    real, cash about 0.5 % real, inflation about 2.5 % with 1.5 % volatility; docs/household.md has
    every default). They are a starting point, not advice.
    """

    stocks: AssetClass = field(default_factory=lambda: AssetClass(0.075, 0.17))
    bonds: AssetClass = field(default_factory=lambda: AssetClass(0.04, 0.06))
    cash: AssetClass = field(default_factory=lambda: AssetClass(0.03, 0.01))
    inflation_mean: float = 0.025
    inflation_volatility: float = 0.015
    # Correlation matrix of (stocks, bonds, cash, inflation) log returns; symmetric, PSD,
    # unit diagonal. Row-major tuple of tuples.
    correlations: tuple[tuple[float, ...], ...] = (
        (1.0, 0.1, 0.0, -0.1),
        (0.1, 1.0, 0.3, -0.2),
        (0.0, 0.3, 1.0, 0.5),
        (-0.1, -0.2, 0.5, 1.0),
    )
    return_model: ReturnModel = ReturnModel.LOGNORMAL
    # Degrees of freedom of the Student-t model (> 2); ignored by the lognormal model.
    degrees_of_freedom: float = 5.0
    # The turbulent regime and the switching probabilities, for REGIME_SWITCHING only
    # (the fields above are then the calm regime); None there: ``RegimeSwitching()``.
    regimes: RegimeSwitching | None = None

    @property
    def switching(self) -> RegimeSwitching | None:
        """The regimes in force (defaults filled in), or None when returns do not switch."""
        if self.return_model is not ReturnModel.REGIME_SWITCHING:
            return None
        return RegimeSwitching() if self.regimes is None else self.regimes

    def calm_regime(self) -> MarketRegime:
        """The market's own fields: the calm regime under REGIME_SWITCHING."""
        return MarketRegime(
            self.stocks,
            self.bonds,
            self.cash,
            self.inflation_mean,
            self.inflation_volatility,
            self.correlations,
        )


@dataclass(frozen=True)
class Goals:
    # Wealth wanted at the end of the plan (bequest, safety margin): today's money; 0 = none.
    capital_goal: float = 0.0
    # Spending target in retirement: annual, today's money. Spending phases override it
    # from their start ages on.
    retirement_spending: float = 0.0
    # Essential spending (the floor) as a fraction of the spending target in force (the
    # target or the current phase's): years below it count as hardship in the objective
    # and are reported. 0 = no floor.
    essential_fraction: float = 0.0


#: The default money's worth ratio of an annuity offer: studies of real annuity markets
#: find 0.85-0.95 (the expected present value of the payments per unit of premium).
DEFAULT_MONEY_WORTH_RATIO = 0.90


@dataclass(frozen=True)
class AnnuityOffer:
    """Life annuities the household may buy with liquid wealth (absent: no market).

    An annuity bought in a year pays its income from that year on (at the start of each
    year lived), for as long as an annuitant lives; a purchase is irreversible. For a
    couple it is joint-and-survivor: the full income while both live,
    ``survivor_fraction`` of it after the first death.
    """

    # The household's (first adult's) age from which purchases are allowed; None: the
    # first adult's retirement age.
    from_age: int | None = None
    # Expected present value of the payments per unit of premium, in (0, 1]: the price
    # is the fair price divided by it (studies of real markets find 0.85-0.95).
    money_worth_ratio: float = DEFAULT_MONEY_WORTH_RATIO
    # True: the income keeps pace with inflation; False: level in nominal money.
    indexed_to_inflation: bool = True
    # Couples only: the fraction of the income paid after the first death, in [0, 1];
    # None: 1.0 for a couple (a single adult must leave it None).
    survivor_fraction: float | None = None
    # True: a purchase is allowed in the year of ``from_age`` only (one decision: how
    # much to annuitise then); False: in every year from it on.
    only_at_from_age: bool = False

    def purchase_age(self, household: Household) -> int:
        """The household age from which purchases are allowed, the default filled in."""
        if self.from_age is not None:
            return self.from_age
        return household.adults[0].retirement_age

    def survivor_share(self) -> float:
        """The fraction paid after the first death (1.0 unless set)."""
        return 1.0 if self.survivor_fraction is None else self.survivor_fraction


@dataclass(frozen=True)
class Household:
    """Everything that defines one household's planning problem."""

    adults: tuple[Adult, ...]
    accounts: tuple[Account, ...] = ()
    incomes: tuple[Income, ...] = ()
    charges: tuple[Charge, ...] = ()
    spending_phases: tuple[SpendingPhase, ...] = ()
    goals: Goals = field(default_factory=Goals)
    # CRRA relative risk aversion (gamma > 0; 1 = log utility).
    risk_aversion: float = 3.0
    market: MarketAssumptions = field(default_factory=MarketAssumptions)
    lifetimes: Lifetimes = Lifetimes.MORTALITY
    # A lone survivor's spending need (target and floor) as a fraction of the couple's.
    survivor_spending_fraction: float = 0.7
    name: str = ""
    # Life annuities on offer; None: no annuity market (no purchase is possible).
    annuities: AnnuityOffer | None = None

    @property
    def start_age(self) -> int:
        """The household's (first adult's) age now."""
        return self.adults[0].current_age

    @property
    def horizon_years(self) -> int:
        """Years simulated. FIXED_HORIZON: until the later life expectancy of the adults.
        MORTALITY: until the last age anyone can live (``MAX_LIFE_AGE``, or an explicit
        table's last age), whichever adult reaches it last."""
        if self.lifetimes is Lifetimes.FIXED_HORIZON:
            return max(a.life_expectancy - a.current_age for a in self.adults)
        return max(a.last_age + 1 - a.current_age for a in self.adults)

    @property
    def retirement_year(self) -> int:
        """Years from now until the last earner retires (0 when already retired)."""
        return max(0, max(a.retirement_age - a.current_age for a in self.adults))
