"""Households and hypothesis strategies shared by the household tests."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from hypothesis import strategies as st

from glidepath.household import rounding, validation
from glidepath.household.convert import household_from_json
from glidepath.household.model import (
    Account,
    Adult,
    AnnuityOffer,
    AssetClass,
    Charge,
    ClaimingWindow,
    Goals,
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

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_JSON = ROOT / "examples" / "household.json"
RETIREE_JSON = ROOT / "examples" / "retiree.json"
COUPLE_JSON = ROOT / "examples" / "couple.json"

# Float fields by how the canonical form rounds them (every float field of the model is
# in exactly one set; test_household_canonical checks that).
MONEY_FIELDS = frozenset(
    {
        "net_income",
        "amount",
        "annual_spending",
        "balance",
        "monthly_contribution",
        "capital_goal",
        "retirement_spending",
    }
)
RATE_FIELDS = frozenset(
    {"income_growth", "growth", "expected_return", "volatility", "inflation_mean"}
    | {"inflation_volatility", "survivor_fraction", "survivor_spending_fraction"}
    | {
        "essential_fraction",
        "money_worth_ratio",
        "early_adjustment",
        "late_adjustment",
        "calm_to_turbulent",
        "turbulent_to_calm",
    }
)
PARAMETER_FIELDS = frozenset({"risk_aversion", "degrees_of_freedom"})
SHARE_FIELDS = ("stock_share", "bond_share", "cash_share")

# PSD (smallest eigenvalue ~1e-13) but not once rounded to 4 decimals (~ -1.2e-5).
PSD_ONLY_BEFORE_ROUNDING = (
    (1.0, 0.281437428326, 0.497935287122, 0.517378921245),
    (0.281437428326, 1.0, 0.966978861995, -0.110825238302),
    (0.497935287122, 0.966978861995, 1.0, 0.106941231983),
    (0.517378921245, -0.110825238302, 0.106941231983, 1.0),
)


def example() -> Household:
    return household_from_json(EXAMPLE_JSON.read_text())


def retiree() -> Household:
    return household_from_json(RETIREE_JSON.read_text())


def couple() -> Household:
    return household_from_json(COUPLE_JSON.read_text())


# A short explicit life table: q from age 38 to the last age 100 (q = 1 there).
# On the hash's rounding grid (4 significant figures).
TABLE_Q = (*(rounding.round_parameter(min(0.0008 * 1.1 ** (k + 2), 0.6)) for k in range(62)), 1.0)


def rich_lives() -> Household:
    """``rich`` with mortality: every lifetimes field set away from its default, the second
    adult on an explicit table (its life expectancy then is the table's)."""
    base = rich()
    table = MortalityTable(38, TABLE_Q)
    second = replace(
        base.adults[1],
        mortality_table=table,
        life_expectancy=validation.table_life_expectancy(table, base.adults[1].current_age),
    )
    return replace(
        base,
        adults=(base.adults[0], second),
        incomes=(replace(base.incomes[0], survivor_fraction=0.6), *base.incomes[1:]),
        goals=replace(base.goals, essential_fraction=0.55),
        lifetimes=Lifetimes.MORTALITY,
        survivor_spending_fraction=0.65,
        name="rich lives",
    )


def rich_annuities() -> Household:
    """``rich_lives`` with an annuity offer, every field of it set away from its default."""
    offer = AnnuityOffer(
        from_age=64, money_worth_ratio=0.88, indexed_to_inflation=False, survivor_fraction=0.75
    )
    return replace(rich_lives(), annuities=offer, name="rich annuities")


def rich_claiming() -> Household:
    """``rich_lives`` whose first pension has a claiming window, every field of it set."""
    base = rich_lives()
    window = ClaimingWindow(62, 70, early_adjustment=0.06, late_adjustment=0.07)
    pension = replace(base.incomes[0], claiming=window)
    return replace(base, incomes=(pension, *base.incomes[1:]), name="rich claiming")


def rich_regimes() -> Household:
    """``rich_lives`` under regime switching, every field of the turbulent regime and the
    chain set away from its default."""
    base = rich_lives()
    regimes = RegimeSwitching(
        turbulent=MarketRegime(
            stocks=AssetClass(-0.01, 0.25),
            bonds=AssetClass(0.045, 0.09),
            cash=AssetClass(0.04, 0.02),
            inflation_mean=0.04,
            inflation_volatility=0.03,
            correlations=(
                (1.0, -0.3, 0.1, -0.2),
                (-0.3, 1.0, 0.2, -0.1),
                (0.1, 0.2, 1.0, 0.4),
                (-0.2, -0.1, 0.4, 1.0),
            ),
        ),
        calm_to_turbulent=0.2,
        turbulent_to_calm=0.5,
    )
    market = replace(base.market, return_model=ReturnModel.REGIME_SWITCHING, regimes=regimes)
    return replace(base, market=market, name="rich regimes")


def rich() -> Household:
    """A couple where every field of every object matters to the hash, under the fixed
    horizon (``rich_lives`` is its twin under mortality)."""
    return Household(
        lifetimes=Lifetimes.FIXED_HORIZON,
        adults=(
            Adult(45, 63, 88, net_income=70000.0, income_growth=0.015, name="A"),
            Adult(43, 62, 91, net_income=30000.0, income_growth=0.005, name="B"),
        ),
        accounts=(
            Account(150000.0, 500.0, 0.7, 0.2, 0.1, label="broker"),
            Account(50000.0, 300.0, 0.3, 0.6, 0.1, label="pension plan"),
        ),
        incomes=(
            Income(24000.0, 67, None, 0, IncomeKind.PENSION, True, 0.0, "pension A"),
            Income(6000.0, 50, 75, 1, IncomeKind.OTHER, False, 0.01, "rent"),
        ),
        charges=(
            Charge(9000.0, 58, None, True, "mortgage"),
            Charge(8000.0, 60, 50, False, "school fees"),
        ),
        spending_phases=(
            SpendingPhase(63, 52000.0, "active"),
            SpendingPhase(75, 42000.0, "slower"),
            SpendingPhase(85, 47000.0, "care"),
        ),
        goals=Goals(capital_goal=100000.0, retirement_spending=48000.0),
        risk_aversion=4.0,
        market=MarketAssumptions(
            stocks=AssetClass(0.07, 0.18),
            bonds=AssetClass(0.035, 0.07),
            cash=AssetClass(0.025, 0.012),
            inflation_mean=0.022,
            inflation_volatility=0.014,
            return_model=ReturnModel.STUDENT_T,
            degrees_of_freedom=6.0,
        ),
        name="rich",
    )


# --------------------------------------------------------------------------- strategies
# Households drawn here are valid and their numbers sit on the canonical rounding grid
# (money with 3 significant figures, rates on 1e-4, parameters with <= 4 significant
# figures), so that tests can perturb them within or beyond the rounding on purpose.

labels = st.text(max_size=12)
grid_money = st.one_of(
    st.just(0.0),
    st.builds(lambda k, e: float(k * 10**e), st.integers(100, 999), st.integers(0, 4)),
)
positive_money = st.builds(lambda k, e: float(k * 10**e), st.integers(100, 999), st.integers(0, 4))


def grid_rate(low: int, high: int) -> st.SearchStrategy[float]:
    """Rates k / 10000 for k in [low, high]."""
    return st.integers(low, high).map(lambda k: k / 10000)


DEFAULT_CORRELATIONS = MarketAssumptions().correlations
IDENTITY = tuple(tuple(1.0 if i == j else 0.0 for j in range(4)) for i in range(4))


# Under mortality a life expectancy must be one the default law can reach by age 110
# (about 109 from these ages): 105 is within reach from every age drawn here.
MORTALITY_LONGEST_LIFE = 105


@st.composite
def adults(draw: st.DrawFn, longest: int = 110) -> Adult:
    current = draw(st.integers(20, 75))
    retirement = draw(st.integers(current, min(current + 30, 80)))
    life = draw(st.integers(retirement + 1, min(current + 60, longest)))
    working = retirement > current
    return Adult(
        current_age=current,
        retirement_age=retirement,
        life_expectancy=life,
        net_income=draw(grid_money) if working else 0.0,
        income_growth=draw(grid_rate(-300, 300)),
        name=draw(labels),
    )


def _last_age(adult: Adult, horizon: int) -> int:
    # At most 119, so that an income starting then can still end at 120 (the age cap).
    return min(adult.current_age + horizon - 1, 119)


@st.composite
def accounts(draw: st.DrawFn, contributions: bool) -> Account:
    stock = draw(st.integers(0, 10000))
    bond = draw(st.integers(0, 10000 - stock))
    return Account(
        balance=draw(grid_money),
        monthly_contribution=draw(grid_money) if contributions else 0.0,
        stock_share=stock / 10000,
        bond_share=bond / 10000,
        cash_share=(10000 - stock - bond) / 10000,
        label=draw(labels),
    )


@st.composite
def incomes(draw: st.DrawFn, people: tuple[Adult, ...], horizon: int) -> Income:
    index = draw(st.integers(0, len(people) - 1))
    owner = people[index]
    start = draw(st.integers(owner.current_age, _last_age(owner, horizon)))
    end = draw(st.one_of(st.none(), st.integers(start + 1, 120)))
    return Income(
        amount=draw(grid_money),
        start_age=start,
        end_age=end,
        adult=index,
        kind=draw(st.sampled_from(IncomeKind)),
        indexed_to_inflation=draw(st.booleans()),
        growth=draw(grid_rate(-200, 200)),
        label=draw(labels),
    )


@st.composite
def charges(draw: st.DrawFn, first: Adult, horizon: int) -> Charge:
    start = draw(st.one_of(st.none(), st.integers(first.current_age + 1, first.current_age + 20)))
    start = None if start is None or start > _last_age(first, horizon) else start
    end = draw(
        st.one_of(st.none(), st.integers(max(start or 0, first.current_age) + 1, 120)),
    )
    return Charge(
        amount=draw(grid_money),
        end_age=end,
        start_age=start,
        indexed_to_inflation=draw(st.booleans()),
        label=draw(labels),
    )


@st.composite
def markets(draw: st.DrawFn) -> MarketAssumptions:
    def asset() -> AssetClass:
        return AssetClass(draw(grid_rate(-500, 1500)), draw(grid_rate(0, 4000)))

    model = draw(st.sampled_from(ReturnModel))
    regimes = None
    if model is ReturnModel.REGIME_SWITCHING and draw(st.booleans()):
        regimes = RegimeSwitching(
            turbulent=MarketRegime(
                stocks=asset(),
                bonds=asset(),
                cash=asset(),
                inflation_mean=draw(grid_rate(-100, 800)),
                inflation_volatility=draw(grid_rate(0, 500)),
                correlations=draw(st.sampled_from([DEFAULT_CORRELATIONS, IDENTITY])),
            ),
            calm_to_turbulent=draw(grid_rate(1, 9999)),
            turbulent_to_calm=draw(grid_rate(1, 9999)),
        )
    return MarketAssumptions(
        stocks=asset(),
        bonds=asset(),
        cash=asset(),
        inflation_mean=draw(grid_rate(-100, 800)),
        inflation_volatility=draw(grid_rate(0, 500)),
        correlations=draw(st.sampled_from([DEFAULT_CORRELATIONS, IDENTITY])),
        return_model=model,
        degrees_of_freedom=draw(st.integers(210, 5000).map(lambda k: k / 100)),
        regimes=regimes,
    )


@st.composite
def households(draw: st.DrawFn) -> Household:
    """A valid household, under either kind of lifetimes."""
    lifetimes = draw(st.sampled_from(Lifetimes))
    longest = MORTALITY_LONGEST_LIFE if lifetimes is Lifetimes.MORTALITY else 110
    people = tuple(draw(st.lists(adults(longest), min_size=1, max_size=2)))
    horizon = max(a.life_expectancy - a.current_age for a in people)
    first = people[0]
    everyone_retired = all(a.retirement_age == a.current_age for a in people)
    phase_ages = draw(
        st.lists(st.integers(first.current_age, _last_age(first, horizon)), max_size=4, unique=True)
    )
    household = Household(
        adults=people,
        accounts=tuple(draw(st.lists(accounts(not everyone_retired), max_size=3))),
        incomes=tuple(draw(st.lists(incomes(people, horizon), max_size=3))),
        charges=tuple(draw(st.lists(charges(first, horizon), max_size=3))),
        spending_phases=tuple(
            SpendingPhase(age, draw(grid_money), draw(labels)) for age in phase_ages
        ),
        goals=Goals(capital_goal=draw(grid_money), retirement_spending=draw(positive_money)),
        risk_aversion=draw(st.integers(50, 999).map(lambda k: k / 100)),
        market=draw(st.one_of(st.just(MarketAssumptions()), markets())),
        name=draw(labels),
        lifetimes=lifetimes,
    )
    household = _affordable_contributions(household)
    has_resources = any(a.balance > 0 or a.monthly_contribution > 0 for a in household.accounts)
    has_resources |= any(a.net_income > 0 for a in people) or any(
        i.amount > 0 for i in household.incomes
    )
    if not has_resources:
        household = replace(household, accounts=(*household.accounts, Account(10000.0)))
    return household


def _affordable_contributions(household: Household) -> Household:
    """``household`` without contributions when they exceed what a year leaves to save
    (validation refuses those: they would change nothing)."""
    if not any(a.monthly_contribution for a in household.accounts):
        return household
    most = validation.largest_yearly_saving(household)
    if 12 * sum(a.monthly_contribution for a in household.accounts) <= most:
        return household
    return replace(
        household,
        accounts=tuple(replace(a, monthly_contribution=0.0) for a in household.accounts),
    )


# --------------------------------------------------------------------------- at the bounds
# Households whose every number sits at, or next to, a bound of ``validation`` (or at a
# value where a formula changes form: risk aversion 1, a volatility of 0), with a
# typical value mixed in, so that the engine meets the corners of what it accepts.


def _edges(low: float, high: float, typical: float) -> st.SearchStrategy[float]:
    span = high - low
    return st.sampled_from([low, high, low + 1e-4 * span, high - 1e-4 * span, typical])


def _money_edges(typical: float) -> st.SearchStrategy[float]:
    return st.sampled_from([0.0, 1.0, validation.MAX_MONEY, typical])


def _positive_money_edges(typical: float) -> st.SearchStrategy[float]:
    return st.sampled_from([1.0, validation.MAX_MONEY / 32, typical])


_RATES = _edges(*validation.RETURN_BOUNDS, 0.05)
_VOLATILITIES = st.sampled_from([*validation.VOLATILITY_BOUNDS, 1e-4, 1.9999, 0.15])
_GROWTHS = _edges(*validation.GROWTH_BOUNDS, 0.01)
_RISK_AVERSIONS = st.sampled_from(
    [validation.MIN_RISK_AVERSION, 0.1001, 0.9999, 1.0, 1.0001, 3.0, 19.99, 20.0]
)
_CORRELATIONS = st.sampled_from(
    [
        DEFAULT_CORRELATIONS,
        IDENTITY,
        tuple(tuple(1.0 for _ in range(4)) for _ in range(4)),  # singular: one factor
    ]
)


@st.composite
def bound_adults(draw: st.DrawFn) -> Adult:
    current = draw(st.sampled_from([0, 1, 40, 64, validation.MAX_AGE - 1]))
    longest = min(validation.MAX_AGE, current + validation.MAX_HORIZON_YEARS)
    life = draw(st.sampled_from(sorted({current + 1, min(current + 2, longest), longest})))
    retirement = draw(st.sampled_from(sorted({current, life - 1, (current + life) // 2})))
    working = retirement > current
    return Adult(
        current_age=current,
        retirement_age=retirement,
        life_expectancy=life,
        net_income=draw(_money_edges(60_000.0)) if working else 0.0,
        income_growth=draw(_GROWTHS),
    )


@st.composite
def bound_markets(draw: st.DrawFn) -> MarketAssumptions:
    def asset() -> AssetClass:
        return AssetClass(draw(_RATES), draw(_VOLATILITIES))

    return MarketAssumptions(
        stocks=asset(),
        bonds=asset(),
        cash=asset(),
        inflation_mean=draw(_RATES),
        inflation_volatility=draw(_VOLATILITIES),
        correlations=draw(_CORRELATIONS),
        return_model=draw(st.sampled_from(ReturnModel)),
        degrees_of_freedom=draw(st.sampled_from([*validation.DEGREES_OF_FREEDOM_BOUNDS, 5.0])),
    )


@st.composite
def bound_households(draw: st.DrawFn) -> Household:
    """A valid household with every number at or near a bound (or typical), under the
    fixed horizon: its ages run from 0 to the maximum, which mortality refuses (a plan
    from age 0 would outlast the tables' 100 years)."""
    people = tuple(draw(st.lists(bound_adults(), min_size=1, max_size=2)))
    first = people[0]
    horizon = max(a.life_expectancy - a.current_age for a in people)
    last = min(first.current_age + horizon - 1, validation.MAX_AGE - 1)
    shares = draw(
        st.sampled_from([(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (0.6, 0.4, 0.0)])
    )
    account = Account(
        balance=draw(_money_edges(100_000.0)),
        monthly_contribution=0.0,
        stock_share=shares[0],
        bond_share=shares[1],
        cash_share=shares[2],
    )
    income = Income(
        amount=draw(_money_edges(20_000.0)),
        start_age=draw(st.sampled_from(sorted({first.current_age, last}))),
        end_age=None,
        adult=0,
        indexed_to_inflation=draw(st.booleans()),
        growth=draw(_GROWTHS),
    )
    charge = Charge(
        amount=draw(_money_edges(12_000.0)),
        end_age=None,
        indexed_to_inflation=draw(st.booleans()),
    )
    household = Household(
        adults=people,
        accounts=(account,),
        incomes=(income,) if draw(st.booleans()) else (),
        charges=(charge,) if draw(st.booleans()) else (),
        goals=Goals(
            capital_goal=draw(_money_edges(200_000.0)),
            retirement_spending=draw(_positive_money_edges(40_000.0)),
        ),
        risk_aversion=draw(_RISK_AVERSIONS),
        market=draw(bound_markets()),
        lifetimes=Lifetimes.FIXED_HORIZON,
    )
    if any(a.retirement_age > a.current_age for a in people) and draw(st.booleans()):
        # Save (nearly) the most a year leaves: the cap validation enforces.
        most = validation.largest_yearly_saving(household)
        monthly = rounding.round_money(min(most / 12 * 0.99, validation.MAX_MONEY / 2))
        household = replace(household, accounts=(replace(account, monthly_contribution=monthly),))
    pays = bool(household.incomes) and income.amount > 0
    if not (account.balance or pays or any(a.net_income for a in people)):
        household = replace(household, accounts=(replace(account, balance=1.0),))
    return household
