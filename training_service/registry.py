"""The training service's calls to the model registry, each with a deadline.

Upload outcomes are sorted here into three kinds the spool acts on: landed (stored, or
the very same bytes were already stored), transient (the registry is down, slow, or its
disk is full: retry later) and permanent (the registry refused this model for good:
retrying would fail the same way). Downloading a parent model returns its verified
bytes; they are handed to the RL library's safe loader, never unpickled here. The calls
themselves are ``glidepath.clients.RegistryClient``'s; this module adds what the training
service makes of their outcomes.

Credentials: every call presents the service's own credential (``service_token``). A
call made for a user also names that user (``glidepath-on-behalf-of``): an upload, so
that the registry records the job's owner as the model's owner and counts the
evaluation as verified; a parent's metadata and bytes, so that a user fine-tunes only
from a model they may read. A parent's size is read from its metadata and checked
against the shared model size limit before a byte of it is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import grpc

from glidepath import errors, log, models
from glidepath.clients import Caller, Deadlines, ModelTooLarge
from glidepath.clients import RegistryClient as Registry
from glidepath.clients.registry import file_sha256
from glidepath.common.v1 import model_pb2
from glidepath.registry.v1 import registry_pb2
from glidepath.rpc.channel import open_channel
from glidepath.rpc.status import error_reason
from glidepath.text import clip

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
# An upload the registry refuses for the service's credential waits in the spool too: it is
# the service's configuration (GLIDEPATH_SERVICE_TOKEN) that is wrong, not the model, and
# a restart with the right credential resumes the spool.
CREDENTIAL_CODES = frozenset({grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED})


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
    max_model_bytes: int = models.DEFAULT_MAX_MODEL_BYTES
    _registry: Registry | None = field(default=None, repr=False)

    def _client(self, user_name: str = "") -> Registry:
        """The shared registry client, its calls carrying the service's credential (and
        the user it acts for, when named); its channel is opened on first use."""
        if self._registry is None:
            deadline = self.deadline_seconds
            self._registry = Registry(
                open_channel(self.address),
                Caller(self.token),
                Deadlines(call=deadline, transfer=deadline),
            )
        if not user_name:
            return self._registry
        return self._registry.as_caller(Caller(self.token, user_name))

    def upload(
        self, path: Path, metadata: registry_pb2.UploadModelMetadata, owner: str = ""
    ) -> model_pb2.ModelMetadata:
        """Store the file at ``path`` for ``owner`` (empty: the service itself); its
        registry metadata, or UploadFailed."""
        try:
            return self._client(owner).upload(path, metadata).model
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.ALREADY_EXISTS:
                return self._already_stored(path, metadata.ref)
            raise self._failure(exc) from None

    def _already_stored(self, path: Path, ref: model_pb2.ModelRef) -> model_pb2.ModelMetadata:
        """ALREADY_EXISTS: landed if the stored bytes are ours, a conflict otherwise."""
        try:
            stored = self._client().get(ref)
        except grpc.RpcError as exc:
            raise self._failure(exc) from None
        if stored.sha256 == file_sha256(path):
            return stored
        raise UploadFailed(
            f"the registry already holds a different model named {model_file_name(ref)} "
            f"(SHA-256 {stored.sha256}); this job's model is kept in the spool's rejected "
            "folder. Delete the stored model to replace it, or train another episode count",
            transient=False,
        )

    def _failure(self, exc: grpc.RpcError) -> UploadFailed:
        code = exc.code()
        transient = code in TRANSIENT_CODES | CREDENTIAL_CODES or (
            code == grpc.StatusCode.RESOURCE_EXHAUSTED
            and error_reason(exc) in ("DISK_FULL", "QUEUE_FULL")
        )
        detail = clip(exc.details() or code.name)
        return UploadFailed(f"registry {self.address}: {code.name}: {detail}", transient=transient)

    def stored_model(self, ref: model_pb2.ModelRef) -> model_pb2.ModelMetadata | None:
        """The registry's model under ``ref``; None when absent or the registry is unreachable.

        A pre-flight check only: when the registry cannot answer, training goes ahead and
        the spool deals with the registry later. Asked as the service: a name is taken
        whoever may read the model holding it.
        """
        try:
            return self._client().get(
                ref, timeout=min(PREFLIGHT_DEADLINE_SECONDS, self.deadline_seconds)
            )
        except grpc.RpcError:
            return None

    def parent_metadata(self, ref: model_pb2.ModelRef, user_name: str) -> model_pb2.ModelMetadata:
        """A parent's metadata as ``user_name`` may see it; NotFound, Unavailable or
        FailedPrecondition (too large, quarantined) before any byte is downloaded."""
        name = model_file_name(ref)
        try:
            model = self._client(user_name).get(ref)
        except grpc.RpcError as exc:
            raise self._parent_error(name, exc) from None
        if model.size_bytes > self.max_model_bytes:
            raise errors.FailedPrecondition(
                f"parent model {name} is {model.size_bytes:,} bytes, more than the "
                f"{self.max_model_bytes:,} bytes any glidepath service accepts "
                f"({models.MAX_MODEL_BYTES_VARIABLE}); choose another parent",
                reason="TOO_LARGE",
            )
        if model.quarantine_reason:
            raise errors.FailedPrecondition(
                f"parent model {name} is quarantined ({clip(model.quarantine_reason)}); "
                "choose another parent",
                reason="MODEL_QUARANTINED",
            )
        return model

    def fetch_parent(
        self, ref: model_pb2.ModelRef, user_name: str = ""
    ) -> tuple[model_pb2.ModelMetadata, bytes]:
        """A parent's metadata and verified bytes, fetched for ``user_name``; its size is
        checked before the download (:meth:`parent_metadata`)."""
        name = model_file_name(ref)
        metadata = self.parent_metadata(ref, user_name)
        try:
            _, data = self._client(user_name).download_bytes(ref, max_bytes=self.max_model_bytes)
        except grpc.RpcError as exc:
            raise self._parent_error(name, exc) from None
        except ModelTooLarge:  # replaced since the check
            raise errors.FailedPrecondition(
                f"parent model {name} is larger than {self.max_model_bytes:,} bytes",
                reason="TOO_LARGE",
            ) from None
        return metadata, data

    def _parent_error(self, name: str, exc: grpc.RpcError) -> errors.GlidepathError:
        code = exc.code()
        if code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED):
            return errors.NotFound(
                f"parent model {name} is not in the registry at {self.address}, or not "
                "yours to read",
                reason="MODEL_NOT_FOUND",
            )
        detail = clip(exc.details() or code.name)
        if code in TRANSIENT_CODES:
            return errors.Unavailable(
                f"cannot fetch parent model {name}: registry {self.address} answered "
                f"{code.name} ({detail}); retry when it is back"
            )
        return errors.FailedPrecondition(f"cannot fetch parent model {name}: {code.name}: {detail}")

    def quarantine(self, model: model_pb2.ModelMetadata, reason: str) -> bool:
        """Report a stored model that cannot be used (service credential); whether the
        registry took the report. Best effort: the caller's refusal stands either way."""
        try:
            self._client().quarantine(
                model,
                clip(reason, 400),
                timeout=min(PREFLIGHT_DEADLINE_SECONDS, self.deadline_seconds),
            )
        except grpc.RpcError as exc:
            log.event(
                "quarantine_report_failed",
                level="warning",
                file=model.file_name,
                code=exc.code().name,
                detail=clip(exc.details() or ""),
            )
            return False
        log.event("quarantine_reported", file=model.file_name, reason=clip(reason))
        return True

    def close(self) -> None:
        if self._registry is not None:
            self._registry.channel.close()
            self._registry = None
