"""The canonical hash: what changes it, what does not, and that it never drifts."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import fields, is_dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from household_support import (
    EXAMPLE_JSON,
    MONEY_FIELDS,
    PARAMETER_FIELDS,
    RATE_FIELDS,
    SHARE_FIELDS,
    TABLE_Q,
    couple,
    example,
    households,
    retiree,
    rich,
    rich_annuities,
    rich_claiming,
    rich_lives,
    rich_regimes,
)
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from glidepath.errors import InvalidArgument
from glidepath.household import model
from glidepath.household.canonical import (
    LABEL_FIELDS,
    SCHEMA,
    canonical_form,
    canonical_json,
    canonicalize,
    household_hash,
    merge_accounts,
)
from glidepath.household.convert import household_from_json, household_to_json
from glidepath.household.model import (
    Account,
    Adult,
    Charge,
    Household,
    Income,
    IncomeKind,
    Lifetimes,
    MarketAssumptions,
    MarketRegime,
    ReturnModel,
)
from glidepath.household.rounding import round_money, round_rate, round_shares
from glidepath.household.validation import table_life_expectancy, validate

# Golden hashes. They pin the canonical form: if one of these changes, a model trained
# before the change would be served for a different environment. Changing them is only
# allowed together with bumping a version in glidepath/versions.py.
GOLDEN = {
    "example": "9dc70ff2c094dfa9",
    "retiree": "ea35311e1275d1a1",
    "rich": "8f445206442d0435",
    "rich_lives": "f0befe7af8313eb9",
    "couple": "e20d1a1cb7038afa",
    # An annuity offer (added without a schema bump: households without one kept theirs).
    "rich_annuities": "0fc67f11b18becbd",
    "rich_regimes": "3b0615f90e2d0633",
}
# Schema 2 (lifetimes, life tables, survivor fractions, the floor) moved every hash: a
# household from before keeps its meaning when it says "fixed_horizon" (no survivor, no
# floor), its form then spells nothing new out, and the schema it folds in is 2. Policy
# layout 2 (what the agent observes under lifetimes), 3 (the annuity action), 4 (the
# claiming action), 5 (the household's parameters observed) and 6 (a deferral bounded by
# the cash on hand) moved every hash again.
GOLDEN_SCHEMA = "glidepath.household/2+policy/6"
# Fields the hash leaves out on purpose besides labels (the engine pays every income kind
# alike). Leaving the kind out moved only households with an INCOME_KIND_OTHER income
# ("rich" was 0f0872ad0e373df2); each now shares the hash of its all-pension twin, the
# same environment, so no model can be served for another one and no version was bumped.
IGNORED_FIELDS = frozenset({"kind"})
KNOWN = {
    "example": example,
    "retiree": retiree,
    "rich": rich,
    "rich_lives": rich_lives,
    "couple": couple,
    "rich_annuities": rich_annuities,
    "rich_regimes": rich_regimes,
}

Path_ = tuple[str | int, ...]


def is_valid(household: Household) -> bool:
    try:
        validate(household)
    except InvalidArgument:
        return False
    return True


# --------------------------------------------------------------------------- golden values


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_hashes(name: str) -> None:
    assert SCHEMA == GOLDEN_SCHEMA, "schema bumped: recompute GOLDEN on purpose"
    assert household_hash(KNOWN[name]()) == GOLDEN[name]


# Schema 1's golden hashes: a household from before the lifetimes fields, told to keep
# its fixed horizon, keeps its form (fixed horizon, no table, no survivor fractions, no
# floor are left out of it).
GOLDEN_SCHEMA_1 = {
    "example": "c2b3813891e9d924",
    "retiree": "bf9820b0db5b6107",
    "rich": "74cd5dc6aac672ce",
}


@pytest.mark.parametrize("name", sorted(GOLDEN_SCHEMA_1))
def test_a_household_from_before_changed_only_its_schema(name: str) -> None:
    form = canonical_form(replace(KNOWN[name](), lifetimes=Lifetimes.FIXED_HORIZON))
    form["schema"] = "glidepath.household/1+policy/1"
    text = json.dumps(form, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    assert hashlib.sha256(text.encode("ascii")).hexdigest()[:16] == GOLDEN_SCHEMA_1[name]


def test_hash_is_16_lowercase_hex_of_the_canonical_json() -> None:
    import hashlib

    household = example()
    digest = hashlib.sha256(canonical_json(household).encode("ascii")).hexdigest()
    assert household_hash(household) == digest[:16]
    assert re.fullmatch(r"[0-9a-f]{16}", household_hash(household))


def test_canonical_json_is_sorted_compact_ascii_with_schema() -> None:
    text = canonical_json(replace(example(), name="Zoë"))
    assert text.isascii() and ": " not in text and ", " not in text
    form = json.loads(text)
    assert form["schema"] == SCHEMA
    assert text == json.dumps(form, sort_keys=True, separators=(",", ":"))
    assert "Zo" not in text and "Alex" not in text and "Mortgage" not in text
    assert form == canonical_form(example())


def test_same_hash_in_other_processes_and_hash_seeds() -> None:
    code = (
        "import sys; sys.path.insert(0, 'tests');"
        "import household_support as s;"
        "from glidepath.household.canonical import household_hash as h;"
        "print(h(s.example()), h(s.rich()))"
    )
    root = Path(__file__).resolve().parent.parent
    seen = set()
    for seed in ("0", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        seen.add(done.stdout.strip())
    assert seen == {f"{household_hash(example())} {household_hash(rich())}"}


def test_invalid_household_has_no_hash() -> None:
    with pytest.raises(InvalidArgument):
        household_hash(replace(example(), risk_aversion=-1.0))


# --------------------------------------------------------------------------- what does not matter


@settings(max_examples=50, deadline=None)
@given(households(), st.randoms(use_true_random=False))
def test_order_of_collections_does_not_matter(household: Household, rng: random.Random) -> None:
    def shuffled(items: tuple[Any, ...]) -> tuple[Any, ...]:
        out = list(items)
        rng.shuffle(out)
        return tuple(out)

    permuted = replace(
        household,
        incomes=shuffled(household.incomes),
        charges=shuffled(household.charges),
        spending_phases=shuffled(household.spending_phases),
        accounts=shuffled(household.accounts),
    )
    assert household_hash(permuted) == household_hash(household)


@settings(max_examples=50, deadline=None)
@given(households(), st.data())
def test_an_account_split_in_two_shares_the_hash(household: Household, data: st.DataObject) -> None:
    assume(household.accounts)
    index = data.draw(st.integers(0, len(household.accounts) - 1))
    whole = household.accounts[index]
    # With no balance and no contribution anywhere the shares are weighted per account
    # (documented), which splitting changes on purpose; the rule under test is the other.
    assume(any(a.balance or a.monthly_contribution for a in household.accounts))
    # Amounts on the grid are whole numbers, so the two parts add up exactly.
    balance_part = float(data.draw(st.integers(0, int(whole.balance))))
    contribution_part = float(data.draw(st.integers(0, int(whole.monthly_contribution))))
    first = replace(whole, balance=balance_part, monthly_contribution=contribution_part)
    second = replace(
        whole,
        balance=whole.balance - balance_part,
        monthly_contribution=whole.monthly_contribution - contribution_part,
        label="the other half",
    )
    accounts = (*household.accounts[:index], first, second, *household.accounts[index + 1 :])
    split = replace(household, accounts=accounts)
    assume(is_valid(split))
    assert household_hash(split) == household_hash(household)


def test_merged_accounts_weight_shares_by_balance() -> None:
    merged = merge_accounts(
        [Account(300.0, 10.0, 1.0, 0.0, 0.0), Account(100.0, 30.0, 0.0, 0.0, 1.0)]
    )
    assert merged == Account(400.0, 40.0, 0.75, 0.0, 0.25)
    by_contribution = merge_accounts(
        [Account(0.0, 10.0, 1.0, 0.0, 0.0), Account(0.0, 30.0, 0.0, 1.0, 0.0)]
    )
    assert by_contribution == Account(0.0, 40.0, 0.25, 0.75, 0.0)
    assert merge_accounts([]) is None


def test_two_accounts_and_their_merged_equivalent_share_the_hash() -> None:
    household = example()
    two = replace(
        household,
        accounts=(Account(60000.0, 500.0, 1.0, 0.0, 0.0), Account(40000.0, 300.0, 0.0, 1.0, 0.0)),
    )
    merged = replace(household, accounts=(Account(100000.0, 800.0, 0.6, 0.4, 0.0),))
    assert household_hash(two) == household_hash(merged) == household_hash(household)


def relabelled(household: Household, text: str) -> Household:
    def walk(obj: Any) -> Any:
        if is_dataclass(obj) and not isinstance(obj, type):
            changes = {
                f.name: text if f.name in LABEL_FIELDS else walk(getattr(obj, f.name))
                for f in fields(obj)
            }
            return replace(obj, **changes)
        if isinstance(obj, tuple):
            return tuple(walk(item) for item in obj)
        return obj

    result = walk(household)
    assert isinstance(result, Household)
    return result


@settings(max_examples=40, deadline=None)
@given(households(), st.text(max_size=20))
def test_names_and_labels_do_not_matter(household: Household, text: str) -> None:
    assert household_hash(relabelled(household, text)) == household_hash(household)


@settings(max_examples=40, deadline=None)
@given(households())
def test_the_income_kind_does_not_matter(household: Household) -> None:
    """The engine pays every kind alike, so the kind stays out of the hash."""
    for kind in IncomeKind:
        other = replace(household, incomes=tuple(replace(i, kind=kind) for i in household.incomes))
        assert household_hash(other) == household_hash(household)
        assert canonicalize(other) == canonicalize(household)


def nudge(household: Household, rng: random.Random, scale: float) -> Household:
    """Move every number by less than ``scale`` times half its rounding unit.

    With scale < 1 the rounded values cannot change (the drawn households sit on the
    rounding grid); with scale > 1 they do, which makes arbitrary (off-grid) inputs.
    """
    money, rate, parameter = 0.5e-3 / 1.0 * 0.8, 0.5e-4 * 0.8, 0.5e-4 * 0.8

    fixed = household.lifetimes is model.Lifetimes.FIXED_HORIZON

    def number(name: str, value: float) -> float:
        if fixed and name in {"survivor_fraction", "survivor_spending_fraction"}:
            return value  # only a survivor under mortality has them: nudged, refused
        if name == "q":  # a life table's one-year death probabilities; the last stays 1
            return value if value == 1.0 else value * (1 + rng.uniform(-1, 1) * parameter / 10)
        if name in MONEY_FIELDS:
            # 3 significant figures: half a unit is at least 0.5/999 of the value.
            return value * (1 + rng.uniform(-1, 1) * money * scale)
        if name in RATE_FIELDS:
            step = rng.uniform(-1, 1) * rate * scale
            bounded = "volatility" in name or name.endswith("fraction")
            return value + (abs(step) if value <= 0 and bounded else step)
        if name in PARAMETER_FIELDS:
            return value * (1 + rng.uniform(-1, 1) * parameter / 10 * scale)
        raise AssertionError(f"unclassified number field {name}")

    def walk(obj: Any, name: str = "") -> Any:
        if isinstance(obj, Account):
            shares = {n: getattr(obj, n) for n in SHARE_FIELDS}
            largest = max(shares, key=lambda n: shares[n])
            other = rng.choice([n for n in SHARE_FIELDS if n != largest])
            step = rng.uniform(0, 1) * rate * scale
            shares[largest] -= step
            shares[other] += step
            return replace(
                obj,
                balance=number("balance", obj.balance),
                monthly_contribution=number("monthly_contribution", obj.monthly_contribution),
                **shares,
            )
        if isinstance(obj, MarketAssumptions | MarketRegime):
            rows = [list(r) for r in obj.correlations]
            for i in range(4):
                for j in range(i + 1, 4):
                    rows[i][j] = rows[j][i] = rows[i][j] + rng.uniform(-1, 1) * rate * scale
            changes = {
                f.name: walk(getattr(obj, f.name), f.name)
                for f in fields(obj)
                if f.name != "correlations"
            }
            return replace(obj, correlations=tuple(tuple(r) for r in rows), **changes)
        if is_dataclass(obj) and not isinstance(obj, type):
            return replace(obj, **{f.name: walk(getattr(obj, f.name), f.name) for f in fields(obj)})
        if isinstance(obj, tuple):
            return tuple(walk(item, name) for item in obj)
        if isinstance(obj, float):
            return number(name, obj)
        return obj

    result = walk(household)
    assert isinstance(result, Household)
    return result


@settings(max_examples=60, deadline=None)
@given(households(), st.randoms(use_true_random=False))
def test_inputs_within_the_rounding_share_the_hash(
    household: Household, rng: random.Random
) -> None:
    # The canonical household sits on the rounding grid, merged portfolio included (sums
    # and weighted shares of grid values are not on the grid themselves).
    on_grid = canonicalize(household)
    nudged = nudge(on_grid, rng, scale=0.9)
    # A value on a validation bound (degrees of freedom 2.1) nudged below it is refused
    # before any hash is computed: only valid nudges are a claim about the hash.
    assume(is_valid(nudged))
    assert household_hash(nudged) == household_hash(household)


@pytest.mark.parametrize("make", [rich, rich_lives])
def test_nudging_moves_every_number(make: Any) -> None:
    household = make()
    nudged = nudge(household, random.Random(7), scale=0.9)
    assert household_hash(nudged) == household_hash(household)
    # Shares move in pairs (one of three stays), so they are checked by the sum only;
    # under fixed_horizon the survivor fractions stay (any other value is refused).
    fixed = {"survivor_fraction", "survivor_spending_fraction"}
    if household.lifetimes is model.Lifetimes.MORTALITY:
        fixed = set()
    numbers = [
        p
        for p, _, name in leaves_of(household)
        if isinstance(get(household, p), float) and name not in {*SHARE_FIELDS, *fixed}
    ]
    assert numbers and [p for p in numbers if get(nudged, p) == get(household, p)] == []
    table, moved_table = household.adults[1].mortality_table, nudged.adults[1].mortality_table
    if table is not None:
        assert moved_table is not None
        q, moved = table.q, moved_table.q
        assert all(a != b for a, b in zip(q[:-1], moved[:-1], strict=True))


@settings(max_examples=60, deadline=None)
@given(households(), st.randoms(use_true_random=False))
def test_canonical_household_is_valid_idempotent_and_same_hash(
    household: Household, rng: random.Random
) -> None:
    off_grid = nudge(household, rng, scale=50.0)
    assume(is_valid(off_grid))
    canonical = canonicalize(off_grid)
    validate(canonical)
    assert canonicalize(canonical) == canonical
    assert household_hash(canonical) == household_hash(off_grid)


def test_defaults_left_out_or_written_out_share_the_hash() -> None:
    minimal = household_from_json(EXAMPLE_JSON.read_text())
    explicit_text = household_to_json(minimal)
    assert '"riskAversion": 3.0' in explicit_text and '"correlations"' in explicit_text
    assert household_hash(household_from_json(explicit_text)) == household_hash(minimal)
    spelled = replace(minimal, market=MarketAssumptions(), risk_aversion=3)
    assert household_hash(spelled) == household_hash(minimal)


def test_equivalent_spellings_share_the_hash() -> None:
    base = example()
    mortgage = base.charges[0]
    for start in (30, 40):  # at or before the household's age 40: "from now"
        same = replace(base, charges=(replace(mortgage, start_age=start),))
        assert household_hash(same) == household_hash(base)
    pension = retiree().incomes[0]
    early = replace(retiree(), incomes=(replace(pension, start_age=60),))
    assert household_hash(early) == household_hash(retiree())
    no_income_growth = replace(
        retiree(), adults=(replace(retiree().adults[0], income_growth=0.02),)
    )
    assert household_hash(no_income_growth) == household_hash(retiree())
    lognormal_dof = replace(base, market=replace(base.market, degrees_of_freedom=9.0))
    assert household_hash(lognormal_dof) == household_hash(base)


def test_swapping_adults_is_a_different_household() -> None:
    household = rich()
    swapped = replace(
        household,
        adults=household.adults[::-1],
        incomes=tuple(replace(i, adult=1 - i.adult) for i in household.incomes),
    )
    validate(swapped)
    assert household_hash(swapped) != household_hash(household)


# --------------------------------------------------------------------------- what matters

MODEL_CLASSES = (
    Household,
    Adult,
    Income,
    Charge,
    model.SpendingPhase,
    Account,
    model.AssetClass,
    MarketAssumptions,
    model.Goals,
    model.MortalityTable,
    model.AnnuityOffer,
    model.ClaimingWindow,
    MarketRegime,
    model.RegimeSwitching,
)
CLASS_NAMES = {cls.__name__ for cls in MODEL_CLASSES}


def test_model_classes_are_all_walked() -> None:
    found = {
        obj
        for obj in vars(model).values()
        if isinstance(obj, type) and dataclasses.is_dataclass(obj)
    }
    assert found == set(MODEL_CLASSES)


def leaf_fields() -> set[tuple[str, str]]:
    """Every (class, field) holding a value rather than other model objects, labels aside."""
    leaves = set()
    for cls in MODEL_CLASSES:
        for f in fields(cls):
            annotation = str(f.type)
            nested = any(re.search(rf"\b{name}\b", annotation) for name in CLASS_NAMES)
            if f.name not in LABEL_FIELDS | IGNORED_FIELDS and not nested:
                leaves.add((cls.__name__, f.name))
    return leaves


def test_every_float_field_has_a_documented_rounding() -> None:
    float_fields = {
        f.name for cls in MODEL_CLASSES for f in fields(cls) if str(f.type) in {"float"}
    }
    classified = MONEY_FIELDS | RATE_FIELDS | PARAMETER_FIELDS | set(SHARE_FIELDS)
    assert float_fields == classified


def leaves_of(obj: Any, path: Path_ = ()) -> Iterator[tuple[Path_, str, str]]:
    for f in fields(obj):
        value = getattr(obj, f.name)
        if f.name in LABEL_FIELDS | IGNORED_FIELDS:
            continue
        if is_dataclass(value):
            yield from leaves_of(value, (*path, f.name))
        elif isinstance(value, tuple) and value and is_dataclass(value[0]):
            for i, item in enumerate(value):
                yield from leaves_of(item, (*path, f.name, i))
        else:
            yield (*path, f.name), type(obj).__name__, f.name


def get(obj: Any, path: Path_) -> Any:
    for step in path:
        obj = obj[step] if isinstance(step, int) else getattr(obj, step)
    return obj


def put(obj: Any, path: Path_, value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(head, int):
        items = list(obj)
        items[head] = put(items[head], rest, value)
        return tuple(items)
    return replace(obj, **{head: put(getattr(obj, head), rest, value)})


def beyond_rounding(household: Household, path: Path_) -> list[Household]:
    """Changes of the field at ``path`` well beyond the rounding, keeping other rules."""
    name = path[-1]
    value = get(household, path)
    if name in SHARE_FIELDS:
        account = get(household, path[:-1])
        out = []
        for other in SHARE_FIELDS:
            if other != name:
                for step in (0.1, -0.1):
                    moved = replace(
                        account,
                        **{
                            name: getattr(account, name) + step,
                            other: getattr(account, other) - step,
                        },
                    )
                    out.append(put(household, path[:-1], moved))
        return out
    if name == "q":  # an explicit table: a year of age deadlier, or the last one earlier
        adult_path = path[:-2]
        longer = (*(min(1.0, v * 1.5) for v in value[:-1]), 1.0)
        shorter = (*value[:-2], 1.0)
        return [_retabled(put(household, path, t), adult_path) for t in (longer, shorter)]
    if name == "first_age":
        adult_path = path[:-2]
        return [_retabled(put(household, path, value + d), adult_path) for d in (1, -1, 2)]
    if name == "mortality_table":
        adult = get(household, path[:-1])
        table = model.MortalityTable(adult.current_age, TABLE_Q[-(111 - adult.current_age) :])
        return [_retabled(put(household, path, table), path[:-1])]
    if name == "claiming":  # no window: a window around the default age (a pension's)
        income = get(household, path[:-1])
        window = model.ClaimingWindow(income.start_age - 2, income.start_age + 3)
        pension = replace(income, kind=model.IncomeKind.PENSION, claiming=window)
        return [put(household, path[:-1], pension)]
    if name == "annuities":  # no offer: an offer with its defaults
        return [put(household, path, model.AnnuityOffer())]
    if name == "regimes":  # no regimes: switching, with the default turbulent regime
        switching = put(household, (*path[:-1], "return_model"), ReturnModel.REGIME_SWITCHING)
        return [put(switching, path, model.RegimeSwitching())]
    if name == "correlations":
        out = []
        for step in (0.05, -0.05):
            rows = [list(r) for r in value]
            rows[0][1] = rows[1][0] = rows[0][1] + step
            out.append(put(household, path, tuple(tuple(r) for r in rows)))
        return out
    if isinstance(value, bool):
        candidates: list[Any] = [not value]
    elif isinstance(value, Enum):
        candidates = [m for m in type(value) if m is not value]
    elif value is None:
        candidates = [52, 58, 70, 80]
    elif isinstance(value, int):
        candidates = [value + 1, value - 1, value + 2]
    elif isinstance(value, float):
        candidates = [value * 1.5 + 0.01, value * 0.5, value + 0.1, value - 0.1]
    else:
        raise AssertionError(f"no perturbation for {path}: {value!r}")
    return [put(household, path, c) for c in candidates]


# Refused under fixed_horizon (they would change nothing): changed in rich_lives only.
MORTALITY_ONLY = {"mortality_table", "survivor_fraction", "survivor_spending_fraction"}


def _retabled(household: Household, adult_path: Path_) -> Household:
    """With a changed table, the adult's life expectancy follows it (the table sets it)."""
    adult = get(household, adult_path)
    try:
        life = table_life_expectancy(adult.mortality_table, adult.current_age)
    except (InvalidArgument, ValueError):
        return household
    moved: Household = put(household, (*adult_path, "life_expectancy"), life)
    return moved


def _derived(household: Household, path: Path_) -> bool:
    """An adult's life expectancy beside a table is the table's, not an input."""
    if path[-1] != "life_expectancy" or path[0] != "adults":
        return False
    return get(household, path[:-1]).mortality_table is not None


def test_every_input_field_changes_the_hash() -> None:
    covered: set[tuple[str, str]] = set()
    unchanged = []
    for household in (rich(), rich_lives(), rich_annuities(), rich_claiming(), rich_regimes()):
        base = household_hash(household)
        fixed = household.lifetimes is model.Lifetimes.FIXED_HORIZON
        switching = household.market.regimes is not None
        for path, cls_name, name in leaves_of(household):
            # (rich's lifetimes changes to mortality; rich_lives' could not go back alone,
            # nor rich_regimes' return model: its regimes apply to that model alone, which
            # ignores the degrees of freedom as the lognormal one does)
            skip = name in MORTALITY_ONLY if fixed else name == "lifetimes"
            skip = skip or (switching and name in {"return_model", "degrees_of_freedom"})
            if _derived(household, path) or skip:
                continue
            valid = [h for h in beyond_rounding(household, path) if is_valid(h)]
            assert valid, f"no valid change of {path} to test"
            if household_hash(valid[0]) == base:
                unchanged.append(path)
            covered.add((cls_name, name))
    assert not unchanged, f"the hash ignores {unchanged}"
    # An absent table or annuity offer is a leaf too: giving one changes the hash.
    absent = {
        ("Adult", "mortality_table"),
        ("Household", "annuities"),
        ("Income", "claiming"),
        ("MarketAssumptions", "regimes"),
    }
    assert covered == leaf_fields() | absent


# --------------------------------------------------------------------------- rounding rules


def test_rounding_rules() -> None:
    assert round_money(12345.0) == 12300.0 and round_money(0.0) == 0.0
    assert round_money(999_999_999_999.0) == 1e12
    assert repr(round_money(-0.0)) == "0.0" and repr(round_rate(-0.00001)) == "0.0"
    assert round_rate(0.012345) == 0.0123
    thirds = round_shares((1 / 3, 1 / 3, 1 / 3))
    assert thirds == (0.3334, 0.3333, 0.3333) and sum(thirds) == pytest.approx(1.0, abs=1e-15)
    assert round_shares((0.29, 0.29, 0.42)) == (0.29, 0.29, 0.42)


# --------------------------------------------------------------------------- annuities


def test_no_annuity_offer_keeps_the_form_and_an_offer_is_written_with_its_defaults() -> None:
    household = couple()
    assert "annuities" not in canonical_form(household)
    offered = replace(household, annuities=model.AnnuityOffer())
    form = canonical_form(offered)["annuities"]
    first = household.adults[0]
    assert form == {
        "from_age": first.retirement_age,
        "money_worth_ratio": 0.9,
        "indexed_to_inflation": True,
        "survivor_fraction": 1.0,
    }
    spelled = model.AnnuityOffer(from_age=first.retirement_age, survivor_fraction=1.0)
    assert household_hash(replace(household, annuities=spelled)) == household_hash(offered)
    assert household_hash(offered) != household_hash(household)
    # An age already passed means "from now": the same offer as the current age.
    now = model.AnnuityOffer(from_age=first.current_age)
    past = model.AnnuityOffer(from_age=first.current_age - 5)
    assert household_hash(replace(household, annuities=past)) == household_hash(
        replace(household, annuities=now)
    )


def test_a_single_adults_offer_has_no_survivor_fraction() -> None:
    form = canonical_form(replace(retiree(), annuities=model.AnnuityOffer()))["annuities"]
    assert form["survivor_fraction"] is None


# --------------------------------------------------------------------------- claiming


def test_no_claiming_window_keeps_the_form_and_a_window_is_written_with_its_defaults() -> None:
    household = couple()
    assert all("claiming" not in i for i in canonical_form(household)["incomes"])
    pension = household.incomes[0]
    window = model.ClaimingWindow(pension.start_age - 3, pension.start_age + 3)
    windowed = replace(
        household, incomes=(replace(pension, claiming=window), *household.incomes[1:])
    )
    forms = [i for i in canonical_form(windowed)["incomes"] if "claiming" in i]
    assert [f["claiming"] for f in forms] == [
        {
            "earliest_age": pension.start_age - 3,
            "latest_age": pension.start_age + 3,
            "early_adjustment": 0.0667,
            "late_adjustment": 0.08,
        }
    ]
    assert household_hash(windowed) != household_hash(household)


def test_a_window_is_hashed_as_it_can_still_be_used() -> None:
    household = example()  # 40 now, the pension from 65
    pension = household.incomes[0]

    def window(**fields: Any) -> str:
        claiming = model.ClaimingWindow(**fields)
        return household_hash(replace(household, incomes=(replace(pension, claiming=claiming),)))

    # Only later ages: the early adjustment applies to none of them.
    assert window(earliest_age=65, latest_age=70, early_adjustment=0.05) == window(
        earliest_age=65, latest_age=70, early_adjustment=0.07
    )
    assert window(earliest_age=60, latest_age=65, late_adjustment=0.05) == window(
        earliest_age=60, latest_age=65, late_adjustment=0.07
    )
    assert window(earliest_age=60, latest_age=70, early_adjustment=0.05) != window(
        earliest_age=60, latest_age=70, early_adjustment=0.07
    )
