"""``python -m model_registry_service [--host 127.0.0.1] [--port 50053] [--port-file F]``.

The rest of the configuration comes from the environment (docs/configuration.md).

The registry's only numerical work is the consumer check of a model (``weights``): a
forward pass of a small network on a few hundred observations. Numpy's BLAS and torch
would each start a thread per core for it, and on a busy machine those threads made a
check take 90 ms instead of 7; one thread each is set before numpy or torch is imported
(an operator's own OMP_NUM_THREADS / OPENBLAS_NUM_THREADS win).
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import sys  # noqa: E402

from glidepath.config import ConfigError  # noqa: E402
from glidepath.errors import Unavailable  # noqa: E402
from glidepath.rpc.server import run_service  # noqa: E402
from model_registry_service.app import build_spec  # noqa: E402
from model_registry_service.config import RegistrySettings  # noqa: E402


def main() -> None:
    try:
        settings = RegistrySettings.from_env()
    except ConfigError as exc:
        sys.exit(f"model_registry_service: {exc}")
    try:
        spec = build_spec(settings)
    except Unavailable as exc:  # the index's database cannot be reached
        sys.exit(f"model_registry_service: {exc.message}")
    run_service(spec)


if __name__ == "__main__":
    main()
