"""``python -m glidepath.healthcheck ADDR [SERVICE] [--timeout S]``: exit 0 iff SERVING.

The container health check of every glidepath service (docker compose ``healthcheck``).
One grpc.health.v1 Check with a deadline and no retry: the orchestrator decides how
often to ask and how many failures make a container unhealthy. It imports only gRPC,
the health stubs and the TLS settings (no numpy, no torch), so a check costs a fraction
of a second of CPU.

SERVICE is a full service name (``glidepath.registry.v1.ModelRegistry``); empty or
absent asks about the server as a whole. Exit status: 0 SERVING; 1 anything else
(NOT_SERVING, unknown service, no answer before the deadline), with one line saying why.
With GLIDEPATH_TLS_CA set (``glidepath.rpc.tls``) the check speaks TLS, as the services do.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from glidepath.rpc.tls import client_tls_from_env

DEFAULT_TIMEOUT = 3.0


def _channel(address: str) -> grpc.Channel:
    """Plaintext, or TLS verified against GLIDEPATH_TLS_CA when that is set."""
    tls = client_tls_from_env()
    if tls is None:
        return grpc.insecure_channel(address)
    options = [("grpc.ssl_target_name_override", tls.server_name)] if tls.server_name else []
    credentials = grpc.ssl_channel_credentials(root_certificates=tls.root_certificates)
    return grpc.secure_channel(address, credentials, options=options)


def check(address: str, service: str = "", timeout: float = DEFAULT_TIMEOUT) -> tuple[bool, str]:
    """(serving, what was seen) for one Check call to ``address``."""
    with _channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            # wait_for_ready: a server still binding its port gets the whole deadline
            # rather than an immediate UNAVAILABLE.
            reply = stub.Check(
                health_pb2.HealthCheckRequest(service=service),
                timeout=timeout,
                wait_for_ready=True,
            )
        except grpc.RpcError as exc:
            return False, f"{exc.code().name}: {exc.details()}"
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    return reply.status == health_pb2.HealthCheckResponse.SERVING, status


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m glidepath.healthcheck",
        description="Exit 0 iff a gRPC server reports SERVING (grpc.health.v1).",
    )
    parser.add_argument("address", help="host:port of the server, e.g. 127.0.0.1:50053")
    parser.add_argument(
        "service", nargs="?", default="", help="full service name; empty: the whole server"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"deadline of the check in seconds (default {DEFAULT_TIMEOUT})",
    )
    args = parser.parse_args(argv)
    if not args.timeout > 0:
        parser.error("--timeout must be > 0")
    serving, seen = check(args.address, args.service, args.timeout)
    print(f"{args.address} {args.service or '(server)'}: {seen}", flush=True)
    return 0 if serving else 1


if __name__ == "__main__":
    sys.exit(main())
