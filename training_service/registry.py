"""The training service's calls to the model registry, each with a deadline.

Upload outcomes are sorted here into three kinds the spool acts on: landed (stored, or
the very same bytes were already stored), transient (the registry is down, slow, or its
disk is full: retry later) and permanent (the registry refused this model for good:
retrying would fail the same way). Downloading a parent model returns its verified
bytes; they are handed to the RL library's safe loader, never unpickled here.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from glidepath import errors, models
from glidepath.common.v1 import model_pb2
from glidepath.registry.v1 import registry_pb2, registry_pb2_grpc
from glidepath.registry_client import download_model, file_sha256, upload_model
from glidepath.rpc.channel import open_channel
from glidepath.rpc.status import error_reason

TRANSIENT_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.CANCELLED,
    }
)


# Seconds: a quick question asked while a client waits for StartTraining to answer.
PREFLIGHT_DEADLINE_SECONDS = 2.0


class UploadFailed(Exception):
    """An upload that did not land; ``transient`` says whether a retry may succeed."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient


def model_file_name(ref: model_pb2.ModelRef) -> str:
    return models.model_file_name(ref.model_hash, ref.episodes)


@dataclass
class RegistryClient:
    """One channel to the registry, reused by every call (thread-safe)."""

    address: str
    token: str | None = None
    deadline_seconds: float = 30.0
    _channel: grpc.Channel | None = field(default=None, repr=False)

    @property
    def channel(self) -> grpc.Channel:
        if self._channel is None:
            self._channel = open_channel(self.address)
        return self._channel

    def upload(
        self, path: Path, metadata: registry_pb2.UploadModelMetadata
    ) -> model_pb2.ModelMetadata:
        """Store the file at ``path``; its registry metadata, or UploadFailed."""
        try:
            response = upload_model(
                self.channel, path, metadata, token=self.token, timeout=self.deadline_seconds
            )
            return response.model
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.ALREADY_EXISTS:
                return self._already_stored(path, metadata.ref)
            raise self._failure(exc) from None

    def _already_stored(self, path: Path, ref: model_pb2.ModelRef) -> model_pb2.ModelMetadata:
        """ALREADY_EXISTS: landed if the stored bytes are ours, a conflict otherwise."""
        stub = registry_pb2_grpc.ModelRegistryStub(self.channel)
        try:
            reply: registry_pb2.GetModelResponse = stub.GetModel(
                registry_pb2.GetModelRequest(ref=ref), timeout=self.deadline_seconds
            )
        except grpc.RpcError as exc:
            raise self._failure(exc) from None
        if reply.model.sha256 == file_sha256(path):
            return reply.model
        raise UploadFailed(
            f"the registry already holds a different model named {model_file_name(ref)} "
            f"(SHA-256 {reply.model.sha256}); this job's model is kept in the spool's rejected "
            "folder. Delete the stored model to replace it, or train another episode count",
            transient=False,
        )

    def _failure(self, exc: grpc.RpcError) -> UploadFailed:
        code = exc.code()
        transient = code in TRANSIENT_CODES or (
            code == grpc.StatusCode.RESOURCE_EXHAUSTED
            and error_reason(exc) in ("DISK_FULL", "QUEUE_FULL")
        )
        detail = exc.details() or code.name
        return UploadFailed(f"registry {self.address}: {code.name}: {detail}", transient=transient)

    def stored_model(self, ref: model_pb2.ModelRef) -> model_pb2.ModelMetadata | None:
        """The registry's model under ``ref``; None when absent or the registry is unreachable.

        A pre-flight check only: when the registry cannot answer, training goes ahead and
        the spool deals with the registry later.
        """
        stub = registry_pb2_grpc.ModelRegistryStub(self.channel)
        try:
            reply: registry_pb2.GetModelResponse = stub.GetModel(
                registry_pb2.GetModelRequest(ref=ref),
                timeout=min(PREFLIGHT_DEADLINE_SECONDS, self.deadline_seconds),
            )
        except grpc.RpcError:
            return None
        return reply.model

    def download(self, ref: model_pb2.ModelRef) -> bytes:
        """A stored model's verified bytes (a parent to fine-tune from)."""
        name = model_file_name(ref)
        with tempfile.TemporaryDirectory(prefix="glidepath-parent-") as scratch:
            destination = Path(scratch) / name
            try:
                download_model(self.channel, ref, destination, timeout=self.deadline_seconds)
            except grpc.RpcError as exc:
                code = exc.code()
                if code == grpc.StatusCode.NOT_FOUND:
                    raise errors.NotFound(
                        f"parent model {name} is not in the registry at {self.address}",
                        reason="MODEL_NOT_FOUND",
                    ) from None
                if code in TRANSIENT_CODES:
                    raise errors.Unavailable(
                        f"cannot fetch parent model {name}: registry {self.address} answered "
                        f"{code.name} ({exc.details()}); retry when it is back"
                    ) from None
                raise errors.FailedPrecondition(
                    f"cannot fetch parent model {name}: {code.name}: {exc.details()}"
                ) from None
            return destination.read_bytes()

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
