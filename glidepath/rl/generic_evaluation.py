"""Score a generic model on households of its family that no training batch drew.

A profile model is judged on one household's held-out lives
(:mod:`glidepath.rl.evaluation`). A generic model serves a family, so it is judged on
``households`` households sampled from the family under a spawn key of their own
(:data:`HELD_OUT_SPAWN_KEY`; training batches draw under
:data:`glidepath.rl.generic.FAMILY_SPAWN_KEY`), each on its own evaluation lives: those
of its household hash (:func:`glidepath.rl.evaluation.evaluation_seed_for_hash`), the
very lives any profile model of that household is scored on, so that the two compare on
common random numbers.

Each household's result is the policy's CE as a share of the best other strategy's CE
on the same lives (the rules of thumb, and the exact optimum where it exists unless
``include_optimum`` is off) and of
the Merton-style rule's; the family's figures are the mean and the worst of those
shares. The mean share is the registry's ranking score of a generic model: it is
dimensionless, unlike a profile model's CE in money, which is fine because only generic
models of one family share a hash.

Everything is reproducible from (model, family, households, lives, seed):
:func:`evaluate_generic` with the figures a metadata file records gives the same result,
which is how the shipped model's test re-scores it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from stable_baselines3.common.policies import ActorCriticPolicy

from glidepath.errors import InvalidArgument
from glidepath.household.canonical import household_hash
from glidepath.household.model import Household

from .evaluation import MAX_LIVES, RULE, evaluate_policy, evaluation_seed_for_hash
from .family import ProfileFamily, sample
from .model_io import load_policy

#: Spawn key of the held-out households of a family ("HOLD" in ASCII).
HELD_OUT_SPAWN_KEY = 0x484F4C44
MAX_HOUSEHOLDS = 1000


@dataclass(frozen=True)
class HouseholdScore:
    """One held-out household: CEs (annual, today's money) and the policy's shares."""

    household_hash: str
    evaluation_seed: int
    policy_ce: float
    best_other: str
    best_other_ce: float
    rule_ce: float
    share_of_best_other: float
    share_of_rule: float


@dataclass(frozen=True)
class FamilyEvaluation:
    """The held-out households' scores and what reproduces them."""

    seed: int  # of the held-out households (not of the lives: each household's hash)
    lives: int
    include_optimum: bool
    households: tuple[HouseholdScore, ...]

    @property
    def mean_share(self) -> float:
        return float(np.mean([h.share_of_best_other for h in self.households]))

    @property
    def worst_share(self) -> float:
        return float(min(h.share_of_best_other for h in self.households))

    def as_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "lives": self.lives,
            "include_optimum": self.include_optimum,
            "mean_share_of_best_other": self.mean_share,
            "worst_share_of_best_other": self.worst_share,
            "households": [asdict(h) for h in self.households],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FamilyEvaluation:
        """The evaluation :meth:`as_dict` wrote; KeyError/TypeError when it is not one."""
        return cls(
            seed=int(data["seed"]),
            lives=int(data["lives"]),
            include_optimum=bool(data["include_optimum"]),
            households=tuple(HouseholdScore(**h) for h in data["households"]),
        )


def held_out_households(family: ProfileFamily, n: int, seed: int) -> list[Household]:
    """``n`` households of ``family`` from ``seed``, drawn apart from every training batch."""
    if not 1 <= n <= MAX_HOUSEHOLDS:
        raise InvalidArgument.field("households", f"must be in [1, {MAX_HOUSEHOLDS}]")
    return sample(family, n, held_out_sample_seed(seed))


def held_out_sample_seed(seed: int) -> int:
    """The seed ``sample`` gets for the held-out households of ``seed``."""
    sequence = np.random.SeedSequence(seed, spawn_key=(HELD_OUT_SPAWN_KEY,))
    return int(sequence.generate_state(1, dtype=np.uint32)[0])


def score_household(
    policy: ActorCriticPolicy, household: Household, *, lives: int, include_optimum: bool
) -> HouseholdScore:
    """The policy on ``household``'s evaluation lives, against every other strategy."""
    model_hash = household_hash(household)
    seed = evaluation_seed_for_hash(model_hash)
    result = evaluate_policy(
        household,
        policy,
        lives=lives,
        seed=seed,
        include_optimum=include_optimum,
    )
    best = result.by_name(result.best_baseline).ce_consumption
    rule = result.by_name(RULE).ce_consumption
    return HouseholdScore(
        household_hash=model_hash,
        evaluation_seed=seed,
        policy_ce=result.score,
        best_other=result.best_baseline,
        best_other_ce=best,
        rule_ce=rule,
        share_of_best_other=result.score / best,
        share_of_rule=result.score / rule,
    )


def evaluate_generic(
    model_zip: bytes,
    family: ProfileFamily,
    *,
    households: int,
    lives: int,
    seed: int,
    include_optimum: bool = True,
) -> FamilyEvaluation:
    """Score ``model_zip`` on ``households`` held-out households of ``family``."""
    if not 2 <= lives <= MAX_LIVES:
        raise InvalidArgument.field("lives", f"must be in [2, {MAX_LIVES}]")
    drawn = held_out_households(family, households, seed)
    policy = load_policy(model_zip)
    return FamilyEvaluation(
        seed=seed,
        lives=lives,
        include_optimum=include_optimum,
        households=tuple(
            score_household(policy, h, lives=lives, include_optimum=include_optimum) for h in drawn
        ),
    )
