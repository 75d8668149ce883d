"""Model registry: lookups of a known model while thousands of hand-dropped files are
adopted. Prints, never asserts.

A real ``python -m model_registry_service`` process holds one uploaded model; then N
valid models (default 5,000, each with other weights, so each is hashed and checked) are
dropped into its directory under other hashes, and the known model is looked up
(GetModel, then FindCompatibleModel) every 20 ms until the registry logs
``adoption_finished``. Adoption hashes and runs the consumer check on each file outside
the store's lock, so the lookups should not wait for it (before, adoption held the lock
for 5 s and a lookup waited 4.96 s).

    PYTHONPATH=. python benchmarks/bench_adoption.py [--files 5000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from process_support import ServiceProcess  # noqa: E402
from registry_support import model_zip, ref, upload  # noqa: E402

from glidepath.registry.v1 import registry_pb2, registry_pb2_grpc  # noqa: E402
from model_registry_service.service import SERVICE_NAME  # noqa: E402

KNOWN_HASH = "0123456789abcdef"


def _finished(log: str) -> dict[str, object] | None:
    for line in log.splitlines():
        if '"event":"adoption_finished"' in line:
            parsed: dict[str, object] = json.loads(line)
            return parsed
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        workdir = Path(work)
        directory = workdir / "rl"
        registry = ServiceProcess(
            "model_registry_service",
            workdir,
            {"RL_MODELS_DIR": str(directory), "RL_MIN_EPISODES": "1"},
            service_name=SERVICE_NAME,
            timeout=120,
        )
        try:
            stub = registry_pb2_grpc.ModelRegistryStub(registry.channel)
            known = model_zip("known")
            upload(stub, KNOWN_HASH, 1000, known)
            files = [model_zip(f"dropped {i}") for i in range(args.files)]  # all different
            began = time.monotonic()
            for i, data in enumerate(files):
                (directory / f"rl_model_{i:016x}_700ep.zip").write_bytes(data)
            dropped_s = time.monotonic() - began
            waits: list[float] = []
            began = time.monotonic()
            while (finished := _finished(registry.log())) is None:
                start = time.monotonic()
                got = stub.GetModel(
                    registry_pb2.GetModelRequest(ref=ref(KNOWN_HASH, 1000)), timeout=30
                )
                stub.FindCompatibleModel(
                    registry_pb2.FindCompatibleModelRequest(model_hash=KNOWN_HASH), timeout=30
                )
                waits.append((time.monotonic() - start) * 1000)
                assert got.model.sha256 == hashlib.sha256(known).hexdigest()
                time.sleep(0.02)
            total_s = time.monotonic() - began
        finally:
            registry.stop()
    first = waits[0]  # includes the scan that finds the 5,000 new names
    waits.sort()
    print(f"files dropped: {args.files} (written in {dropped_s:.1f} s)")
    print(f"adoption: {finished.get('files')} files in {finished.get('seconds')} s (registry log)")
    print(f"lookups during adoption: {len(waits)} pairs (GetModel + FindCompatibleModel)")
    print(
        f"  wait ms: p50 {statistics.median(waits):.1f}, "
        f"p99 {waits[min(len(waits) - 1, int(len(waits) * 0.99))]:.1f}, max {waits[-1]:.1f}"
    )
    print(f"  first lookup after the drop (it scans the new names): {first:.1f} ms")
    print(f"  watched for {total_s:.1f} s")


if __name__ == "__main__":
    main()
