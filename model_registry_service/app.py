"""Assemble the registry: settings -> store, servicer, periodic cleanup -> ServiceSpec.

Shared by ``python -m model_registry_service`` and the tests, so that what is tested is
exactly what runs.
"""

from __future__ import annotations

import grpc

from glidepath import log
from glidepath.auth import build_authenticator
from glidepath.registry.v1 import registry_pb2_grpc
from glidepath.rpc.server import ServiceSpec
from model_registry_service import shipped, weights
from model_registry_service.cleanup import PeriodicCleanup
from model_registry_service.config import DEFAULT_PORT, RegistrySettings
from model_registry_service.index import open_model_index
from model_registry_service.service import SERVICE_NAME, RegistryServicer
from model_registry_service.storage import ModelStore

# Uploads and downloads hold a thread each while they stream; they are bounded (the
# servicer's defaults: 8 and 16) so that these threads always leave room for the rest.
SERVER_THREADS = 32

# Calls refused to an anonymous caller by the interceptor. CleanupModels is not among them
# because a dry run changes nothing: the servicer asks for a credential when it deletes.
WRITE_METHODS = frozenset(
    f"/{SERVICE_NAME}/{method}"
    for method in (
        "UploadModel",
        "DeleteModel",
        "QuarantineModel",
        "RecordEvaluation",
        "SetModelVisibility",
    )
)


def build_spec(settings: RegistrySettings) -> ServiceSpec:
    """A ServiceSpec whose on_stop stops the periodic cleanup and closes the index."""
    check = weights.check_model_file if settings.check_models else None
    if settings.shipped_dir is not None:  # before the store adopts what the directory holds
        shipped.install(settings.shipped_dir, settings.models_dir, check_model=check)
    # The one place the index's back end is chosen (REGISTRY_DATABASE_URL). The service
    # owns its directory: at start-up it removes dead uploads' temp files (all of them
    # unless other replicas share the index) and rebuilds a damaged SQLite index.
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    index = open_model_index(settings.models_dir, settings.database_url, rebuild=True)
    log.event("index_opened", index=index.describe())
    store = ModelStore(
        settings.models_dir,
        max_bytes=settings.max_bytes,
        index=index,
        owner=True,
        check_model=check,
    )
    servicer = RegistryServicer(store, default_min_episodes=settings.min_episodes)
    periodic: PeriodicCleanup | None = None
    if settings.max_age_days > 0:
        periodic = PeriodicCleanup(store, settings.max_age_days, settings.cleanup_interval_seconds)

    def register(server: grpc.Server) -> None:
        registry_pb2_grpc.add_ModelRegistryServicer_to_server(servicer, server)
        if settings.check_models:
            weights.warm_up()  # torch's import, before serving: no upload's check waits for it
        if periodic is not None:
            periodic.start()

    def on_stop() -> None:
        if periodic is not None:
            periodic.stop()
        store.close()

    return ServiceSpec(
        name="model_registry_service",
        default_port=DEFAULT_PORT,
        register=register,
        service_names=(SERVICE_NAME,),
        authenticator=build_authenticator(settings.token, settings.users_file),
        write_methods=WRITE_METHODS,
        grace_seconds=settings.grace_seconds,
        max_workers=SERVER_THREADS,
        on_stop=on_stop,
    )
