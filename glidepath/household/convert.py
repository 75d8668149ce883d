"""Conversion between the wire contract (``glidepath.common.v1.Household``) and the domain.

Proto to domain fills every documented default, so the engine never has to know that a
field was left unset; domain to proto writes every field explicitly, so that
``household_from_proto(household_to_proto(h)) == h`` exactly. What the domain cannot
represent (an unknown enum number, a correlation list that is not 4x4) is reported as
an :class:`InvalidArgument` naming the field, like any other bad input; by default the
result is also validated, so a caller holding a domain ``Household`` holds a sane one.

Required fields and defaults. A field whose absence would silently mean something
nobody intended is required, and an unset one is reported as missing (never read as
0, which would simulate a life from age 0, or a salary or balance of nothing):
- ``adults[i]``: ``current_age``, ``retirement_age``, ``life_expectancy``, and
  ``net_income`` while the adult still works (retirement_age > current_age; for an
  adult retiring now it must be 0 and defaults to 0);
- ``accounts[i].balance``; ``incomes[i].amount`` and ``start_age``;
  ``charges[i].amount``; ``spending_phases[i].start_age`` and ``annual_spending``.
``adults[i].life_expectancy`` is the one exception: with a ``mortality_table`` it must be
left unset, and the table's own life expectancy at the current age (rounded to the
year) takes its place. ``mortality_table.first_age`` is required once a table is given.
Everything else has a default, documented in ``household.proto``: growth rates 0,
monthly contributions 0, the 60/40/0 split when no share is given (once one is given the
others are 0), ``income.adult`` 0 (the first adult), an income or charge indexed to
inflation and paid for life, a charge from now, no capital goal, risk aversion 3, the
market of :class:`~glidepath.household.model.MarketAssumptions`, lifetimes MORTALITY
(random lifetimes, the default law calibrated to ``lifeExpectancy``), survivor fractions
0 (an income stops at its adult's death), a survivor's spending 0.7 of the couple's, no
spending floor. A household file may write ``"lifetimes": "mortality"`` (or
``"fixed_horizon"``) for the enum's names. Presence travels on the wire through proto3
``optional`` (wire compatible with the plain fields it replaced).

Names in errors. A gRPC caller reads proto paths (``household.adults[0].current_age``);
:func:`household_from_json` names each field as a household file spells it
(``adults[0].currentAge``, or ``adults[0].current_age`` in a file written with the
original names, which the JSON mapping accepts too).
"""

from __future__ import annotations

import json
import re
from typing import TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message

from glidepath.common.v1 import household_pb2 as pb
from glidepath.errors import FieldViolation, InvalidArgument
from glidepath.household.json_errors import in_file_words, parse_problem
from glidepath.household.model import (
    ASSET_NAMES,
    DEFAULT_MONEY_WORTH_RATIO,
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
from glidepath.household.validation import listed, table_life_expectancy, validate
from glidepath.text import clip

ROOT = "household"

_INCOME_KINDS = {
    pb.INCOME_KIND_UNSPECIFIED: IncomeKind.PENSION,
    pb.INCOME_KIND_PENSION: IncomeKind.PENSION,
    pb.INCOME_KIND_OTHER: IncomeKind.OTHER,
}
_INCOME_KIND_TO_PB = {
    IncomeKind.PENSION: pb.INCOME_KIND_PENSION,
    IncomeKind.OTHER: pb.INCOME_KIND_OTHER,
}
_RETURN_MODELS = {
    pb.RETURN_MODEL_UNSPECIFIED: ReturnModel.LOGNORMAL,
    pb.RETURN_MODEL_LOGNORMAL: ReturnModel.LOGNORMAL,
    pb.RETURN_MODEL_STUDENT_T: ReturnModel.STUDENT_T,
    pb.RETURN_MODEL_REGIME_SWITCHING: ReturnModel.REGIME_SWITCHING,
}
_RETURN_MODEL_TO_PB = {
    ReturnModel.LOGNORMAL: pb.RETURN_MODEL_LOGNORMAL,
    ReturnModel.STUDENT_T: pb.RETURN_MODEL_STUDENT_T,
    ReturnModel.REGIME_SWITCHING: pb.RETURN_MODEL_REGIME_SWITCHING,
}
_LIFETIMES = {
    pb.LIFETIMES_UNSPECIFIED: Lifetimes.MORTALITY,
    pb.LIFETIMES_MORTALITY: Lifetimes.MORTALITY,
    pb.LIFETIMES_FIXED_HORIZON: Lifetimes.FIXED_HORIZON,
}
_LIFETIMES_TO_PB = {
    Lifetimes.MORTALITY: pb.LIFETIMES_MORTALITY,
    Lifetimes.FIXED_HORIZON: pb.LIFETIMES_FIXED_HORIZON,
}
# The short spellings a household file may use for the enum (``"lifetimes": "mortality"``).
_LIFETIMES_SPELLINGS = {
    mode.value: pb.Lifetimes.Name(number) for mode, number in _LIFETIMES_TO_PB.items()
}
_T = TypeVar("_T", int, float)
_DEFAULT_ACCOUNT = Account(balance=0.0)
_DEFAULT_MARKET = MarketAssumptions()
_DEFAULT_SWITCHING = RegimeSwitching()
_DEFAULT_HOUSEHOLD = Household(adults=())
_DEFAULT_RISK_AVERSION = _DEFAULT_HOUSEHOLD.risk_aversion


# --------------------------------------------------------------------------- proto -> domain


def household_from_proto(message: pb.Household, *, validated: bool = True) -> Household:
    """The domain household for ``message``, defaults filled in.

    Raises one InvalidArgument listing every field that cannot be converted or (when
    ``validated``) that fails validation.
    """
    problems: list[FieldViolation] = []
    lifetimes = _LIFETIMES.get(message.lifetimes)
    if lifetimes is None:
        problems.append(
            FieldViolation(f"{ROOT}.lifetimes", f"unknown lifetimes mode {message.lifetimes}")
        )
        lifetimes = _DEFAULT_HOUSEHOLD.lifetimes
    household = Household(
        adults=tuple(
            _adult(m, f"{ROOT}.adults[{i}]", problems) for i, m in enumerate(message.adults)
        ),
        accounts=tuple(
            _account(m, f"{ROOT}.accounts[{i}]", problems) for i, m in enumerate(message.accounts)
        ),
        incomes=tuple(
            _income(m, f"{ROOT}.incomes[{i}]", problems) for i, m in enumerate(message.incomes)
        ),
        charges=tuple(
            _charge(m, f"{ROOT}.charges[{i}]", problems) for i, m in enumerate(message.charges)
        ),
        spending_phases=tuple(
            _phase(m, f"{ROOT}.spending_phases[{i}]", problems)
            for i, m in enumerate(message.spending_phases)
        ),
        goals=Goals(
            message.goals.capital_goal,
            message.goals.retirement_spending,
            message.goals.essential_fraction,
        ),
        risk_aversion=(
            message.risk_aversion if message.HasField("risk_aversion") else _DEFAULT_RISK_AVERSION
        ),
        market=_market(message.market, f"{ROOT}.market", problems),
        lifetimes=lifetimes,
        survivor_spending_fraction=(
            message.survivor_spending_fraction
            if message.HasField("survivor_spending_fraction")
            else _DEFAULT_HOUSEHOLD.survivor_spending_fraction
        ),
        name=message.name,
        annuities=_annuities(message),
    )
    if problems:
        raise InvalidArgument(listed(problems))
    if validated:
        validate(household)
    return household


def _annuities(message: pb.Household) -> AnnuityOffer | None:
    """The offer, unset fields at their defaults; None when the household has none."""
    if not message.HasField("annuities"):
        return None
    m = message.annuities
    return AnnuityOffer(
        from_age=m.from_age if m.HasField("from_age") else None,
        money_worth_ratio=(
            m.money_worth_ratio if m.HasField("money_worth_ratio") else DEFAULT_MONEY_WORTH_RATIO
        ),
        indexed_to_inflation=m.indexed_to_inflation if m.HasField("indexed_to_inflation") else True,
        survivor_fraction=m.survivor_fraction if m.HasField("survivor_fraction") else None,
        only_at_from_age=m.only_at_from_age if m.HasField("only_at_from_age") else False,
    )


def _annuities_to_proto(offer: AnnuityOffer) -> pb.AnnuityOffer:
    """Unset fields stay unset, so their defaults (which depend on the adults) hold."""
    message = pb.AnnuityOffer(
        money_worth_ratio=offer.money_worth_ratio,
        indexed_to_inflation=offer.indexed_to_inflation,
    )
    if offer.from_age is not None:
        message.from_age = offer.from_age
    if offer.survivor_fraction is not None:
        message.survivor_fraction = offer.survivor_fraction
    if offer.only_at_from_age:
        message.only_at_from_age = True
    return message


def _required(m: Message, name: str, path: str, problems: list[FieldViolation], blank: _T) -> _T:
    """The value of required field ``name``; when unset, a violation and ``blank``."""
    if m.HasField(name):
        value: _T = getattr(m, name)
        return value
    problems.append(FieldViolation(f"{path}.{name}", "is required (missing)"))
    return blank


def _adult(m: pb.Adult, path: str, problems: list[FieldViolation]) -> Adult:
    current = _required(m, "current_age", path, problems, 0)
    retirement = _required(m, "retirement_age", path, problems, 0)
    working = m.HasField("current_age") and m.HasField("retirement_age") and retirement > current
    if working or m.HasField("net_income"):
        income = _required(m, "net_income", path, problems, 0.0)
    else:
        income = 0.0  # retiring now: no earned years, and validation wants exactly 0
    table = _table(m, f"{path}.mortality_table", problems)
    return Adult(
        current_age=current,
        retirement_age=retirement,
        life_expectancy=_life_expectancy(m, table, current, path, problems),
        net_income=income,
        income_growth=m.income_growth,
        mortality_table=table,
        name=m.name,
    )


def _table(m: pb.Adult, path: str, problems: list[FieldViolation]) -> MortalityTable | None:
    if not m.HasField("mortality_table"):
        return None
    t = m.mortality_table
    return MortalityTable(_required(t, "first_age", path, problems, 0), tuple(t.q))


def _life_expectancy(
    m: pb.Adult,
    table: MortalityTable | None,
    current: int,
    path: str,
    problems: list[FieldViolation],
) -> int:
    """Required, except beside a table, which sets it (and then it must be left unset)."""
    if table is None:
        return _required(m, "life_expectancy", path, problems, 0)
    if m.HasField("life_expectancy"):
        problems.append(
            FieldViolation(
                f"{path}.life_expectancy",
                "must be left unset with a mortality_table: the table sets the life expectancy",
            )
        )
        return m.life_expectancy
    try:
        return table_life_expectancy(table, current)
    except (InvalidArgument, ValueError, TypeError):
        return 0  # the table itself is wrong: validation names its fields


def _phase(m: pb.SpendingPhase, path: str, problems: list[FieldViolation]) -> SpendingPhase:
    return SpendingPhase(
        start_age=_required(m, "start_age", path, problems, 0),
        annual_spending=_required(m, "annual_spending", path, problems, 0.0),
        label=m.label,
    )


def _income(m: pb.Income, path: str, problems: list[FieldViolation]) -> Income:
    kind = _INCOME_KINDS.get(m.kind)
    if kind is None:
        problems.append(FieldViolation(f"{path}.kind", f"unknown income kind {m.kind}"))
        kind = IncomeKind.PENSION
    return Income(
        amount=_required(m, "amount", path, problems, 0.0),
        start_age=_required(m, "start_age", path, problems, 0),
        end_age=m.end_age if m.HasField("end_age") else None,
        adult=m.adult,
        kind=kind,
        indexed_to_inflation=(
            m.indexed_to_inflation if m.HasField("indexed_to_inflation") else True
        ),
        growth=m.growth,
        label=m.label,
        survivor_fraction=m.survivor_fraction,
        claiming=_claiming(m, f"{path}.claiming", problems),
    )


def _claiming(m: pb.Income, path: str, problems: list[FieldViolation]) -> ClaimingWindow | None:
    """The claiming window, adjustments unset at their defaults; None when absent."""
    if not m.HasField("claiming"):
        return None
    w = m.claiming
    default = ClaimingWindow(0, 0)
    return ClaimingWindow(
        earliest_age=_required(w, "earliest_age", path, problems, 0),
        latest_age=_required(w, "latest_age", path, problems, 0),
        early_adjustment=(
            w.early_adjustment if w.HasField("early_adjustment") else default.early_adjustment
        ),
        late_adjustment=(
            w.late_adjustment if w.HasField("late_adjustment") else default.late_adjustment
        ),
    )


def _charge(m: pb.Charge, path: str, problems: list[FieldViolation]) -> Charge:
    return Charge(
        amount=_required(m, "amount", path, problems, 0.0),
        end_age=m.end_age if m.HasField("end_age") else None,
        start_age=m.start_age if m.HasField("start_age") else None,
        indexed_to_inflation=(
            m.indexed_to_inflation if m.HasField("indexed_to_inflation") else True
        ),
        label=m.label,
    )


def _account(m: pb.Account, path: str, problems: list[FieldViolation]) -> Account:
    """Shares: all unset means the default split; once one is set, unset ones are 0."""
    shares_given = any(m.HasField(f) for f in ("stock_share", "bond_share", "cash_share"))
    if not shares_given:
        stock, bond, cash = (
            _DEFAULT_ACCOUNT.stock_share,
            _DEFAULT_ACCOUNT.bond_share,
            _DEFAULT_ACCOUNT.cash_share,
        )
    else:
        stock, bond, cash = m.stock_share, m.bond_share, m.cash_share
    return Account(
        balance=_required(m, "balance", path, problems, 0.0),
        monthly_contribution=m.monthly_contribution,
        stock_share=stock,
        bond_share=bond,
        cash_share=cash,
        label=m.label,
    )


def _asset_class(m: pb.AssetClass, default: AssetClass) -> AssetClass:
    return AssetClass(
        expected_return=(
            m.expected_return if m.HasField("expected_return") else default.expected_return
        ),
        volatility=m.volatility if m.HasField("volatility") else default.volatility,
    )


def _market(
    m: pb.MarketAssumptions, path: str, problems: list[FieldViolation]
) -> MarketAssumptions:
    d = _DEFAULT_MARKET
    return_model = _RETURN_MODELS.get(m.return_model)
    if return_model is None:
        problems.append(
            FieldViolation(f"{path}.return_model", f"unknown return model {m.return_model}")
        )
        return_model = d.return_model
    return MarketAssumptions(
        stocks=_asset_class(m.stocks, d.stocks),
        bonds=_asset_class(m.bonds, d.bonds),
        cash=_asset_class(m.cash, d.cash),
        inflation_mean=m.inflation_mean if m.HasField("inflation_mean") else d.inflation_mean,
        inflation_volatility=(
            m.inflation_volatility if m.HasField("inflation_volatility") else d.inflation_volatility
        ),
        correlations=_correlations(list(m.correlations), d, f"{path}.correlations", problems),
        return_model=return_model,
        degrees_of_freedom=(
            m.degrees_of_freedom if m.HasField("degrees_of_freedom") else d.degrees_of_freedom
        ),
        regimes=_regimes(m, f"{path}.regimes", problems),
    )


def _regimes(
    m: pb.MarketAssumptions, path: str, problems: list[FieldViolation]
) -> RegimeSwitching | None:
    """The regimes as given, unset fields at their defaults; None when none is given
    (the domain fills in ``RegimeSwitching()`` under REGIME_SWITCHING)."""
    if not m.HasField("regimes"):
        return None
    r, d = m.regimes, _DEFAULT_SWITCHING
    t, dt = r.turbulent, d.turbulent
    turbulent = MarketRegime(
        stocks=_asset_class(t.stocks, dt.stocks),
        bonds=_asset_class(t.bonds, dt.bonds),
        cash=_asset_class(t.cash, dt.cash),
        inflation_mean=t.inflation_mean if t.HasField("inflation_mean") else dt.inflation_mean,
        inflation_volatility=(
            t.inflation_volatility
            if t.HasField("inflation_volatility")
            else dt.inflation_volatility
        ),
        correlations=_correlations(
            list(t.correlations), dt, f"{path}.turbulent.correlations", problems
        ),
    )
    return RegimeSwitching(
        turbulent=turbulent,
        calm_to_turbulent=(
            r.calm_to_turbulent if r.HasField("calm_to_turbulent") else d.calm_to_turbulent
        ),
        turbulent_to_calm=(
            r.turbulent_to_calm if r.HasField("turbulent_to_calm") else d.turbulent_to_calm
        ),
        observable=r.observable if r.HasField("observable") else d.observable,
    )


def _correlations(
    flat: list[float],
    default: MarketAssumptions | MarketRegime,
    path: str,
    problems: list[FieldViolation],
) -> tuple[tuple[float, ...], ...]:
    n = len(ASSET_NAMES)
    if not flat:
        return default.correlations
    if len(flat) != n * n:
        problems.append(
            FieldViolation(
                path,
                f"expected {n * n} numbers (a {n}x{n} row-major matrix of "
                f"{', '.join(ASSET_NAMES)}), got {len(flat)}",
            )
        )
        return default.correlations
    return tuple(tuple(flat[r * n : (r + 1) * n]) for r in range(n))


# --------------------------------------------------------------------------- domain -> proto


def household_to_proto(household: Household) -> pb.Household:
    """Every field written explicitly (optional ones set), so the round trip is exact."""
    message = pb.Household(
        adults=[_adult_to_proto(a) for a in household.adults],
        accounts=[
            pb.Account(
                balance=a.balance,
                monthly_contribution=a.monthly_contribution,
                stock_share=a.stock_share,
                bond_share=a.bond_share,
                cash_share=a.cash_share,
                label=a.label,
            )
            for a in household.accounts
        ],
        incomes=[_income_to_proto(i) for i in household.incomes],
        charges=[_charge_to_proto(c) for c in household.charges],
        spending_phases=[
            pb.SpendingPhase(
                start_age=p.start_age, annual_spending=p.annual_spending, label=p.label
            )
            for p in household.spending_phases
        ],
        goals=pb.Goals(
            capital_goal=household.goals.capital_goal,
            retirement_spending=household.goals.retirement_spending,
            essential_fraction=household.goals.essential_fraction,
        ),
        risk_aversion=household.risk_aversion,
        market=_market_to_proto(household.market),
        name=household.name,
        lifetimes=_LIFETIMES_TO_PB[household.lifetimes],
        survivor_spending_fraction=household.survivor_spending_fraction,
    )
    if household.annuities is not None:
        message.annuities.CopyFrom(_annuities_to_proto(household.annuities))
    return message


def _adult_to_proto(adult: Adult) -> pb.Adult:
    """With a table, life_expectancy stays unset: the table sets it on the way back."""
    message = pb.Adult(
        current_age=adult.current_age,
        retirement_age=adult.retirement_age,
        net_income=adult.net_income,
        income_growth=adult.income_growth,
        name=adult.name,
    )
    table = adult.mortality_table
    if table is None:
        message.life_expectancy = adult.life_expectancy
    else:
        message.mortality_table.first_age = table.first_age
        message.mortality_table.q.extend(table.q)
    return message


def _income_to_proto(income: Income) -> pb.Income:
    message = pb.Income(
        amount=income.amount,
        start_age=income.start_age,
        adult=income.adult,
        kind=_INCOME_KIND_TO_PB[income.kind],
        indexed_to_inflation=income.indexed_to_inflation,
        growth=income.growth,
        label=income.label,
        survivor_fraction=income.survivor_fraction,
    )
    if income.end_age is not None:
        message.end_age = income.end_age
    if income.claiming is not None:
        w = income.claiming
        message.claiming.CopyFrom(
            pb.ClaimingWindow(
                earliest_age=w.earliest_age,
                latest_age=w.latest_age,
                early_adjustment=w.early_adjustment,
                late_adjustment=w.late_adjustment,
            )
        )
    return message


def _charge_to_proto(charge: Charge) -> pb.Charge:
    message = pb.Charge(
        amount=charge.amount,
        indexed_to_inflation=charge.indexed_to_inflation,
        label=charge.label,
    )
    if charge.end_age is not None:
        message.end_age = charge.end_age
    if charge.start_age is not None:
        message.start_age = charge.start_age
    return message


def _asset_to_proto(a: AssetClass) -> pb.AssetClass:
    return pb.AssetClass(expected_return=a.expected_return, volatility=a.volatility)


def _regimes_to_proto(regimes: RegimeSwitching) -> pb.RegimeSwitching:
    t = regimes.turbulent
    return pb.RegimeSwitching(
        turbulent=pb.MarketRegime(
            stocks=_asset_to_proto(t.stocks),
            bonds=_asset_to_proto(t.bonds),
            cash=_asset_to_proto(t.cash),
            inflation_mean=t.inflation_mean,
            inflation_volatility=t.inflation_volatility,
            correlations=[c for row in t.correlations for c in row],
        ),
        calm_to_turbulent=regimes.calm_to_turbulent,
        turbulent_to_calm=regimes.turbulent_to_calm,
        observable=regimes.observable,
    )


def _market_to_proto(market: MarketAssumptions) -> pb.MarketAssumptions:
    asset = _asset_to_proto
    message = pb.MarketAssumptions(
        stocks=asset(market.stocks),
        bonds=asset(market.bonds),
        cash=asset(market.cash),
        inflation_mean=market.inflation_mean,
        inflation_volatility=market.inflation_volatility,
        correlations=[c for row in market.correlations for c in row],
        return_model=_RETURN_MODEL_TO_PB[market.return_model],
        degrees_of_freedom=market.degrees_of_freedom,
    )
    if market.regimes is not None:
        message.regimes.CopyFrom(_regimes_to_proto(market.regimes))
    return message


# --------------------------------------------------------------------------- JSON


def household_from_json(text: str, *, validated: bool = True) -> Household:
    """Parse the protobuf JSON mapping (lowerCamelCase or original field names).

    A malformed document becomes an InvalidArgument naming the offending field where the
    parser says which, so a JSON file gets the same field-level errors as a gRPC call.
    """
    message = pb.Household()
    spelling = _spelling(text)
    text = _short_lifetimes(text)
    try:
        json_format.Parse(text, message)
    except json_format.ParseError as error:
        # The parser quotes the document (a key, a value): both are clipped.
        field = clip(file_field(_parse_error_field(str(error)), spelling))
        aliases = _LIFETIMES_SPELLINGS if field == "lifetimes" else None
        raise InvalidArgument([parse_problem(str(error), field, spelling, aliases)]) from error
    try:
        return household_from_proto(message, validated=validated)
    except InvalidArgument as error:
        raise InvalidArgument(
            [
                FieldViolation(
                    file_field(v.field, spelling), in_file_words(v.description, spelling)
                )
                for v in error.violations
            ],
            reason=error.reason,
        ) from None


def file_field(path: str, spelling: str = "camel") -> str:
    """A proto path as a household file names it: ``household.adults[0].current_age`` is
    ``adults[0].currentAge`` (``spelling="snake"``: ``adults[0].current_age``); the
    household itself stays ``household``."""
    if path == ROOT or not path.startswith(f"{ROOT}."):
        return path
    rest = path[len(ROOT) + 1 :]
    if spelling == "snake":
        return rest
    return re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), rest)


def _short_lifetimes(text: str) -> str:
    """``"lifetimes": "mortality"`` as the enum's name (``LIFETIMES_MORTALITY``)."""
    try:
        document = json.loads(text)
    except ValueError:
        return text  # the parser reports it
    if not isinstance(document, dict):
        return text
    mode = document.get("lifetimes")
    if not isinstance(mode, str) or mode not in _LIFETIMES_SPELLINGS:
        return text
    document["lifetimes"] = _LIFETIMES_SPELLINGS[mode]
    return json.dumps(document)


def _spelling(text: str) -> str:
    """ "snake" when the document's keys use the proto's original names, else "camel"."""
    try:
        document = json.loads(text)
    except ValueError:
        return "camel"
    return "snake" if any("_" in key for key in _keys(document)) else "camel"


def _keys(value: object) -> list[str]:
    if isinstance(value, dict):
        return [k for k in value if isinstance(k, str)] + [
            key for v in value.values() for key in _keys(v)
        ]
    if isinstance(value, list):
        return [key for v in value for key in _keys(v)]
    return []


def household_to_json(household: Household) -> str:
    """The protobuf JSON mapping of ``household`` (lowerCamelCase keys), every field written."""
    return json_format.MessageToJson(
        household_to_proto(household), always_print_fields_with_no_presence=True, indent=2
    )


_UNKNOWN_FIELD = re.compile(r'no field named "(\w+)" at "(Household[\w.\[\]]*)"')
_AT_PATH = re.compile(r' at "?(Household(?:[.\[][\w.\[\]]*\w\]?)?)')
_PARSE_CHAIN = re.compile(r"Failed to parse (\w+) field")


def _parse_error_field(message: str) -> str:
    """Best-effort proto-style path of the field a json_format error is about."""
    unknown = _UNKNOWN_FIELD.search(message)
    if unknown:
        return _snake_path(f"{unknown.group(2)}.{unknown.group(1)}")
    at = _AT_PATH.search(message)
    if at:
        return _snake_path(at.group(1))
    chain = _PARSE_CHAIN.findall(message)
    if chain and all(not name.isdigit() for name in chain):
        return _snake_path(".".join(["Household", *chain]))
    return ROOT


def _snake_path(path: str) -> str:
    _, _, rest = path.partition(".")
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", lambda m: "_" + m.group(1).lower(), rest)
    return f"{ROOT}.{snake}" if snake else ROOT
