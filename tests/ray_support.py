"""A real single-node Ray cluster on 127.0.0.1 for the tests (``ray start --head``).

``ray.init(local_mode=True)`` no longer exists, so the tests start a head themselves:
dashboard off, two CPUs and a 200 MB object store (sized for a 2-core machine), usage
statistics off. Ray puts the machine's network address in place of 127.0.0.1 unless
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` is set in the environment of ``ray start`` and of
every process that connects (:data:`RAY_ENV`). The workers import our code, so the head
starts with the repository on ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RAY = str(Path(sys.executable).with_name("ray"))
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
CPUS = 2


# How a client learns the address of the cluster it joined (ray start does not print it).
ADDRESS_SCRIPT = (
    "import ray; ray.init(address='auto', log_to_driver=False); "
    "print(ray.get_runtime_context().gcs_address)"
)


def _env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, **RAY_ENV, "PYTHONPATH": path}


@contextmanager
def ray_head(cpus: int = CPUS) -> Iterator[str]:
    """A head node while the block runs; yields its GCS address (``host:port``).

    ``ray stop --force`` at the end stops every Ray process of this machine: the tests
    must be the only Ray user here."""
    env = _env()
    started = subprocess.run(
        [
            RAY,
            "start",
            "--head",
            "--port=0",
            "--include-dashboard=false",
            f"--num-cpus={cpus}",
            "--object-store-memory=200000000",
            "--disable-usage-stats",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    try:
        output = started.stdout + started.stderr
        assert started.returncode == 0, f"ray start failed:\n{output}"
        asked = subprocess.run(
            [sys.executable, "-c", ADDRESS_SCRIPT],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        address = asked.stdout.strip().splitlines()[-1] if asked.stdout.strip() else ""
        assert asked.returncode == 0 and address, f"no cluster address:\n{asked.stderr}"
        yield address
    finally:
        subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True, timeout=120)
