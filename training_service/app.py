"""Assemble the training service: settings -> backend, manager, spool, servicer -> spec.

Shared by ``python -m training_service`` and the tests, so that what is tested is what
runs. The runner is injectable only so that the job machinery's own tests can use a
small stand-in trainer; the service always runs the RL library's trainer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from glidepath.auth import build_authenticator
from glidepath.rpc.server import ServiceSpec
from glidepath.training.v1 import training_pb2_grpc
from training_service.backends import BackendFactory
from training_service.backends.local import local_backend
from training_service.config import DEFAULT_PORT, TrainingSettings
from training_service.manager import JobManager
from training_service.pipeline import TrainAndEvaluate, rl_warm_up
from training_service.registry import RegistryClient
from training_service.service import SERVICE_NAME, TrainingServicer, preload_parent_check
from training_service.workers import JobRunner

# Watch streams hold a server thread each; at most MAX_WATCHERS of them, so that the
# other threads are always free for the unary calls and the health checks.
SERVER_THREADS = 32
MAX_WATCHERS = SERVER_THREADS - 8

# Seconds a stopping service waits for the background import of the RL library.
PRELOAD_JOIN_SECONDS = 60.0

# The calls that change something need a credential (UNAUTHENTICATED without one).
WRITE_METHODS = frozenset(
    f"/{SERVICE_NAME}/{method}" for method in ("StartTraining", "CancelTraining")
)


@dataclass
class TrainingApp:
    """The pieces of one training service, for the entry point and the tests."""

    spec: ServiceSpec
    manager: JobManager
    registry: RegistryClient


def choose_backend(
    settings: TrainingSettings, runner: JobRunner, warm_up: Callable[[], None] | None
) -> BackendFactory:
    """Where jobs run (``TRAINING_BACKEND``): the one place that picks the adapter. Ray is
    imported only when asked for, as the local default does without it."""
    if settings.backend == "ray":
        from training_service.backends.ray import ray_backend

        return ray_backend(settings, runner, warm_up)
    return local_backend(settings, runner, warm_up)


def build_app(
    settings: TrainingSettings,
    runner: JobRunner | None = None,
    warm_up: Callable[[], None] | None = rl_warm_up,
) -> TrainingApp:
    """Build the service; the workers start (and warm up) when the server registers."""
    authenticator = build_authenticator(settings.token, settings.users_file)
    registry = RegistryClient(
        settings.registry_addr,
        settings.service_token,
        settings.registry_deadline_seconds,
        max_model_bytes=settings.max_model_bytes,
    )
    job_runner = runner or TrainAndEvaluate()
    manager = JobManager(
        settings,
        job_runner,
        registry.upload,
        warm_up=warm_up,
        backend=choose_backend(settings, job_runner, warm_up),
    )
    servicer = TrainingServicer(
        manager, registry, MAX_WATCHERS, min(settings.max_watches_per_user, MAX_WATCHERS)
    )

    preloads: list[threading.Thread] = []

    def register(server: grpc.Server) -> None:
        training_pb2_grpc.add_TrainingServiceServicer_to_server(servicer, server)
        manager.start()
        preloads.append(preload_parent_check())

    def on_stop() -> None:
        manager.shutdown()
        registry.close()
        for thread in preloads:  # an interpreter that exits mid-import of torch aborts
            thread.join(timeout=PRELOAD_JOIN_SECONDS)

    spec = ServiceSpec(
        name="training_service",
        default_port=DEFAULT_PORT,
        register=register,
        service_names=(SERVICE_NAME,),
        authenticator=authenticator,
        write_methods=WRITE_METHODS,
        max_workers=SERVER_THREADS,
        on_stop=on_stop,
    )
    return TrainingApp(spec=spec, manager=manager, registry=registry)
