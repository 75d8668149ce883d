"""``python -m training_service [--host 127.0.0.1] [--port 50052] [--port-file F]``.

The rest of the configuration comes from the environment (docs/configuration.md).
Warm worker processes start with the service and stop with it (SIGTERM / SIGINT).
"""

from __future__ import annotations

import sys

from glidepath.config import ConfigError
from glidepath.rpc.server import run_service
from training_service.app import build_app
from training_service.config import TrainingSettings


def main() -> None:
    try:
        settings = TrainingSettings.from_env()
    except ConfigError as exc:
        sys.exit(f"training_service: {exc}")
    run_service(build_app(settings).spec)


if __name__ == "__main__":
    main()
