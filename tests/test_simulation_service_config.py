"""The simulation service's settings from the environment: defaults, limits, bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from glidepath.config import ConfigError
from simulation_service.config import MAX_SCORE_LIVES, SimulationServiceSettings


def test_defaults_without_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "SIMULATION_MAX_CONCURRENT",
        "SIMULATION_MAX_QUEUED",
        "SIMULATION_MAX_PATHS",
        "SIMULATION_DEFAULT_PATHS",
        "SIMULATION_ADAPTIVE_MAX_PATHS",
        "SIMULATION_GRACE_SECONDS",
        "REGISTRY_ADDR",
        "TRAINING_ADDR",
    ):
        monkeypatch.delenv(name, raising=False)
    assert SimulationServiceSettings.from_env() == SimulationServiceSettings()
    assert SimulationServiceSettings().default_paths == 10_000


def test_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIMULATION_MAX_CONCURRENT", "3")
    monkeypatch.setenv("SIMULATION_MAX_QUEUED", "0")
    monkeypatch.setenv("SIMULATION_MAX_PATHS", "50000")
    monkeypatch.setenv("SIMULATION_DEFAULT_PATHS", "2000")
    monkeypatch.setenv("REGISTRY_ADDR", "registry:1")
    settings = SimulationServiceSettings.from_env()
    assert (settings.max_concurrent, settings.max_queued) == (3, 0)
    assert (settings.max_paths, settings.default_paths) == (50_000, 2000)
    assert settings.registry_addr == "registry:1"
    assert settings.server_threads > settings.max_concurrent + settings.max_queued


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SIMULATION_MAX_CONCURRENT", "0"),
        ("SIMULATION_MAX_QUEUED", "-1"),
        ("SIMULATION_MAX_PATHS", "3000000"),  # beyond the engine's 2,000,000
        ("SIMULATION_DEFAULT_PATHS", "2000000"),  # beyond SIMULATION_MAX_PATHS
        ("SIMULATION_GRACE_SECONDS", "soon"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        SimulationServiceSettings.from_env()


def test_optimize_candidates_scoring_and_users_are_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    users = tmp_path / "users.json"
    users.write_text('{"users": []}')
    monkeypatch.setenv("OPTIMIZE_CANDIDATES", "7")
    monkeypatch.setenv("OPTIMIZE_SCORE_LIVES", "2000")
    monkeypatch.setenv("RL_MODELS_MAX_BYTES", "123456")
    monkeypatch.setenv("GLIDEPATH_TOKEN", "operator-token")
    monkeypatch.setenv("GLIDEPATH_USERS_FILE", str(users))
    monkeypatch.setenv("GLIDEPATH_SERVICE_TOKEN", "service-token")
    settings = SimulationServiceSettings.from_env()
    assert (settings.optimize_candidates, settings.score_lives) == (7, 2000)
    assert settings.max_model_bytes == 123456
    assert settings.token == "operator-token" and settings.users_file == users
    assert settings.service_token == "service-token"
    monkeypatch.delenv("GLIDEPATH_SERVICE_TOKEN")
    assert SimulationServiceSettings.from_env().service_token == "operator-token"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OPTIMIZE_CANDIDATES", "17"),
        ("OPTIMIZE_SCORE_LIVES", "200001"),
        ("RL_MODELS_MAX_BYTES", "0"),
    ],
)
def test_bad_optimize_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        SimulationServiceSettings.from_env()


def test_the_scoring_bound_is_the_evaluations_own() -> None:
    from glidepath.rl.evaluation import MAX_LIVES

    assert MAX_SCORE_LIVES == MAX_LIVES
