"""Errors the domain raises, free of gRPC.

Domain code (storage, engine, training) raises these; the gRPC layer
(``glidepath.rpc.status``) turns each into a status code with a message a person can
act on, plus machine-readable details. Keeping gRPC out of the domain lets the domain be
tested directly and reused by the command-line client.

``reason`` is the name of a ``glidepath.common.v1.ErrorReason`` value without its
``ERROR_REASON_`` prefix, e.g. ``"NO_MODEL_FOR_HASH"``, exactly as it travels in
``google.rpc.ErrorInfo.reason``. Each class defaults to the generic reason of its status
code; a raiser names a more specific one where a client can act on the difference (a test
checks that every reason raised is a value of the enum).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class GlidepathError(Exception):
    """A failure the caller can understand and act on."""

    reason: str = "UNSPECIFIED"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason


@dataclass(frozen=True)
class FieldViolation:
    """One bad input field: its dotted path (``household.adults[0].current_age``) and why."""

    field: str
    description: str


class InvalidArgument(GlidepathError):
    """The request itself is wrong; the violations name each bad field."""

    reason = "INVALID_FIELD"

    def __init__(
        self, violations: Iterable[FieldViolation] | FieldViolation, *, reason: str | None = None
    ) -> None:
        if isinstance(violations, FieldViolation):
            violations = [violations]
        self.violations = list(violations)
        message = "; ".join(f"{v.field}: {v.description}" for v in self.violations)
        super().__init__(message or "invalid argument", reason=reason)

    @classmethod
    def field(cls, field: str, description: str, *, reason: str | None = None) -> InvalidArgument:
        return cls(FieldViolation(field, description), reason=reason)


class NotFound(GlidepathError):
    reason = "NOT_FOUND"


class AlreadyExists(GlidepathError):
    reason = "ALREADY_EXISTS"


class ResourceExhausted(GlidepathError):
    """A limit was reached (full disk, busy workers, a user's share): retrying later may
    work. A permanent limit (a file over the size cap) is FailedPrecondition instead."""

    reason = "RESOURCE_EXHAUSTED"


class DataLoss(GlidepathError):
    """Bytes do not match what was declared (size, checksum), or stored data is damaged."""

    reason = "DATA_LOSS"


class Unauthenticated(GlidepathError):
    """No credential where one is needed, or one that nobody holds."""

    reason = "UNAUTHENTICATED"


class PermissionDenied(GlidepathError):
    """The caller is known but may not do this: it belongs to another user."""

    reason = "PERMISSION_DENIED"


class FailedPrecondition(GlidepathError):
    """The request is well formed but the system is not in a state to serve it."""

    reason = "FAILED_PRECONDITION"


class Unavailable(GlidepathError):
    """A peer service cannot be reached; the message names it."""

    reason = "UNAVAILABLE"


class Cancelled(GlidepathError):
    """The caller cancelled, or its deadline passed, and the work stopped."""

    reason = "CANCELLED"
