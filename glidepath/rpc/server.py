"""Start a glidepath gRPC server: health, reflection, interceptors, graceful stop.

Every service starts the same way, so the way lives here once:
``python -m <service> --port N [--host H]`` builds a ``ServiceSpec`` and calls
``run_service``. Tests use ``start_server`` directly with port 0 and read the bound port.

TLS: ``run_service`` reads ``GLIDEPATH_TLS_CERT`` and ``GLIDEPATH_TLS_KEY``
(``glidepath.rpc.tls``) and, when they are set, serves only TLS on the port; unset, the
port is plaintext (the default, for loopback). Every service gets it from here, with no
code of its own.

On SIGTERM (or SIGINT) the health status flips to NOT_SERVING first, so that a load
balancer stops sending work, then the server stops accepting calls and gives in-flight
calls ``grace_seconds`` to finish.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from glidepath import log
from glidepath.auth import Authenticator, OpenAccess
from glidepath.config import ConfigError
from glidepath.rpc.interceptors import RequestInterceptor
from glidepath.rpc.tls import ServerTls, server_tls_from_env

# Keep every message under gRPC's default 4 MiB: large payloads are streamed in chunks.
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


@dataclass
class ServiceSpec:
    """What a service brings to the shared bootstrap.

    ``register`` adds the servicers to a server; ``service_names`` are their full
    names (for health and reflection); ``authenticator`` turns credentials into users
    (``glidepath.auth``) and ``write_methods`` are the full method names that need one;
    ``on_stop`` releases the service's own resources (worker pools, background threads)
    after the server has stopped.
    """

    name: str
    default_port: int
    register: Callable[[grpc.Server], None]
    service_names: Sequence[str]
    authenticator: Authenticator = field(default_factory=OpenAccess)
    write_methods: frozenset[str] = frozenset()
    max_workers: int = 16
    grace_seconds: float = 10.0
    on_stop: Callable[[], None] | None = None
    extra_interceptors: Sequence[Any] = field(default_factory=tuple)


@dataclass
class RunningServer:
    """A started server, its bound port and its health servicer."""

    server: grpc.Server
    port: int
    health: health.HealthServicer
    spec: ServiceSpec

    def set_serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", *self.spec.service_names):
            self.health.set(name, status)

    def stop(self, grace: float | None = None) -> None:
        """Flip health to NOT_SERVING, let in-flight calls finish, release resources."""
        self.set_serving(False)
        self.server.stop(self.spec.grace_seconds if grace is None else grace).wait()
        if self.spec.on_stop is not None:
            self.spec.on_stop()
        log.event("stopped", port=self.port)


def start_server(
    spec: ServiceSpec, host: str = "127.0.0.1", port: int = 0, tls: ServerTls | None = None
) -> RunningServer:
    """Build, bind and start a server; port 0 picks a free port (see ``.port``).

    With ``tls`` the port speaks only TLS (plaintext clients fail their handshake)."""
    log.configure(spec.name)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=spec.max_workers, thread_name_prefix=spec.name),
        interceptors=[
            RequestInterceptor(spec.authenticator, spec.write_methods),
            *spec.extra_interceptors,
        ],
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
        ],
    )
    spec.register(server)
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*spec.service_names, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    if tls is None:
        bound = server.add_insecure_port(f"{host}:{port}")
    else:
        credentials = grpc.ssl_server_credentials([(tls.private_key, tls.certificate_chain)])
        bound = server.add_secure_port(f"{host}:{port}", credentials)
    if bound == 0:
        raise OSError(f"{spec.name}: could not bind {host}:{port}")
    server.start()
    running = RunningServer(server=server, port=bound, health=health_servicer, spec=spec)
    running.set_serving(True)
    log.event(
        "serving",
        host=host,
        port=bound,
        tls=tls is not None,
        services=list(spec.service_names),
        credentials=spec.authenticator.description,
    )
    return running


def parse_args(
    spec_name: str, default_port: int, argv: Sequence[str] | None = None
) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"python -m {spec_name}")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=default_port, help=f"port (default {default_port}; 0 picks one)"
    )
    parser.add_argument(
        "--port-file",
        type=Path,
        default=None,
        help="write the bound port to this file once serving (useful with --port 0)",
    )
    return parser.parse_args(argv)


def run_service(spec: ServiceSpec, argv: Sequence[str] | None = None) -> None:
    """The body of every ``python -m <service>``: serve until SIGTERM/SIGINT."""
    args = parse_args(spec.name, spec.default_port, argv)
    try:
        tls = server_tls_from_env()
    except ConfigError as exc:
        sys.exit(f"{spec.name}: {exc}")
    running = start_server(spec, args.host, args.port, tls)
    if args.port_file is not None:
        tmp = args.port_file.with_suffix(args.port_file.suffix + ".tmp")
        tmp.write_text(str(running.port))
        tmp.replace(args.port_file)
    stop_requested = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.event("stopping", signal=signal.Signals(signum).name, grace_seconds=spec.grace_seconds)
        stop_requested.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    while not stop_requested.wait(1.0):
        pass
    running.stop()
