"""Job records, their store across restarts, and the service's settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from glidepath.config import ConfigError
from glidepath.models import ModelKey
from training_service import convert
from training_service.config import TrainingSettings
from training_service.jobs import RESTARTED_MESSAGE, JobRecord, JobState, JobStore


def record(job_id: str, state: JobState, created_at: float = 1.0) -> JobRecord:
    return JobRecord(
        job_id=job_id,
        model_hash="0123456789abcdef",
        episodes=1000,
        algorithm="PPO",
        seed=7,
        created_at=created_at,
        state=state,
        parent=ModelKey("fedcba9876543210", 500),
        started_at=2.0,
        evaluation=b"\x08\x01",
    )


def test_a_record_survives_the_store(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    original = record("a" * 32, JobState.SUCCEEDED)
    original.registered_model = b"\x00\xff"
    original.mean_episode_reward = -0.25
    store.save(original)
    store.close()
    assert JobStore(tmp_path / "jobs.sqlite3").load_all() == [original]


def test_after_a_restart_unfinished_work_is_failed_and_uploads_are_kept(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    states = list(JobState)
    for i, state in enumerate(states):
        store.save(record(f"{i:032x}", state, created_at=float(i)))
    store.close()

    recovered = {r.state: r for r in JobStore(tmp_path / "jobs.sqlite3").recover(now=99.0)}
    by_id = {r.job_id: r for r in JobStore(tmp_path / "jobs.sqlite3").load_all()}  # written through
    for i, state in enumerate(states):
        now = by_id[f"{i:032x}"]
        if state in (JobState.QUEUED, JobState.RUNNING, JobState.EVALUATING):
            assert now.state == JobState.FAILED and now.message == RESTARTED_MESSAGE
            assert now.finished_at == 99.0
        else:
            assert now.state == state
    assert JobState.UPLOADING in recovered


def test_elapsed_is_frozen_once_final() -> None:
    job = record("b" * 32, JobState.RUNNING)
    assert job.elapsed_seconds(now=5.0) == 3.0
    job.finished_at = 4.0
    assert job.elapsed_seconds(now=100.0) == 2.0


def test_settings_defaults_and_errors_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in [
        "TRAINING_MAX_CONCURRENT",
        "TRAINING_WORKERS",
        "TRAINING_MAX_QUEUED",
        "TRAINING_EVAL_LIVES",
        "TRAINING_SPOOL_RETRY_INITIAL_SECONDS",
        "TRAINING_SPOOL_RETRY_MAX_SECONDS",
        "TRAINING_MAX_QUEUED_PER_USER",
        "TRAINING_MAX_EPISODES_PER_USER",
        "TRAINING_MAX_WATCHES_PER_USER",
        "RL_MODELS_MAX_BYTES",
        "GLIDEPATH_TOKEN",
        "REGISTRY_TOKEN",
        "GLIDEPATH_SERVICE_TOKEN",
        "GLIDEPATH_USERS_FILE",
    ]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TRAINING_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TRAINING_MAX_CONCURRENT", "2")
    settings = TrainingSettings.from_env()
    assert settings.max_concurrent == 2 and settings.workers == 2  # workers follow
    assert settings.max_queued == 8 and settings.eval_lives == 10_000
    assert settings.spool_dir == tmp_path / "spool"
    assert (settings.max_queued_per_user, settings.max_episodes_per_user) == (2, 2_000_000)
    assert settings.max_watches_per_user == 8 and settings.max_model_bytes == 100 * 1024 * 1024
    assert settings.token is None and settings.users_file is None
    assert settings.service_token is None
    monkeypatch.setenv("REGISTRY_TOKEN", "legacy")  # the single token, presented to peers too
    assert TrainingSettings.from_env().service_token == "legacy"
    monkeypatch.setenv("GLIDEPATH_SERVICE_TOKEN", "own")
    assert TrainingSettings.from_env().service_token == "own"
    assert TrainingSettings.from_env().token == "legacy"
    for name in ("TRAINING_MAX_EPISODES_PER_USER", "TRAINING_MAX_WATCHES_PER_USER"):
        monkeypatch.setenv(name, "0")
        with pytest.raises(ConfigError, match=name):
            TrainingSettings.from_env()
        monkeypatch.delenv(name)

    monkeypatch.setenv("TRAINING_MAX_QUEUED", "many")
    with pytest.raises(ConfigError, match="TRAINING_MAX_QUEUED"):
        TrainingSettings.from_env()
    monkeypatch.setenv("TRAINING_MAX_QUEUED", "3")
    monkeypatch.setenv("TRAINING_SPOOL_RETRY_INITIAL_SECONDS", "10")
    monkeypatch.setenv("TRAINING_SPOOL_RETRY_MAX_SECONDS", "1")
    with pytest.raises(ConfigError, match="TRAINING_SPOOL_RETRY_MAX_SECONDS"):
        TrainingSettings.from_env()
    monkeypatch.delenv("TRAINING_SPOOL_RETRY_INITIAL_SECONDS")
    monkeypatch.delenv("TRAINING_SPOOL_RETRY_MAX_SECONDS")
    monkeypatch.setenv("TRAINING_WORKERS", "1")
    with pytest.raises(ConfigError, match="TRAINING_WORKERS"):
        TrainingSettings.from_env()


def test_finished_jobs_beyond_the_history_are_forgotten_everywhere(tmp_path: Path) -> None:
    """A manager whose workers never start: jobs stay queued until cancelled."""
    from training_support import CARTPOLE_RUNNER, example_household_proto

    from glidepath.auth import LOCAL
    from glidepath.common.v1 import model_pb2
    from glidepath.registry.v1 import registry_pb2
    from glidepath.training.v1 import training_pb2 as pb
    from training_service.manager import JobManager

    def never(
        path: Path, metadata: registry_pb2.UploadModelMetadata, owner: str
    ) -> model_pb2.ModelMetadata:
        raise AssertionError("nothing is uploaded in this test")

    settings = TrainingSettings(data_dir=tmp_path, max_queued=10, job_history=2)
    manager = JobManager(settings, CARTPOLE_RUNNER, never)
    ids = []
    for i in range(4):
        message = pb.StartTrainingRequest(
            household=example_household_proto(30000.0 + 1000 * i), episodes=10
        )
        request = convert.start_request(message, lambda ref: b"")
        ids.append(manager.submit(request, LOCAL)[0].job_id)
    for job_id in ids:
        assert manager.cancel(job_id, LOCAL)[0].state == JobState.CANCELLED
    kept = [r.job_id for r in manager.list(LOCAL)[0]]
    assert kept == ids[:1:-1]  # the two newest, newest first
    manager.shutdown()
    assert [r.job_id for r in JobStore(tmp_path / "jobs.sqlite3").load_all()] == ids[2:]


def test_a_record_from_before_owners_keeps_its_request_count_and_has_no_owner() -> None:
    old = record("c" * 32, JobState.SUCCEEDED)
    data = json.loads(old.to_json())
    del data["requesters"]
    data["requests"] = 3
    loaded = JobRecord.from_json(json.dumps(data))
    assert loaded.requests == 3 and loaded.owner == ""
    assert loaded.requesters == ["", "", ""]
