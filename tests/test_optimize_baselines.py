"""The judgement's baselines computed while the model trains: the judgement then runs the
policy alone, and its answer is the one it gives without them."""

from __future__ import annotations

import threading
from dataclasses import replace

from google.protobuf import json_format
from google.protobuf.message import Message
from rl_support import small_household, tiny_model

from glidepath.common.v1 import household_pb2
from glidepath.engine.result_cache import BASELINE_RESULTS
from glidepath.engine.run import SimulationSettings
from glidepath.household.canonical import canonicalize, household_hash
from glidepath.rl.gate import other_strategies
from glidepath.rl.model_io import load_policy
from simulation_service.optimize.baselines import BaselineWarmer
from simulation_service.optimize.interrupt import Interrupt
from simulation_service.optimize.judge import Judgement, judge
from simulation_service.optimize.request import OptimizeJob
from simulation_service.work import StopToken

HOUSEHOLD = canonicalize(small_household())


def job(settings: SimulationSettings) -> OptimizeJob:
    return OptimizeJob(
        household_message=household_pb2.Household(),
        household=HOUSEHOLD,
        household_hash=household_hash(HOUSEHOLD),
        use_pretrained=False,
        episodes=64,
        min_episodes=1,
        fallback_to_training=True,
        settings=settings,
        training_seed=None,
    )


def judged(j: OptimizeJob) -> Judgement:
    policy = load_policy(tiny_model().model_zip, HOUSEHOLD)
    stop = StopToken(None, threading.Event())
    return judge(j.household, j.household_hash, policy, j.settings, stop, profile_paths=100)


def figures(message: Message) -> object:
    """The message's content, the times it reports left out."""

    def strip(value: object) -> object:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "seconds"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(json_format.MessageToDict(message))


def interrupt(cancelled: bool = False) -> Interrupt:
    stopping = threading.Event()
    if cancelled:
        stopping.set()
    return Interrupt(StopToken(None, stopping))


def test_warmed_baselines_leave_the_policy_alone_to_run_and_change_nothing() -> None:
    j = job(SimulationSettings(paths=600, seed=41))
    BASELINE_RESULTS.clear()
    cold = judged(j)
    BASELINE_RESULTS.clear()
    warmer = BaselineWarmer()
    try:
        warmer.start(j, interrupt())
        warmer.wait(j)
        hits = BASELINE_RESULTS.hits
        warm = judged(j)
    finally:
        warmer.shutdown()
    assert BASELINE_RESULTS.hits - hits == len(other_strategies(HOUSEHOLD))
    assert figures(warm.comparison) == figures(cold.comparison) and warm.gate == cold.gate
    assert warm.recommended == cold.recommended and warm.evaluation == cold.evaluation


def test_adaptive_or_cancelled_requests_warm_nothing() -> None:
    adaptive = job(SimulationSettings(paths=600, seed=42, target_standard_error=5.0))
    cancelled = job(SimulationSettings(paths=600, seed=43))
    BASELINE_RESULTS.clear()
    warmer = BaselineWarmer()
    try:
        warmer.start(adaptive, interrupt())
        warmer.start(cancelled, interrupt(cancelled=True))
        warmer.wait(adaptive)
        warmer.wait(cancelled)
    finally:
        warmer.shutdown()
    assert warmer.started == 1  # the adaptive one was never begun
    assert len(BASELINE_RESULTS) == 0


def test_a_request_is_warmed_once_however_often_it_is_asked() -> None:
    j = job(SimulationSettings(paths=600, seed=44))
    other = replace(j, settings=replace(j.settings, seed=45))
    warmer = BaselineWarmer()
    try:
        for asked in (j, j, other):
            warmer.start(asked, interrupt())
        warmer.wait(j)
        warmer.wait(other)
    finally:
        warmer.shutdown()
    assert warmer.started <= 2
