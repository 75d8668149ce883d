"""The training service's settings, read once from environment variables at start-up.

A bad value stops the service at once with a message naming the variable
(``glidepath.config.ConfigError``) rather than failing in the middle of a job. The
defaults suit the 2-core machine the project is measured on: one job trains at a time,
a few wait.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from glidepath.auth import service_token_from_env, token_from_env, users_file_from_env
from glidepath.config import ConfigError, env_float, env_int, env_optional, env_path, env_str
from glidepath.models import DEFAULT_MAX_MODEL_BYTES, max_model_bytes_from_env
from glidepath.rpc.addresses import env_address

DEFAULT_PORT = 50052
DEFAULT_REGISTRY_ADDR = "127.0.0.1:50053"
DEFAULT_MAX_CONCURRENT = 1
DEFAULT_MAX_QUEUED = 8
DEFAULT_EVAL_LIVES = 10_000
DEFAULT_SPOOL_RETRY_INITIAL_SECONDS = 1.0
DEFAULT_SPOOL_RETRY_MAX_SECONDS = 60.0
DEFAULT_REGISTRY_DEADLINE_SECONDS = 30.0
DEFAULT_CANCEL_GRACE_SECONDS = 10.0
DEFAULT_JOB_HISTORY = 1000
# Where jobs run (training_service.backends): warm local processes, or a Ray cluster.
BACKENDS = ("local", "ray")
DEFAULT_BACKEND = "local"
# Per-user bounds (users only; administrators and services have the service-wide ones).
# Two waiting jobs of the eight queue places; two million episodes is two of the largest
# trainings (about 1.5 hours of one worker); eight of the 24 watch places.
DEFAULT_MAX_QUEUED_PER_USER = 2
DEFAULT_MAX_EPISODES_PER_USER = 2_000_000
DEFAULT_MAX_WATCHES_PER_USER = 8


def default_data_dir() -> Path:
    """``var/training`` under the working directory: job store and spool beside a checkout."""
    return Path.cwd() / "var" / "training"


@dataclass(frozen=True)
class TrainingSettings:
    """Everything the training service can be told from outside; see docs/configuration.md."""

    data_dir: Path
    max_concurrent: int = DEFAULT_MAX_CONCURRENT
    max_queued: int = DEFAULT_MAX_QUEUED
    workers: int = DEFAULT_MAX_CONCURRENT
    registry_addr: str = DEFAULT_REGISTRY_ADDR
    # What callers present (glidepath.auth): a users file wins over a single token.
    token: str | None = None
    users_file: Path | None = None
    # What this service presents to the registry (GLIDEPATH_SERVICE_TOKEN, else the token).
    service_token: str | None = None
    max_queued_per_user: int = DEFAULT_MAX_QUEUED_PER_USER
    max_episodes_per_user: int = DEFAULT_MAX_EPISODES_PER_USER
    max_watches_per_user: int = DEFAULT_MAX_WATCHES_PER_USER
    max_model_bytes: int = DEFAULT_MAX_MODEL_BYTES
    eval_lives: int = DEFAULT_EVAL_LIVES
    spool_retry_initial_seconds: float = DEFAULT_SPOOL_RETRY_INITIAL_SECONDS
    spool_retry_max_seconds: float = DEFAULT_SPOOL_RETRY_MAX_SECONDS
    registry_deadline_seconds: float = DEFAULT_REGISTRY_DEADLINE_SECONDS
    cancel_grace_seconds: float = DEFAULT_CANCEL_GRACE_SECONDS
    job_history: int = DEFAULT_JOB_HISTORY
    backend: str = DEFAULT_BACKEND
    ray_address: str | None = None  # the Ray cluster (RAY_ADDRESS) when backend is "ray"

    @property
    def store_path(self) -> Path:
        """The SQLite file holding every job record."""
        return self.data_dir / "jobs.sqlite3"

    @property
    def spool_dir(self) -> Path:
        """Trained models waiting to reach the registry."""
        return self.data_dir / "spool"

    @classmethod
    def from_env(cls) -> TrainingSettings:
        max_concurrent = env_int("TRAINING_MAX_CONCURRENT", DEFAULT_MAX_CONCURRENT, minimum=1)
        workers = env_int("TRAINING_WORKERS", max_concurrent, minimum=1)
        if workers < max_concurrent:
            raise ConfigError(
                f"TRAINING_WORKERS must be >= TRAINING_MAX_CONCURRENT ({max_concurrent}), got "
                f"{workers}: each running job needs a worker process"
            )
        initial = env_float(
            "TRAINING_SPOOL_RETRY_INITIAL_SECONDS",
            DEFAULT_SPOOL_RETRY_INITIAL_SECONDS,
            minimum=0.01,
        )
        maximum = env_float(
            "TRAINING_SPOOL_RETRY_MAX_SECONDS", DEFAULT_SPOOL_RETRY_MAX_SECONDS, minimum=0.01
        )
        if maximum < initial:
            raise ConfigError(
                "TRAINING_SPOOL_RETRY_MAX_SECONDS must be >= TRAINING_SPOOL_RETRY_INITIAL_SECONDS,"
                f" got {maximum} < {initial}"
            )
        backend, ray_address = backend_from_env()
        return cls(
            data_dir=env_path("TRAINING_DATA_DIR", default_data_dir()),
            max_concurrent=max_concurrent,
            max_queued=env_int("TRAINING_MAX_QUEUED", DEFAULT_MAX_QUEUED, minimum=0),
            workers=workers,
            registry_addr=env_address("REGISTRY_ADDR", DEFAULT_REGISTRY_ADDR),
            token=token_from_env(),
            users_file=users_file_from_env(),
            service_token=service_token_from_env(),
            max_queued_per_user=env_int(
                "TRAINING_MAX_QUEUED_PER_USER", DEFAULT_MAX_QUEUED_PER_USER, minimum=0
            ),
            max_episodes_per_user=env_int(
                "TRAINING_MAX_EPISODES_PER_USER", DEFAULT_MAX_EPISODES_PER_USER, minimum=1
            ),
            max_watches_per_user=env_int(
                "TRAINING_MAX_WATCHES_PER_USER", DEFAULT_MAX_WATCHES_PER_USER, minimum=1
            ),
            max_model_bytes=max_model_bytes_from_env(),
            eval_lives=env_int("TRAINING_EVAL_LIVES", DEFAULT_EVAL_LIVES, minimum=2),
            spool_retry_initial_seconds=initial,
            spool_retry_max_seconds=maximum,
            registry_deadline_seconds=env_float(
                "TRAINING_REGISTRY_DEADLINE_SECONDS", DEFAULT_REGISTRY_DEADLINE_SECONDS, minimum=0.1
            ),
            cancel_grace_seconds=env_float(
                "TRAINING_CANCEL_GRACE_SECONDS", DEFAULT_CANCEL_GRACE_SECONDS, minimum=0.1
            ),
            job_history=env_int("TRAINING_JOB_HISTORY", DEFAULT_JOB_HISTORY, minimum=1),
            backend=backend,
            ray_address=ray_address,
        )


def backend_from_env() -> tuple[str, str | None]:
    """``TRAINING_BACKEND`` and, for ``ray``, ``RAY_ADDRESS`` (required, and Ray installed)."""
    backend = env_str("TRAINING_BACKEND", DEFAULT_BACKEND).lower()
    if backend not in BACKENDS:
        raise ConfigError(f"TRAINING_BACKEND must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "local":
        return backend, None
    address = env_optional("RAY_ADDRESS")
    if address is None:
        raise ConfigError(
            "RAY_ADDRESS must name the Ray cluster (host:port of its head, or 'auto') when "
            "TRAINING_BACKEND=ray"
        )
    try:
        import ray  # noqa: F401
    except ImportError:
        raise ConfigError(
            "TRAINING_BACKEND=ray needs Ray installed: pip install 'glidepath[ray]'"
        ) from None
    return backend, address
