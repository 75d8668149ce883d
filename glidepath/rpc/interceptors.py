"""Server interceptors: one log line per request, domain errors to statuses, auth.

Servicers stay thin because the cross-cutting work happens here, once: every handler is
wrapped so that it is timed and logged, a ``GlidepathError`` it raises becomes the
matching status (with details), an unexpected exception becomes INTERNAL with a generic
message (the traceback goes to the log, not to the client), and mutating methods can
require a bearer token. A request whose bytes do not parse as the method's message
(garbage on the wire) is INVALID_ARGUMENT naming the expected type, rather than the
INTERNAL "Exception deserializing request!" gRPC itself would answer.
"""

from __future__ import annotations

import hmac
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from glidepath import errors, log
from glidepath.rpc.status import status_code_for, to_status

Behavior = Callable[..., Any]


def _code_name(context: grpc.ServicerContext, default: grpc.StatusCode) -> str:
    code = context.code()
    if code is None:
        code = default if context.is_active() else grpc.StatusCode.CANCELLED
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    return str(code)


class _Outcome:
    """What the wrapper learned about one call, for its log line."""

    def __init__(self) -> None:
        self.code = grpc.StatusCode.OK
        self.detail: str | None = None


def _handle_error(
    exc: BaseException, context: grpc.ServicerContext, outcome: _Outcome, method: str
) -> None:
    """Abort the call with a status for ``exc``; always raises."""
    if isinstance(exc, errors.GlidepathError):
        outcome.code = status_code_for(exc)
        outcome.detail = exc.message
        context.abort_with_status(to_status(exc))
    outcome.code = grpc.StatusCode.INTERNAL
    log.event("unhandled_exception", level="error", method=method, traceback=traceback.format_exc())
    context.abort(grpc.StatusCode.INTERNAL, f"internal error in {method}; see the server log")


class RequestInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Logs, translates errors and (optionally) checks a bearer token on every call.

    ``token``: when set, methods in ``protected_methods`` (full names such as
    ``/glidepath.registry.v1.ModelRegistry/DeleteModel``) need the metadata
    ``authorization: Bearer <token>``. The token itself never reaches a log line.
    """

    def __init__(self, token: str | None = None, protected_methods: frozenset[str] = frozenset()):
        self._token = token
        self._protected = protected_methods

    def intercept_service(
        self, continuation: Callable[[Any], Any], handler_call_details: Any
    ) -> Any:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method: str = handler_call_details.method
        if method.startswith("/grpc.health.") or method.startswith("/grpc.reflection."):
            return handler
        denied = self._authorisation_error(method, handler_call_details.invocation_metadata)
        deserializer = _tolerant(handler.request_deserializer)
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(handler.unary_unary, method, denied, streaming=False),
                deserializer,
                handler.response_serializer,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                self._wrap_unary(handler.stream_unary, method, denied, streaming=True),
                deserializer,
                handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(handler.unary_stream, method, denied, streaming=False),
                deserializer,
                handler.response_serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            self._wrap_stream(handler.stream_stream, method, denied, streaming=True),
            deserializer,
            handler.response_serializer,
        )

    def _authorisation_error(
        self, method: str, metadata: tuple[tuple[str, Any], ...] | None
    ) -> errors.Unauthenticated | None:
        if self._token is None or method not in self._protected:
            return None
        presented = ""
        for key, value in metadata or ():
            if key.lower() == "authorization" and isinstance(value, str):
                presented = value
        scheme, _, credential = presented.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            credential.strip().encode(), self._token.encode()
        ):
            return None
        what = "a wrong bearer token" if presented else "no bearer token"
        return errors.Unauthenticated(
            f"{method.rsplit('/', 1)[-1]} changes stored data and needs the registry's token "
            f"(metadata 'authorization: Bearer <REGISTRY_TOKEN>'); the call came with {what}"
        )

    @staticmethod
    def _wrap_unary(
        behavior: Behavior, method: str, denied: errors.GlidepathError | None, streaming: bool
    ) -> Behavior:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
            started = time.monotonic()
            outcome = _Outcome()
            try:
                if denied is not None:
                    raise denied
                return behavior(_parsed(request, streaming), context)
            except Exception as exc:
                if context.code() is not None:  # the servicer aborted by itself
                    raise
                _handle_error(exc, context, outcome, method)
            finally:
                _log_request(method, context, outcome, started)

        return wrapped

    @staticmethod
    def _wrap_stream(
        behavior: Behavior, method: str, denied: errors.GlidepathError | None, streaming: bool
    ) -> Behavior:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            started = time.monotonic()
            outcome = _Outcome()
            try:
                if denied is not None:
                    raise denied
                yield from behavior(_parsed(request, streaming), context)
            except GeneratorExit:
                raise
            except Exception as exc:
                if context.code() is not None:
                    raise
                _handle_error(exc, context, outcome, method)
            finally:
                _log_request(method, context, outcome, started)

        return wrapped


class _Unparseable:
    """Stands in for a request whose bytes did not parse; the handler wrapper rejects it."""

    def __init__(self, type_name: str, problem: str) -> None:
        self.type_name = type_name
        self.problem = problem

    def error(self) -> errors.InvalidArgument:
        return errors.InvalidArgument.field(
            "request", f"is not a serialized {self.type_name} ({self.problem})"
        )


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """The deserializer, answering an ``_Unparseable`` instead of raising."""
    if deserializer is None:
        return None
    descriptor = getattr(getattr(deserializer, "__self__", None), "DESCRIPTOR", None)
    type_name = str(getattr(descriptor, "full_name", "request message"))

    def parse(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception as exc:
            return _Unparseable(type_name, type(exc).__name__)

    return parse


def _parsed(request: Any, streaming: bool) -> Any:
    """The request, or its stream, raising InvalidArgument where a message did not parse."""
    if not streaming:
        if isinstance(request, _Unparseable):
            raise request.error()
        return request
    return _checked_stream(request)


def _checked_stream(requests: Iterator[Any]) -> Iterator[Any]:
    for request in requests:
        if isinstance(request, _Unparseable):
            raise request.error()
        yield request


def _log_request(
    method: str, context: grpc.ServicerContext, outcome: _Outcome, started: float
) -> None:
    fields: dict[str, Any] = {
        "method": method,
        "code": _code_name(context, outcome.code),
        "duration_ms": round((time.monotonic() - started) * 1000, 2),
        "peer": context.peer(),
    }
    if outcome.detail:
        fields["detail"] = outcome.detail
    log.event("request", **fields)
