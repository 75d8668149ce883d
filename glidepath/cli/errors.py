"""Failures as one line a person can act on, and the exit codes the client returns.

Exit codes: 0 success; 1 a service failed or could not be reached (UNAVAILABLE, a
deadline, NOT_FOUND, ...); 2 the input is wrong (a bad command line, an unreadable or
invalid household file, a request a service rejected as INVALID_ARGUMENT); 130 Ctrl-C.

A gRPC failure is translated at the call site by :func:`rpc_errors`, which knows which
peer was called, at which address, with which deadline, so that the line can say
"registry at 127.0.0.1:50053 is unavailable" instead of a stack trace.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import grpc

from glidepath.cli.peers import REGISTRY, Peer
from glidepath.rpc.status import bad_fields

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """A failure the client reports as one line on stderr with ``exit_code``."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def describe_rpc_error(error: grpc.RpcError, peer: Peer, address: str, deadline: float) -> CliError:
    """The one-line explanation of a failed call to ``peer``."""
    code: grpc.StatusCode = error.code()
    details = (error.details() or "").strip()
    where = f"{peer.title} at {address}"
    if code == grpc.StatusCode.UNAVAILABLE:
        return CliError(
            f"{where} is unavailable (is `glidepath up` running? {peer.env_var} sets the address)"
        )
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return CliError(f"{where} did not answer within {deadline:g} s")
    if code == grpc.StatusCode.UNAUTHENTICATED:
        hint = " (set REGISTRY_TOKEN to its token)" if peer == REGISTRY else ""
        return CliError(f"{where} refused the call: {details}{hint}")
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        fields = bad_fields(error)
        named = (
            f" [fields: {', '.join(fields)}]" if fields and not _all_named(fields, details) else ""
        )
        return CliError(f"{peer.title} rejected the request: {details}{named}", EXIT_USAGE)
    return CliError(f"{peer.title}: {details or 'no details'} ({code.name})")


def _all_named(fields: list[str], details: str) -> bool:
    """True when the status message already names every bad field (no need to repeat)."""
    return all(field in details for field in fields)


@contextmanager
def rpc_errors(peer: Peer, address: str, deadline: float) -> Iterator[None]:
    """Turn a failed call (or stream) to ``peer`` inside the block into a CliError."""
    try:
        yield
    except grpc.RpcError as error:
        raise describe_rpc_error(error, peer, address, deadline) from None
