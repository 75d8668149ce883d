"""The training service with ``TRAINING_BACKEND=ray``, on a real Ray head on 127.0.0.1.

The service runs as a child process (``python -m training_service``) joined to the
cluster; trainings are real (the RL library's trainer, a few episodes). What is checked
is what a user sees through gRPC: progress while the Ray task trains, the model in the
registry (through the spool while the registry is down), a cancel that stops the task,
and a Ray worker killed mid-job that ends the job FAILED with a message saying so.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from process_support import ServiceProcess
from ray_support import RAY_ENV, ray_head
from training_support import example_household_proto, free_port

from glidepath.config import ConfigError
from glidepath.registry.v1 import registry_pb2, registry_pb2_grpc
from glidepath.rpc.channel import open_channel, wait_until_serving
from glidepath.rpc.server import start_server
from glidepath.training.v1 import training_pb2 as pb
from glidepath.training.v1 import training_pb2_grpc
from model_registry_service.app import build_spec
from model_registry_service.config import RegistrySettings
from model_registry_service.service import SERVICE_NAME as REGISTRY_SERVICE
from training_service.config import TrainingSettings
from training_service.service import SERVICE_NAME

pytestmark = pytest.mark.slow

TIMEOUT = 10.0
FINAL = {pb.TRAINING_STATE_SUCCEEDED, pb.TRAINING_STATE_FAILED, pb.TRAINING_STATE_CANCELLED}


@dataclass
class RayStack:
    training: training_pb2_grpc.TrainingServiceStub
    service: ServiceProcess
    registry_port: int
    models_dir: Path


@pytest.fixture(scope="session")
def ray_address() -> Iterator[str]:
    with ray_head() as address:
        yield address


@pytest.fixture(scope="module")
def stack(ray_address: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayStack]:
    root = tmp_path_factory.mktemp("training_ray")
    registry_port = free_port()  # the registry starts later: the first model waits for it
    env = {
        **RAY_ENV,
        "TRAINING_BACKEND": "ray",
        "RAY_ADDRESS": ray_address,
        "TRAINING_MAX_CONCURRENT": "2",
        "TRAINING_WORKERS": "2",
        "TRAINING_DATA_DIR": str(root / "training"),
        "REGISTRY_ADDR": f"127.0.0.1:{registry_port}",
        "TRAINING_EVAL_LIVES": "50",
        "TRAINING_SPOOL_RETRY_INITIAL_SECONDS": "0.2",
        "TRAINING_SPOOL_RETRY_MAX_SECONDS": "0.5",
        "TRAINING_CANCEL_GRACE_SECONDS": "3",
    }
    service = ServiceProcess(
        "training_service", root, env, service_name=SERVICE_NAME, timeout=120.0
    )
    try:
        yield RayStack(
            training=training_pb2_grpc.TrainingServiceStub(service.channel),
            service=service,
            registry_port=registry_port,
            models_dir=root / "models",
        )
    finally:
        service.stop()


def start(stack: RayStack, spending: float, episodes: int, seed: int = 1) -> pb.TrainingJob:
    reply = stack.training.StartTraining(
        pb.StartTrainingRequest(
            household=example_household_proto(spending), episodes=episodes, seed=seed
        ),
        timeout=TIMEOUT,
    )
    job: pb.TrainingJob = reply.job
    return job


def watch(
    stack: RayStack, job_id: str, until: Callable[[pb.TrainingJob], bool] | None = None
) -> list[pb.TrainingJob]:
    """Messages of a watch until a final state, or until ``until(job)`` holds."""
    seen: list[pb.TrainingJob] = []
    for message in stack.training.WatchTraining(
        pb.WatchTrainingRequest(job_id=job_id), timeout=300.0
    ):
        seen.append(message.job)
        if message.job.state in FINAL or (until is not None and until(message.job)):
            break
    return seen


def test_a_ray_training_streams_progress_and_reaches_the_registry_through_the_spool(
    stack: RayStack,
) -> None:
    job = start(stack, 41000, episodes=48)
    waiting = watch(stack, job.job_id, until=lambda j: j.state == pb.TRAINING_STATE_UPLOADING)
    states = list(dict.fromkeys(m.state for m in waiting))
    assert pb.TRAINING_STATE_RUNNING in states and pb.TRAINING_STATE_EVALUATING in states
    assert waiting[-1].state == pb.TRAINING_STATE_UPLOADING, waiting[-1].message
    # Progress from inside the Ray task reached the watch before the end.
    running = [m for m in waiting if m.state == pb.TRAINING_STATE_RUNNING]
    assert any(m.episodes_done > 0 for m in running)

    # The registry is down: the model waits in the spool, then lands once it is up.
    time.sleep(1.0)
    assert (
        stack.training.GetTraining(
            pb.GetTrainingRequest(job_id=job.job_id), timeout=TIMEOUT
        ).job.state
        == pb.TRAINING_STATE_UPLOADING
    )
    registry = start_server(
        build_spec(RegistrySettings(models_dir=stack.models_dir)), port=stack.registry_port
    )
    try:
        final = watch(stack, job.job_id)[-1]
        assert final.state == pb.TRAINING_STATE_SUCCEEDED, final.message
        assert final.episodes_done == 48 and final.timesteps > 0
        stored = final.registered_model
        assert (stack.models_dir / stored.file_name).is_file()
        channel = open_channel(f"127.0.0.1:{stack.registry_port}")
        wait_until_serving(channel, REGISTRY_SERVICE)
        found = registry_pb2_grpc.ModelRegistryStub(channel).FindCompatibleModel(
            registry_pb2.FindCompatibleModelRequest(
                model_hash=final.model.model_hash, min_episodes=1
            ),
            timeout=TIMEOUT,
        )
        assert found.model.sha256 == stored.sha256
        assert found.model.evaluation.held_out_lives == 50
        channel.close()
    finally:
        registry.stop(grace=1.0)


def test_cancelling_a_ray_training_stops_its_task(stack: RayStack) -> None:
    job = start(stack, 42000, episodes=200_000)
    seen = watch(stack, job.job_id, until=lambda j: j.episodes_done > 0)
    assert seen[-1].state == pb.TRAINING_STATE_RUNNING, seen[-1].message
    asked = time.monotonic()
    stack.training.CancelTraining(pb.CancelTrainingRequest(job_id=job.job_id), timeout=TIMEOUT)
    final = watch(stack, job.job_id)[-1]
    assert final.state == pb.TRAINING_STATE_CANCELLED, final.message
    assert final.episodes_done < 200_000
    assert time.monotonic() - asked < 30.0
    assert "ray_task_submitted" in stack.service.log()


def _ray_task_pids() -> list[int]:
    """Ray worker processes running a training (Ray titles them after the task)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if command.startswith(b"ray::run_job"):
            pids.append(int(entry.name))
    return pids


def test_a_ray_worker_killed_mid_job_ends_it_failed_with_a_message(stack: RayStack) -> None:
    job = start(stack, 43000, episodes=200_000)
    seen = watch(stack, job.job_id, until=lambda j: j.episodes_done > 0)
    assert seen[-1].state == pb.TRAINING_STATE_RUNNING, seen[-1].message
    pids = _ray_task_pids()
    assert len(pids) == 1, pids
    os.kill(pids[0], signal.SIGKILL)
    final = watch(stack, job.job_id)[-1]
    assert final.state == pb.TRAINING_STATE_FAILED
    assert "Ray worker running this training was lost" in final.message
    assert "not retried" in final.message


def test_the_ray_backend_needs_its_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAINING_BACKEND", "ray")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with pytest.raises(ConfigError, match="RAY_ADDRESS"):
        TrainingSettings.from_env()
    monkeypatch.setenv("TRAINING_BACKEND", "spark")
    with pytest.raises(ConfigError, match="TRAINING_BACKEND"):
        TrainingSettings.from_env()
    monkeypatch.setenv("TRAINING_BACKEND", "ray")
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")
    settings = TrainingSettings.from_env()
    assert (settings.backend, settings.ray_address) == ("ray", "127.0.0.1:6379")
    monkeypatch.setenv("TRAINING_BACKEND", "local")
    assert TrainingSettings.from_env().backend == "local"
