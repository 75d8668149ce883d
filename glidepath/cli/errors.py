"""Failures as one line a person can act on, and the exit codes the client returns.

Exit codes: 0 success; 1 a service failed or could not be reached (UNAVAILABLE, a
deadline, NOT_FOUND, a refused credential, ...); 2 the input is wrong (a bad command line,
an unreadable or invalid household file, a request a service rejected as
INVALID_ARGUMENT); 130 Ctrl-C.

A gRPC failure is translated at the call site by :func:`rpc_errors`, which knows which
peer was called, at which address, with which deadline, so that the line can say
"cannot connect to the registry at 127.0.0.1:50053" instead of a stack trace. Two
failures that share a status code read differently: a peer the client cannot reach, and
a peer that answered with its own status (UNAVAILABLE from the simulation service whose
message names the training service it could not reach). The server's message is kept,
cut to one line of bounded length, since it is the only place that names the real cause.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import grpc
from grpc_status import rpc_status

from glidepath.cli.flag_words import in_flag_words
from glidepath.cli.peers import Peer
from glidepath.rpc.status import bad_fields

if TYPE_CHECKING:
    from glidepath.cli.credentials import Credential

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

# A server's message is echoed up to this many characters: enough for a sentence naming
# a peer and its address, never a page of someone else's dump.
MESSAGE_LIMIT = 400
# What grpc itself says when it found no server to talk to (the message is the client's).
_CANNOT_CONNECT = ("failed to connect", "dns resolution failed", "connection refused")


class CliError(Exception):
    """A failure the client reports as one line on stderr with ``exit_code``."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def one_line(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` on one line (control characters become spaces), cut to ``limit`` characters."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def describe_rpc_error(
    error: grpc.RpcError,
    peer: Peer,
    address: str,
    deadline: float,
    credential: Credential,
) -> CliError:
    """The one-line explanation of a failed call to ``peer`` made with ``credential``."""
    code: grpc.StatusCode = error.code()
    # The service names request fields; the person typed flags (glidepath.cli.flag_words).
    details = in_flag_words(one_line(error.details() or ""))
    where = f"{peer.title} at {address}"
    answered = _server_status(error)
    if code == grpc.StatusCode.UNAVAILABLE:
        return _unavailable(peer, address, details, answered)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED and not answered:
        return CliError(f"{where} did not answer within {deadline:g} s")
    if code == grpc.StatusCode.UNAUTHENTICATED:
        hint = credential.refused_hint()
        return CliError(f"{where} refused the call: {details or 'no credential'} ({hint})")
    if code == grpc.StatusCode.PERMISSION_DENIED:
        hint = credential.denied_hint()
        return CliError(f"{where} denied the call: {details or 'not allowed'} ({hint})")
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        fields = [in_flag_words(field) for field in bad_fields(error)] if answered else []
        named = (
            f" [fields: {one_line(', '.join(fields))}]"
            if fields and not _all_named(fields, details)
            else ""
        )
        return CliError(f"{peer.title} rejected the request: {details}{named}", EXIT_USAGE)
    return CliError(f"{peer.title}: {details or 'no details'} ({code.name})")


def _unavailable(peer: Peer, address: str, details: str, answered: bool) -> CliError:
    """The peer is down (the client's own verdict), or up and saying something is."""
    where = f"{peer.title} at {address}"
    if answered:
        return CliError(f"{where} could not complete the call: {details} (UNAVAILABLE)")
    if not details or any(sign in details.lower() for sign in _CANNOT_CONNECT):
        return CliError(
            f"cannot connect to the {where} (is `glidepath up` running? "
            f"{peer.env_var} sets the address)"
        )
    return CliError(f"lost the connection to the {where}: {details}")


def _server_status(error: grpc.RpcError) -> bool:
    """True when the peer itself sent the status (glidepath's services attach details).

    A status the client library made up (no server reached, deadline passed locally)
    carries no details in its trailing metadata.
    """
    try:
        return rpc_status.from_call(error) is not None  # type: ignore[arg-type]
    except (AttributeError, ValueError):
        return False


def _all_named(fields: list[str], details: str) -> bool:
    """True when the status message already names every bad field (no need to repeat)."""
    return all(field in details for field in fields)


@contextmanager
def rpc_errors(peer: Peer, address: str, deadline: float, credential: Credential) -> Iterator[None]:
    """Turn a failed call (or stream) to ``peer`` inside the block into a CliError."""
    try:
        yield
    except grpc.RpcError as error:
        raise describe_rpc_error(error, peer, address, deadline, credential) from None
