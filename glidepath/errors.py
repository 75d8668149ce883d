"""Errors the domain raises, free of gRPC.

Domain code (storage, engine, training) raises these; the gRPC layer
(``glidepath.rpc.status``) turns each into a status code with a message a person can
act on, plus machine-readable details. Keeping gRPC out of the domain lets the domain be
tested directly and reused by the command-line client.

``reason`` is the name of a ``glidepath.common.v1.ErrorReason`` value without its prefix,
e.g. ``"NO_MODEL_FOR_HASH"``.
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
    reason = "MODEL_NOT_FOUND"


class AlreadyExists(GlidepathError):
    reason = "MODEL_CONFLICT"


class ResourceExhausted(GlidepathError):
    """A limit was reached (size cap, full disk, busy workers): retrying later may work."""

    reason = "TOO_LARGE"


class DataLoss(GlidepathError):
    """Bytes arrived that do not match what was declared (size, checksum)."""

    reason = "CHECKSUM_MISMATCH"


class Unauthenticated(GlidepathError):
    reason = "UNAUTHENTICATED"


class FailedPrecondition(GlidepathError):
    """The request is well formed but the system is not in a state to serve it."""


class Unavailable(GlidepathError):
    """A peer service cannot be reached; the message names it."""


class Cancelled(GlidepathError):
    """The caller cancelled, or its deadline passed, and the work stopped."""
