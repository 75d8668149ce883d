"""The model committed in models/shipped still works under this code (CI never retrains it).

Whatever file ``make generic-model`` last wrote there: it must load under the current
policy layout (the consumers' own check), be the generic model of the family its
metadata names (hash, canonical specification), and score on held-out households as its
metadata says (the same households and lives, the same CE). A change to the
observations, the actions or the engine that silently changes what the model does fails
here: retrain it (``make generic-model``) and commit the result.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from glidepath.household.canonical import household_hash
from glidepath.models import DEFAULT_POLICY_FAMILY, GENERIC_KIND
from glidepath.rl.family import (
    family_canonical_json,
    family_hash,
    load_family,
)
from glidepath.rl.generic_evaluation import (
    FamilyEvaluation,
    held_out_households,
    score_household,
)
from glidepath.rl.model_io import check_model, load_policy
from glidepath.rl.recipe import POLICY_LAYOUT_VERSION
from model_registry_service import shipped
from model_registry_service.naming import parse_model_file_name
from model_registry_service.storage import sha256_of

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "models" / "shipped"
# Households re-scored per model: enough to catch a change, few enough for CI.
RESCORED = 2
# The same weights on the same lives give the same CE up to floating-point order (another
# CPU's BLAS); any change of what the policy does moves it by far more.
RELATIVE_TOLERANCE = 1e-4


def _models() -> list[Path]:
    return sorted(SHIPPED.glob("rl_model_*.zip"))


def test_the_repository_ships_the_generic_model_of_the_default_family() -> None:
    hashes = {key.model_hash for p in _models() if (key := parse_model_file_name(p.name))}
    assert family_hash(load_family()) in hashes
    # Every shipped zip has its metadata, describing its bytes: none is skipped.
    assert [p for p, _ in shipped.shipped_models(SHIPPED)] == _models()


@pytest.mark.parametrize("path", _models(), ids=lambda p: p.name)
def test_the_shipped_model_loads_under_this_layout_and_scores_as_recorded(path: Path) -> None:
    key = parse_model_file_name(path.name)
    assert key is not None
    record, made_by = shipped.read_metadata(SHIPPED / shipped.metadata_name(key))
    assert record.sha256 == sha256_of(path)
    details = record.details
    assert details.kind == GENERIC_KIND
    assert details.policy_family == DEFAULT_POLICY_FAMILY
    assert details.policy_layout_version == POLICY_LAYOUT_VERSION
    model_zip = path.read_bytes()
    check_model(model_zip)

    family = load_family(ROOT / made_by["family_file"])
    assert family_hash(family) == key.model_hash
    assert details.canonical_parameters_json == family_canonical_json(family)

    recorded = FamilyEvaluation.from_dict(made_by["evaluation"])
    assert details.evaluation_score == pytest.approx(recorded.mean_share)
    drawn = held_out_households(family, len(recorded.households), recorded.seed)
    policy = load_policy(model_zip)
    for household, then in list(zip(drawn, recorded.households, strict=True))[:RESCORED]:
        assert household_hash(household) == then.household_hash
        now = score_household(
            policy, household, lives=recorded.lives, include_optimum=recorded.include_optimum
        )
        assert now.evaluation_seed == then.evaluation_seed
        assert now.best_other == then.best_other
        for name in ("policy_ce", "best_other_ce", "rule_ce"):
            assert getattr(now, name) == pytest.approx(
                getattr(then, name), rel=RELATIVE_TOLERANCE
            ), name
