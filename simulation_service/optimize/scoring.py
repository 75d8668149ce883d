"""Score a candidate model on its household's evaluation lives, as a verified evaluation.

Why: ranking must never trust what an uploader declares. When several compatible models
exist, Optimize scores each itself on the lives ``evaluation_seed_for_hash`` derives from
the household's hash: every model of one hash meets the same lives (common random
numbers), so their certainty-equivalents compare without the luck of each trainer's own
lives. The evaluation is the one the training service stores (the policy against every
other strategy on held-out lives, ``glidepath.rl.evaluation``, in the one message form of
``glidepath.rl.evaluation_message``), so the registry can keep it as the model's verified
evaluation. A policy whose score is not a finite number is unusable.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from glidepath.common.v1 import model_pb2
from glidepath.household.model import Household
from glidepath.rl.evaluation_message import evaluation_message

if TYPE_CHECKING:
    from stable_baselines3.common.policies import ActorCriticPolicy


def score_policy(
    household: Household, policy: ActorCriticPolicy, lives: int, seed: int
) -> model_pb2.ModelEvaluation:
    """The policy's evaluation on ``lives`` lives of ``seed``; UnusablePolicy if not finite."""
    from glidepath.rl.evaluation import evaluate_policy
    from glidepath.rl.policy_strategy import UnusablePolicy

    evaluation = evaluate_policy(household, policy, lives=lives, seed=seed)
    if not math.isfinite(evaluation.score):
        raise UnusablePolicy(f"the policy's score on the evaluation lives is {evaluation.score}")
    return evaluation_message(evaluation, seed)
