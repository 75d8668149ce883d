"""Helpers for the client's tests against real processes: a recording proxy, a closed pipe.

``RecordingProxy`` is a real gRPC server that forwards every call, as raw bytes with its
metadata and deadline, to a real glidepath service and records what each call carried,
so a test can see the credential the client sent without changing the service. Given a
status to ``refuse`` with, it answers every call with that status instead, in the shape
glidepath's services use (a one-line message and an ErrorInfo reason): the stand-in for
a service that denies a user (PERMISSION_DENIED), which no service on this branch does yet.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import namedtuple
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import grpc
from cli_support import ROOT, cli_env
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from glidepath.rpc.status import ERROR_DOMAIN

# Metadata the client library adds itself; everything else travels on.
_TRANSPORT_KEYS = ("user-agent", "grpc-", ":")


class _Status(namedtuple("_Status", ("code", "details", "trailing_metadata")), grpc.Status):  # type: ignore[misc]
    """A status to end a proxied call with (grpc.Status is an interface)."""


@dataclass(frozen=True)
class RecordedCall:
    """One call that reached the proxy: its full method name and its metadata."""

    method: str
    metadata: dict[str, str]


class RecordingProxy:
    """A loopback gRPC server forwarding every call to ``backend`` and recording it."""

    def __init__(
        self, backend: str, *, refuse: tuple[grpc.StatusCode, str, str] | None = None
    ) -> None:
        self.calls: list[RecordedCall] = []
        self._lock = threading.Lock()
        self._refuse = refuse
        self._channel = grpc.insecure_channel(backend)
        self._server = grpc.server(ThreadPoolExecutor(max_workers=8))
        self._server.add_generic_rpc_handlers([_Forwarder(self)])
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self.address = f"127.0.0.1:{self.port}"
        self._server.start()

    def record(self, method: str, metadata: Mapping[str, str]) -> None:
        with self._lock:
            self.calls.append(RecordedCall(method, dict(metadata)))

    def methods(self) -> list[str]:
        """The short method names called so far, in order ("Optimize", ...)."""
        with self._lock:
            return [call.method.rsplit("/", 1)[-1] for call in self.calls]

    def authorization_headers(self) -> list[str | None]:
        """The authorization metadata of every call so far, in order (None: not sent)."""
        with self._lock:
            return [call.metadata.get("authorization") for call in self.calls]

    def forward(
        self, method: str, requests: Iterator[bytes], context: grpc.ServicerContext
    ) -> Iterator[bytes]:
        metadata = tuple(
            (key, value)
            for key, value in context.invocation_metadata()
            if not key.startswith(_TRANSPORT_KEYS)
        )
        self.record(method, dict(metadata))
        if self._refuse is not None:
            context.abort_with_status(refusal(*self._refuse))
        call = self._channel.stream_stream(method)(
            requests, metadata=metadata, timeout=context.time_remaining()
        )
        context.add_callback(call.cancel)
        try:
            yield from call
        except grpc.RpcError as error:
            trailing = error.trailing_metadata() or ()  # type: ignore[attr-defined]
            context.abort_with_status(
                _Status(error.code(), error.details(), trailing)  # type: ignore[attr-defined]
            )

    def close(self) -> None:
        self._server.stop(grace=None)
        self._channel.close()


def refusal(code: grpc.StatusCode, message: str, reason: str) -> grpc.Status:
    """A status as glidepath's services send it: a message and an ErrorInfo reason."""
    info = error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN)
    detail = status_pb2.Status(code=code.value[0], message=message)
    detail.details.add().Pack(info)
    return rpc_status.to_status(detail)


class _Forwarder(grpc.GenericRpcHandler):  # type: ignore[misc]
    """Every method as a raw stream-stream call: on the wire all four shapes are alike."""

    def __init__(self, proxy: RecordingProxy) -> None:
        self._proxy = proxy

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Any:
        method: str = handler_call_details.method  # type: ignore[attr-defined]
        return grpc.stream_stream_rpc_method_handler(
            lambda requests, context: self._proxy.forward(method, requests, context)
        )


def run_cli_stdout_closed(*args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """``glidepath ARGS`` whose reader is gone before it writes (``... | head`` done early)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "glidepath.cli", *args],
        env=cli_env(env),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    stderr = process.stderr.read()
    code = process.wait(timeout=120)
    return subprocess.CompletedProcess(process.args, code, "", stderr)
