"""Option B's ladder end to end, over three real service processes (``local_stack``):
each rung serves in turn (the exact model, a near household's model, the family's
generic model, a fine-tuning from a candidate that failed the gate, training from
scratch), and the answer says which.

The tests run in file order on one stack and build on each other: option A trains the
example household's model first; removing a model's file from the registry's directory
takes it out of the registry (the directory is the truth), so a later rung is reached.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cli_support import EPHEMERAL_PORTS
from e2e_support import EPISODES, failure, household, optimize, policy_zip, request, zero_weights
from registry_support import download_bytes, sha256_hex

from glidepath.cli.peers import REGISTRY, SIMULATION
from glidepath.cli.stack import LocalStack, local_stack
from glidepath.common.v1 import household_pb2, model_pb2
from glidepath.registry.v1 import registry_pb2, registry_pb2_grpc
from glidepath.rl.family import family_hash, load_family
from glidepath.rpc.channel import open_channel
from glidepath.simulation.v1 import simulation_pb2 as pb

pytestmark = pytest.mark.slow

FAMILY_HASH = family_hash(load_family())
TIMEOUT = 30.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    env = {
        "TRAINING_EVAL_LIVES": "500",
        "OPTIMIZE_PROFILE_PATHS": "500",
        "RL_SHIPPED_MODELS_DIR": "",  # no shipped generic model: the test places its own
    }
    with local_stack(tmp_path_factory.mktemp("ladder"), ports=EPHEMERAL_PORTS, env=env) as running:
        yield running


@pytest.fixture(scope="module")
def trained(stack: LocalStack) -> pb.OptimizeResult:
    """The example household's own model, trained by option A."""
    return optimize(stack.address(SIMULATION), request(household(), pretrained=False)).answer()


def older(years: int) -> household_pb2.Household:
    """The example household planning again ``years`` birthdays later: another hash."""
    message = household()
    message.adults[0].current_age += years
    return message


def ladder(message: household_pb2.Household, *, fine_tune: int) -> pb.OptimizeRequest:
    out = request(message, pretrained=True)
    out.fine_tune_episodes = fine_tune
    return out


def registry_stub(stack: LocalStack) -> registry_pb2_grpc.ModelRegistryStub:
    return registry_pb2_grpc.ModelRegistryStub(open_channel(stack.address(REGISTRY)))


def remove(stack: LocalStack, ref: model_pb2.ModelRef) -> None:
    (stack.layout.models / f"rl_model_{ref.model_hash}_{ref.episodes}ep.zip").unlink()


def upload_generic(stack: LocalStack, data: bytes, episodes: int) -> model_pb2.ModelMetadata:
    meta = registry_pb2.UploadModelMetadata(
        ref=model_pb2.ModelRef(model_hash=FAMILY_HASH, episodes=episodes),
        size_bytes=len(data),
        sha256=sha256_hex(data),
        algorithm="PPO",
        kind=model_pb2.MODEL_KIND_GENERIC,
        label="default family",
    )
    messages = iter(
        [
            registry_pb2.UploadModelRequest(metadata=meta),
            registry_pb2.UploadModelRequest(chunk=data),
        ]
    )
    model: model_pb2.ModelMetadata = (
        registry_stub(stack).UploadModel(messages, timeout=TIMEOUT).model
    )
    return model


def zero_shot_files(stream_events: list[pb.OptimizeEvent]) -> list[str]:
    return [
        f"rl_model_{e.model.model_hash}_{e.model.episodes}ep.zip"
        for e in stream_events
        if e.stage == pb.OPTIMIZE_STAGE_ZERO_SHOT
    ]


def test_the_exact_model_serves_first(stack: LocalStack, trained: pb.OptimizeResult) -> None:
    stream = optimize(stack.address(SIMULATION), ladder(household(), fine_tune=0))
    assert stream.stages[:3] == ["HASHED", "LOOKING_UP", "MODEL_FOUND"]
    assert "NEAR_MATCHES" not in stream.stages
    answer = stream.answer()
    assert answer.source == pb.MODEL_SOURCE_PRETRAINED
    assert answer.model.ref == trained.model.ref


def test_a_near_household_is_served_by_its_neighbours_model(
    stack: LocalStack, trained: pb.OptimizeResult
) -> None:
    stream = optimize(stack.address(SIMULATION), ladder(older(1), fine_tune=0))
    assert stream.stages[:3] == ["HASHED", "LOOKING_UP", "NEAR_MATCHES"]
    assert zero_shot_files(stream.events) == [trained.model.file_name]
    answer = stream.answer()
    assert answer.source == pb.MODEL_SOURCE_NEAR_MATCH, [e.message for e in stream.events]
    assert answer.model.ref == trained.model.ref
    assert answer.household_hash != trained.household_hash
    # Accepted because it beats every rule of thumb by the gate's margin; the answer's own
    # gate (the dynamic-programming optimum included) still decides what is recommended.
    (verdict,) = [e.message for e in stream.events if e.stage == pb.OPTIMIZE_STAGE_ZERO_SHOT]
    assert verdict.endswith(", accepted") and "against the best rule" in verdict
    assert answer.recommended.strategy == answer.gate.best_baseline or answer.gate.passed
    assert not any(s.startswith("TRAINING") for s in stream.stages)


def test_the_generic_model_serves_a_household_of_its_family(
    stack: LocalStack, trained: pb.OptimizeResult
) -> None:
    _, data = download_bytes(registry_stub(stack), trained.model.ref.model_hash, EPISODES)
    remove(stack, trained.model.ref)  # no near household left
    generic = upload_generic(stack, data, EPISODES)
    assert generic.kind == model_pb2.MODEL_KIND_GENERIC
    stream = optimize(stack.address(SIMULATION), ladder(older(1), fine_tune=0))
    assert zero_shot_files(stream.events) == [generic.file_name]
    answer = stream.answer()
    assert answer.source == pb.MODEL_SOURCE_GENERIC, [e.message for e in stream.events]
    assert answer.model.ref == generic.ref
    remove(stack, generic.ref)


def test_a_candidate_that_fails_the_gate_is_fine_tuned_and_kept(stack: LocalStack) -> None:
    """The rule itself as the generic model (zero corrections) never beats the rules by a
    margin: the ladder fine-tunes it for this household and stores the result."""
    weak = upload_generic(stack, policy_zip(zero_weights()), EPISODES)
    cautious = household(risk_aversion=6.0)  # far from older(3) below: never its near match
    without = optimize(stack.address(SIMULATION), ladder(cautious, fine_tune=0))
    assert zero_shot_files(without.events) == [weak.file_name]
    assert without.answer().source == pb.MODEL_SOURCE_TRAINED_NOW  # 0 skips to scratch

    strict = ladder(older(3), fine_tune=100)
    strict.fallback_to_training = False
    error, refused = failure(stack.address(SIMULATION), strict)
    assert "FINE_TUNING" not in refused.stages  # no training of any kind without fallback
    assert "were not " in (error.details() or "")

    stream = optimize(stack.address(SIMULATION), ladder(older(3), fine_tune=100))
    assert "FINE_TUNING" in stream.stages
    answer = stream.answer()
    assert answer.source == pb.MODEL_SOURCE_FINE_TUNED_NOW, [e.message for e in stream.events]
    assert answer.model.parent == weak.ref
    assert answer.model.ref.episodes == EPISODES + 100
    assert answer.model.episodes_added == 100
    assert answer.model.kind == model_pb2.MODEL_KIND_PROFILE
    # Saved like any other model: planning again finds it as the exact model.
    again = optimize(stack.address(SIMULATION), ladder(older(3), fine_tune=100)).answer()
    assert again.source == pb.MODEL_SOURCE_PRETRAINED
    assert again.model.ref == answer.model.ref


def test_a_household_outside_every_rung_trains_from_scratch(stack: LocalStack) -> None:
    far = household()
    far.adults[0].current_age = 30  # outside the default family (35 to 70), near nobody
    stream = optimize(stack.address(SIMULATION), ladder(far, fine_tune=100))
    assert "ZERO_SHOT" not in stream.stages and "FINE_TUNING" not in stream.stages
    assert stream.stages[:5] == [
        "HASHED",
        "LOOKING_UP",
        "NEAR_MATCHES",
        "NO_COMPATIBLE_MODEL",
        "TRAINING_STARTED",
    ]
    assert stream.answer().source == pb.MODEL_SOURCE_TRAINED_NOW
