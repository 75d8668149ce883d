"""Score a candidate model on its household's evaluation lives, as a verified evaluation.

Why: ranking must never trust what an uploader declares. When several compatible models
exist, Optimize scores each itself on the lives ``evaluation_seed_for_hash`` derives from
the household's hash: every model of one hash meets the same lives (common random
numbers), so their certainty-equivalents compare without the luck of each trainer's own
lives. The evaluation is the one the training service stores (the policy against every
baseline on held-out lives, ``glidepath.rl.evaluation``), so the registry can keep it as
the model's verified evaluation. A policy whose score is not a finite number is unusable.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from glidepath.common.v1 import model_pb2
from glidepath.household.model import Household

if TYPE_CHECKING:
    from stable_baselines3.common.policies import ActorCriticPolicy

    from glidepath.rl.evaluation import Evaluation


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


def evaluation_message(evaluation: Evaluation, seed: int) -> model_pb2.ModelEvaluation:
    """``glidepath.common.v1.ModelEvaluation`` of an evaluation on the lives of ``seed``."""
    message = model_pb2.ModelEvaluation(
        score=float(evaluation.score),
        held_out_lives=int(evaluation.held_out_lives),
        best_baseline=str(evaluation.best_baseline),
        improvement=float(evaluation.improvement),
        improvement_standard_error=float(evaluation.improvement_standard_error),
        passed_gate=bool(evaluation.passed_gate),
        seed=seed,
    )
    if evaluation.optimum_ce_consumption is not None:
        message.optimum_ce_consumption = float(evaluation.optimum_ce_consumption)
    for s in evaluation.strategies:
        score = message.strategies.add(
            strategy=str(s.strategy),
            ce_consumption=float(s.ce_consumption),
            ce_standard_error=float(s.ce_standard_error),
            success_probability=float(s.success_probability),
            capital_goal_probability=float(s.capital_goal_probability),
        )
        if s.ce_share_of_optimum is not None:
            score.ce_share_of_optimum = float(s.ce_share_of_optimum)
    return message
