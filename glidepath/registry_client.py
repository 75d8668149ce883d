"""A small typed client for the model registry, shared by the services and the CLI.

It lives in the shared library (not in ``model_registry_service``) because no service may
import another service's package. Every call carries a deadline; uploads are streamed in
chunks well under gRPC's 4 MiB message limit; downloads are written to a temp file,
checked against the declared size and SHA-256, and only then renamed into place.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import grpc

from glidepath.auth import ON_BEHALF_OF_METADATA
from glidepath.common.v1 import model_pb2
from glidepath.errors import DataLoss
from glidepath.registry.v1 import registry_pb2, registry_pb2_grpc
from glidepath.rpc.channel import LONG_DEADLINE, SHORT_DEADLINE, bearer

UPLOAD_CHUNK_BYTES = 256 * 1024


def call_metadata(
    token: str | None = None, on_behalf_of: str | None = None
) -> tuple[tuple[str, str], ...]:
    """The credential, and the user a service acts for (honoured from services only)."""
    metadata = bearer(token)
    if on_behalf_of:
        metadata += ((ON_BEHALF_OF_METADATA, on_behalf_of),)
    return metadata


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


def upload_model(
    channel: grpc.Channel,
    path: Path,
    metadata: registry_pb2.UploadModelMetadata,
    *,
    token: str | None = None,
    timeout: float = LONG_DEADLINE,
    on_behalf_of: str | None = None,
) -> registry_pb2.UploadModelResponse:
    """Upload ``path``; size_bytes and sha256 are filled in from the file itself. The
    model's owner is the caller, or ``on_behalf_of`` when the caller is a service."""
    declared = registry_pb2.UploadModelMetadata()
    declared.CopyFrom(metadata)
    declared.size_bytes = path.stat().st_size
    declared.sha256 = file_sha256(path)
    stub = registry_pb2_grpc.ModelRegistryStub(channel)
    response: registry_pb2.UploadModelResponse = stub.UploadModel(
        _upload_requests(path, declared),
        timeout=timeout,
        metadata=call_metadata(token, on_behalf_of),
    )
    return response


def download_model(
    channel: grpc.Channel,
    ref: model_pb2.ModelRef,
    destination: Path,
    *,
    timeout: float = LONG_DEADLINE,
    token: str | None = None,
    on_behalf_of: str | None = None,
) -> model_pb2.ModelMetadata:
    """Download a model to ``destination`` (atomically) and verify it; its metadata."""
    stub = registry_pb2_grpc.ModelRegistryStub(channel)
    temp = destination.with_name(f".{destination.name}.part")
    digest = hashlib.sha256()
    metadata: model_pb2.ModelMetadata | None = None
    received = 0
    try:
        with temp.open("wb") as out:
            for message in stub.DownloadModel(
                registry_pb2.DownloadModelRequest(ref=ref),
                timeout=timeout,
                metadata=call_metadata(token, on_behalf_of),
            ):
                if message.WhichOneof("content") == "metadata":
                    metadata = message.metadata
                    continue
                digest.update(message.chunk)
                received += len(message.chunk)
                out.write(message.chunk)
        if metadata is None:
            raise DataLoss(
                "the registry sent no metadata before the model's bytes", reason="CHECKSUM_MISMATCH"
            )
        if received != metadata.size_bytes or digest.hexdigest() != metadata.sha256:
            raise DataLoss(
                f"downloaded {received} bytes with SHA-256 {digest.hexdigest()}, expected "
                f"{metadata.size_bytes} bytes with {metadata.sha256}",
                reason="CHECKSUM_MISMATCH",
            )
        os.replace(temp, destination)
    finally:
        temp.unlink(missing_ok=True)
    return metadata


def find_compatible_model(
    channel: grpc.Channel,
    model_hash: str,
    min_episodes: int | None = None,
    *,
    timeout: float = SHORT_DEADLINE,
    token: str | None = None,
    on_behalf_of: str | None = None,
) -> model_pb2.ModelMetadata:
    """The registry's best model for the hash; grpc.RpcError NOT_FOUND says why not."""
    return find_candidates(
        channel,
        model_hash,
        min_episodes,
        1,
        timeout=timeout,
        token=token,
        on_behalf_of=on_behalf_of,
    )[0]


def find_candidates(
    channel: grpc.Channel,
    model_hash: str,
    min_episodes: int | None = None,
    max_candidates: int = 1,
    *,
    timeout: float = SHORT_DEADLINE,
    token: str | None = None,
    on_behalf_of: str | None = None,
) -> list[model_pb2.ModelMetadata]:
    """Up to ``max_candidates`` (at most 16) compatible models the caller (or the user a
    service acts for) may read, best first, never a quarantined one; never empty
    (grpc.RpcError NOT_FOUND says why none)."""
    stub = registry_pb2_grpc.ModelRegistryStub(channel)
    request = registry_pb2.FindCompatibleModelRequest(
        model_hash=model_hash, max_candidates=max_candidates
    )
    if min_episodes is not None:
        request.min_episodes = min_episodes
    response: registry_pb2.FindCompatibleModelResponse = stub.FindCompatibleModel(
        request, timeout=timeout, metadata=call_metadata(token, on_behalf_of)
    )
    return list(response.candidates) or [response.model]


def quarantine_model(
    channel: grpc.Channel,
    model: model_pb2.ModelMetadata,
    reason: str,
    *,
    token: str | None,
    timeout: float = SHORT_DEADLINE,
) -> model_pb2.ModelMetadata:
    """Mark ``model`` (those very bytes: its sha256) unusable; services and admins only."""
    stub = registry_pb2_grpc.ModelRegistryStub(channel)
    request = registry_pb2.QuarantineModelRequest(ref=model.ref, sha256=model.sha256, reason=reason)
    response: registry_pb2.QuarantineModelResponse = stub.QuarantineModel(
        request, timeout=timeout, metadata=bearer(token)
    )
    return response.model


def record_evaluation(
    channel: grpc.Channel,
    model: model_pb2.ModelMetadata,
    evaluation: model_pb2.ModelEvaluation,
    *,
    token: str | None,
    timeout: float = SHORT_DEADLINE,
) -> model_pb2.ModelMetadata:
    """Record the verified evaluation of ``model``'s bytes; glidepath services only."""
    stub = registry_pb2_grpc.ModelRegistryStub(channel)
    request = registry_pb2.RecordEvaluationRequest(
        ref=model.ref, sha256=model.sha256, evaluation=evaluation
    )
    response: registry_pb2.RecordEvaluationResponse = stub.RecordEvaluation(
        request, timeout=timeout, metadata=bearer(token)
    )
    return response.model
