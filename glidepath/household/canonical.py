"""The canonical form and hash of a household: the model registry's key.

Two households share a hash exactly when they pose the same planning problem, so that a
model trained for one is the right model for the other. Hence:
- **covered**: every input that changes the environment or the reward: ages, incomes,
  charges, spending targets, the portfolio, goals, risk aversion, market assumptions;
- **not covered**: names and labels, and the kind of an income (pension or other): the
  engine pays every kind alike, so the kind is normalised to ``PENSION`` (the field stays
  in the form, so hashes computed before this rule keep their value for pensions);
  episodes, seeds and path counts are not part of a household at all, so they cannot
  reach the hash;
- **defaults filled in**: the form is built from the domain object, where every default
  is explicit, so an omitted field and its default written out hash alike;
- **rounded** (:mod:`glidepath.household.rounding`): money to 3 significant figures,
  rates and fractions to 4 decimals, risk aversion and degrees of freedom to 4
  significant figures, ages exact, ``-0.0`` as ``0.0``;
- **order-insensitive collections sorted**: incomes, charges and spending phases;
  accounts are merged into one portfolio (the engine invests them as one): balances
  and contributions added, shares weighted by balance (by contribution when every
  balance is 0, equally when those are 0 too), so two accounts and their merged
  equivalent share a hash;
- **adults keep their order**: the first adult's age is the household's clock and
  incomes refer to adults by index, so swapping adults is a different household;
- **equivalent spellings normalised**: a charge starting at or before the household's
  current age starts "now" (``start_age`` None); an income starting before its adult's
  current age starts at that age; ``income_growth`` of an adult with no net income is 0;
  ``degrees_of_freedom`` is the default under the lognormal model, which ignores it;
- **lifetimes**: the mode, the survivor's spending fraction, each income's survivor
  fraction and the spending floor are always written (defaults filled in); an explicit
  mortality table is written from the adult's current age on (earlier ages never reach
  the plan), each q to 4 significant figures. A household from before these fields
  existed keeps its meaning (fixed horizon, no survivor, no floor): those values are left
  out of the form, so its form is the one it had and its hash moved only through the
  schema version;
- **annuities**: written only when the household has an offer (its defaults filled in:
  ``from_age`` the first adult's retirement age, or now if that has passed; a couple's
  ``survivor_fraction`` 1), so a household without one keeps the form and hash it had;
  ``only_at_from_age`` only when true, so an offer open every year keeps its hash too;
- **claiming windows**: an income's ``claiming`` is written only when it has one, so an
  income without a window keeps the form and hash it had; its earliest age from the
  adult's age now, an adjustment that no age of the window applies written as 0;
- **market regimes**: written only under ``RETURN_MODEL_REGIME_SWITCHING`` (the
  turbulent regime and the switching probabilities, defaults filled in and rounded like
  the market's own fields), so every other household keeps the form and hash it had;
  ``observable`` only when true, so unseen regimes keep the form they had before it;
- **schema version** folded in (``SCHEMA``, from :mod:`glidepath.versions`): the engine's
  meaning of these fields and the RL policy's layout; bump one whenever it changes, so
  that no incompatible model is ever reused.

The text hashed is JSON with sorted keys, compact separators, ASCII only; floats are
rendered by ``repr`` (shortest round-trip form, identical on every platform and Python
version). The hash is the first 16 lowercase hex characters of its SHA-256 — never
Python's ``hash()``, never protobuf bytes.

:func:`canonicalize` returns the rounded household itself: the training service trains
on exactly that, so "same hash" really means "same environment".
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from enum import Enum
from fractions import Fraction
from typing import Any, TypeVar

from glidepath.household import rounding
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
from glidepath.household.validation import validate
from glidepath.versions import HOUSEHOLD_SCHEMA_VERSION, POLICY_LAYOUT_VERSION

_T = TypeVar("_T")

SCHEMA = f"glidepath.household/{HOUSEHOLD_SCHEMA_VERSION}+policy/{POLICY_LAYOUT_VERSION}"
HASH_HEX_CHARS = 16
# Fields that are for people to read: never part of the canonical form.
LABEL_FIELDS = frozenset({"name", "label"})

_DEFAULT_DEGREES_OF_FREEDOM = MarketAssumptions().degrees_of_freedom


def household_hash(household: Household) -> str:
    """The registry key: first 16 lowercase hex chars of SHA-256 of the canonical JSON."""
    digest = hashlib.sha256(canonical_json(household).encode("ascii")).hexdigest()
    return digest[:HASH_HEX_CHARS]


def canonical_json(household: Household) -> str:
    """Sorted keys, compact separators, ASCII: the exact text the hash is taken of."""
    return json.dumps(
        canonical_form(household),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        allow_nan=False,
    )


def canonical_form(household: Household) -> dict[str, Any]:
    """The canonical household as plain JSON-ready data, with the schema version.

    Validates first (raising InvalidArgument): only a sane household has a hash.
    """
    form = _plain(canonicalize(household))
    assert isinstance(form, dict)
    return {"schema": SCHEMA, **_without_schema_1_defaults(form)}


# Fields added by schema 2 and the values that give a household the meaning it had before
# them: left out of the form at those values, so such a household's form is the one it
# had and its hash moved through the schema version alone.
_SCHEMA_1_MEANING: dict[str, dict[str, Any]] = {
    "household": {
        "lifetimes": Lifetimes.FIXED_HORIZON.value,
        "survivor_spending_fraction": Household(adults=()).survivor_spending_fraction,
    },
    "adults": {"mortality_table": None},
    "incomes": {"survivor_fraction": 0.0, "claiming": None},
    "goals": {"essential_fraction": 0.0},
}


def _without_schema_1_defaults(form: dict[str, Any]) -> dict[str, Any]:
    def drop(item: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in item.items() if k not in defaults or v != defaults[k]}

    out = dict(form)
    if form["lifetimes"] == Lifetimes.FIXED_HORIZON.value:
        # Validation holds the survivor's spending at its default there (nobody survives).
        out = drop(form, _SCHEMA_1_MEANING["household"])
    out["adults"] = [drop(a, _SCHEMA_1_MEANING["adults"]) for a in form["adults"]]
    out["incomes"] = [drop(i, _SCHEMA_1_MEANING["incomes"]) for i in form["incomes"]]
    out["goals"] = drop(form["goals"], _SCHEMA_1_MEANING["goals"])
    if out.get("annuities") is None:  # no annuity market: the form it had before the offer
        out.pop("annuities", None)
    elif not out["annuities"].get("only_at_from_age"):  # open every year: the form before
        out["annuities"] = {k: v for k, v in out["annuities"].items() if k != "only_at_from_age"}
    if form["market"].get("regimes") is None:  # no regimes: the market's form before them
        out["market"] = {k: v for k, v in form["market"].items() if k != "regimes"}
    elif not form["market"]["regimes"].get("observable", False):
        # unseen regimes (the default): the form regimes had before the option
        regimes = {k: v for k, v in form["market"]["regimes"].items() if k != "observable"}
        out["market"] = {**form["market"], "regimes": regimes}
    return out


def canonicalize(household: Household) -> Household:
    """The rounded, normalised household (labels dropped) that the hash describes.

    Validates first; the result is valid too, and canonicalizing it again changes nothing.
    """
    validate(household)
    return rounded(household)


def rounded(household: Household) -> Household:
    """:func:`canonicalize` without the validation, for a household known to be sane.

    Validation itself needs it: a rule that depends on several amounts at once (the
    contributions against what is left of the income) is checked on the rounded
    household, so that the canonical form of a valid household is valid too.
    """
    adults = tuple(_adult(a) for a in household.adults)
    merged = merge_accounts(household.accounts)
    return Household(
        adults=adults,
        accounts=() if merged is None else (_account(merged),),
        incomes=_sorted(_income(i, adults) for i in household.incomes),
        charges=_sorted(_charge(c, adults[0].current_age) for c in household.charges),
        spending_phases=tuple(
            sorted(
                (
                    SpendingPhase(p.start_age, rounding.round_money(p.annual_spending))
                    for p in household.spending_phases
                ),
                key=lambda p: p.start_age,
            )
        ),
        goals=Goals(
            capital_goal=rounding.round_money(household.goals.capital_goal),
            retirement_spending=rounding.round_money(household.goals.retirement_spending),
            essential_fraction=rounding.round_rate(household.goals.essential_fraction),
        ),
        risk_aversion=rounding.round_parameter(household.risk_aversion),
        market=_market(household.market),
        lifetimes=household.lifetimes,
        survivor_spending_fraction=rounding.round_rate(household.survivor_spending_fraction),
        annuities=_annuities(household),
    )


def _annuities(household: Household) -> AnnuityOffer | None:
    """The offer with its defaults filled in: purchases from the first adult's retirement
    age (an age already passed means from now), a couple's survivor fraction 1."""
    offer = household.annuities
    if offer is None:
        return None
    couple = len(household.adults) == 2
    return AnnuityOffer(
        from_age=max(offer.purchase_age(household), household.start_age),
        money_worth_ratio=rounding.round_rate(offer.money_worth_ratio),
        indexed_to_inflation=offer.indexed_to_inflation,
        survivor_fraction=rounding.round_rate(offer.survivor_share()) if couple else None,
        only_at_from_age=offer.only_at_from_age,
    )


def merge_accounts(accounts: Sequence[Account]) -> Account | None:
    """All accounts as the one portfolio the engine invests; None when there are none.

    Sums are exact (``math.fsum``, and rational arithmetic for the weighted shares), so
    the result does not depend on the accounts' order, and an account split in two
    (amounts adding up exactly) merges back to the same portfolio. Shares are weighted
    by balance; when every balance is 0, by monthly contribution (that is where
    the money will go); when those are 0 too, equally. Labels are dropped.
    """
    if not accounts:
        return None
    balances = [a.balance for a in accounts]
    contributions = [a.monthly_contribution for a in accounts]
    if math.fsum(balances) > 0:
        weights = balances
    elif math.fsum(contributions) > 0:
        weights = contributions
    else:
        weights = [1.0] * len(accounts)
    total_weight = sum((Fraction(w) for w in weights), Fraction(0))

    def weighted(share: str) -> float:
        exact = sum(
            (
                Fraction(w) * Fraction(getattr(a, share))
                for w, a in zip(weights, accounts, strict=True)
            ),
            Fraction(0),
        )
        return float(exact / total_weight)

    return Account(
        balance=math.fsum(balances),
        monthly_contribution=math.fsum(contributions),
        stock_share=weighted("stock_share"),
        bond_share=weighted("bond_share"),
        cash_share=weighted("cash_share"),
    )


def _adult(adult: Adult) -> Adult:
    net_income = rounding.round_money(adult.net_income)
    return Adult(
        current_age=adult.current_age,
        retirement_age=adult.retirement_age,
        life_expectancy=adult.life_expectancy,
        net_income=net_income,
        income_growth=rounding.round_rate(adult.income_growth) if net_income else 0.0,
        mortality_table=(
            None if adult.mortality_table is None else _table(adult.mortality_table, adult)
        ),
    )


def _table(table: MortalityTable, adult: Adult) -> MortalityTable:
    """From the current age on (the earlier ages never reach the plan), q rounded."""
    skip = adult.current_age - table.first_age
    return MortalityTable(
        first_age=adult.current_age,
        q=tuple(rounding.round_parameter(q) for q in table.q[skip:]),
    )


def _account(account: Account) -> Account:
    stock, bond, cash = rounding.round_shares(
        (account.stock_share, account.bond_share, account.cash_share)
    )
    return Account(
        balance=rounding.round_money(account.balance),
        monthly_contribution=rounding.round_money(account.monthly_contribution),
        stock_share=stock,
        bond_share=bond,
        cash_share=cash,
    )


def _income(income: Income, adults: Sequence[Adult]) -> Income:
    return Income(
        amount=rounding.round_money(income.amount),
        start_age=max(income.start_age, adults[income.adult].current_age),
        end_age=income.end_age,
        adult=income.adult,
        kind=IncomeKind.PENSION,  # a label for people: no kind changes a simulated figure
        indexed_to_inflation=income.indexed_to_inflation,
        growth=rounding.round_rate(income.growth),
        survivor_fraction=rounding.round_rate(income.survivor_fraction),
        claiming=_claiming(income, adults),
    )


def _claiming(income: Income, adults: Sequence[Adult]) -> ClaimingWindow | None:
    """The window as it can still be used: from the adult's age now (an age passed can no
    longer be chosen), an adjustment no age of it can apply written as 0."""
    window = income.claiming
    if window is None:
        return None
    earliest = max(window.earliest_age, adults[income.adult].current_age)
    early = window.early_adjustment if earliest < income.start_age else 0.0
    late = window.late_adjustment if window.latest_age > income.start_age else 0.0
    return ClaimingWindow(
        earliest_age=earliest,
        latest_age=window.latest_age,
        early_adjustment=rounding.round_rate(early),
        late_adjustment=rounding.round_rate(late),
    )


def _charge(charge: Charge, household_age: int) -> Charge:
    starts_now = charge.start_age is None or charge.start_age <= household_age
    return Charge(
        amount=rounding.round_money(charge.amount),
        end_age=charge.end_age,
        start_age=None if starts_now else charge.start_age,
        indexed_to_inflation=charge.indexed_to_inflation,
    )


def _asset(asset: AssetClass) -> AssetClass:
    return AssetClass(
        expected_return=rounding.round_rate(asset.expected_return),
        volatility=rounding.round_rate(asset.volatility),
    )


def _regimes(market: MarketAssumptions) -> RegimeSwitching | None:
    regimes = market.switching
    if regimes is None:
        return None
    t = regimes.turbulent
    return RegimeSwitching(
        turbulent=MarketRegime(
            stocks=_asset(t.stocks),
            bonds=_asset(t.bonds),
            cash=_asset(t.cash),
            inflation_mean=rounding.round_rate(t.inflation_mean),
            inflation_volatility=rounding.round_rate(t.inflation_volatility),
            correlations=rounding.round_correlations(t.correlations),
        ),
        calm_to_turbulent=rounding.round_rate(regimes.calm_to_turbulent),
        turbulent_to_calm=rounding.round_rate(regimes.turbulent_to_calm),
        observable=bool(regimes.observable),
    )


def _market(market: MarketAssumptions) -> MarketAssumptions:
    student_t = market.return_model is ReturnModel.STUDENT_T
    return MarketAssumptions(
        stocks=_asset(market.stocks),
        bonds=_asset(market.bonds),
        cash=_asset(market.cash),
        inflation_mean=rounding.round_rate(market.inflation_mean),
        inflation_volatility=rounding.round_rate(market.inflation_volatility),
        correlations=rounding.round_correlations(market.correlations),
        return_model=market.return_model,
        degrees_of_freedom=(
            rounding.round_parameter(market.degrees_of_freedom)
            if student_t
            else _DEFAULT_DEGREES_OF_FREEDOM
        ),
        regimes=_regimes(market),
    )


def _sorted(items: Iterable[_T]) -> tuple[_T, ...]:
    """Order by canonical text, so any input order gives the same tuple."""
    return tuple(sorted(items, key=lambda item: json.dumps(_plain(item), sort_keys=True)))


def _plain(value: object) -> object:
    """Dataclasses to dicts (labels left out), tuples to lists, enums to their values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.name not in LABEL_FIELDS
        }
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    return value
