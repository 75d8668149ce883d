"""Where the three services listen, and the environment variables that say so.

The same table serves both sides: ``glidepath up`` starts each service on its default
port, and every client command finds it through ``SIMULATION_ADDR``, ``TRAINING_ADDR`` or
``REGISTRY_ADDR``, falling back to those same defaults. So a plain ``glidepath up`` in one
terminal and ``glidepath simulate`` in another just work, and pointing the client at a
remote deployment is one exported variable. A variable may list several replicas of a
service (``glidepath.rpc.addresses``: IP:port entries, or one DNS name), and the
client's calls are spread over them round-robin.

The ports are written here rather than imported from the services because the shared
library must not depend on a service's package; a test checks they agree.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from glidepath.rpc.addresses import checked_address

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Peer:
    """One glidepath service as a client (and the local stack) sees it."""

    key: str
    title: str
    module: str
    env_var: str
    default_port: int

    @property
    def default_address(self) -> str:
        return f"{LOOPBACK}:{self.default_port}"

    def address(self, environ: Mapping[str, str] | None = None) -> str:
        """The address from the environment variable, else the local stack's default;
        ``glidepath.config.ConfigError`` naming the variable when it does not parse."""
        environ = os.environ if environ is None else environ
        written = environ.get(self.env_var, "").strip()
        return checked_address(written, self.env_var) if written else self.default_address


SIMULATION = Peer(
    "simulation", "simulation service", "simulation_service", "SIMULATION_ADDR", 50051
)
TRAINING = Peer("training", "training service", "training_service", "TRAINING_ADDR", 50052)
REGISTRY = Peer("registry", "registry", "model_registry_service", "REGISTRY_ADDR", 50053)

# The web front end: an HTTP server, not a gRPC service (``glidepath up`` starts it last,
# once the three it calls are SERVING, and checks its /health).
WEB = Peer("web", "web front end", "web_service", "WEB_ADDR", 8080)

# Start order: a service's peers first (training uploads to the registry; simulation asks
# both), so that nobody's first call meets a peer that is not there yet.
START_ORDER: tuple[Peer, ...] = (REGISTRY, TRAINING, SIMULATION)
