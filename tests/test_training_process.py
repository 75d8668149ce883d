"""The training service as real processes, killed and restarted by the test.

A service killed (SIGKILL) while a job trains reports that job FAILED after a restart,
leaves no orphan worker behind, and trains the model again when asked; one stopped with
SIGTERM exits promptly and reports its running job FAILED too. A model trained
while the registry is down waits in the spool, survives a kill of the service, and lands
when a registry process finally starts on the address the service was given.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from training_support import example_household_proto, free_port

from glidepath.registry.v1 import registry_pb2, registry_pb2_grpc
from glidepath.rpc.channel import open_channel, wait_until_serving
from glidepath.training.v1 import training_pb2 as pb
from glidepath.training.v1 import training_pb2_grpc
from training_service.jobs import DAMAGED_SUFFIX, RESTARTED_MESSAGE, JobRecord, JobStore
from training_service.manager import STOPPED_MESSAGE

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 10.0


class Service:
    """One ``python -m <module>`` process on a loopback port."""

    def __init__(self, module: str, port: int, env: dict[str, str], log: Path) -> None:
        self.port = port
        self._log = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, "--port", str(port)],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=self._log,
            stderr=self._log,
        )
        self.channel = open_channel(f"127.0.0.1:{port}")
        wait_until_serving(self.channel, timeout=60)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.close()

    def close(self) -> None:
        self.channel.close()
        self._log.close()


@pytest.fixture
def services() -> Iterator[list[Service]]:
    started: list[Service] = []
    yield started
    for service in started:
        service.stop()


def training_env(tmp_path: Path, registry_port: int) -> dict[str, str]:
    return {
        "TRAINING_DATA_DIR": str(tmp_path / "training"),
        "REGISTRY_ADDR": f"127.0.0.1:{registry_port}",
        "TRAINING_EVAL_LIVES": "50",
        "TRAINING_SPOOL_RETRY_INITIAL_SECONDS": "0.2",
        "TRAINING_SPOOL_RETRY_MAX_SECONDS": "0.5",
    }


def children(pid: int) -> set[int]:
    """Processes whose parent is ``pid`` (Linux /proc)."""
    found: set[int] = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_killed_service_reports_its_running_job_failed_and_trains_again(
    tmp_path: Path, services: list[Service]
) -> None:
    registry_port = free_port()
    env = training_env(tmp_path, registry_port)
    log = tmp_path / "training.log"
    service = Service("training_service", free_port(), env, log)
    services.append(service)
    stub = training_pb2_grpc.TrainingServiceStub(service.channel)
    request = pb.StartTrainingRequest(household=example_household_proto(), episodes=500_000)
    job = stub.StartTraining(request, timeout=TIMEOUT).job
    for message in stub.WatchTraining(pb.WatchTrainingRequest(job_id=job.job_id), timeout=60):
        if message.job.episodes_done > 0:
            break
    workers = children(service.process.pid) - {service.process.pid}
    assert workers, "no worker process found"

    service.kill()
    deadline = time.monotonic() + 15
    while any(alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(p) for p in workers), "a worker outlived its killed service"

    service = Service("training_service", service.port, env, log)
    services.append(service)
    stub = training_pb2_grpc.TrainingServiceStub(service.channel)
    after = stub.GetTraining(pb.GetTrainingRequest(job_id=job.job_id), timeout=TIMEOUT).job
    assert after.state == pb.TRAINING_STATE_FAILED
    assert after.message == RESTARTED_MESSAGE
    again = stub.StartTraining(request, timeout=TIMEOUT)
    assert not again.joined and again.job.job_id != job.job_id

    # A graceful stop (SIGTERM) with a job running: the process exits promptly, workers
    # included, and the job is reported FAILED, saying the service stopped.
    for message in stub.WatchTraining(pb.WatchTrainingRequest(job_id=again.job.job_id), timeout=60):
        if message.job.episodes_done > 0:
            break
    asked = time.monotonic()
    service.stop()
    assert service.process.returncode == 0
    assert time.monotonic() - asked < 30
    service = Service("training_service", service.port, env, log)
    services.append(service)
    stub = training_pb2_grpc.TrainingServiceStub(service.channel)
    stopped = stub.GetTraining(pb.GetTrainingRequest(job_id=again.job.job_id), timeout=TIMEOUT).job
    assert stopped.state == pb.TRAINING_STATE_FAILED
    assert stopped.message == STOPPED_MESSAGE


def test_a_spooled_model_survives_a_restart_and_lands_when_the_registry_starts(
    tmp_path: Path, services: list[Service]
) -> None:
    registry_port = free_port()  # nothing listens there yet
    env = training_env(tmp_path, registry_port)
    log = tmp_path / "training.log"
    service = Service("training_service", free_port(), env, log)
    services.append(service)
    stub = training_pb2_grpc.TrainingServiceStub(service.channel)
    request = pb.StartTrainingRequest(household=example_household_proto(), episodes=64, seed=3)
    job = stub.StartTraining(request, timeout=TIMEOUT).job
    for message in stub.WatchTraining(pb.WatchTrainingRequest(job_id=job.job_id), timeout=120):
        if "spool" in message.job.message:
            assert message.job.state == pb.TRAINING_STATE_UPLOADING
            assert message.job.evaluation.held_out_lives == 50
            break
    assert (tmp_path / "training" / "spool" / job.job_id / "model.zip").is_file()

    service.kill()
    service = Service("training_service", service.port, env, log)
    services.append(service)
    stub = training_pb2_grpc.TrainingServiceStub(service.channel)
    waiting = stub.GetTraining(pb.GetTrainingRequest(job_id=job.job_id), timeout=TIMEOUT).job
    assert waiting.state == pb.TRAINING_STATE_UPLOADING

    models = tmp_path / "models"
    registry = Service("model_registry_service", registry_port, {"RL_MODELS_DIR": str(models)}, log)
    services.append(registry)
    final = None
    for message in stub.WatchTraining(pb.WatchTrainingRequest(job_id=job.job_id), timeout=60):
        final = message.job
    assert final is not None and final.state == pb.TRAINING_STATE_SUCCEEDED, final
    registry_stub = registry_pb2_grpc.ModelRegistryStub(registry.channel)
    stored = registry_stub.GetModel(
        registry_pb2.GetModelRequest(ref=final.model), timeout=TIMEOUT
    ).model
    assert stored.sha256 == final.registered_model.sha256
    assert (models / stored.file_name).is_file()
    entry = tmp_path / "training" / "spool" / job.job_id
    deadline = time.monotonic() + 10
    while entry.exists() and time.monotonic() < deadline:  # removed just after landing
        time.sleep(0.05)
    assert not entry.exists()


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "garbage":
        path.write_bytes(b"this is not a database\n" * 400)
    elif how == "half a file":
        path.write_bytes(data[: len(data) // 2])
    else:  # a bad page: the jobs table's first page overwritten
        path.write_bytes(data[:4096] + b"\xa5" * 4096 + data[8192:])


@pytest.mark.parametrize("how", ["garbage", "half a file", "a bad page"])
def test_a_damaged_job_store_is_set_aside_and_the_service_starts_fresh(
    tmp_path: Path, services: list[Service], how: str
) -> None:
    """It used to stop the service with a raw sqlite3 traceback."""
    data_dir = tmp_path / "training"
    store = JobStore(data_dir / "jobs.sqlite3")
    old_ids = [f"{i:032x}" for i in range(300)]  # several pages of records
    for i, job_id in enumerate(old_ids):
        store.save(JobRecord(job_id, "0123456789abcdef", 10, "PPO", 1, float(i)))
    store.close()
    _damage(data_dir / "jobs.sqlite3", how)
    spooled = data_dir / "spool" / ("f" * 32)
    spooled.mkdir(parents=True)
    (spooled / "model.zip").write_bytes(b"a trained model waiting for the registry")
    waiting = registry_pb2.UploadModelMetadata(algorithm="PPO")
    (spooled / "metadata.binpb").write_bytes(waiting.SerializeToString())

    log = tmp_path / "training.log"
    service = Service("training_service", free_port(), training_env(tmp_path, free_port()), log)
    services.append(service)
    stub = training_pb2_grpc.TrainingServiceStub(service.channel)
    with pytest.raises(grpc.RpcError) as lost:
        stub.GetTraining(pb.GetTrainingRequest(job_id=old_ids[7]), timeout=TIMEOUT)
    assert lost.value.code() == grpc.StatusCode.NOT_FOUND
    assert "history" in (lost.value.details() or "") and "lost" in (lost.value.details() or "")
    assert stub.ListTrainings(pb.ListTrainingsRequest(), timeout=TIMEOUT).jobs == []
    job = stub.StartTraining(
        pb.StartTrainingRequest(household=example_household_proto(), episodes=10), timeout=TIMEOUT
    ).job
    assert stub.GetTraining(pb.GetTrainingRequest(job_id=job.job_id), timeout=TIMEOUT).job.job_id
    stub.CancelTraining(pb.CancelTrainingRequest(job_id=job.job_id), timeout=TIMEOUT)

    kept = sorted(p.name for p in data_dir.glob(f"jobs.sqlite3{DAMAGED_SUFFIX}*"))
    assert len(kept) == 1, kept  # the damaged file, kept under a timestamped name
    text = log.read_text()
    damaged_lines = [line for line in text.splitlines() if "job_store_damaged" in line]
    assert len(damaged_lines) == 1 and kept[0] in damaged_lines[0]
    assert "Traceback" not in text
    assert (spooled / "model.zip").read_bytes() == b"a trained model waiting for the registry"
