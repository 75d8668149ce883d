"""Several compatible models: Optimize scores them on common lives and serves the best.

Over three real processes. A household's registry holds a hostile model scored 1e300 (put
there by hand: the registry refuses it on upload), a poor usable one declaring 1e300 as
well, and a plain one with no score. Optimize asks
for the top few, quarantines the hostile one, scores the other two on the household's
evaluation lives (``evaluation_seed_for_hash``: the same lives for every model of the
hash) and serves the better one, whatever they declared. The score it computed is
recorded as the verified evaluation of the model that had none; the next call serves
the same model from cached scores, and the quarantined model is never offered again.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from cli_support import EPHEMERAL_PORTS
from e2e_support import (
    failure,
    household,
    household_hash_of,
    nan_weights,
    optimize,
    policy_zip,
    request,
    store_by_hand,
    upload_model,
    wild_weights,
    zero_weights,
)

from glidepath.cli.peers import REGISTRY, SIMULATION
from glidepath.cli.stack import LocalStack, local_stack
from glidepath.common.v1 import model_pb2
from glidepath.household.canonical import canonicalize
from glidepath.registry.v1 import registry_pb2, registry_pb2_grpc
from glidepath.rl.evaluation import evaluate_policy, evaluation_seed_for_hash
from glidepath.rl.model_io import load_policy
from glidepath.rpc.channel import open_channel
from glidepath.rpc.status import error_reason
from glidepath.simulation.v1 import simulation_pb2 as pb
from simulation_service import convert

pytestmark = pytest.mark.slow

SCORE_LIVES = 500
QUICK_EPISODES = 60


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    env = {
        "TRAINING_EVAL_LIVES": "500",
        "OPTIMIZE_PROFILE_PATHS": "500",
        "OPTIMIZE_SCORE_LIVES": str(SCORE_LIVES),
    }
    with local_stack(tmp_path_factory.mktemp("ranked"), ports=EPHEMERAL_PORTS, env=env) as up:
        yield up


def stored(stack: LocalStack, ref: model_pb2.ModelRef) -> model_pb2.ModelMetadata:
    channel = open_channel(stack.address(REGISTRY))
    try:
        stub = registry_pb2_grpc.ModelRegistryStub(channel)
        reply = stub.GetModel(registry_pb2.GetModelRequest(ref=ref), timeout=10)
        return reply.model  # type: ignore[no-any-return]
    finally:
        channel.close()


def quick(message: pb.OptimizeRequest) -> pb.OptimizeRequest:
    message.episodes = QUICK_EPISODES
    message.min_episodes = 50
    return message


def test_the_best_model_on_common_lives_is_served_whatever_was_declared(
    stack: LocalStack,
) -> None:
    message = household(risk_aversion=2.5)
    model_hash = household_hash_of(message)
    registry = stack.address(REGISTRY)
    wild_zip, plain_zip = policy_zip(wild_weights()), policy_zip(zero_weights())
    hostile = store_by_hand(
        stack.layout.models, model_hash, 1000, policy_zip(nan_weights()), score=1e300
    )
    wild = upload_model(registry, model_hash, 900, wild_zip, score=1e300).model
    plain = upload_model(registry, model_hash, 800, plain_zip).model

    # The truth, computed here on the same lives the simulation service must use.
    seed = evaluation_seed_for_hash(model_hash)
    household_ = canonicalize(convert.household(message, True))  # what the hash describes
    truth = {
        zip_.sha256: evaluate_policy(
            household_, load_policy(data), lives=SCORE_LIVES, seed=seed
        ).score
        for zip_, data in ((wild, wild_zip), (plain, plain_zip))
    }
    best = max(truth, key=lambda sha: truth[sha])

    first = optimize(
        stack.address(SIMULATION), quick(request(message, pretrained=True, fallback=False))
    )
    answer = first.answer()
    assert answer.model.sha256 == best
    unusable = [e for e in first.events if e.stage == pb.OPTIMIZE_STAGE_MODEL_UNUSABLE]
    assert [e.model.episodes for e in unusable] == [1000]
    scoring = [e.message for e in first.events if e.stage == pb.OPTIMIZE_STAGE_SCORING]
    assert len(scoring) == 2 and wild.file_name in scoring[1] and plain.file_name in scoring[1]
    assert "scoring" in {t.stage for t in answer.timings}

    # The model without a verified score now has the one computed on the common lives.
    recorded = stored(stack, plain.ref).evaluation
    assert recorded.seed == seed and recorded.held_out_lives == SCORE_LIVES
    assert recorded.score == pytest.approx(truth[plain.sha256], rel=1e-12)
    # The hostile model is kept, listed with its reason, never offered again.
    assert stored(stack, hostile.ref).quarantine_reason

    again = optimize(
        stack.address(SIMULATION), quick(request(message, pretrained=True, fallback=False))
    )
    assert again.answer().model.sha256 == best
    assert "MODEL_UNUSABLE" not in again.stages
    assert "scoring (cached)" in {t.stage for t in again.answer().timings}


def test_without_fallback_a_quarantined_model_is_failed_precondition(
    stack: LocalStack,
) -> None:
    message = household(risk_aversion=2.9)
    store_by_hand(stack.layout.models, household_hash_of(message), 900, policy_zip(nan_weights()))
    reasons = []
    for _ in range(2):  # the first call quarantines it, the second finds only that
        error, _ = failure(
            stack.address(SIMULATION), quick(request(message, pretrained=True, fallback=False))
        )
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error.details()
        assert "\n" not in (error.details() or "")
        reasons.append(error_reason(error))
    assert reasons == ["INVALID_MODEL", "MODEL_QUARANTINED"]
    assert "is quarantined" in (error.details() or "")
