"""Score a candidate model on its household's evaluation lives, as a verified evaluation.

Why: ranking must never trust what an uploader declares. When several compatible models
exist, Optimize scores each itself on the lives ``evaluation_seed_for_hash`` derives from
the household's hash: every model of one hash meets the same lives (common random
numbers), so their certainty-equivalents compare without the luck of each trainer's own
lives. The evaluation is the one the training service stores (the policy against every
other strategy on held-out lives, ``glidepath.rl.evaluation``, in the one message form of
``glidepath.rl.evaluation_message``), so the registry can keep it as the model's verified
evaluation. A policy whose score is not a finite number is unusable.

Evaluate once: the score is computed on the canonical household (the one the hash
describes, and the one the training service evaluates a model it trained on), so a
model's verified evaluation is the very score this module would compute, and
:func:`trusted_evaluation` serves it instead of running it again when nothing that
determines it differs: the same lives (seed and number), the same household (the
model's hash is the request's), the same policy layout and the same strategies judged.
Anything else is evaluated again.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from glidepath.common.v1 import model_pb2
from glidepath.household.canonical import canonicalize
from glidepath.household.model import Household
from glidepath.rl.evaluation_message import evaluation_message
from glidepath.rl.gate import POLICY, other_strategies
from glidepath.versions import POLICY_LAYOUT_VERSION

if TYPE_CHECKING:
    from stable_baselines3.common.policies import ActorCriticPolicy


def score_policy(
    household: Household, policy: ActorCriticPolicy, lives: int, seed: int
) -> model_pb2.ModelEvaluation:
    """The policy's evaluation on ``lives`` lives of ``seed``, on the canonical form of
    ``household`` (what its hash describes); UnusablePolicy if not finite."""
    from glidepath.rl.evaluation import evaluate_policy
    from glidepath.rl.policy_strategy import UnusablePolicy

    evaluation = evaluate_policy(canonicalize(household), policy, lives=lives, seed=seed)
    if not math.isfinite(evaluation.score):
        raise UnusablePolicy(f"the policy's score on the evaluation lives is {evaluation.score}")
    return evaluation_message(evaluation, seed)


def trusted_evaluation(
    model: model_pb2.ModelMetadata,
    household: Household,
    household_hash: str,
    lives: int,
    seed: int,
) -> model_pb2.ModelEvaluation | None:
    """The model's verified evaluation when it is the score :func:`score_policy` would
    compute for ``household`` on ``lives`` lives of ``seed``; None when anything that
    determines it may differ (then the model is scored again)."""
    if not model.HasField("evaluation"):
        return None
    evaluation = model.evaluation
    judged = {s.strategy for s in evaluation.strategies}
    same = (
        model.ref.model_hash == household_hash
        and model.policy_layout_version == POLICY_LAYOUT_VERSION
        and evaluation.seed == seed
        and evaluation.held_out_lives == lives
        and judged == {POLICY, *other_strategies(household)}
        and math.isfinite(evaluation.score)
    )
    return evaluation if same else None
