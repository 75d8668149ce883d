"""Evaluate once: a model's evaluation on a hash's evaluation lives is computed once and
serves every later use of it (the training service's stored evaluation, a judgement on
those very lives); an evaluation that may differ in anything is computed again."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest
from rl_support import small_household, tiny_model
from stable_baselines3.common.policies import ActorCriticPolicy

from glidepath.common.v1 import household_pb2, model_pb2
from glidepath.engine.run import SimulationSettings
from glidepath.household.canonical import canonicalize, household_hash
from glidepath.household.model import Household
from glidepath.rl.evaluation import evaluation_seed_for_hash
from glidepath.rl.model_io import load_policy
from glidepath.versions import POLICY_LAYOUT_VERSION
from simulation_service import app
from simulation_service.config import SimulationServiceSettings
from simulation_service.optimize.interrupt import Interrupt
from simulation_service.optimize.judge import judge
from simulation_service.optimize.memo import ScoreCache
from simulation_service.optimize.request import OptimizeJob
from simulation_service.optimize.scoring import score_policy
from simulation_service.work import StopToken, WorkPool

LIVES = 400
SETTINGS = SimulationServiceSettings(score_lives=LIVES, profile_paths=100)
HOUSEHOLD = canonicalize(small_household())
HASH = household_hash(HOUSEHOLD)
SEED = evaluation_seed_for_hash(HASH)


def interrupt() -> Interrupt:
    return Interrupt(StopToken(None, threading.Event()))


@pytest.fixture
def pool() -> Iterator[WorkPool]:
    work = WorkPool(1, 4)
    yield work
    work.shutdown()


@pytest.fixture
def scorings(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per evaluation the scorer actually runs."""
    runs: list[int] = []

    def counted(household: Household, policy: object, lives: int, seed: int) -> object:
        runs.append(lives)
        return score_policy(household, policy, lives, seed)  # type: ignore[arg-type]

    monkeypatch.setattr(app, "score_policy", counted)
    return runs


def job(household: Household = HOUSEHOLD, seed: int = SEED) -> OptimizeJob:
    return OptimizeJob(
        household_message=household_pb2.Household(),
        household=household,
        household_hash=household_hash(household),
        use_pretrained=True,
        episodes=64,
        min_episodes=1,
        fallback_to_training=False,
        settings=SimulationSettings(paths=LIVES, seed=seed),
        training_seed=None,
    )


def policy() -> ActorCriticPolicy:
    return load_policy(tiny_model().model_zip, HOUSEHOLD)


def metadata(evaluation: model_pb2.ModelEvaluation | None = None) -> model_pb2.ModelMetadata:
    """The model as the registry lists it once the training service stored it."""
    model = model_pb2.ModelMetadata(
        ref=model_pb2.ModelRef(model_hash=HASH, episodes=64),
        sha256="ab" * 32,
        policy_layout_version=POLICY_LAYOUT_VERSION,
    )
    if evaluation is not None:
        model.evaluation.CopyFrom(evaluation)
    return model


def test_a_judgement_on_the_hash_lives_is_the_models_score() -> None:
    """One evaluation serves the gate and the score: on the same lives they are equal."""
    stop = StopToken(None, threading.Event())
    judged = judge(HOUSEHOLD, HASH, policy(), SimulationSettings(paths=LIVES, seed=SEED), stop)
    assert judged.evaluation == score_policy(HOUSEHOLD, policy(), LIVES, SEED)
    assert judged.evaluation is not None and judged.evaluation.seed == SEED


def test_the_training_services_evaluation_is_not_run_again(
    pool: WorkPool, scorings: list[int]
) -> None:
    fresh = score_policy(HOUSEHOLD, policy(), LIVES, SEED)
    score = app._scorer(pool, SETTINGS, ScoreCache())
    served = score(job(), metadata(fresh), policy(), interrupt())
    assert scorings == [] and served.cached
    assert served.evaluation == fresh


@pytest.mark.parametrize(
    "untrusted",
    ["other seed", "other lives", "other layout", "unknown layout", "other hash", "fewer"],
)
def test_an_evaluation_that_may_differ_is_run_again(
    pool: WorkPool, scorings: list[int], untrusted: str
) -> None:
    stored = score_policy(HOUSEHOLD, policy(), LIVES, SEED)
    model = metadata(stored)
    if untrusted == "other seed":
        model.evaluation.seed = SEED + 1
    elif untrusted == "other lives":
        model.evaluation.held_out_lives = LIVES * 2
    elif untrusted == "other layout":
        model.policy_layout_version = POLICY_LAYOUT_VERSION - 1
    elif untrusted == "unknown layout":
        model.policy_layout_version = 0
    elif untrusted == "other hash":
        model.ref.model_hash = "0" * 16
    else:  # judged against fewer strategies than today's
        del model.evaluation.strategies[-1]
    model.evaluation.score = 1e300  # what a stale evaluation would rank by
    served = app._scorer(pool, SETTINGS, ScoreCache())(job(), model, policy(), interrupt())
    assert scorings == [LIVES] and not served.cached
    assert served.evaluation == stored


def test_a_model_without_an_evaluation_is_scored_once(pool: WorkPool, scorings: list[int]) -> None:
    score = app._scorer(pool, SETTINGS, ScoreCache())
    first = score(job(), metadata(), policy(), interrupt())
    again = score(job(), metadata(), policy(), interrupt())
    assert scorings == [LIVES] and again.cached
    assert first.evaluation == again.evaluation


def test_a_judgement_on_the_hash_lives_serves_the_score(
    pool: WorkPool, scorings: list[int]
) -> None:
    scores = ScoreCache()
    evaluate = app._evaluator(pool, SETTINGS, scores)
    score = app._scorer(pool, SETTINGS, scores)
    judged = evaluate(job(), metadata(), policy(), interrupt())
    served = score(job(), metadata(), policy(), interrupt())
    assert scorings == [] and served.evaluation == judged.evaluation
    assert served.evaluation == score_policy(HOUSEHOLD, policy(), LIVES, SEED)


@pytest.mark.parametrize("differs", ["seed", "household"])
def test_a_judgement_on_other_lives_or_household_is_no_score(
    pool: WorkPool, scorings: list[int], differs: str
) -> None:
    """Other lives, or a household that is not its own canonical form (the score is the
    canonical household's), leave the score to be computed."""
    scores = ScoreCache()
    raw = replace(HOUSEHOLD, accounts=(replace(HOUSEHOLD.accounts[0], balance=300_000.004),))
    asked = job(seed=SEED + 1) if differs == "seed" else job(raw)
    app._evaluator(pool, SETTINGS, scores)(asked, metadata(), policy(), interrupt())
    scored = replace(asked, settings=SimulationSettings(paths=LIVES, seed=SEED))
    app._scorer(pool, SETTINGS, scores)(scored, metadata(), policy(), interrupt())
    assert scorings == [LIVES]
