"""The simulation service's settings, read once from environment variables at start-up.

A bad value stops the service at once with a message naming the variable
(``glidepath.config.ConfigError``) rather than failing in the middle of a request. The
defaults suit the 2-core machine the project is measured on: two simulations run at a
time (numpy releases the GIL in its array loops), a few wait, the rest are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from glidepath.auth import service_token_from_env, token_from_env, users_file_from_env
from glidepath.config import ConfigError, env_float, env_int
from glidepath.engine.run import MAX_PATHS as ENGINE_MAX_PATHS
from glidepath.models import DEFAULT_MAX_MODEL_BYTES, max_model_bytes_from_env
from glidepath.rpc.addresses import env_address

DEFAULT_PORT = 50051
DEFAULT_MAX_CONCURRENT = 2
DEFAULT_MAX_QUEUED = 8
DEFAULT_MAX_PATHS = 1_000_000
DEFAULT_PATHS = 10_000
DEFAULT_ADAPTIVE_MAX_PATHS = 100_000
DEFAULT_GRACE_SECONDS = 10.0
# Peers for Optimize (docs/api.md); each may list replicas (glidepath.rpc.addresses).
DEFAULT_REGISTRY_ADDR = "127.0.0.1:50053"
DEFAULT_TRAINING_ADDR = "127.0.0.1:50052"
# Optimize: seconds for one call to a peer (lookup, start, download) and for following a
# whole training; loaded policies and computed judgements (0: none) kept in memory;
# lives the recommended strategy's
# by-age medians are read from; torch threads for evaluating a policy.
DEFAULT_PEER_DEADLINE_SECONDS = 30.0
DEFAULT_TRAINING_DEADLINE_SECONDS = 1800.0
DEFAULT_OPTIMIZE_MAX_CONCURRENT = 4
DEFAULT_POLICY_CACHE = 8
DEFAULT_JUDGEMENT_CACHE = 32
DEFAULT_PROFILE_PATHS = 2_000
DEFAULT_TORCH_THREADS = 1
# Optimize's candidates: compatible models asked for and checked per call (the registry
# returns at most 16), and the evaluation lives each is scored on when several pass (the
# training service's default, so that the scores compare with the ones it records).
DEFAULT_OPTIMIZE_CANDIDATES = 4
MAX_OPTIMIZE_CANDIDATES = 16
DEFAULT_SCORE_LIVES = 10_000
MAX_SCORE_LIVES = 200_000  # glidepath.rl.evaluation.MAX_LIVES (not imported: torch)


@dataclass(frozen=True)
class SimulationServiceSettings:
    """Everything the simulation service can be told from outside; see docs/configuration.md."""

    max_concurrent: int = DEFAULT_MAX_CONCURRENT
    max_queued: int = DEFAULT_MAX_QUEUED
    max_paths: int = DEFAULT_MAX_PATHS
    default_paths: int = DEFAULT_PATHS
    adaptive_max_paths: int = DEFAULT_ADAPTIVE_MAX_PATHS
    grace_seconds: float = DEFAULT_GRACE_SECONDS
    registry_addr: str = DEFAULT_REGISTRY_ADDR
    training_addr: str = DEFAULT_TRAINING_ADDR
    optimize_max_concurrent: int = DEFAULT_OPTIMIZE_MAX_CONCURRENT
    peer_deadline_seconds: float = DEFAULT_PEER_DEADLINE_SECONDS
    training_deadline_seconds: float = DEFAULT_TRAINING_DEADLINE_SECONDS
    policy_cache: int = DEFAULT_POLICY_CACHE
    judgement_cache: int = DEFAULT_JUDGEMENT_CACHE
    profile_paths: int = DEFAULT_PROFILE_PATHS
    torch_threads: int = DEFAULT_TORCH_THREADS
    optimize_candidates: int = DEFAULT_OPTIMIZE_CANDIDATES
    score_lives: int = DEFAULT_SCORE_LIVES
    # The one model size limit every service shares (RL_MODELS_MAX_BYTES).
    max_model_bytes: int = DEFAULT_MAX_MODEL_BYTES
    # Who may call (glidepath.auth): a users file wins over a single token; neither is an
    # open, single-user stack. service_token is what this service presents to its peers.
    token: str | None = None
    users_file: Path | None = None
    service_token: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.max_paths <= ENGINE_MAX_PATHS:
            raise ConfigError(
                f"SIMULATION_MAX_PATHS must be in [1, {ENGINE_MAX_PATHS}], got {self.max_paths}"
            )
        if not 1 <= self.default_paths <= self.max_paths:
            raise ConfigError(
                "SIMULATION_DEFAULT_PATHS must be in [1, SIMULATION_MAX_PATHS], "
                f"got {self.default_paths} (limit {self.max_paths})"
            )
        if not 1 <= self.optimize_candidates <= MAX_OPTIMIZE_CANDIDATES:
            raise ConfigError(
                f"OPTIMIZE_CANDIDATES must be in [1, {MAX_OPTIMIZE_CANDIDATES}], "
                f"got {self.optimize_candidates}"
            )
        if not 2 <= self.score_lives <= MAX_SCORE_LIVES:
            raise ConfigError(
                f"OPTIMIZE_SCORE_LIVES must be in [2, {MAX_SCORE_LIVES}], got {self.score_lives}"
            )

    @property
    def server_threads(self) -> int:
        """RPC threads: one per running or waiting call (Optimize streams included, which
        hold theirs while a training runs), plus room for health checks and refusals."""
        return self.max_concurrent + self.max_queued + self.optimize_max_concurrent + 8

    @classmethod
    def from_env(cls) -> SimulationServiceSettings:
        return cls(
            max_concurrent=env_int("SIMULATION_MAX_CONCURRENT", DEFAULT_MAX_CONCURRENT, minimum=1),
            max_queued=env_int("SIMULATION_MAX_QUEUED", DEFAULT_MAX_QUEUED, minimum=0),
            max_paths=env_int("SIMULATION_MAX_PATHS", DEFAULT_MAX_PATHS, minimum=1),
            default_paths=env_int("SIMULATION_DEFAULT_PATHS", DEFAULT_PATHS, minimum=1),
            adaptive_max_paths=env_int(
                "SIMULATION_ADAPTIVE_MAX_PATHS", DEFAULT_ADAPTIVE_MAX_PATHS, minimum=1
            ),
            grace_seconds=env_float("SIMULATION_GRACE_SECONDS", DEFAULT_GRACE_SECONDS, minimum=0.0),
            registry_addr=env_address("REGISTRY_ADDR", DEFAULT_REGISTRY_ADDR),
            training_addr=env_address("TRAINING_ADDR", DEFAULT_TRAINING_ADDR),
            optimize_max_concurrent=env_int(
                "OPTIMIZE_MAX_CONCURRENT", DEFAULT_OPTIMIZE_MAX_CONCURRENT, minimum=1
            ),
            peer_deadline_seconds=env_float(
                "OPTIMIZE_PEER_DEADLINE_SECONDS", DEFAULT_PEER_DEADLINE_SECONDS, minimum=0.1
            ),
            training_deadline_seconds=env_float(
                "OPTIMIZE_TRAINING_DEADLINE_SECONDS", DEFAULT_TRAINING_DEADLINE_SECONDS, minimum=1.0
            ),
            policy_cache=env_int("OPTIMIZE_POLICY_CACHE", DEFAULT_POLICY_CACHE, minimum=1),
            judgement_cache=env_int("OPTIMIZE_JUDGEMENT_CACHE", DEFAULT_JUDGEMENT_CACHE, minimum=0),
            profile_paths=env_int("OPTIMIZE_PROFILE_PATHS", DEFAULT_PROFILE_PATHS, minimum=1),
            torch_threads=env_int("OPTIMIZE_TORCH_THREADS", DEFAULT_TORCH_THREADS, minimum=1),
            optimize_candidates=env_int(
                "OPTIMIZE_CANDIDATES", DEFAULT_OPTIMIZE_CANDIDATES, minimum=1
            ),
            score_lives=env_int("OPTIMIZE_SCORE_LIVES", DEFAULT_SCORE_LIVES, minimum=2),
            max_model_bytes=max_model_bytes_from_env(),
            token=token_from_env(),
            users_file=users_file_from_env(),
            service_token=service_token_from_env(),
        )
