"""Client side: channels to peers, deadlines, the bearer token, waiting for health.

Every RPC a glidepath client makes carries a deadline; these defaults are the ones used
when a caller does not choose its own.
"""

from __future__ import annotations

import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from glidepath.rpc.server import MAX_MESSAGE_BYTES

# Seconds. Quick metadata calls, and calls that move a model file or run a simulation.
SHORT_DEADLINE = 5.0
LONG_DEADLINE = 120.0


def open_channel(address: str) -> grpc.Channel:
    """An insecure channel to ``host:port`` with glidepath's message limits."""
    return grpc.insecure_channel(
        address,
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ],
    )


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
