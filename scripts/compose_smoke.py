"""Smoke test of a running glidepath stack (docker compose, or any three processes).

``python scripts/compose_smoke.py --simulation ADDR --training ADDR --registry ADDR``

Talks to the services only through their gRPC APIs, as a client outside the containers
would. Each step prints its time; the first failure stops the run with exit status 1.
Addresses must be on this machine (scripts/compose_test.sh passes 127.0.0.1 ports).

Steps: all three SERVING; a registry round trip with a tiny real stable-baselines3
model; Simulate on examples/household.json; Optimize option A (train 1000 episodes) and
then option B (the model A saved, found by hash). Adding a step is a function taking the
``Stack`` and returning a one-line summary, plus one line in ``STEPS``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc

from glidepath.clients.registry import download_model, find_compatible_model, upload_model
from glidepath.common.v1 import model_pb2
from glidepath.household.canonical import canonicalize, household_hash
from glidepath.household.convert import household_from_json, household_to_proto
from glidepath.registry.v1 import registry_pb2
from glidepath.rpc.channel import open_channel, wait_until_serving
from glidepath.simulation.v1 import simulation_pb2, simulation_pb2_grpc

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "household.json"
# Option A trains 1000 episodes (seconds on an idle machine); room for a loaded one.
OPTIMIZE_DEADLINE = 600.0
SERVICES = {
    "registry": "glidepath.registry.v1.ModelRegistry",
    "training": "glidepath.training.v1.TrainingService",
    "simulation": "glidepath.simulation.v1.SimulationService",
}


class StepFailed(Exception):
    """A check did not hold; the message says what was expected and what came."""


@dataclass
class Stack:
    """Channels to the three services, and what earlier steps learned."""

    channels: dict[str, grpc.Channel]
    token: str | None
    work: Path
    # SHA-256 of the model option A trained: option B must answer with it.
    option_a_sha256: str = ""

    def simulation(self) -> simulation_pb2_grpc.SimulationServiceStub:
        return simulation_pb2_grpc.SimulationServiceStub(self.channels["simulation"])


def all_serving(stack: Stack) -> str:
    for name, service in SERVICES.items():
        wait_until_serving(stack.channels[name], service, timeout=10.0)
    return "registry, training and simulation report SERVING"


def registry_round_trip(stack: Stack) -> str:
    """Upload a tiny real stable-baselines3 model of the layout glidepath trains (the
    registry refuses any other), find it, download it byte for byte."""
    import stable_baselines3
    import torch

    from glidepath.rl.training import TrainingSpec, train

    household = canonicalize(household_from_json(EXAMPLE.read_text()))
    trained = train(
        TrainingSpec(household=household, episodes=8, seed=1), lambda _: None, lambda: False
    )
    saved = stack.work / "smoke.zip"
    saved.write_bytes(trained.model_zip)
    # A hash of no real household, so that this model never answers an Optimize.
    model_hash = secrets.token_hex(8)
    channel = stack.channels["registry"]
    metadata = registry_pb2.UploadModelMetadata(
        ref=model_pb2.ModelRef(model_hash=model_hash, episodes=1000),
        algorithm="PPO",
        library_versions={
            "stable_baselines3": stable_baselines3.__version__,
            "torch": torch.__version__,
        },
        timesteps=trained.timesteps,
    )
    uploaded = upload_model(channel, saved, metadata, token=stack.token, timeout=60)
    found = find_compatible_model(channel, model_hash)
    if found.sha256 != uploaded.model.sha256:
        raise StepFailed(f"found {found.sha256}, uploaded {uploaded.model.sha256}")
    copy = stack.work / "downloaded.zip"
    download_model(channel, found.ref, copy, timeout=60)
    if copy.read_bytes() != saved.read_bytes():
        raise StepFailed("the downloaded model differs from the uploaded one")
    return f"{found.file_name}: {found.size_bytes} bytes up, found, down, identical"


def simulate_example(stack: Stack) -> str:
    household = canonicalize(household_from_json(EXAMPLE.read_text()))
    request = simulation_pb2.SimulateRequest(
        household=household_to_proto(household),
        settings=simulation_pb2.SimulationSettings(paths=2000, seed=1),
    )
    reply = stack.simulation().Simulate(request, timeout=60)
    if reply.household_hash != household_hash(household):
        raise StepFailed(
            f"service hashed the household {reply.household_hash}, "
            f"this client {household_hash(household)}"
        )
    result = reply.result
    return (
        f"{EXAMPLE.name}: {result.strategy} over {result.paths} paths, "
        f"CE {result.certainty_equivalent.value:,.0f}/yr, "
        f"success {result.success_probability.value:.1%}"
    )


def optimize(
    stack: Stack, *, use_pretrained: bool, episodes: int = 1000, fallback: bool = True
) -> simulation_pb2.OptimizeResult:
    """One Optimize call on the example household; its final message (the result)."""
    request = simulation_pb2.OptimizeRequest(
        household=household_to_proto(canonicalize(household_from_json(EXAMPLE.read_text()))),
        use_pretrained=use_pretrained,
        episodes=episodes,
        fallback_to_training=fallback,
        settings=simulation_pb2.SimulationSettings(paths=2000, seed=1),
    )
    results: list[simulation_pb2.OptimizeResult] = [
        message.result
        for message in stack.simulation().Optimize(request, timeout=OPTIMIZE_DEADLINE)
        if message.WhichOneof("content") == "result"
    ]
    if len(results) != 1:
        raise StepFailed(f"the Optimize stream ended with {len(results)} results, expected 1")
    return results[0]


def describe(result: simulation_pb2.OptimizeResult) -> str:
    source = simulation_pb2.ModelSource.Name(result.source).removeprefix("MODEL_SOURCE_")
    return (
        f"{result.model.file_name} ({source.lower()}), gate "
        f"{'passed' if result.gate.passed else 'not passed'}, recommends "
        f"{result.recommended.strategy}, service {result.total_seconds:.1f} s"
    )


def optimize_option_a(stack: Stack) -> str:
    """Option A: train 1000 episodes on examples/household.json now."""
    result = optimize(stack, use_pretrained=False, episodes=1000)
    trained = {
        simulation_pb2.MODEL_SOURCE_TRAINED_NOW,
        simulation_pb2.MODEL_SOURCE_JOINED_RUNNING_JOB,
        # Only on a stack that already ran this test (the test's own stack starts empty).
        simulation_pb2.MODEL_SOURCE_ALREADY_IN_REGISTRY,
    }
    if result.source not in trained or result.model.ref.episodes != 1000:
        raise StepFailed(f"option A answered with {describe(result)}")
    stack.option_a_sha256 = result.model.sha256
    return describe(result)


def optimize_option_b(stack: Stack) -> str:
    """Option B on the same household: served by the model option A saved, no training."""
    result = optimize(stack, use_pretrained=True, fallback=False)
    if result.source != simulation_pb2.MODEL_SOURCE_PRETRAINED:
        raise StepFailed(f"option B did not use a pre-trained model: {describe(result)}")
    if result.model.sha256 != stack.option_a_sha256:
        raise StepFailed(f"option B used {result.model.file_name}, not option A's model")
    return describe(result)


STEPS: list[tuple[str, Callable[[Stack], str]]] = [
    ("health", all_serving),
    ("registry round trip", registry_round_trip),
    ("simulate", simulate_example),
    ("optimize A", optimize_option_a),
    ("optimize B", optimize_option_b),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in SERVICES:
        parser.add_argument(f"--{name}", required=True, metavar="HOST:PORT")
    args = parser.parse_args()
    token = os.environ.get("REGISTRY_TOKEN") or None
    channels = {name: open_channel(getattr(args, name)) for name in SERVICES}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="glidepath-smoke-") as tmp:
        stack = Stack(channels=channels, token=token, work=Path(tmp))
        for name, step in STEPS:
            began = time.perf_counter()
            try:
                summary = step(stack)
            except (StepFailed, grpc.RpcError, TimeoutError) as exc:
                detail = (
                    f"{exc.code().name}: {exc.details()}"
                    if isinstance(exc, grpc.RpcError)
                    else str(exc)
                )
                print(f"  {name:<20} FAILED after {time.perf_counter() - began:.1f} s: {detail}")
                return 1
            print(f"  {name:<20} ok {time.perf_counter() - began:5.1f} s  {summary}", flush=True)
    print(f"  smoke test passed in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
