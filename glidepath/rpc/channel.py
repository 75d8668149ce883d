"""Client side: channels to peers, deadlines, the bearer token, waiting for health.

Every RPC a glidepath client makes carries a deadline; these defaults are the ones used
when a caller does not choose its own. Channels are plaintext unless ``GLIDEPATH_TLS_CA``
is set (``glidepath.rpc.tls``): then every channel is TLS, verified against that CA.

An address may list several replicas of a peer (``glidepath.rpc.addresses``); every
channel balances with gRPC's ``round_robin`` policy, which keeps a connection to each
backend its target resolves to and sends each call to the next one that is READY, so a
stopped replica drops out of the rotation and comes back when it serves again. For one
backend that is the same as gRPC's default (``pick_first``).
"""

from __future__ import annotations

import time
from typing import Literal

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from glidepath.config import ConfigError
from glidepath.rpc.addresses import parse_addresses
from glidepath.rpc.server import MAX_MESSAGE_BYTES
from glidepath.rpc.tls import SERVER_NAME_ENV, ClientTls, client_tls_from_env

# Seconds. Quick metadata calls, and calls that move a model file or run a simulation.
SHORT_DEADLINE = 5.0
LONG_DEADLINE = 120.0
# Every channel spreads its calls over the backends its target names.
LOAD_BALANCING = "round_robin"


def open_channel(address: str, tls: ClientTls | Literal["env"] | None = "env") -> grpc.Channel:
    """A channel to ``host:port``, or to several replicas (``a:p1,b:p2``, or one DNS name
    with several records), with glidepath's message limits, balanced round-robin.

    ``tls``: by default read from the environment (GLIDEPATH_TLS_CA; unset: plaintext);
    pass a ``ClientTls`` to force TLS or None to force plaintext. ConfigError for an
    address that does not parse, and for TLS over a list of IPs without a server name:
    each replica's certificate is then checked against GLIDEPATH_TLS_SERVER_NAME, a name
    every one of them must carry, since the channel has one name to check for all.
    """
    peer = parse_addresses(address)
    options: list[tuple[str, int | str]] = [
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.lb_policy_name", LOAD_BALANCING),
    ]
    settings = client_tls_from_env() if tls == "env" else tls
    if settings is None:
        return grpc.insecure_channel(peer.target, options=options)
    if settings.server_name:
        options.append(("grpc.ssl_target_name_override", settings.server_name))
    elif peer.ip_list and peer.entries > 1:
        raise ConfigError(
            f"{address!r} lists {peer.entries} IP addresses and TLS is on: set "
            f"{SERVER_NAME_ENV} to the name every replica's certificate carries"
        )
    credentials = grpc.ssl_channel_credentials(root_certificates=settings.root_certificates)
    return grpc.secure_channel(peer.target, credentials, options=options)


def bearer(token: str | None) -> tuple[tuple[str, str], ...]:
    """Call metadata carrying the bearer token, or none when there is no token."""
    return (("authorization", f"Bearer {token}"),) if token else ()


def wait_until_serving(channel: grpc.Channel, service: str = "", timeout: float = 30.0) -> None:
    """Block until the peer's health check says SERVING; TimeoutError otherwise.

    Over several replicas each Check goes to the next READY one, so this returns once a
    replica serves: calls can be made then, and round_robin adds the others as they come.
    """
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
