"""The gRPC servicer: messages in, domain calls, messages out.

Validation, storage, ranking and cleanup live in the domain modules, which raise
``glidepath.errors``; the shared interceptor turns those into statuses. What is left here
is the shape of the streams: the upload's first-message rule, and a download that opens
its file before the first message so that a concurrent delete cannot cut it short (an
open file survives its unlink on POSIX), and the bound on streams: an upload or a download
holds a server thread for as long as its client takes, so at most ``max_uploads`` and
``max_downloads`` run at once and the next is refused at once with RESOURCE_EXHAUSTED
(``QUEUE_FULL``). Without it, a few clients that open streams and go quiet would take every
thread, and health checks and lookups would wait behind them. One user may hold at most
half the upload places (``shares``: RESOURCE_EXHAUSTED, reason USER_LIMIT beyond).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import grpc

from glidepath.auth import ANONYMOUS, User
from glidepath.errors import InvalidArgument, PermissionDenied
from glidepath.registry.v1 import registry_pb2, registry_pb2_grpc
from glidepath.rl.features import NEAR_MATCH_THRESHOLD
from glidepath.rpc.bounds import Bound
from glidepath.rpc.interceptors import takes_user
from model_registry_service import validation
from model_registry_service.cleanup import cleanup_models
from model_registry_service.convert import (
    declaration_from_proto,
    evaluation_json,
    kind_from_proto,
    metadata_to_proto,
    ref_from_key,
    visibility_from_proto,
)
from model_registry_service.index import ListFilter
from model_registry_service.near import NearQuery, nearest
from model_registry_service.shares import UserShares
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
    """``glidepath.registry.v1.ModelRegistry`` over one ``ModelStore``.

    Every method receives the caller (``glidepath.auth.User``) from the interceptor: reads
    show the shared models and the caller's own, canonical parameters go to the owner and
    administrators only, and changes are the owner's (or an administrator's).
    """

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
        # One user holds at most half the upload places (``shares``).
        self._user_uploads = UserShares(max(1, max_uploads // 2), "uploads")
        self._downloads = Bound(
            max_downloads,
            f"the registry already runs {max_downloads} downloads at once; retry in a few seconds",
        )

    @takes_user
    def UploadModel(
        self,
        request_iterator: Iterator[registry_pb2.UploadModelRequest],
        context: grpc.ServicerContext,
        user: User = ANONYMOUS,
    ) -> registry_pb2.UploadModelResponse:
        with self._user_uploads.taken(user), self._uploads.taken():
            metadata, chunks = _upload_parts(request_iterator)
            result = self._store.put(declaration_from_proto(metadata, user), chunks, user)
        return registry_pb2.UploadModelResponse(
            model=metadata_to_proto(result.record, user), created=result.created
        )

    @takes_user
    def DownloadModel(
        self,
        request: registry_pb2.DownloadModelRequest,
        context: grpc.ServicerContext,
        user: User = ANONYMOUS,
    ) -> Iterator[registry_pb2.DownloadModelResponse]:
        key = validation.check_key(request.ref.model_hash, request.ref.episodes)
        with self._downloads.taken():
            record, handle = self._store.open(key, user)
            with handle:  # closed even when the client goes away after the metadata
                yield registry_pb2.DownloadModelResponse(metadata=metadata_to_proto(record, user))
                while block := handle.read(CHUNK_BYTES):
                    yield registry_pb2.DownloadModelResponse(chunk=block)

    @takes_user
    def FindCompatibleModel(
        self,
        request: registry_pb2.FindCompatibleModelRequest,
        context: grpc.ServicerContext,
        user: User = ANONYMOUS,
    ) -> registry_pb2.FindCompatibleModelResponse:
        min_episodes = (
            request.min_episodes if request.HasField("min_episodes") else self._default_min_episodes
        )
        wanted = validation.check_max_candidates(request.max_candidates)
        records = self._store.compatible(request.model_hash, min_episodes, user, wanted)
        candidates = [metadata_to_proto(r, user) for r in records]
        return registry_pb2.FindCompatibleModelResponse(model=candidates[0], candidates=candidates)

    @takes_user
    def FindNearModels(
        self,
        request: registry_pb2.FindNearModelsRequest,
        context: grpc.ServicerContext,
        user: User = ANONYMOUS,
    ) -> registry_pb2.FindNearModelsResponse:
        max_distance = request.max_distance if request.HasField("max_distance") else None
        features = validation.check_near_query(
            tuple(request.features), request.features_version, max_distance
        )
        min_episodes = (
            validation.check_min_episodes(request.min_episodes)
            if request.HasField("min_episodes")
            else self._default_min_episodes
        )
        if request.exclude_hash:
            validation.check_hash(request.exclude_hash, "exclude_hash")
        query = NearQuery(
            features=features,
            max_distance=NEAR_MATCH_THRESHOLD if max_distance is None else max_distance,
            max_candidates=validation.check_near_candidates(request.max_candidates),
            min_episodes=min_episodes,
            exclude_hash=request.exclude_hash,
        )
        return registry_pb2.FindNearModelsResponse(
            models=[
                registry_pb2.NearModel(model=metadata_to_proto(n.record, user), distance=n.distance)
                for n in nearest(self._store.with_features(request.features_version, user), query)
            ]
        )

    @takes_user
    def GetModel(
        self,
        request: registry_pb2.GetModelRequest,
        context: grpc.ServicerContext,
        user: User = ANONYMOUS,
    ) -> registry_pb2.GetModelResponse:
        key = validation.check_key(request.ref.model_hash, request.ref.episodes)
        return registry_pb2.GetModelResponse(
            model=metadata_to_proto(self._store.get(key, user), user)
        )

    @takes_user
    def ListModels(
        self,
        request: registry_pb2.ListModelsRequest,
        context: grpc.ServicerContext,
        user: User = ANONYMOUS,
    ) -> registry_pb2.ListModelsResponse:
        only = ListFilter(
            kind=kind_from_proto(request.kind, "kind") or None,
            owner=request.owner or None,
            parent=(
                validation.check_key(request.parent.model_hash, request.parent.episodes, "parent.")
                if request.HasField("parent")
                else None
            ),
        )
        page = self._store.list_page(
            request.model_hash or None, request.page_size, request.page_token, user, only
        )
        return registry_pb2.ListModelsResponse(
            models=[metadata_to_proto(r, user) for r in page.records],
            next_page_token=page.next_page_token,
        )

    @takes_user
    def DeleteModel(
        self,
        request: registry_pb2.DeleteModelRequest,
        context: grpc.ServicerContext,
        user: User = ANONYMOUS,
    ) -> registry_pb2.DeleteModelResponse:
        key = validation.check_key(request.ref.model_hash, request.ref.episodes)
        user.require_credential("DeleteModel")
        return registry_pb2.DeleteModelResponse(
            model=metadata_to_proto(self._store.delete(key, user), user)
        )

    @takes_user
    def CleanupModels(
        self,
        request: registry_pb2.CleanupModelsRequest,
        context: grpc.ServicerContext,
        user: User = ANONYMOUS,
    ) -> registry_pb2.CleanupModelsResponse:
        """An administrator cleans up every model, a user their own; a dry run needs no
        credential and lists what the caller's cleanup would delete (for an anonymous
        caller: the shared models that old)."""
        if not request.dry_run:
            user.require_credential("CleanupModels")
        report = cleanup_models(
            self._store, request.max_age_days, dry_run=request.dry_run, user=user
        )
        return registry_pb2.CleanupModelsResponse(
            models=[ref_from_key(r.key) for r in report.selected],
            deleted_count=report.deleted_count,
        )

    @takes_user
    def QuarantineModel(
        self,
        request: registry_pb2.QuarantineModelRequest,
        context: grpc.ServicerContext,
        user: User = ANONYMOUS,
    ) -> registry_pb2.QuarantineModelResponse:
        key = validation.check_key(request.ref.model_hash, request.ref.episodes)
        sha256 = validation.check_sha256(request.sha256)
        reason = validation.quarantine_reason(request.reason)
        _require_service(user, "QuarantineModel")
        record = self._store.quarantine(key, sha256, reason)
        return registry_pb2.QuarantineModelResponse(model=metadata_to_proto(record, user))

    @takes_user
    def RecordEvaluation(
        self,
        request: registry_pb2.RecordEvaluationRequest,
        context: grpc.ServicerContext,
        user: User = ANONYMOUS,
    ) -> registry_pb2.RecordEvaluationResponse:
        key = validation.check_key(request.ref.model_hash, request.ref.episodes)
        sha256 = validation.check_sha256(request.sha256)
        if not request.HasField("evaluation"):
            raise InvalidArgument.field("evaluation", "is required")
        if not math.isfinite(request.evaluation.score):
            raise InvalidArgument.field("evaluation.score", "must be a finite number")
        _require_service(user, "RecordEvaluation")
        record = self._store.record_evaluation(
            key, sha256, request.evaluation.score, evaluation_json(request.evaluation)
        )
        return registry_pb2.RecordEvaluationResponse(model=metadata_to_proto(record, user))

    @takes_user
    def SetModelVisibility(
        self,
        request: registry_pb2.SetModelVisibilityRequest,
        context: grpc.ServicerContext,
        user: User = ANONYMOUS,
    ) -> registry_pb2.SetModelVisibilityResponse:
        key = validation.check_key(request.ref.model_hash, request.ref.episodes)
        visibility = visibility_from_proto(request.visibility, "visibility", default=False)
        user.require_credential("SetModelVisibility")
        record = self._store.set_visibility(key, visibility, user)
        return registry_pb2.SetModelVisibilityResponse(model=metadata_to_proto(record, user))


def _require_service(user: User, action: str) -> None:
    """Quarantines and verified scores come from glidepath's services (or the operator)."""
    user.require_credential(action)
    if not user.verified:
        raise PermissionDenied(
            f"{action} is for glidepath's services and administrators; {user.name!r} is neither"
        )
