"""The model registry's client: one method per RPC, model files moved safely.

    registry = RegistryClient(channel, Caller(token))
    best = registry.find(model_hash, min_episodes=500)[0]     # never empty; NOT_FOUND says why
    metadata, data = registry.download_bytes(best.ref, max_bytes=limit)  # verified bytes
    registry.download(best.ref, Path("best.zip"))             # verified, renamed into place
    registry.upload(Path("trained.zip"), UploadModelMetadata(ref=..., algorithm="PPO"))
    page = registry.list(ListModelsRequest(model_hash=h))     # one page; list_all: every page

Uploads are streamed in 256 KiB chunks, well under gRPC's 4 MiB message limit, and
declare the file's size and SHA-256 (filled in here from the file itself). Downloads are
checked against the size and SHA-256 in the metadata the registry sends first: a
mismatch is ``glidepath.errors.DataLoss`` (reason CHECKSUM_MISMATCH), and a stream that
runs past ``max_bytes`` is cancelled at once and raises ``ModelTooLarge``. A file
download goes to a temporary file beside the destination and is renamed into place only
once verified. ``download_stream`` hands out the raw stream for a caller that must be
able to cancel it from elsewhere (``read_model`` then reads and checks it).

Deadlines: ``Deadlines.call`` for questions, ``Deadlines.transfer`` for uploads and
downloads. Who may do what is the registry's decision: quarantining a model and
recording a verified evaluation need a service credential; deleting, cleaning up and
uploading need one whenever the registry runs with credentials.

The module functions ``upload_model``, ``download_model`` and ``find_compatible_model``
are one-shot forms of the same calls, for scripts and tests that hold a bare channel.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import grpc

from glidepath.clients.channel import Caller, Client, Stream
from glidepath.common.v1 import model_pb2
from glidepath.errors import DataLoss
from glidepath.registry.v1 import registry_pb2, registry_pb2_grpc
from glidepath.rpc.channel import LONG_DEADLINE, SHORT_DEADLINE

UPLOAD_CHUNK_BYTES = 256 * 1024
# The most models one ListModels page may hold; ``list_all`` follows the pages to the end.
LIST_PAGE_SIZE = 1000


class ModelTooLarge(Exception):
    """A download stream ran past its size limit (and was cancelled) at ``received`` bytes."""

    def __init__(self, received: int) -> None:
        super().__init__(f"the model's stream ran past its size limit at {received:,} bytes")
        self.received = received


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def _upload_requests(
    path: Path, metadata: registry_pb2.UploadModelMetadata
) -> Iterator[registry_pb2.UploadModelRequest]:
    yield registry_pb2.UploadModelRequest(metadata=metadata)
    with path.open("rb") as handle:
        while block := handle.read(UPLOAD_CHUNK_BYTES):
            yield registry_pb2.UploadModelRequest(chunk=block)


def read_model(
    stream: Iterable[registry_pb2.DownloadModelResponse],
    write: Callable[[bytes], Any],
    max_bytes: int | None = None,
) -> model_pb2.ModelMetadata:
    """Hand every chunk of a DownloadModel stream to ``write``; the model's metadata once
    the bytes are checked against it. ``ModelTooLarge`` (the stream cancelled) past
    ``max_bytes``, ``DataLoss`` when the size or SHA-256 differs."""
    digest = hashlib.sha256()
    metadata: model_pb2.ModelMetadata | None = None
    received = 0
    for message in stream:
        if message.WhichOneof("content") == "metadata":
            metadata = message.metadata
            continue
        received += len(message.chunk)
        if max_bytes is not None and received > max_bytes:
            cancel = getattr(stream, "cancel", None)
            if cancel is not None:
                cancel()
            raise ModelTooLarge(received)
        digest.update(message.chunk)
        write(message.chunk)
    if metadata is None:
        raise DataLoss(
            "the registry sent no metadata before the model's bytes", reason="CHECKSUM_MISMATCH"
        )
    if received != metadata.size_bytes or digest.hexdigest() != metadata.sha256:
        raise DataLoss(
            f"the registry sent {received:,} bytes of {metadata.file_name} with SHA-256 "
            f"{digest.hexdigest()}, expected {metadata.size_bytes:,} bytes with "
            f"{metadata.sha256} (damaged in the registry?)",
            reason="CHECKSUM_MISMATCH",
        )
    return metadata


class RegistryClient(Client):
    """The ModelRegistry service, one method per RPC (see the module docstring)."""

    def _make_stub(self, channel: grpc.Channel) -> registry_pb2_grpc.ModelRegistryStub:
        return registry_pb2_grpc.ModelRegistryStub(channel)

    # ------------------------------------------------------------------ questions

    def find(
        self,
        model_hash: str,
        min_episodes: int | None = None,
        max_candidates: int = 1,
        *,
        timeout: float | None = None,
    ) -> list[model_pb2.ModelMetadata]:
        """FindCompatibleModel: up to ``max_candidates`` (at most 16) models of the hash
        the caller may read, best first, never a quarantined one; never empty
        (NOT_FOUND says why none). ``min_episodes`` None: the registry's default."""
        request = registry_pb2.FindCompatibleModelRequest(
            model_hash=model_hash, max_candidates=max_candidates
        )
        if min_episodes is not None:
            request.min_episodes = min_episodes
        reply = self._stub.FindCompatibleModel(request, **self._call(timeout, self.deadlines.call))
        return list(reply.candidates) or [reply.model]

    def find_near(
        self,
        request: registry_pb2.FindNearModelsRequest,
        *,
        timeout: float | None = None,
    ) -> list[tuple[model_pb2.ModelMetadata, float]]:
        """FindNearModels: profile models of near households and their distances, nearest
        first; empty when none is near enough."""
        reply = self._stub.FindNearModels(request, **self._call(timeout, self.deadlines.call))
        return [(near.model, near.distance) for near in reply.models]

    def get(
        self, ref: model_pb2.ModelRef, *, timeout: float | None = None
    ) -> model_pb2.ModelMetadata:
        """GetModel: the model's metadata (NOT_FOUND when absent or not the caller's)."""
        request = registry_pb2.GetModelRequest(ref=ref)
        reply = self._stub.GetModel(request, **self._call(timeout, self.deadlines.call))
        return reply.model  # type: ignore[no-any-return]

    def list(
        self, request: registry_pb2.ListModelsRequest, *, timeout: float | None = None
    ) -> registry_pb2.ListModelsResponse:
        """ListModels: one page of the models the caller may read, filtered by the request."""
        reply: registry_pb2.ListModelsResponse = self._stub.ListModels(
            request, **self._call(timeout, self.deadlines.call)
        )
        return reply

    def list_all(
        self, query: registry_pb2.ListModelsRequest, *, timeout: float | None = None
    ) -> registry_pb2.ListModelsResponse:
        """Every page of ListModels for ``query`` (its filters) gathered into one response
        (next_page_token empty); ``timeout`` is per page."""
        gathered = registry_pb2.ListModelsResponse()
        request = registry_pb2.ListModelsRequest()
        request.CopyFrom(query)
        request.page_size = LIST_PAGE_SIZE
        while True:
            page = self.list(request, timeout=timeout)
            gathered.models.extend(page.models)
            request.page_token = page.next_page_token
            if not request.page_token:
                return gathered

    # ------------------------------------------------------------------ transfers

    def upload(
        self,
        path: Path,
        metadata: registry_pb2.UploadModelMetadata,
        *,
        timeout: float | None = None,
    ) -> registry_pb2.UploadModelResponse:
        """UploadModel: store the file at ``path``; size_bytes and sha256 are filled in
        from the file. Its owner is the caller (or the user a service acts for)."""
        declared = registry_pb2.UploadModelMetadata()
        declared.CopyFrom(metadata)
        declared.size_bytes = path.stat().st_size
        declared.sha256 = file_sha256(path)
        reply: registry_pb2.UploadModelResponse = self._stub.UploadModel(
            _upload_requests(path, declared), **self._call(timeout, self.deadlines.transfer)
        )
        return reply

    def download_stream(
        self, ref: model_pb2.ModelRef, *, timeout: float | None = None
    ) -> Stream[registry_pb2.DownloadModelResponse]:
        """DownloadModel's raw stream (metadata first, then chunks): read it with
        ``read_model``; ``cancel()`` stops it."""
        request = registry_pb2.DownloadModelRequest(ref=ref)
        stream: Stream[registry_pb2.DownloadModelResponse] = self._stub.DownloadModel(
            request, **self._call(timeout, self.deadlines.transfer)
        )
        return stream

    def download_bytes(
        self,
        ref: model_pb2.ModelRef,
        *,
        max_bytes: int | None = None,
        timeout: float | None = None,
    ) -> tuple[model_pb2.ModelMetadata, bytes]:
        """The model's metadata and verified bytes, held in memory."""
        chunks: list[bytes] = []
        metadata = read_model(self.download_stream(ref, timeout=timeout), chunks.append, max_bytes)
        return metadata, b"".join(chunks)

    def download(
        self, ref: model_pb2.ModelRef, destination: Path, *, timeout: float | None = None
    ) -> model_pb2.ModelMetadata:
        """Download to ``destination`` (atomically, once verified); the model's metadata."""
        temp = destination.with_name(f".{destination.name}.part")
        try:
            with temp.open("wb") as out:
                metadata = read_model(self.download_stream(ref, timeout=timeout), out.write)
            os.replace(temp, destination)
        finally:
            temp.unlink(missing_ok=True)
        return metadata

    # ------------------------------------------------------------------ writes

    def delete(
        self, ref: model_pb2.ModelRef, *, timeout: float | None = None
    ) -> model_pb2.ModelMetadata:
        """DeleteModel: the metadata of the model deleted."""
        request = registry_pb2.DeleteModelRequest(ref=ref)
        reply = self._stub.DeleteModel(request, **self._call(timeout, self.deadlines.call))
        return reply.model  # type: ignore[no-any-return]

    def cleanup(
        self, max_age_days: int, *, dry_run: bool, timeout: float | None = None
    ) -> registry_pb2.CleanupModelsResponse:
        """CleanupModels: the models stored more than ``max_age_days`` ago, deleted unless
        ``dry_run``. The registry goes on deleting after a deadline passes."""
        request = registry_pb2.CleanupModelsRequest(max_age_days=max_age_days, dry_run=dry_run)
        reply: registry_pb2.CleanupModelsResponse = self._stub.CleanupModels(
            request, **self._call(timeout, self.deadlines.call)
        )
        return reply

    def quarantine(
        self, model: model_pb2.ModelMetadata, reason: str, *, timeout: float | None = None
    ) -> model_pb2.ModelMetadata:
        """QuarantineModel: mark those very bytes (their sha256) unusable; services only."""
        request = registry_pb2.QuarantineModelRequest(
            ref=model.ref, sha256=model.sha256, reason=reason
        )
        reply = self._stub.QuarantineModel(request, **self._call(timeout, self.deadlines.call))
        return reply.model  # type: ignore[no-any-return]

    def record_evaluation(
        self,
        model: model_pb2.ModelMetadata,
        evaluation: model_pb2.ModelEvaluation,
        *,
        timeout: float | None = None,
    ) -> model_pb2.ModelMetadata:
        """RecordEvaluation: a verified evaluation of ``model``'s bytes; services only."""
        request = registry_pb2.RecordEvaluationRequest(
            ref=model.ref, sha256=model.sha256, evaluation=evaluation
        )
        reply = self._stub.RecordEvaluation(request, **self._call(timeout, self.deadlines.call))
        return reply.model  # type: ignore[no-any-return]


# ---------------------------------------------------------------------- one-shot calls


def upload_model(
    channel: grpc.Channel,
    path: Path,
    metadata: registry_pb2.UploadModelMetadata,
    *,
    token: str | None = None,
    timeout: float = LONG_DEADLINE,
    on_behalf_of: str | None = None,
) -> registry_pb2.UploadModelResponse:
    """``RegistryClient.upload`` over a bare channel."""
    client = RegistryClient(channel, Caller(token, on_behalf_of or ""))
    return client.upload(path, metadata, timeout=timeout)


def download_model(
    channel: grpc.Channel,
    ref: model_pb2.ModelRef,
    destination: Path,
    *,
    timeout: float = LONG_DEADLINE,
    token: str | None = None,
) -> model_pb2.ModelMetadata:
    """``RegistryClient.download`` over a bare channel."""
    return RegistryClient(channel, Caller(token)).download(ref, destination, timeout=timeout)


def find_compatible_model(
    channel: grpc.Channel,
    model_hash: str,
    min_episodes: int | None = None,
    *,
    timeout: float = SHORT_DEADLINE,
    token: str | None = None,
) -> model_pb2.ModelMetadata:
    """The best of ``RegistryClient.find`` over a bare channel."""
    return RegistryClient(channel, Caller(token)).find(model_hash, min_episodes, timeout=timeout)[0]
