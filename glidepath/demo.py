"""``make run`` for now: the model registry's demonstration, end to end.

Starts the registry as a real process on a free port with its model directory in a temp
folder, trains a tiny stable-baselines3 model, uploads it, finds it, lists it, downloads
and verifies it, loads its weights safely (no unpickling), dry-runs a cleanup, and stops
the registry with SIGTERM. A later issue replaces this with the main job.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from glidepath.common.v1 import model_pb2
from glidepath.registry.v1 import registry_pb2, registry_pb2_grpc
from glidepath.registry_client import download_model, find_compatible_model, upload_model
from glidepath.rpc.channel import SHORT_DEADLINE, open_channel, wait_until_serving

REGISTRY_SERVICE = "glidepath.registry.v1.ModelRegistry"
DEMO_HASH = "a1b2c3d4e5f6a7b8"
DEMO_EPISODES = 1000


def say(message: str) -> None:
    print(f"  {message}", flush=True)


def start_registry(models_dir: Path, port_file: Path) -> tuple[subprocess.Popen[bytes], int]:
    env = {**os.environ, "RL_MODELS_DIR": str(models_dir), "REGISTRY_GRACE_SECONDS": "2"}
    command = [sys.executable, "-m", "model_registry_service", "--port", "0"]
    process = subprocess.Popen(
        [*command, "--port-file", str(port_file)], env=env, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while not port_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the registry did not start")
        time.sleep(0.05)
    return process, int(port_file.read_text())


def build_policy(seed: int) -> Any:
    """A tiny PPO; the same configuration rebuilds it to receive downloaded weights."""
    import gymnasium as gym
    from stable_baselines3 import PPO

    return PPO(
        "MlpPolicy",
        gym.make("CartPole-v1"),
        n_steps=64,
        batch_size=64,
        n_epochs=2,
        seed=seed,
        device="cpu",
        policy_kwargs={"net_arch": [32, 32]},
    )


def main() -> None:
    import numpy as np
    import stable_baselines3
    import torch

    with tempfile.TemporaryDirectory(prefix="glidepath-demo-") as tmp:
        work = Path(tmp)
        print("1. Start the model registry (python -m model_registry_service)")
        process, port = start_registry(work / "models" / "rl", work / "port")
        try:
            channel = open_channel(f"127.0.0.1:{port}")
            wait_until_serving(channel, REGISTRY_SERVICE)
            stub = registry_pb2_grpc.ModelRegistryStub(channel)
            say(f"serving on 127.0.0.1:{port}, models in {work / 'models' / 'rl'}")

            print("2. Train a tiny PPO (CartPole, 512 steps) and save it as SB3 does")
            started = time.perf_counter()
            model = build_policy(seed=1)
            model.learn(total_timesteps=512)
            saved = work / "trained.zip"
            model.save(saved)
            say(f"trained in {time.perf_counter() - started:.1f} s, {saved.stat().st_size} bytes")

            print("3. Upload it (client stream: metadata, then 256 KiB chunks)")
            meta = registry_pb2.UploadModelMetadata(
                ref=model_pb2.ModelRef(model_hash=DEMO_HASH, episodes=DEMO_EPISODES),
                algorithm="PPO",
                library_versions={
                    "stable_baselines3": stable_baselines3.__version__,
                    "torch": torch.__version__,
                },
                timesteps=512,
            )
            reply = upload_model(channel, saved, meta, timeout=60)
            say(f"stored {reply.model.file_name} (created={reply.created})")
            again = upload_model(channel, saved, meta, timeout=60)
            say(f"same bytes again: created={again.created} (idempotent)")

            print("4. Find the best compatible model (same hash, >= 500 episodes)")
            found = find_compatible_model(channel, DEMO_HASH, timeout=SHORT_DEADLINE)
            say(f"found {found.file_name}, sha256 {found.sha256[:16]}...")

            print("5. List the registry")
            listing = stub.ListModels(registry_pb2.ListModelsRequest(), timeout=SHORT_DEADLINE)
            for item in listing.models:
                created = item.created_at.ToDatetime().isoformat(timespec="seconds")
                say(f"{item.file_name}  {item.size_bytes} bytes  created {created}")

            print("6. Download, verify, load the weights only (nothing unpickled)")
            downloaded = download_model(channel, found.ref, work / "downloaded.zip", timeout=60)
            identical = (work / "downloaded.zip").read_bytes() == saved.read_bytes()
            with zipfile.ZipFile(work / "downloaded.zip") as archive:
                weights = torch.load(io.BytesIO(archive.read("policy.pth")), weights_only=True)
            fresh = build_policy(seed=2)
            fresh.policy.load_state_dict(weights)
            observations = np.zeros((8, 4), dtype=np.float32)
            same = np.array_equal(
                fresh.predict(observations, deterministic=True)[0],
                model.predict(observations, deterministic=True)[0],
            )
            say(f"sha256 checked ({downloaded.size_bytes} bytes), byte-identical: {identical}")
            say(f"rebuilt policy predicts like the original: {same}")

            print("7. Cleanup dry run (models older than 30 days)")
            dry = stub.CleanupModels(
                registry_pb2.CleanupModelsRequest(max_age_days=30, dry_run=True),
                timeout=SHORT_DEADLINE,
            )
            say(f"would delete {len(dry.models)} model(s); deleted {dry.deleted_count}")
            channel.close()
        finally:
            print("8. Stop the registry (SIGTERM)")
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=30)
            say(f"exited with code {code}")
        if not (identical and same and code == 0):
            raise SystemExit("the demonstration did not go as expected")


if __name__ == "__main__":
    main()
