"""The registry's settings, read once from environment variables at start-up.

A bad value stops the service immediately with a message naming the variable
(``glidepath.config.ConfigError``) instead of failing later in the middle of a request.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from glidepath.auth import token_from_env, users_file_from_env
from glidepath.config import ConfigError, env_float, env_int, env_optional, env_path
from glidepath.models import DEFAULT_MAX_MODEL_BYTES as DEFAULT_MAX_BYTES
from glidepath.models import DEFAULT_MIN_EPISODES, max_model_bytes_from_env
from model_registry_service.shipped import default_shipped_dir

DEFAULT_PORT = 50053
DEFAULT_MAX_AGE_DAYS = 30
DEFAULT_CLEANUP_INTERVAL_SECONDS = 3600.0
DEFAULT_GRACE_SECONDS = 10.0


def default_models_dir() -> Path:
    """``models/rl`` under the working directory, as the original request has it (docs/origins.md).

    Relative to where the process starts (the repository root for ``make run``), so a
    checkout keeps its models beside it; set RL_MODELS_DIR to put them anywhere else.
    """
    return Path.cwd() / "models" / "rl"


def models_dir_from_env() -> Path:
    """RL_MODELS_DIR when set (``~`` expanded), else the default; not created here."""
    return env_path("RL_MODELS_DIR", default_models_dir())


def shipped_dir_from_env() -> Path | None:
    """RL_SHIPPED_MODELS_DIR: unset means the repository's ``models/shipped``, an empty
    value turns the installation of shipped models off (``shipped``)."""
    raw = os.environ.get("RL_SHIPPED_MODELS_DIR")
    if raw is None:
        return default_shipped_dir()
    raw = raw.strip()
    return Path(raw).expanduser() if raw else None


def database_url_from_env() -> str | None:
    """REGISTRY_DATABASE_URL: unset or empty keeps the index in SQLite in the model
    directory; a ``postgresql://`` URL (libpq's form) puts it in that PostgreSQL
    database, which several registry replicas over one shared directory may use."""
    raw = env_optional("REGISTRY_DATABASE_URL")
    if raw is None:
        return None
    if not raw.startswith(("postgresql://", "postgres://")):
        scheme = raw.split("://", 1)[0] if "://" in raw else raw[:20]
        raise ConfigError(
            f"REGISTRY_DATABASE_URL must be a postgresql:// URL (or unset for SQLite in "
            f"the model directory), got one starting {scheme!r}"
        )
    return raw


@dataclass(frozen=True)
class RegistrySettings:
    """Everything the registry can be told from outside; see docs/configuration.md."""

    models_dir: Path
    min_episodes: int = DEFAULT_MIN_EPISODES
    max_bytes: int = DEFAULT_MAX_BYTES
    max_age_days: int = DEFAULT_MAX_AGE_DAYS
    cleanup_interval_seconds: float = DEFAULT_CLEANUP_INTERVAL_SECONDS
    token: str | None = None
    users_file: Path | None = None
    grace_seconds: float = DEFAULT_GRACE_SECONDS
    # Run the consumer check (``weights``) on uploads and adopted files. No variable turns
    # it off: only code can, for tests whose stand-in trainer is not a glidepath policy.
    check_models: bool = True
    # Installed into an empty models_dir at start-up (``shipped``); None: nothing is.
    # The service's default (from_env) is the repository's models/shipped; code that
    # builds settings itself (the tests) opts in.
    shipped_dir: Path | None = None
    # The index's PostgreSQL database (REGISTRY_DATABASE_URL); None: SQLite in models_dir.
    database_url: str | None = None

    @classmethod
    def from_env(cls) -> RegistrySettings:
        return cls(
            models_dir=models_dir_from_env(),
            min_episodes=env_int("RL_MIN_EPISODES", DEFAULT_MIN_EPISODES, minimum=1),
            max_bytes=max_model_bytes_from_env(),
            max_age_days=env_int("RL_MODELS_MAX_AGE_DAYS", DEFAULT_MAX_AGE_DAYS, minimum=0),
            cleanup_interval_seconds=env_float(
                "RL_MODELS_CLEANUP_INTERVAL_SECONDS", DEFAULT_CLEANUP_INTERVAL_SECONDS, minimum=1.0
            ),
            token=token_from_env(),
            users_file=users_file_from_env(),
            grace_seconds=env_float("REGISTRY_GRACE_SECONDS", DEFAULT_GRACE_SECONDS, minimum=0.0),
            shipped_dir=shipped_dir_from_env(),
            database_url=database_url_from_env(),
        )
