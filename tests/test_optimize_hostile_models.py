"""Hostile and broken models never block a household: Optimize over three real processes.

Each test leaves a model under a household's hash the way a careless hand or a damaged
disk would (another layout, NaN weights, finite weights of +-3.4e38 whose actions are NaN,
a pickled object, actions that turn infinite late in life, bytes changed on disk, a file
over the size limit), most with a score of 1e300, and then asks the simulation service
for that household. The registry refuses such files on upload, so they are put in its
directory by hand with a sidecar naming their bytes (a restored backup), which it adopts
without checking them again: the consumer must not trust the store. The answer is
never INTERNAL nor INVALID_ARGUMENT: the stream names the unusable model in one event, the
registry is told to quarantine it, and Optimize moves on to the next model or to
training; without fallback the call fails with FAILED_PRECONDITION and a reason from
errors.proto, in one clean line.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from cli_support import EPHEMERAL_PORTS
from e2e_support import (
    Stream,
    Weights,
    failure,
    foreign_layout,
    household,
    household_hash_of,
    huge_weights,
    late_trap_weights,
    nan_weights,
    optimize,
    policy_zip,
    request,
    store_by_hand,
    trusted_weights,
    upload_model,
    zero_weights,
)
from process_support import ServiceProcess

from glidepath.cli.peers import REGISTRY, SIMULATION, TRAINING
from glidepath.cli.stack import LocalStack, local_stack
from glidepath.common.v1 import household_pb2, model_pb2
from glidepath.registry.v1 import registry_pb2, registry_pb2_grpc
from glidepath.rl.model_io import sample_observations
from glidepath.rpc.channel import open_channel
from glidepath.rpc.status import error_reason
from glidepath.simulation.v1 import simulation_pb2 as pb
from simulation_service.service import SERVICE_NAME

pytestmark = pytest.mark.slow

DECLARED = 1e300
# Small budgets: the fallback trains 60 episodes, accepted by min_episodes 50.
QUICK_EPISODES = 60


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    env = {
        "TRAINING_EVAL_LIVES": "500",
        "OPTIMIZE_PROFILE_PATHS": "500",
        "OPTIMIZE_SCORE_LIVES": "500",
    }
    with local_stack(tmp_path_factory.mktemp("hostile"), ports=EPHEMERAL_PORTS, env=env) as up:
        yield up


def apart(k: int) -> household_pb2.Household:
    """The example household at age 30 + 5k: each test's household is far from every other
    one (distance 0.7), so no test's model is a near match for another's household."""
    message = household()
    message.adults[0].current_age = 30 + 5 * k
    del message.charges[:]  # the example's mortgage ends at 55
    return message


def quick(message: pb.OptimizeRequest) -> pb.OptimizeRequest:
    message.episodes = QUICK_EPISODES
    message.min_episodes = 50
    return message


def unusable_events(stream: Stream) -> list[str]:
    return [e.message for e in stream.events if e.stage == pb.OPTIMIZE_STAGE_MODEL_UNUSABLE]


def assert_one_clean_line(text: str) -> None:
    assert text and "\n" not in text and "\x1b" not in text and "Traceback" not in text
    assert len(text) < 700


def stored_model(stack: LocalStack, ref: model_pb2.ModelRef) -> model_pb2.ModelMetadata:
    channel = open_channel(stack.address(REGISTRY))
    try:
        stub = registry_pb2_grpc.ModelRegistryStub(channel)
        reply = stub.GetModel(registry_pb2.GetModelRequest(ref=ref), timeout=10)
        return reply.model  # type: ignore[no-any-return]
    finally:
        channel.close()


def unhandled(stack: LocalStack) -> list[str]:
    log = stack.layout.log_file(SIMULATION).read_text(errors="replace")
    return [line for line in log.splitlines() if "unhandled_exception" in line]


def pickled_object() -> Weights:
    """Not a tensor: torch's weights_only loader refuses it with a many-line message."""
    return {"mlp_extractor.policy_net.0.weight": datetime.date(2020, 1, 1)}


HOSTILE: dict[str, Callable[[], Weights]] = {
    "another layout": foreign_layout,
    "NaN weights": nan_weights,
    "weights of 3.4e38": huge_weights,
    "a pickled object": pickled_object,
}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_hostile_model_never_blocks_option_b(stack: LocalStack, kind: str) -> None:
    message = apart(list(HOSTILE).index(kind))
    model_hash = household_hash_of(message)
    hostile = store_by_hand(
        stack.layout.models, model_hash, 900, policy_zip(HOSTILE[kind]()), score=DECLARED
    )

    # Without fallback: FAILED_PRECONDITION with a reason a client can act on.
    error, stream = failure(
        stack.address(SIMULATION), quick(request(message, pretrained=True, fallback=False))
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error.details()
    assert error_reason(error) == "INVALID_MODEL"
    assert_one_clean_line(error.details() or "")
    assert "fallback_to_training is off" in (error.details() or "")
    [said] = unusable_events(stream)
    assert said.startswith(f"model {hostile.file_name} is unusable (")
    assert_one_clean_line(said)

    # Quarantined: kept and listed with its reason, never offered again.
    kept = stored_model(stack, hostile.ref)
    assert kept.sha256 == hostile.sha256 and kept.quarantine_reason
    assert_one_clean_line(kept.quarantine_reason)

    # With fallback: it trains, and serves the new model instead.
    trained = optimize(stack.address(SIMULATION), quick(request(message, pretrained=True)))
    answer = trained.answer()
    assert trained.stages[:5] == [
        "HASHED",
        "LOOKING_UP",
        "NEAR_MATCHES",
        "NO_COMPATIBLE_MODEL",
        "TRAINING_STARTED",
    ]
    assert "quarantined" in trained.events[3].message
    assert answer.source == pb.MODEL_SOURCE_TRAINED_NOW
    assert answer.model.sha256 != hostile.sha256

    # And the household is served by option B from now on.
    found = optimize(
        stack.address(SIMULATION), quick(request(message, pretrained=True, fallback=False))
    )
    assert found.answer().model.sha256 == answer.model.sha256
    assert found.answer().source == pb.MODEL_SOURCE_PRETRAINED
    assert unhandled(stack) == []


def test_actions_that_turn_infinite_during_the_evaluation_are_an_unusable_model(
    stack: LocalStack,
) -> None:
    """Finite on the sample observations, infinite in every life's last year."""
    weights = late_trap_weights()
    observations = sample_observations()
    assert not ((observations[:, 0] > 0.975) & (observations[:, 1] < 0.001)).any()
    message = apart(4)
    trap = store_by_hand(
        stack.layout.models, household_hash_of(message), 900, policy_zip(weights), score=DECLARED
    )
    error, stream = failure(
        stack.address(SIMULATION), quick(request(message, pretrained=True, fallback=False))
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error.details()
    assert error_reason(error) == "INVALID_MODEL"
    assert_one_clean_line(error.details() or "")
    [said] = unusable_events(stream)
    assert trap.file_name in said and "NaN or infinite during the evaluation" in said
    assert "EVALUATING" in stream.stages  # it passed the checks, and failed when judged
    assert unhandled(stack) == []


def test_a_model_over_the_size_limit_is_failed_precondition_before_any_download(
    stack: LocalStack, tmp_path: Path
) -> None:
    """RL_MODELS_MAX_BYTES is the one limit; this simulation service is given 4 KiB."""
    message = apart(5)
    data = policy_zip(zero_weights())
    assert len(data) > 4096
    stored = upload_model(stack.address(REGISTRY), household_hash_of(message), 900, data).model
    small = ServiceProcess(
        "simulation_service",
        tmp_path,
        {
            "REGISTRY_ADDR": stack.address(REGISTRY),
            "TRAINING_ADDR": stack.address(TRAINING),
            "RL_MODELS_MAX_BYTES": "4096",
        },
        service_name=SERVICE_NAME,
        timeout=60,
    )
    try:
        error, stream = failure(
            small.address, quick(request(message, pretrained=True, fallback=False))
        )
    finally:
        small.stop()
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error.details()
    assert error_reason(error) == "TOO_LARGE"
    assert "RL_MODELS_MAX_BYTES" in (error.details() or "")
    assert_one_clean_line(error.details() or "")
    assert "DOWNLOADING" not in stream.stages
    [said] = unusable_events(stream)
    assert stored.file_name in said and f"{len(data):,} bytes" in said
    # The main stack (default limit) serves the same model.
    served = optimize(
        stack.address(SIMULATION), quick(request(message, pretrained=True, fallback=False))
    )
    assert served.answer().model.sha256 == stored.sha256


def test_the_stream_and_the_log_say_the_same_of_an_unusable_model(stack: LocalStack) -> None:
    """The simulation service logs each unusable model once, with its SHA-256."""
    message = apart(6)
    bad = store_by_hand(
        stack.layout.models, household_hash_of(message), 900, policy_zip(nan_weights())
    )
    failure(stack.address(SIMULATION), quick(request(message, pretrained=True, fallback=False)))
    lines = [
        json.loads(line)
        for line in stack.layout.log_file(SIMULATION).read_text().splitlines()
        if '"model_unusable"' in line
    ]
    mine = [line for line in lines if line.get("model") == bad.file_name]
    assert mine and mine[0]["sha256"] == bad.sha256
    assert len(mine) == 1 and "NaN" in mine[0]["detail"]


def test_a_model_damaged_after_it_was_stored_is_data_loss_and_quarantined(
    stack: LocalStack,
) -> None:
    """The file changes on disk behind the registry's back (a bad disk, a careless hand)."""
    message = household(risk_aversion=2.35)
    message.adults[0].current_age = 63  # near none of apart(0..6)
    del message.charges[:]
    data = policy_zip(trusted_weights(seed=11))  # bytes no other test loaded (no cache)
    good = upload_model(stack.address(REGISTRY), household_hash_of(message), 900, data).model
    path = stack.layout.models / good.file_name
    damaged = bytearray(path.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    path.write_bytes(bytes(damaged))
    error, stream = failure(
        stack.address(SIMULATION), quick(request(message, pretrained=True, fallback=False))
    )
    assert error.code() == grpc.StatusCode.DATA_LOSS, error.details()
    assert_one_clean_line(error.details() or "")
    [said] = unusable_events(stream)
    assert good.file_name in said and "quarantined in the registry" in said
    assert stored_model(stack, good.ref).quarantine_reason
    assert unhandled(stack) == []
