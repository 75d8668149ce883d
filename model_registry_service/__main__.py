"""``python -m model_registry_service [--host 127.0.0.1] [--port 50053] [--port-file F]``.

The rest of the configuration comes from the environment (README, "Model registry").
"""

from __future__ import annotations

import sys

from glidepath.config import ConfigError
from glidepath.rpc.server import run_service
from model_registry_service.app import build_spec
from model_registry_service.config import RegistrySettings


def main() -> None:
    try:
        settings = RegistrySettings.from_env()
    except ConfigError as exc:
        sys.exit(f"model_registry_service: {exc}")
    run_service(build_spec(settings))


if __name__ == "__main__":
    main()
