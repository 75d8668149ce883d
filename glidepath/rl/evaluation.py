"""Judge a trained policy on held-out lives against every other strategy: the evaluation.

- Held-out lives: the scenarios of ``seed``. A score that ranks uses the evaluation lives
  of the household's hash, :func:`evaluation_seed_for_hash` (the same lives for every
  model of the hash); the training draws its markets under another spawn key,
  :data:`glidepath.rl.lives.TRAINING_SPAWN_KEY`, so no life was seen in training.
- Common random numbers: the engine's ``simulate`` runs the policy, the rules of thumb
  (``glidepath.rl.gate.BASELINES``: own plan, 4 % rule, glide path, VPW, guardrails,
  Merton-style rule, floor and upside) and the dynamic-programming optimum when it
  exists, year by year on the same draws.
- The gate (``glidepath.rl.gate``, shared with the Optimize answer): ``passed_gate`` when
  the policy's CE beats the BEST OTHER strategy's (highest CE among the rules and the
  optimum) by more than 2 paired standard errors. Only then should a trained policy be
  recommended. ``versus_rule`` is the policy against the Merton-style rule alone: the
  bar for "the recipe learns", which the gate no longer is where the optimum is exact.
- ``score`` is the policy's CE (annual, today's money), the registry's ranking key; every
  strategy's CE is also given as a share of the optimum's when the optimum ran.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from stable_baselines3.common.policies import ActorCriticPolicy

from glidepath.engine.cashflows import build_schedule
from glidepath.engine.objective import Objective
from glidepath.engine.result_cache import BASELINE_RESULTS
from glidepath.engine.run import ComparisonResult, SimulationSettings, simulate
from glidepath.engine.strategies import Strategy
from glidepath.errors import InvalidArgument
from glidepath.household.model import Household

from .gate import OPTIMUM, gate, other_strategies, paired_difference
from .model_io import load_policy
from .policy_strategy import POLICY_STRATEGY_NAME, PolicyStrategy

# Spawn key of the evaluation lives of a hash ("HASH" in ASCII): the training streams
# never use it, so these lives are held out from every training.
HASH_EVALUATION_SPAWN_KEY = 0x48415348


def evaluation_seed_for_hash(model_hash: str) -> int:
    """The seed of the evaluation lives shared by every model of ``model_hash``.

    Scores that rank must be comparable: two models of one household scored on lives
    chosen by their own trainers' seeds differ by the luck of those lives as much as by
    their quality. Derived from the hash alone, every model of the hash meets the same
    lives (common random numbers), in every process.
    """
    sequence = np.random.SeedSequence(int(model_hash, 16), spawn_key=(HASH_EVALUATION_SPAWN_KEY,))
    return int(sequence.generate_state(1, dtype=np.uint32)[0])


RULE = "merton"
MAX_LIVES = 200_000


@dataclass(frozen=True)
class StrategyScore:
    """Mirrors glidepath.common.v1.StrategyScore."""

    strategy: str
    ce_consumption: float
    ce_standard_error: float
    ce_share_of_optimum: float | None
    success_probability: float
    capital_goal_probability: float


@dataclass(frozen=True)
class PairedComparison:
    """CE of ``strategy`` minus CE of ``baseline`` on the same lives, with its paired SE."""

    strategy: str
    baseline: str
    difference: float
    standard_error: float


@dataclass(frozen=True)
class Evaluation:
    """Mirrors glidepath.common.v1.ModelEvaluation (plus the comparison with the rule)."""

    score: float
    held_out_lives: int
    # The best OTHER strategy (highest CE among the rules and the optimum where it ran):
    # the one the policy had to beat, and the one recommended when it did not.
    best_baseline: str
    improvement: float
    improvement_standard_error: float
    passed_gate: bool
    optimum_ce_consumption: float | None
    strategies: tuple[StrategyScore, ...]
    # The policy against the Merton-style rule (the learning bar), paired on the same lives.
    versus_rule: PairedComparison
    # The policy against every other strategy of the run, paired on the same lives: a
    # benchmark's bar may name its own baseline (a simplified reference, say).
    versus_others: tuple[PairedComparison, ...] = ()

    def versus(self, name: str) -> PairedComparison:
        for comparison in self.versus_others:
            if comparison.baseline == name:
                return comparison
        raise KeyError(name)

    def by_name(self, name: str) -> StrategyScore:
        for s in self.strategies:
            if s.strategy == name:
                return s
        raise KeyError(name)


def evaluate_strategy(
    household: Household,
    candidate: Strategy,
    *,
    lives: int,
    seed: int,
    include_optimum: bool = True,
) -> Evaluation:
    """Evaluate ``candidate`` (any engine strategy) against every other strategy.

    ``include_optimum=False`` leaves the optimum out of the run and of the gate (a cheaper
    check that a candidate beats the rules); the stored evaluation always includes it.
    """
    if not 2 <= lives <= MAX_LIVES:
        raise InvalidArgument.field("lives", f"must be in [2, {MAX_LIVES}]")
    others = other_strategies(household, include_optimum=include_optimum)
    names: list[Strategy | str] = [candidate, *others]
    result = simulate(
        household,
        names,
        SimulationSettings(paths=lives, seed=seed, keep_path_utilities=True),
        cache=BASELINE_RESULTS,
    )
    return evaluation_of(household, candidate.name, others, result)


def evaluation_of(
    household: Household, candidate: str, others: Sequence[str], result: ComparisonResult
) -> Evaluation:
    """The evaluation of ``candidate`` against ``others`` from a run of them all (kept
    path utilities): one home for it, so that the simulation service's judgement of a
    policy yields the very evaluation :func:`evaluate_strategy` gives on the same lives."""
    objective = Objective.for_schedule(build_schedule(household))
    utilities = {
        m.name: m.path_utilities for m in result.strategies if m.path_utilities is not None
    }
    ces = {m.name: m.certainty_equivalent.value for m in result.strategies}
    optimum_ce = ces.get(OPTIMUM)
    verdict = gate(objective, candidate, ces, utilities, others)
    versus_others = tuple(
        PairedComparison(
            candidate,
            name,
            *paired_difference(objective, utilities[candidate], utilities[name]),
        )
        for name in utilities
        if name != candidate
    )
    scores = tuple(
        StrategyScore(
            strategy=m.name,
            ce_consumption=m.certainty_equivalent.value,
            ce_standard_error=m.certainty_equivalent.standard_error,
            ce_share_of_optimum=(m.certainty_equivalent.value / optimum_ce if optimum_ce else None),
            success_probability=m.success_probability.value,
            capital_goal_probability=(
                m.goal_probability.value if m.goal_probability is not None else 1.0
            ),
        )
        for m in result.strategies
    )
    return Evaluation(
        score=ces[candidate],
        held_out_lives=result.n_paths,
        best_baseline=verdict.best_other,
        improvement=verdict.difference,
        improvement_standard_error=verdict.standard_error,
        passed_gate=verdict.passed,
        optimum_ce_consumption=optimum_ce,
        strategies=scores,
        versus_rule=next(c for c in versus_others if c.baseline == RULE),
        versus_others=versus_others,
    )


def evaluate_policy(
    household: Household,
    policy: ActorCriticPolicy,
    *,
    lives: int,
    seed: int,
    include_optimum: bool = True,
) -> Evaluation:
    strategy = PolicyStrategy(policy, build_schedule(household), POLICY_STRATEGY_NAME)
    return evaluate_strategy(
        household, strategy, lives=lives, seed=seed, include_optimum=include_optimum
    )


def evaluate(household: Household, model_zip: bytes, *, lives: int, seed: int) -> Evaluation:
    """The training service's evaluation of a saved model (loaded without unpickling)."""
    policy = load_policy(model_zip, household)
    return evaluate_policy(household, policy, lives=lives, seed=seed)
