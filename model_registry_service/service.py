"""The gRPC servicer: messages in, domain calls, messages out.

Validation, storage, ranking and cleanup live in the domain modules, which raise
``glidepath.errors``; the shared interceptor turns those into statuses. What is left here
is the shape of the streams: the upload's first-message rule, and a download that opens
its file before the first message so that a concurrent delete cannot cut it short (an
open file survives its unlink on POSIX), and the bound on streams: an upload or a download
holds a server thread for as long as its client takes, so at most ``max_uploads`` and
``max_downloads`` run at once and the next is refused at once with RESOURCE_EXHAUSTED
(``QUEUE_FULL``). Without it, a few clients that open streams and go quiet would take every
thread, and health checks and lookups would wait behind them.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from glidepath.errors import FailedPrecondition, InvalidArgument
from glidepath.registry.v1 import registry_pb2, registry_pb2_grpc
from glidepath.rpc.bounds import Bound
from model_registry_service import model_storage, validation
from model_registry_service.cleanup import cleanup_models
from model_registry_service.convert import (
    declaration_from_proto,
    metadata_to_proto,
    ref_from_key,
)
from model_registry_service.storage import ModelStore

CHUNK_BYTES = 128 * 1024
DEFAULT_MAX_UPLOADS = 8
DEFAULT_MAX_DOWNLOADS = 16
SERVICE_NAME = registry_pb2.DESCRIPTOR.services_by_name["ModelRegistry"].full_name


def _upload_parts(
    requests: Iterator[registry_pb2.UploadModelRequest],
) -> tuple[registry_pb2.UploadModelMetadata, Iterator[bytes]]:
    """Split an upload stream into its metadata and its chunks, enforcing the order."""
    first = next(requests, None)
    if first is None or first.WhichOneof("content") != "metadata":
        raise InvalidArgument.field(
            "metadata", "the first message of an upload must carry metadata, before any chunk"
        )

    def chunks() -> Iterator[bytes]:
        for request in requests:
            if request.WhichOneof("content") == "metadata":
                raise InvalidArgument.field(
                    "metadata", "sent twice: only the first message may carry metadata"
                )
            yield request.chunk

    return first.metadata, chunks()


class RegistryServicer(registry_pb2_grpc.ModelRegistryServicer):
    """``glidepath.registry.v1.ModelRegistry`` over one ``ModelStore``."""

    def __init__(
        self,
        store: ModelStore,
        *,
        default_min_episodes: int,
        max_uploads: int = DEFAULT_MAX_UPLOADS,
        max_downloads: int = DEFAULT_MAX_DOWNLOADS,
    ) -> None:
        self._store = store
        self._default_min_episodes = default_min_episodes
        self._uploads = Bound(
            max_uploads,
            f"the registry already runs {max_uploads} uploads at once; retry in a few seconds",
        )
        self._downloads = Bound(
            max_downloads,
            f"the registry already runs {max_downloads} downloads at once; retry in a few seconds",
        )

    def UploadModel(
        self,
        request_iterator: Iterator[registry_pb2.UploadModelRequest],
        context: grpc.ServicerContext,
    ) -> registry_pb2.UploadModelResponse:
        with self._uploads.taken():
            metadata, chunks = _upload_parts(request_iterator)
            result = self._store.put(declaration_from_proto(metadata), chunks)
        return registry_pb2.UploadModelResponse(
            model=metadata_to_proto(result.record), created=result.created
        )

    def DownloadModel(
        self, request: registry_pb2.DownloadModelRequest, context: grpc.ServicerContext
    ) -> Iterator[registry_pb2.DownloadModelResponse]:
        key = validation.check_key(request.ref.model_hash, request.ref.episodes)
        with self._downloads.taken():
            record, handle = self._store.open(key)
            with handle:  # closed even when the client goes away after the metadata
                yield registry_pb2.DownloadModelResponse(metadata=metadata_to_proto(record))
                while block := handle.read(CHUNK_BYTES):
                    yield registry_pb2.DownloadModelResponse(chunk=block)

    def FindCompatibleModel(
        self, request: registry_pb2.FindCompatibleModelRequest, context: grpc.ServicerContext
    ) -> registry_pb2.FindCompatibleModelResponse:
        min_episodes = (
            request.min_episodes if request.HasField("min_episodes") else self._default_min_episodes
        )
        record = model_storage.find_compatible_model(
            request.model_hash, min_episodes, store=self._store
        )
        return registry_pb2.FindCompatibleModelResponse(model=metadata_to_proto(record))

    def GetModel(
        self, request: registry_pb2.GetModelRequest, context: grpc.ServicerContext
    ) -> registry_pb2.GetModelResponse:
        key = validation.check_key(request.ref.model_hash, request.ref.episodes)
        return registry_pb2.GetModelResponse(model=metadata_to_proto(self._store.get(key)))

    def ListModels(
        self, request: registry_pb2.ListModelsRequest, context: grpc.ServicerContext
    ) -> registry_pb2.ListModelsResponse:
        page = self._store.list_page(
            request.model_hash or None, request.page_size, request.page_token
        )
        return registry_pb2.ListModelsResponse(
            models=[metadata_to_proto(r) for r in page.records],
            next_page_token=page.next_page_token,
        )

    def DeleteModel(
        self, request: registry_pb2.DeleteModelRequest, context: grpc.ServicerContext
    ) -> registry_pb2.DeleteModelResponse:
        key = validation.check_key(request.ref.model_hash, request.ref.episodes)
        return registry_pb2.DeleteModelResponse(model=metadata_to_proto(self._store.delete(key)))

    def CleanupModels(
        self, request: registry_pb2.CleanupModelsRequest, context: grpc.ServicerContext
    ) -> registry_pb2.CleanupModelsResponse:
        report = cleanup_models(self._store, request.max_age_days, dry_run=request.dry_run)
        return registry_pb2.CleanupModelsResponse(
            models=[ref_from_key(r.key) for r in report.selected],
            deleted_count=report.deleted_count,
        )

    # The three calls below are declared in the contract and built next: until then they
    # answer FAILED_PRECONDITION rather than the UNIMPLEMENTED a missing method would.
    def QuarantineModel(
        self, request: registry_pb2.QuarantineModelRequest, context: grpc.ServicerContext
    ) -> registry_pb2.QuarantineModelResponse:
        raise FailedPrecondition("QuarantineModel is not available in this registry yet")

    def RecordEvaluation(
        self, request: registry_pb2.RecordEvaluationRequest, context: grpc.ServicerContext
    ) -> registry_pb2.RecordEvaluationResponse:
        raise FailedPrecondition("RecordEvaluation is not available in this registry yet")

    def SetModelVisibility(
        self, request: registry_pb2.SetModelVisibilityRequest, context: grpc.ServicerContext
    ) -> registry_pb2.SetModelVisibilityResponse:
        raise FailedPrecondition("SetModelVisibility is not available in this registry yet")
