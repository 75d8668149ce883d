"""Where training jobs run: the seam between the job manager and the workers.

The manager only hands jobs over, asks how many run, and cancels; whatever runs them
reports back through ``on_event`` with the typed events of ``training_service.workers``
(``JobUpdate``, ``JobEnded``, ``WorkerReady``). Two backends exist: ``local`` (warm
worker processes on this machine, :class:`training_service.workers.WorkerPool`) and
``ray`` (one Ray task per job on a cluster, ``training_service.backends.ray``). The
service chooses one in ``training_service.app``; the manager never knows which.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from training_service.workers import WorkerEvent


class TrainingBackend(Protocol):
    """What the job manager needs from whatever runs its jobs (``WorkerPool``'s surface)."""

    def start(self) -> None: ...

    def shutdown(self, timeout: float = 5.0) -> None: ...

    def busy_workers(self) -> int:
        """Jobs given to the backend and not yet ended."""
        ...

    def ready_workers(self) -> int:
        """Places ready to take a job now (readiness checks and tests)."""
        ...

    def try_assign(self, job_id: str, payload: object) -> bool:
        """Start the job; False when no place is free just now (it stays queued)."""
        ...

    def cancel(self, job_id: str) -> bool:
        """Ask the job to stop; its ``JobEnded`` (cancelled) follows."""
        ...


# Builds a backend that delivers its events to the given callback (the manager's).
BackendFactory = Callable[[Callable[[WorkerEvent], None]], TrainingBackend]
