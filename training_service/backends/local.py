"""The local backend: today's warm worker processes (``training_service.workers``)."""

from __future__ import annotations

from collections.abc import Callable

from training_service.backends import BackendFactory, TrainingBackend
from training_service.config import TrainingSettings
from training_service.workers import JobRunner, WorkerEvent, WorkerPool


def local_backend(
    settings: TrainingSettings, runner: JobRunner, warm_up: Callable[[], None] | None
) -> BackendFactory:
    """``TRAINING_WORKERS`` warm processes on this machine (the default)."""

    def build(on_event: Callable[[WorkerEvent], None]) -> TrainingBackend:
        return WorkerPool(
            size=settings.workers,
            runner=runner,
            on_event=on_event,
            warm_up=warm_up,
            cancel_grace=settings.cancel_grace_seconds,
        )

    return build
