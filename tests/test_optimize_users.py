"""Users on the simulation service: who may optimise, and for whom its peers act.

Three real processes share one users file (alice and bob are users, svc is the role
service the simulation service presents to its peers). Simulate, Compare and an Optimize
that only reads (option B without fallback) are open; an Optimize that may train and store
a model needs a credential. The registry and the training service see the simulation
service's calls as the end user, relayed by svc.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from cli_support import EPHEMERAL_PORTS
from e2e_support import (
    failure,
    household,
    household_hash_of,
    optimize,
    policy_zip,
    request,
    zero_weights,
)
from process_support import ServiceProcess
from registry_support import sha256_hex, upload_metadata, upload_stream

from glidepath.auth import Role, add_user
from glidepath.cli.peers import REGISTRY, SIMULATION, TRAINING, Peer
from glidepath.cli.stack import LocalStack, local_stack
from glidepath.common.v1 import model_pb2
from glidepath.registry.v1 import registry_pb2_grpc
from glidepath.rpc.channel import bearer, open_channel
from glidepath.rpc.status import error_reason
from glidepath.simulation.v1 import simulation_pb2 as pb
from glidepath.simulation.v1 import simulation_pb2_grpc
from simulation_service.service import SERVICE_NAME

pytestmark = pytest.mark.slow


@dataclass
class Users:
    stack: LocalStack
    users_file: Path
    alice: str
    bob: str
    svc: str


@pytest.fixture(scope="module")
def users(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Users]:
    data = tmp_path_factory.mktemp("users")
    users_file = data / "users.json"
    alice = add_user(users_file, "alice")
    bob = add_user(users_file, "bob")
    svc = add_user(users_file, "svc", Role.SERVICE)
    env = {
        "GLIDEPATH_USERS_FILE": str(users_file),
        "GLIDEPATH_SERVICE_TOKEN": svc,
        "REGISTRY_TOKEN": svc,  # what a training service of an older release uploads with
        "TRAINING_EVAL_LIVES": "200",
        "OPTIMIZE_PROFILE_PATHS": "200",
    }
    with local_stack(data / "stack", ports=EPHEMERAL_PORTS, env=env) as stack:
        yield Users(stack, users_file, alice, bob, svc)


def simulation(users: Users) -> str:
    return users.stack.address(SIMULATION)


def requests_logged(stack: LocalStack, peer: Peer, method: str) -> list[dict[str, Any]]:
    lines = stack.layout.log_file(peer).read_text(errors="replace").splitlines()
    found = [json.loads(line) for line in lines if line.startswith("{")]
    return [r for r in found if r.get("event") == "request" and r["method"].endswith(method)]


@pytest.mark.parametrize(("pretrained", "fallback"), [(False, None), (True, None), (True, True)])
def test_an_optimize_that_may_train_needs_a_credential(
    users: Users, pretrained: bool, fallback: bool | None
) -> None:
    error, stream = failure(
        simulation(users), request(household(), pretrained=pretrained, fallback=fallback)
    )
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    details = error.details() or ""
    assert "needs a credential" in details and "\n" not in details
    assert stream.stages == []  # refused before anything ran


def test_reading_stays_open(users: Users) -> None:
    """Simulate, Compare and option B without fallback need no credential."""
    channel = open_channel(simulation(users))
    try:
        stub = simulation_pb2_grpc.SimulationServiceStub(channel)
        settings = pb.SimulationSettings(paths=500)
        simulated = stub.Simulate(
            pb.SimulateRequest(household=household(), strategy="merton", settings=settings),
            timeout=60,
        )
        assert simulated.result.strategy == "merton"
        compared = stub.Compare(
            pb.CompareRequest(household=household(), strategies=["merton"], settings=settings),
            timeout=60,
        )
        assert [r.strategy for r in compared.results] == ["merton"]
    finally:
        channel.close()
    error, stream = failure(
        simulation(users), request(household(risk_aversion=8.0), pretrained=True, fallback=False)
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error_reason(error) == "NO_MODEL_FOR_HASH"
    assert stream.stages == ["HASHED", "LOOKING_UP", "NEAR_MATCHES", "NO_COMPATIBLE_MODEL"]


def test_a_credential_nobody_holds_is_refused_even_for_reads(users: Users) -> None:
    channel = open_channel(simulation(users))
    try:
        stub = simulation_pb2_grpc.SimulationServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.Simulate(
                pb.SimulateRequest(household=household(), strategy="merton"),
                timeout=30,
                metadata=bearer("not-a-token"),
            )
    finally:
        channel.close()
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_the_peers_act_for_the_caller(users: Users) -> None:
    """alice's option A: the training job and the registry reads are alice's, via svc."""
    message = request(household(risk_aversion=8.5), pretrained=False, episodes=30)
    answer = optimize(simulation(users), message, token=users.alice).answer()
    assert answer.source == pb.MODEL_SOURCE_TRAINED_NOW
    started = requests_logged(users.stack, TRAINING, "/StartTraining")
    assert [r.get("user") for r in started] == ["alice"] and started[0].get("via")
    downloads = requests_logged(users.stack, REGISTRY, "/DownloadModel")
    assert [(r.get("user"), r.get("via")) for r in downloads] == [("alice", "svc")]
    # bob, another user, is served the (shared) model by option B; the registry sees bob.
    lookup = request(household(risk_aversion=8.5), pretrained=True, episodes=30, fallback=False)
    lookup.min_episodes = 10
    found = optimize(simulation(users), lookup, token=users.bob).answer()
    assert found.model.sha256 == answer.model.sha256
    lookups = requests_logged(users.stack, REGISTRY, "/FindCompatibleModel")
    assert ("bob", "svc") in [(r.get("user"), r.get("via")) for r in lookups]


def test_a_private_model_serves_only_its_owner(users: Users) -> None:
    """alice's private model: found for alice, never for bob (the registry sees bob)."""
    message = household(risk_aversion=9.5)
    data = policy_zip(zero_weights())
    meta = upload_metadata(household_hash_of(message), 40, data)
    meta.visibility = model_pb2.MODEL_VISIBILITY_PRIVATE
    channel = open_channel(users.stack.address(REGISTRY))
    try:
        stub = registry_pb2_grpc.ModelRegistryStub(channel)
        stub.UploadModel(upload_stream(meta, data), timeout=30, metadata=bearer(users.alice))
    finally:
        channel.close()
    lookup = request(message, pretrained=True, episodes=40, fallback=False)
    lookup.min_episodes = 10
    served = optimize(simulation(users), lookup, token=users.alice).answer()
    assert served.model.sha256 == sha256_hex(data) and served.model.owner == "alice"
    for token in (users.bob, None):
        error, _ = failure(simulation(users), lookup, token=token)
        assert error.code() == grpc.StatusCode.NOT_FOUND, error.details()
        assert error_reason(error) == "NO_MODEL_FOR_HASH"


def test_a_peer_that_refuses_the_service_credential_is_named_in_one_line(
    users: Users, tmp_path: Path
) -> None:
    """A simulation service given a wrong GLIDEPATH_SERVICE_TOKEN: the operator is told."""
    misconfigured = ServiceProcess(
        "simulation_service",
        tmp_path,
        {
            "REGISTRY_ADDR": users.stack.address(REGISTRY),
            "TRAINING_ADDR": users.stack.address(TRAINING),
            "GLIDEPATH_USERS_FILE": str(users.users_file),
            "GLIDEPATH_SERVICE_TOKEN": "not-the-service-token",
        },
        service_name=SERVICE_NAME,
        timeout=60,
    )
    try:
        error, stream = failure(
            misconfigured.address,
            request(household(), pretrained=True, fallback=False),
            token=users.alice,
        )
    finally:
        misconfigured.stop()
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error.details()
    assert error_reason(error) == "PEER_REFUSED_CREDENTIAL"
    details = error.details() or ""
    assert "model registry" in details and "GLIDEPATH_SERVICE_TOKEN" in details
    assert "\n" not in details
    assert stream.stages == ["HASHED", "LOOKING_UP"]
