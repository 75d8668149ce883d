"""Model registry: lookup latency and transfer throughput on loopback. Prints, never asserts.

A real ``python -m model_registry_service`` process serves a directory holding 1,000
models (100 hashes x 10 episode counts, written straight to the directory and the
index, as a registry that has lived a while would hold them). Then:
- 2,000 FindCompatibleModel calls for random hashes -> p50 / p99 in ms (target p99 <= 5);
- upload and download of a 5 MB model, 5 times each -> MB/s (target >= 100 MB/s).
The periodic full directory rescan (every few seconds) falls inside the measured window.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc

from glidepath.clients.registry import download_model, upload_model
from glidepath.common.v1 import model_pb2
from glidepath.registry.v1 import registry_pb2, registry_pb2_grpc
from glidepath.rpc.channel import open_channel, wait_until_serving
from model_registry_service.index import FileStamp, SqliteIndex
from model_registry_service.naming import INDEX_FILE_NAME, ModelKey
from model_registry_service.records import ModelDetails, ModelRecord, Origin
from model_registry_service.service import SERVICE_NAME

ROOT = Path(__file__).resolve().parent.parent
HASHES = 100
EPISODES = (100, 200, 400, 500, 600, 800, 1000, 2000, 5000, 10000)
LOOKUPS = 2000
TRANSFER_BYTES = 5 * 1000 * 1000
TRANSFERS = 5
MB = 1e6


def sb3_zip(policy: bytes, tag: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("data", f'{{"tag": "{tag}"}}')
        archive.writestr("policy.pth", policy)
        archive.writestr("pytorch_variables.pth", b"")
        archive.writestr("_stable_baselines3_version", "2.9.2")
    return buffer.getvalue()


def populate(directory: Path) -> list[str]:
    """1,000 valid model files plus their index rows; returns the hashes."""
    directory.mkdir(parents=True)
    index = SqliteIndex(directory / INDEX_FILE_NAME)
    rng = random.Random(0)
    now = datetime.now(UTC)
    hashes = [hashlib.sha256(str(i).encode()).hexdigest()[:16] for i in range(HASHES)]
    for model_hash in hashes:
        for episodes in EPISODES:
            data = sb3_zip(rng.randbytes(512), f"{model_hash}-{episodes}")
            key = ModelKey(model_hash, episodes)
            path = directory / key.file_name
            path.write_bytes(data)
            score = rng.uniform(20_000, 40_000) if rng.random() < 0.5 else None
            record = ModelRecord(
                key=key,
                size_bytes=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                created_at=now - timedelta(hours=rng.uniform(0, 24 * 20)),
                origin=Origin.UPLOADED,
                details=ModelDetails(algorithm="PPO", evaluation_score=score),
            )
            st = path.stat()
            index.upsert(record, FileStamp(st.st_size, st.st_mtime_ns))
    index.close()
    return hashes


def start_registry(directory: Path, port_file: Path) -> tuple[subprocess.Popen[bytes], int]:
    env = {
        **os.environ,
        "RL_MODELS_DIR": str(directory),
        "RL_MODELS_MAX_AGE_DAYS": "0",
        "REGISTRY_GRACE_SECONDS": "1",
    }
    command = [sys.executable, "-m", "model_registry_service", "--port", "0"]
    process = subprocess.Popen(
        [*command, "--port-file", str(port_file)],
        cwd=ROOT,
        env=env,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not port_file.exists():
        if time.monotonic() > deadline or process.poll() is not None:
            raise SystemExit("the registry did not start")
        time.sleep(0.05)
    return process, int(port_file.read_text())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_lookups(stub: registry_pb2_grpc.ModelRegistryStub, hashes: list[str]) -> None:
    rng = random.Random(1)
    for model_hash in hashes:  # warm-up: first contact with each hash
        stub.FindCompatibleModel(
            registry_pb2.FindCompatibleModelRequest(model_hash=model_hash), timeout=5
        )
    latencies = []
    for _ in range(LOOKUPS):
        request = registry_pb2.FindCompatibleModelRequest(model_hash=rng.choice(hashes))
        started = time.perf_counter()
        stub.FindCompatibleModel(request, timeout=5)
        latencies.append((time.perf_counter() - started) * 1000)
    p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
    print(f"FindCompatibleModel, {LOOKUPS} calls, {HASHES * len(EPISODES)} models indexed")
    print(f"  p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   max {max(latencies):6.2f} ms")
    print(f"  target: p99 <= 5 ms -> {'met' if p99 <= 5 else 'NOT met'}")


def bench_transfers(channel: grpc.Channel, scratch: Path) -> None:
    source = scratch / "big.zip"
    source.write_bytes(sb3_zip(os.urandom(TRANSFER_BYTES), "big"))
    size = source.stat().st_size
    ups, downs = [], []
    for i in range(TRANSFERS):
        meta = registry_pb2.UploadModelMetadata(
            ref=model_pb2.ModelRef(model_hash="feedfacecafebeef", episodes=1000 + i),
            algorithm="PPO",
        )
        started = time.perf_counter()
        upload_model(channel, source, meta, timeout=60)
        ups.append(size / (time.perf_counter() - started) / MB)
        started = time.perf_counter()
        download_model(channel, meta.ref, scratch / "back.zip", timeout=60)
        downs.append(size / (time.perf_counter() - started) / MB)
    if (scratch / "back.zip").read_bytes() != source.read_bytes():
        raise SystemExit("the downloaded model differs from the uploaded one")
    print(f"Transfer of a {size / MB:.1f} MB model, {TRANSFERS} runs (client checksums included)")
    print(f"  upload   median {statistics.median(ups):7.1f} MB/s   best {max(ups):7.1f} MB/s")
    print(f"  download median {statistics.median(downs):7.1f} MB/s   best {max(downs):7.1f} MB/s")
    met = min(statistics.median(ups), statistics.median(downs)) >= 100
    print(f"  target: >= 100 MB/s -> {'met' if met else 'NOT met'}")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-registry-") as tmp:
        scratch = Path(tmp)
        started = time.perf_counter()
        hashes = populate(scratch / "rl")
        print(f"populated 1000 models in {time.perf_counter() - started:.1f} s")
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"{os.cpu_count()} CPUs, load average {load} (figures are noisy on a busy machine)")
        process, port = start_registry(scratch / "rl", scratch / "port")
        try:
            channel = open_channel(f"127.0.0.1:{port}")
            wait_until_serving(channel, SERVICE_NAME)
            bench_lookups(registry_pb2_grpc.ModelRegistryStub(channel), hashes)
            bench_transfers(channel, scratch)
            channel.close()
        finally:
            process.terminate()
            process.wait(15)


if __name__ == "__main__":
    main()
