"""Shared pytest fixtures. Registry fixtures are prefixed ``registry_``.

Property-based tests are derandomised under CI (``CI`` set): the same commit explores
the same examples on every run, so a green CI is reproducible and a failure can be
replayed locally with ``CI=true make test``; a developer's own runs keep exploring.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import grpc
import pytest
from hypothesis import settings
from postgres_support import PostgresServer

from glidepath.registry.v1 import registry_pb2_grpc
from glidepath.rpc.channel import open_channel
from glidepath.rpc.server import RunningServer, start_server
from model_registry_service.app import build_spec
from model_registry_service.config import RegistrySettings
from model_registry_service.index import ModelIndex, open_model_index

# Registries that tests start as processes (they inherit this environment) begin on the
# empty directory each test gives them, not with the repository's shipped models
# (model_registry_service.shipped); the tests of shipped models ask for them.
os.environ.setdefault("RL_SHIPPED_MODELS_DIR", "")

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# The index's back ends; a module listing them in REGISTRY_INDEX_BACKENDS runs each of its
# tests that uses ``registry_backend`` (directly or through a registry fixture) on each.
REGISTRY_BACKENDS = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    backends = getattr(metafunc.module, "REGISTRY_INDEX_BACKENDS", None)
    if backends and "registry_backend" in metafunc.fixturenames:
        metafunc.parametrize("registry_backend", backends, indirect=True)


@pytest.fixture(scope="session")
def registry_postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session (``postgres_support``)."""
    server = PostgresServer()
    yield server
    server.stop()


@pytest.fixture
def registry_new_schema(registry_postgres: PostgresServer) -> Iterator[Callable[[], str]]:
    """Make empty schemas (an index's namespace) on the session's server, each named by
    its own URL; each is dropped after the test."""
    made: list[str] = []

    def new_schema() -> str:
        made.append(registry_postgres.new_schema())
        return made[-1]

    yield new_schema
    for url in made:
        registry_postgres.drop_schema(url)


@pytest.fixture
def registry_backend(request: pytest.FixtureRequest) -> str:
    """The index's back end for this test: SQLite unless the module asks for both."""
    backend: str = getattr(request, "param", "sqlite")
    return backend


@pytest.fixture
def registry_database_url(registry_backend: str, request: pytest.FixtureRequest) -> str | None:
    """REGISTRY_DATABASE_URL for this test: None (SQLite), or a fresh empty schema's."""
    if registry_backend == "sqlite":
        return None
    new_schema: Callable[[], str] = request.getfixturevalue("registry_new_schema")
    return new_schema()


@pytest.fixture
def registry_open_index(registry_database_url: str | None) -> Callable[..., ModelIndex]:
    """Open this test's index for a model directory (another connection each call)."""

    def open_index(directory: Path, *, rebuild: bool = False) -> ModelIndex:
        directory.mkdir(parents=True, exist_ok=True)
        return open_model_index(directory, registry_database_url, rebuild=rebuild)

    return open_index


@dataclass(frozen=True)
class RegistrySb3Model:
    """A real stable-baselines3 save, with observations and the original's actions."""

    path: Path
    data: bytes
    observations: Any
    actions: Any


@pytest.fixture(scope="session")
def registry_sb3_model(tmp_path_factory: pytest.TempPathFactory) -> RegistrySb3Model:
    """A real PPO of the layout glidepath trains (64 lives, about a second), saved by
    stable-baselines3 once per session: the registry refuses any other layout."""
    from rl_support import tiny_model

    from glidepath.rl.model_io import load_policy, sample_observations
    from glidepath.rl.policy_strategy import mean_actions

    model = tiny_model()
    path = tmp_path_factory.mktemp("registry_sb3") / "trained.zip"
    path.write_bytes(model.model_zip)
    observations = sample_observations()
    actions = mean_actions(load_policy(model.model_zip), observations)
    return RegistrySb3Model(path, path.read_bytes(), observations, actions)


@dataclass
class RegistryHarness:
    """A real registry server on a loopback port, its stub, directory and index."""

    running: RunningServer
    channel: grpc.Channel
    stub: registry_pb2_grpc.ModelRegistryStub
    settings: RegistrySettings

    @property
    def directory(self) -> Path:
        return self.settings.models_dir

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.running.port}"

    def index(self) -> ModelIndex:
        """A second connection to the server's index (to re-date models, as an operator)."""
        return open_model_index(self.directory, self.settings.database_url, rebuild=False)


@pytest.fixture
def registry_start(
    tmp_path: Path, registry_database_url: str | None
) -> Iterator[Callable[..., RegistryHarness]]:
    """Start registries with settings overrides, over this test's index back end; all are
    stopped after the test."""
    started: list[RegistryHarness] = []

    def start(**overrides: Any) -> RegistryHarness:
        defaults = RegistrySettings(
            models_dir=tmp_path / "models" / "rl", database_url=registry_database_url
        )
        settings = replace(defaults, **overrides)
        running = start_server(build_spec(settings), "127.0.0.1", 0)
        channel = open_channel(f"127.0.0.1:{running.port}")
        harness = RegistryHarness(
            running, channel, registry_pb2_grpc.ModelRegistryStub(channel), settings
        )
        started.append(harness)
        return harness

    yield start
    for harness in started:
        harness.channel.close()
        harness.running.stop(grace=1.0)


@pytest.fixture
def registry_server(registry_start: Callable[..., RegistryHarness]) -> RegistryHarness:
    """A registry with default settings and no token."""
    return registry_start()
