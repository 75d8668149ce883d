"""Helpers for the end-to-end tests: call Optimize on a real stack and read its stream,
and build the model files (usable, broken, hostile) that a registry may hold."""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format
from registry_support import raw_zip, sb3_members, upload
from simulation_support import EXAMPLE

from glidepath.common.v1 import household_pb2, model_pb2
from glidepath.registry.v1 import registry_pb2, registry_pb2_grpc
from glidepath.rpc.channel import bearer, open_channel
from glidepath.simulation.v1 import simulation_pb2 as pb
from glidepath.simulation.v1 import simulation_pb2_grpc

# Small but honest budgets: >= 500 episodes where option B must accept the model, and
# few evaluation lives so the suite stays fast.
EPISODES = 600
EVALUATION_PATHS = 1000
OPTIMIZE_DEADLINE = 240.0


def household(risk_aversion: float | None = None) -> household_pb2.Household:
    """The example household; another risk aversion gives another hash (an unknown one)."""
    message = json_format.Parse(EXAMPLE.read_text(), household_pb2.Household())
    if risk_aversion is not None:
        message.risk_aversion = risk_aversion
    return message


@dataclass
class Stream:
    """What one Optimize call sent: its events in order, and the result."""

    events: list[pb.OptimizeEvent] = field(default_factory=list)
    result: pb.OptimizeResult | None = None

    @property
    def stages(self) -> list[str]:
        return [pb.OptimizeStage.Name(e.stage).removeprefix("OPTIMIZE_STAGE_") for e in self.events]

    def answer(self) -> pb.OptimizeResult:
        assert self.result is not None, self.stages
        return self.result


def optimize(
    address: str,
    request: pb.OptimizeRequest,
    stream: Stream | None = None,
    *,
    token: str | None = None,
) -> Stream:
    """Call Optimize (as the holder of ``token``) and collect the stream; a failed call
    raises grpc.RpcError. Pass ``stream`` to keep the events that arrived before a failure.
    """
    stream = stream if stream is not None else Stream()
    channel = open_channel(address)
    try:
        stub = simulation_pb2_grpc.SimulationServiceStub(channel)
        calls = stub.Optimize(request, timeout=OPTIMIZE_DEADLINE, metadata=bearer(token))
        for message in calls:
            if message.WhichOneof("content") == "event":
                stream.events.append(message.event)
            else:
                assert stream.result is None, "two results"
                stream.result = message.result
    finally:
        channel.close()
    return stream


def request(
    message: household_pb2.Household,
    *,
    pretrained: bool,
    episodes: int = EPISODES,
    fallback: bool | None = None,
    seed: int = 0,
) -> pb.OptimizeRequest:
    out = pb.OptimizeRequest(
        household=message,
        use_pretrained=pretrained,
        episodes=episodes,
        settings=pb.SimulationSettings(paths=EVALUATION_PATHS, seed=seed),
        training_seed=1,
    )
    if fallback is not None:
        out.fallback_to_training = fallback
    return out


def failure(
    address: str, message: pb.OptimizeRequest, *, token: str | None = None
) -> tuple[grpc.RpcError, Stream]:
    """The error of a call expected to fail, and the events sent before it."""
    stream = Stream()
    try:
        optimize(address, message, stream, token=token)
    except grpc.RpcError as error:
        return error, stream
    raise AssertionError(f"the call succeeded: {stream.stages}")


# ------------------------------------------------------------------ models, hostile ones


Weights = dict[str, Any]
FLOAT32_MAX = 3.4028234663852886e38


def policy_zip(weights: Weights) -> bytes:
    """A stable-baselines3-shaped zip whose ``policy.pth`` holds exactly ``weights``."""
    import torch

    buffer = io.BytesIO()
    torch.save(weights, buffer)
    members = [(n, b) for n, b in sb3_members() if n != "policy.pth"]
    return raw_zip([*members, ("policy.pth", buffer.getvalue())])


def trusted_weights(seed: int = 0) -> Weights:
    """The trusted layout's freshly initialised weights (a usable, untrained policy)."""
    import torch

    from glidepath.rl.model_io import build_policy

    torch.manual_seed(seed)
    return {k: v.clone() for k, v in build_policy().state_dict().items()}


def zero_weights() -> Weights:
    """Every weight zero: the policy's corrections are nil, it acts as the Merton rule."""
    return {k: v.zero_() if k != "log_std" else v for k, v in trusted_weights().items()}


def wild_weights() -> Weights:
    """Usable but poor: a large constant correction of the rule in every state."""
    weights = zero_weights()
    weights["action_net.bias"].fill_(3.0)
    return weights


def nan_weights() -> Weights:
    return {k: v.fill_(float("nan")) for k, v in trusted_weights().items()}


def huge_weights() -> Weights:
    """Finite weights of +-3.4e38: each tensor is finite, the actions come out NaN."""
    import torch

    generator = torch.Generator().manual_seed(0)
    return {
        k: (torch.randint(0, 2, v.shape, generator=generator) * 2 - 1).to(v.dtype) * 3.4e38
        for k, v in trusted_weights().items()
    }


def foreign_layout() -> Weights:
    """A valid policy file of another network: a 3x3 layer and nothing of ours."""
    import torch

    return {"mlp_extractor.policy_net.0.weight": torch.zeros(3, 3)}


def late_trap_weights() -> Weights:
    """Finite actions almost everywhere, infinite ones in the last year of retirement.

    Three first-layer units: A ~ +1 when t/T > 0.975 (the last year of a 50-year plan),
    B ~ +1 when the years to retirement are 0, C always +1; the second layer passes them
    on, and the first action adds 0.4 x float32's largest value for each: finite unless A,
    B and C are all on, which every life meets in its last year and the sample
    observations (uniform over the bounds) practically never do.
    """
    weights = zero_weights()
    first, first_bias = (
        weights["mlp_extractor.policy_net.0.weight"],
        (weights["mlp_extractor.policy_net.0.bias"]),
    )
    first[0, 0], first_bias[0] = 1000.0, -975.0
    first[1, 1], first_bias[1] = -1000.0, 1.0
    first_bias[2] = 10.0
    second = weights["mlp_extractor.policy_net.2.weight"]
    for unit in range(3):
        second[unit, unit] = 10.0
    weights["action_net.weight"][0, :3] = 0.4 * FLOAT32_MAX
    return weights


def upload_model(
    address: str,
    model_hash: str,
    episodes: int,
    data: bytes,
    *,
    score: float | None = None,
    token: str | None = None,
) -> registry_pb2.UploadModelResponse:
    channel = open_channel(address)
    try:
        stub = registry_pb2_grpc.ModelRegistryStub(channel)
        return upload(stub, model_hash, episodes, data, score=score, token=token)
    finally:
        channel.close()


def household_hash_of(message: household_pb2.Household) -> str:
    from glidepath.household.canonical import household_hash
    from simulation_service import convert

    return household_hash(convert.household(message, True))


def store_by_hand(
    models_dir: Path,
    model_hash: str,
    episodes: int,
    data: bytes,
    *,
    score: float | None = None,
) -> model_pb2.ModelMetadata:
    """Put a model file in the registry's directory by hand, with a sidecar that names its
    bytes (as a backup restored by an operator would be): the registry adopts it on the
    next lookup of its hash without running its upload check again, so bytes the registry
    would refuse today reach the services that consume them. ``score`` is recorded as a
    verified evaluation. What this returns is the metadata the registry will show."""
    from model_registry_service import sidecar
    from model_registry_service.convert import evaluation_json
    from model_registry_service.naming import ModelKey
    from model_registry_service.records import ModelDetails, ModelRecord, Origin

    key = ModelKey(model_hash, episodes)
    details = ModelDetails(algorithm="PPO")
    if score is not None:
        evaluation = model_pb2.ModelEvaluation(score=score, held_out_lives=10_000)
        details = ModelDetails(
            algorithm="PPO", evaluation_score=score, evaluation_json=evaluation_json(evaluation)
        )
    digest = hashlib.sha256(data).hexdigest()
    record = ModelRecord(
        key=key,
        size_bytes=len(data),
        sha256=digest,
        created_at=datetime.now(UTC),
        origin=Origin.ADOPTED,
        details=details,
    )
    sidecar.write(models_dir, record)
    temp = models_dir / f".by-hand-{digest[:12]}.part"
    temp.write_bytes(data)
    os.replace(temp, models_dir / key.file_name)
    return model_pb2.ModelMetadata(
        ref=model_pb2.ModelRef(model_hash=model_hash, episodes=episodes),
        file_name=key.file_name,
        size_bytes=len(data),
        sha256=digest,
    )
