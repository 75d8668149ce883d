"""The simulation service's settings from the environment: defaults, limits, bad values."""

from __future__ import annotations

import pytest

from glidepath.config import ConfigError
from simulation_service.config import SimulationServiceSettings


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
