"""An evaluation as the message the registry stores (``glidepath.common.v1.ModelEvaluation``).

One home for the conversion: the training service stores the evaluation of a model it
trained, and Optimize stores the evaluation it computed when scoring candidates; both are
verified evaluations, so the registry must receive them in one form. The evaluation is
read through protocols, so an evaluator other than ``glidepath.rl.evaluation`` (a test's)
converts the same way, and this module stays light (no torch).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from glidepath.common.v1 import model_pb2


class StrategyLike(Protocol):
    """One strategy's figures (``glidepath.rl.evaluation.StrategyScore``)."""

    @property
    def strategy(self) -> str: ...
    @property
    def ce_consumption(self) -> float: ...
    @property
    def ce_standard_error(self) -> float: ...
    @property
    def ce_share_of_optimum(self) -> float | None: ...
    @property
    def success_probability(self) -> float: ...
    @property
    def capital_goal_probability(self) -> float: ...


class EvaluationLike(Protocol):
    """An evaluation (``glidepath.rl.evaluation.Evaluation``)."""

    @property
    def score(self) -> float: ...
    @property
    def held_out_lives(self) -> int: ...
    @property
    def best_baseline(self) -> str: ...
    @property
    def improvement(self) -> float: ...
    @property
    def improvement_standard_error(self) -> float: ...
    @property
    def passed_gate(self) -> bool: ...
    @property
    def optimum_ce_consumption(self) -> float | None: ...
    @property
    def strategies(self) -> Sequence[StrategyLike]: ...


def evaluation_message(evaluation: EvaluationLike, seed: int) -> model_pb2.ModelEvaluation:
    """``ModelEvaluation`` of an evaluation on the lives of ``seed``."""
    message = model_pb2.ModelEvaluation(
        seed=seed,
        score=float(evaluation.score),
        held_out_lives=int(evaluation.held_out_lives),
        best_baseline=str(evaluation.best_baseline),
        improvement=float(evaluation.improvement),
        improvement_standard_error=float(evaluation.improvement_standard_error),
        passed_gate=bool(evaluation.passed_gate),
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
