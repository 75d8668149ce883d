"""Client side: channels to peers, deadlines, the bearer token, waiting for health.

Every RPC a glidepath client makes carries a deadline; these defaults are the ones used
when a caller does not choose its own. Channels are plaintext unless ``GLIDEPATH_TLS_CA``
is set (``glidepath.rpc.tls``): then every channel is TLS, verified against that CA.
"""

from __future__ import annotations

import time
from typing import Literal

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from glidepath.rpc.server import MAX_MESSAGE_BYTES
from glidepath.rpc.tls import ClientTls, client_tls_from_env

# Seconds. Quick metadata calls, and calls that move a model file or run a simulation.
SHORT_DEADLINE = 5.0
LONG_DEADLINE = 120.0


def open_channel(address: str, tls: ClientTls | Literal["env"] | None = "env") -> grpc.Channel:
    """A channel to ``host:port`` with glidepath's message limits.

    ``tls``: by default read from the environment (GLIDEPATH_TLS_CA; unset: plaintext);
    pass a ``ClientTls`` to force TLS or None to force plaintext.
    """
    options: list[tuple[str, int | str]] = [
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ]
    settings = client_tls_from_env() if tls == "env" else tls
    if settings is None:
        return grpc.insecure_channel(address, options=options)
    if settings.server_name:
        options.append(("grpc.ssl_target_name_override", settings.server_name))
    credentials = grpc.ssl_channel_credentials(root_certificates=settings.root_certificates)
    return grpc.secure_channel(address, credentials, options=options)


def bearer(token: str | None) -> tuple[tuple[str, str], ...]:
    """Call metadata carrying the bearer token, or none when there is no token."""
    return (("authorization", f"Bearer {token}"),) if token else ()


def wait_until_serving(channel: grpc.Channel, service: str = "", timeout: float = 30.0) -> None:
    """Block until the peer's health check says SERVING; TimeoutError otherwise."""
    stub = health_pb2_grpc.HealthStub(channel)
    deadline = time.monotonic() + timeout
    last_error = "no answer"
    while time.monotonic() < deadline:
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=1.0)
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                return
            last_error = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        except grpc.RpcError as exc:
            last_error = f"{exc.code().name}"
        time.sleep(0.05)
    raise TimeoutError(
        f"service {service or '(server)'} not SERVING after {timeout}s: {last_error}"
    )
