"""The web service's settings, read once from environment variables at start-up.

Like every glidepath service, a bad value stops it at once with a message naming the
variable (``glidepath.config.ConfigError``). The peers' addresses are the variables the
command-line client reads (SIMULATION_ADDR, TRAINING_ADDR, REGISTRY_ADDR), with the
local stack's defaults, so that ``python -m web_service`` beside ``glidepath up`` needs
no configuration.
"""

from __future__ import annotations

from dataclasses import dataclass

from glidepath.cli.peers import REGISTRY, SIMULATION, TRAINING
from glidepath.config import ConfigError, env_float, env_int, env_optional

DEFAULT_PORT = 8080
# Runs followed at once (each holds one Optimize stream and one thread); the next start
# is refused (429) rather than queued behind them without end.
DEFAULT_MAX_ACTIVE_RUNS = 4
# Runs kept in memory (finished ones too, so that a result's URL opens again); the
# oldest finished run goes first.
DEFAULT_MAX_HELD_RUNS = 64
# Seconds an Optimize call may take (a training included), as the CLI allows.
DEFAULT_OPTIMIZE_DEADLINE_SECONDS = 1800.0
# Seconds for a quick call (a listing, one model, a delete).
DEFAULT_CALL_DEADLINE_SECONDS = 10.0
# Seconds an episode of training takes when this machine has not trained yet (on the
# 2-core development machine, busy with other work, 100 episodes of the example
# household trained in 3.8 s: the model's training_seconds); replaced by the training
# service's own record as soon as it has one.
DEFAULT_SECONDS_PER_EPISODE = 0.04


@dataclass(frozen=True)
class WebServiceSettings:
    """Everything the web service can be told from outside (docs/web.md lists them)."""

    simulation_addr: str = SIMULATION.default_address
    training_addr: str = TRAINING.default_address
    registry_addr: str = REGISTRY.default_address
    max_active_runs: int = DEFAULT_MAX_ACTIVE_RUNS
    max_held_runs: int = DEFAULT_MAX_HELD_RUNS
    optimize_deadline_seconds: float = DEFAULT_OPTIMIZE_DEADLINE_SECONDS
    call_deadline_seconds: float = DEFAULT_CALL_DEADLINE_SECONDS
    seconds_per_episode: float = DEFAULT_SECONDS_PER_EPISODE
    # The credential sent when the page's user gives none (GLIDEPATH_TOKEN, as the CLI):
    # a single-user deployment sets it once; a shared one leaves it unset, and each write
    # (a training, a delete, a cleanup) then asks for the user's own.
    token: str | None = None

    def __post_init__(self) -> None:
        if self.max_held_runs < self.max_active_runs:
            raise ConfigError(
                "WEB_MAX_HELD_RUNS must be >= WEB_MAX_ACTIVE_RUNS, got "
                f"{self.max_held_runs} < {self.max_active_runs}"
            )

    @classmethod
    def from_env(cls) -> WebServiceSettings:
        return cls(
            simulation_addr=SIMULATION.address(),
            training_addr=TRAINING.address(),
            registry_addr=REGISTRY.address(),
            max_active_runs=env_int("WEB_MAX_ACTIVE_RUNS", DEFAULT_MAX_ACTIVE_RUNS, minimum=1),
            max_held_runs=env_int("WEB_MAX_HELD_RUNS", DEFAULT_MAX_HELD_RUNS, minimum=1),
            optimize_deadline_seconds=env_float(
                "WEB_OPTIMIZE_DEADLINE_SECONDS", DEFAULT_OPTIMIZE_DEADLINE_SECONDS, minimum=1.0
            ),
            call_deadline_seconds=env_float(
                "WEB_CALL_DEADLINE_SECONDS", DEFAULT_CALL_DEADLINE_SECONDS, minimum=0.1
            ),
            seconds_per_episode=env_float(
                "WEB_SECONDS_PER_EPISODE", DEFAULT_SECONDS_PER_EPISODE, minimum=0.0
            ),
            token=env_optional("GLIDEPATH_TOKEN"),
        )
