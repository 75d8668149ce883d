"""A generic model's evaluation on held-out households (glidepath.rl.generic_evaluation)."""

from __future__ import annotations

import functools
from dataclasses import replace

import pytest
from family_support import short_family

from glidepath.errors import InvalidArgument
from glidepath.household.canonical import household_hash
from glidepath.rl.generic import GenericSpec, batch_households, train_generic
from glidepath.rl.generic_evaluation import (
    FamilyEvaluation,
    evaluate_generic,
    held_out_households,
)


@functools.cache
def _model() -> bytes:
    spec = GenericSpec(short_family(), 16, 1, households_per_batch=2, lives_per_household=8)
    return train_generic(spec, lambda _: None, lambda: False).model_zip


def _hashes(seed: int, n: int = 4) -> list[str]:
    return [household_hash(h) for h in held_out_households(short_family(), n, seed)]


def test_held_out_households_are_reproducible_depend_on_the_seed_and_are_not_trained_on() -> None:
    assert _hashes(3) == _hashes(3)
    assert _hashes(3) != _hashes(4)
    trained = {
        household_hash(h) for b in range(20) for h in batch_households(short_family(), 4, 3, b)
    }
    assert not trained & set(_hashes(3))


def _evaluate(**changes: object) -> FamilyEvaluation:
    """Without the optimum unless asked (the optimum's dynamic programme is the slow part)."""
    arguments: dict[str, object] = {
        "family": short_family(),
        "households": 2,
        "lives": 60,
        "seed": 1,
        "include_optimum": False,
    }
    arguments.update(changes)
    return evaluate_generic(_model(), **arguments)  # type: ignore[arg-type]


def test_the_evaluation_is_reproducible_and_each_input_changes_it() -> None:
    base = _evaluate()
    assert base == _evaluate()
    assert len(base.households) == 2
    for h in base.households:
        assert h.share_of_best_other == pytest.approx(h.policy_ce / h.best_other_ce)
        assert h.share_of_rule == pytest.approx(h.policy_ce / h.rule_ce)
    assert base.worst_share <= base.mean_share
    wider = replace(short_family(), risk_aversion=replace(short_family().risk_aversion, high=9.0))
    for changes in (
        {"seed": 2},
        {"lives": 80},
        {"households": 3},
        {"include_optimum": True},
        {"family": wider},
    ):
        assert _evaluate(**changes) != base, changes


def test_the_evaluation_round_trips_through_its_dictionary() -> None:
    evaluation = evaluate_generic(_model(), short_family(), households=2, lives=40, seed=1)
    assert FamilyEvaluation.from_dict(evaluation.as_dict()) == evaluation


@pytest.mark.parametrize(
    ("households", "lives", "field"),
    [(0, 40, "households"), (1001, 40, "households"), (2, 1, "lives")],
)
def test_bad_sizes_are_refused_naming_the_field(households: int, lives: int, field: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        evaluate_generic(_model(), short_family(), households=households, lives=lives, seed=1)
    assert [v.field for v in raised.value.violations] == [field]
