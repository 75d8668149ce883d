"""The client's credential: GLIDEPATH_TOKEN (else REGISTRY_TOKEN) on every call to every
service, as ``authorization: Bearer <token>``, and a refusal that says which variable to set.

A real registry that demands a token decides whether the credential arrived; a
recording proxy in front of real services shows what each call carried (Optimize and
Simulate included, which no service on this branch checks yet).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cli_process_support import RecordingProxy
from cli_support import EXAMPLE, one_error_line, run_cli
from conftest import RegistrySb3Model
from process_support import ServiceProcess
from training_support import free_port

pytestmark = pytest.mark.slow

TOKEN = "cli-credential-token"
DAY = 24 * 3600.0


class Registry:
    """A registry process that demands TOKEN for changes, and its model directory."""

    def __init__(self, work: Path) -> None:
        self.models = work / "rl"
        self.models.mkdir(parents=True)
        env = {"RL_MODELS_DIR": str(self.models), "REGISTRY_TOKEN": TOKEN}
        self.process = ServiceProcess("model_registry_service", work, env)
        self.address = self.process.address

    def drop(self, model: RegistrySb3Model, model_hash: str, age_days: float = 1.0) -> Path:
        """A valid model file put in by hand (as an operator would), dated ``age_days`` ago."""
        path = self.models / f"rl_model_{model_hash}_600ep.zip"
        path.write_bytes(model.data)
        stamp = time.time() - age_days * DAY
        os.utime(path, (stamp, stamp))
        return path


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    running = Registry(tmp_path_factory.mktemp("credential_registry"))
    try:
        yield running
    finally:
        running.process.stop()


@pytest.fixture(scope="module")
def simulation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A simulation service (its peers are not running: Optimize fails after the call)."""
    env = {
        "REGISTRY_ADDR": f"127.0.0.1:{free_port()}",
        "TRAINING_ADDR": f"127.0.0.1:{free_port()}",
        "OPTIMIZE_PEER_DEADLINE_SECONDS": "3",
    }
    service = ServiceProcess("simulation_service", tmp_path_factory.mktemp("credential_sim"), env)
    try:
        yield service.address
    finally:
        service.stop()


def test_glidepath_token_is_the_credential_a_registry_write_needs(
    registry: Registry, registry_sb3_model: RegistrySb3Model
) -> None:
    dropped = registry.drop(registry_sb3_model, "1111111111111111")
    env = {"REGISTRY_ADDR": registry.address, "GLIDEPATH_TOKEN": TOKEN}
    deleted = run_cli("models", "delete", "1111111111111111", "600", env=env)
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout.strip() == f"Deleted {dropped.name}." and not dropped.exists()


def test_registry_token_still_works_when_glidepath_token_is_not_set(
    registry: Registry, registry_sb3_model: RegistrySb3Model
) -> None:
    dropped = registry.drop(registry_sb3_model, "2222222222222222")
    env = {"REGISTRY_ADDR": registry.address, "REGISTRY_TOKEN": TOKEN}
    deleted = run_cli("models", "delete", "2222222222222222", "600", env=env)
    assert deleted.returncode == 0, deleted.stderr
    assert not dropped.exists()


@pytest.mark.parametrize(
    ("variables", "hint"),
    [
        ({}, "(set GLIDEPATH_TOKEN to your token)"),
        (
            {"GLIDEPATH_TOKEN": "wrong"},
            "(the token in GLIDEPATH_TOKEN was not accepted; set GLIDEPATH_TOKEN to a valid one)",
        ),
        (
            {"REGISTRY_TOKEN": "wrong"},
            "(the token in REGISTRY_TOKEN was not accepted; set GLIDEPATH_TOKEN to a valid one)",
        ),
    ],
    ids=["none", "wrong-glidepath-token", "wrong-registry-token"],
)
def test_a_refused_credential_is_one_line_saying_which_variable_to_set(
    registry: Registry,
    registry_sb3_model: RegistrySb3Model,
    variables: dict[str, str],
    hint: str,
) -> None:
    dropped = registry.drop(registry_sb3_model, "3333333333333333")
    env = {"REGISTRY_ADDR": registry.address, **variables}
    for argv in (["models", "delete", "3333333333333333", "600"], ["models", "cleanup"]):
        line = one_error_line(run_cli(*argv, env=env), 1)
        assert line.startswith(f"glidepath: registry at {registry.address} refused the call: ")
        assert line.endswith(hint), line
    assert dropped.exists()


def test_every_call_to_every_service_carries_the_bearer_credential(
    registry: Registry, simulation: str
) -> None:
    registry_proxy, simulation_proxy = RecordingProxy(registry.address), RecordingProxy(simulation)
    env = {
        "REGISTRY_ADDR": registry_proxy.address,
        "SIMULATION_ADDR": simulation_proxy.address,
        "GLIDEPATH_TOKEN": TOKEN,
    }
    try:
        commands = [
            ["models", "list"],
            ["models", "show", "4444444444444444", "600"],
            ["models", "delete", "4444444444444444", "600"],
            ["models", "cleanup", "--dry-run"],
            ["models", "cleanup"],
            ["simulate", str(EXAMPLE), "--paths", "200"],
            ["optimize", str(EXAMPLE), "--episodes", "10"],
        ]
        for argv in commands:
            run_cli(*argv, env=env)  # some fail after the call (no such model, no peers)
    finally:
        registry_proxy.close()
        simulation_proxy.close()
    assert registry_proxy.methods() == [
        "ListModels",
        "GetModel",
        "DeleteModel",
        "CleanupModels",
        "CleanupModels",
        "CleanupModels",
    ]
    assert simulation_proxy.methods() == ["Simulate", "Optimize"]
    sent = [*registry_proxy.authorization_headers(), *simulation_proxy.authorization_headers()]
    assert sent == [f"Bearer {TOKEN}"] * 8


def test_a_denied_call_is_one_line_saying_which_variable_to_set(simulation: str) -> None:
    message = "user alice may not train for this household"
    proxy = RecordingProxy(
        simulation, refuse=(grpc.StatusCode.PERMISSION_DENIED, message, "PERMISSION_DENIED")
    )
    try:
        env = {"SIMULATION_ADDR": proxy.address, "GLIDEPATH_TOKEN": TOKEN}
        result = run_cli("optimize", str(EXAMPLE), "--episodes", "10", env=env)
    finally:
        proxy.close()
    line = one_error_line(result, 1)
    assert line == (
        f"glidepath: simulation service at {proxy.address} denied the call: {message} "
        "(the user of the token in GLIDEPATH_TOKEN may not do this; set GLIDEPATH_TOKEN to "
        "the token of a user who may)"
    )


def test_a_token_a_header_cannot_carry_is_one_line_and_exit_2() -> None:
    env = {"REGISTRY_ADDR": "127.0.0.1:9", "GLIDEPATH_TOKEN": "line one\nline two"}
    line = one_error_line(run_cli("models", "list", env=env), 2)
    assert (
        line
        == "glidepath: GLIDEPATH_TOKEN holds characters a token cannot have (only visible ASCII)"
    )
