"""The original request's Python API (docs/origins.md), named as it was (``...model_storage``).

    from model_registry_service.model_storage import get_model_directory, cleanup_old_models

    for model_file in get_model_directory().glob("rl_model_*.zip"):
        print(model_file.name)
    print(f"{cleanup_old_models(max_age_days=30)} modèles supprimés")

These functions work on the directory named by RL_MODELS_DIR, directly, without a
running service; the service calls ``find_compatible_model`` with its own store. Each
call opens the directory's index (or REGISTRY_DATABASE_URL's) and closes it again, so
they are safe beside a running registry (SQLite in WAL mode arbitrates, or PostgreSQL's
name locks) and always see the current environment.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from glidepath.models import max_model_bytes_from_env
from model_registry_service.cleanup import cleanup_models
from model_registry_service.config import database_url_from_env, models_dir_from_env
from model_registry_service.index import open_model_index
from model_registry_service.records import ModelRecord
from model_registry_service.storage import ModelStore


def get_model_directory() -> Path:
    """RL_MODELS_DIR (default ``models/rl`` under the working directory), created if needed."""
    directory = models_dir_from_env()
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@contextmanager
def _store() -> Iterator[ModelStore]:
    directory = get_model_directory()
    store = ModelStore(
        directory,
        max_bytes=max_model_bytes_from_env(),
        index=open_model_index(directory, database_url_from_env(), rebuild=False),
    )
    try:
        yield store
    finally:
        store.close()


def cleanup_old_models(max_age_days: int = 30) -> int:
    """Delete models (files and index rows) older than ``max_age_days``; how many went."""
    with _store() as store:
        return cleanup_models(store, max_age_days).deleted_count


def find_compatible_model(
    model_hash: str, min_episodes: int = 500, *, store: ModelStore | None = None
) -> ModelRecord:
    """The best model for ``model_hash`` with at least ``min_episodes``; NotFound says why.

    Ranking (``ranking.best_compatible``): verified evaluation score, then episodes, then
    newest; quarantined models never. Run beside the directory, it sees every model.
    """
    if store is not None:
        return store.find_compatible(model_hash, min_episodes)
    with _store() as own:
        return own.find_compatible(model_hash, min_episodes)
