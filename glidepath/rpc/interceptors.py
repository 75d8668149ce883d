"""Server interceptors: one log line per request, domain errors to statuses, auth.

Servicers stay thin because the cross-cutting work happens here, once: every handler is
wrapped so that it is timed and logged, a ``GlidepathError`` it raises becomes the
matching status (with details), an unexpected exception becomes INTERNAL with a generic
message (the traceback goes to the log, not to the client), and the caller is
authenticated: the bearer credential becomes a ``glidepath.auth.User`` (a wrong credential
is refused on every method), write methods refuse an anonymous caller, and a servicer
method marked with :func:`takes_user` receives that user as a plain ``user`` argument. A
request whose bytes do not parse as the method's message (garbage on the wire) is
INVALID_ARGUMENT naming the expected type, rather than the INTERNAL "Exception
deserializing request!" gRPC itself would answer. Messages that reach a log line are
clipped (``glidepath.text.clip``): a request cannot grow the log by megabytes.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from glidepath import errors, log
from glidepath.auth import ON_BEHALF_OF_METADATA, Authenticator, OpenAccess, User
from glidepath.rpc.status import status_code_for, to_status
from glidepath.text import clip

Behavior = Callable[..., Any]
_WANTS_USER = "__glidepath_takes_user__"


def takes_user(method: Behavior) -> Behavior:
    """Mark a servicer method ``(self, request, context, user=ANONYMOUS)``: the interceptor
    passes the authenticated caller as ``user``."""
    setattr(method, _WANTS_USER, True)
    return method


def _metadata_values(metadata: tuple[tuple[str, Any], ...] | None, name: str) -> list[str]:
    return [
        value.strip()
        for key, value in metadata or ()
        if key.lower() == name and isinstance(value, str) and value.strip()
    ]


def _code_name(context: grpc.ServicerContext, default: grpc.StatusCode) -> str:
    code = context.code()
    if code is None:
        code = default if context.is_active() else grpc.StatusCode.CANCELLED
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    return str(code)


class _Outcome:
    """What the wrapper learned about one call, for its log line."""

    def __init__(self, user: User) -> None:
        self.code = grpc.StatusCode.OK
        self.detail: str | None = None
        self.user = user


def _with_user(behavior: Behavior, user: User) -> Behavior:
    """The servicer method, given ``user`` when it asked for it (:func:`takes_user`)."""
    if not getattr(behavior, _WANTS_USER, False):
        return behavior

    def call(request: Any, context: grpc.ServicerContext) -> Any:
        return behavior(request, context, user=user)

    return call


def _handle_error(
    exc: BaseException, context: grpc.ServicerContext, outcome: _Outcome, method: str
) -> None:
    """Abort the call with a status for ``exc``; always raises."""
    if isinstance(exc, errors.GlidepathError):
        outcome.code = status_code_for(exc)
        outcome.detail = clip(exc.message, 500)
        context.abort_with_status(to_status(exc))
    outcome.code = grpc.StatusCode.INTERNAL
    log.event("unhandled_exception", level="error", method=method, traceback=traceback.format_exc())
    context.abort(grpc.StatusCode.INTERNAL, f"internal error in {method}; see the server log")


class RequestInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Logs, translates errors and authenticates every call.

    ``write_methods`` (full names such as ``/glidepath.registry.v1.ModelRegistry/DeleteModel``)
    refuse an anonymous caller with UNAUTHENTICATED. The credential itself never reaches a
    log line; the user's name does.
    """

    def __init__(
        self,
        authenticator: Authenticator | None = None,
        write_methods: frozenset[str] = frozenset(),
    ):
        self._authenticator: Authenticator = authenticator or OpenAccess()
        self._writes = write_methods

    def intercept_service(
        self, continuation: Callable[[Any], Any], handler_call_details: Any
    ) -> Any:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method: str = handler_call_details.method
        if method.startswith("/grpc.health.") or method.startswith("/grpc.reflection."):
            return handler
        user, denied = self._caller(method, handler_call_details.invocation_metadata)
        deserializer = _tolerant(handler.request_deserializer)
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(handler.unary_unary, method, user, denied, streaming=False),
                deserializer,
                handler.response_serializer,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                self._wrap_unary(handler.stream_unary, method, user, denied, streaming=True),
                deserializer,
                handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(handler.unary_stream, method, user, denied, streaming=False),
                deserializer,
                handler.response_serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            self._wrap_stream(handler.stream_stream, method, user, denied, streaming=True),
            deserializer,
            handler.response_serializer,
        )

    def _caller(
        self, method: str, metadata: tuple[tuple[str, Any], ...] | None
    ) -> tuple[User, errors.GlidepathError | None]:
        """The authenticated user (a service may name whom it acts for), or why not."""
        presented = _metadata_values(metadata, "authorization")
        credential: str | None = None
        if len(presented) > 1:
            return User(""), errors.Unauthenticated(
                "the call carried more than one authorization value; send exactly one"
            )
        if presented:
            scheme, _, credential = presented[0].partition(" ")
            if scheme.lower() != "bearer" or not credential.strip():
                return User(""), errors.Unauthenticated(
                    "the authorization metadata must read 'Bearer <token>'"
                )
        try:
            user = self._authenticator.authenticate(credential)
        except errors.Unauthenticated as exc:
            return User(""), exc
        on_behalf_of = _metadata_values(metadata, ON_BEHALF_OF_METADATA)
        if len(on_behalf_of) == 1:
            user = user.acting_for(on_behalf_of[0])
        if method in self._writes and user.anonymous:
            action = method.rsplit("/", 1)[-1]
            return user, errors.Unauthenticated(
                f"{action} changes stored data and needs a credential (metadata "
                "'authorization: Bearer <token>'; the CLI sends GLIDEPATH_TOKEN); the call "
                "came with none"
            )
        return user, None

    @staticmethod
    def _wrap_unary(
        behavior: Behavior,
        method: str,
        user: User,
        denied: errors.GlidepathError | None,
        streaming: bool,
    ) -> Behavior:
        call = _with_user(behavior, user)

        def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
            started = time.monotonic()
            outcome = _Outcome(user)
            try:
                if denied is not None:
                    raise denied
                return call(_parsed(request, streaming), context)
            except Exception as exc:
                if context.code() is not None:  # the servicer aborted by itself
                    raise
                _handle_error(exc, context, outcome, method)
            finally:
                _log_request(method, context, outcome, started)

        return wrapped

    @staticmethod
    def _wrap_stream(
        behavior: Behavior,
        method: str,
        user: User,
        denied: errors.GlidepathError | None,
        streaming: bool,
    ) -> Behavior:
        call = _with_user(behavior, user)

        def wrapped(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            started = time.monotonic()
            outcome = _Outcome(user)
            try:
                if denied is not None:
                    raise denied
                yield from call(_parsed(request, streaming), context)
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
    if not outcome.user.anonymous:
        fields["user"] = outcome.user.name
        if outcome.user.via:
            fields["via"] = outcome.user.via
    if outcome.detail:
        fields["detail"] = outcome.detail
    log.event("request", **fields)
