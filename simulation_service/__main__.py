"""``python -m simulation_service [--host 127.0.0.1] [--port 50051] [--port-file F]``.

The rest of the configuration comes from the environment (docs/configuration.md).
SIGTERM / SIGINT: health turns NOT_SERVING, running simulations get the grace period,
then the rest are stopped.
"""

from __future__ import annotations

import sys

from glidepath.config import ConfigError
from glidepath.rpc.server import run_service
from simulation_service.app import build_app
from simulation_service.config import SimulationServiceSettings


def main() -> None:
    try:
        settings = SimulationServiceSettings.from_env()
    except ConfigError as exc:
        sys.exit(f"simulation_service: {exc}")
    run_service(build_app(settings).spec)


if __name__ == "__main__":
    main()
