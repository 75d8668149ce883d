"""The upload spool against a real registry: lands, retries, resumes, rejects, sweeps."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from registry_support import HASH_A, model_zip
from training_support import free_port

from glidepath.auth import Role, add_user
from glidepath.common.v1 import model_pb2
from glidepath.registry.v1 import registry_pb2
from training_service.registry import RegistryClient
from training_service.spool import INCOMING_PREFIX, REJECTED_DIR, Spool


class Outcomes:
    """What the spool reported, per job, with a way to wait for it."""

    def __init__(self) -> None:
        self.landed: dict[str, model_pb2.ModelMetadata] = {}
        self.waiting: dict[str, str] = {}
        self.rejected: dict[str, str] = {}
        self.changed = threading.Event()

    def spool(self, directory: Path, address: str, token: str | None = None) -> Spool:
        client = RegistryClient(address, token, deadline_seconds=5.0)
        return Spool(
            directory,
            client.upload,
            on_landed=lambda j, m: self._record(self.landed, j, m),
            on_waiting=lambda j, m: self._record(self.waiting, j, m),
            on_rejected=lambda j, m: self._record(self.rejected, j, m),
            initial_delay=0.1,
            max_delay=0.3,
        )

    def _record(self, where: dict[str, Any], job_id: str, value: Any) -> None:
        where[job_id] = value
        self.changed.set()

    def wait(self, where: dict[str, Any], job_id: str, timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        while job_id not in where:
            assert time.monotonic() < deadline, f"{job_id} never reported"
            self.changed.wait(0.1)
            self.changed.clear()
        return where[job_id]


def metadata(episodes: int) -> registry_pb2.UploadModelMetadata:
    return registry_pb2.UploadModelMetadata(
        ref=model_pb2.ModelRef(model_hash=HASH_A, episodes=episodes), algorithm="PPO"
    )


def test_a_model_lands_and_the_same_bytes_again_count_as_landed(
    tmp_path: Path, registry_server: Any
) -> None:
    outcomes = Outcomes()
    spool = outcomes.spool(tmp_path / "spool", registry_server.address)
    spool.start()
    try:
        data = model_zip("one")
        spool.put("job1", data, metadata(10))
        stored = outcomes.wait(outcomes.landed, "job1")
        assert stored.file_name == f"rl_model_{HASH_A}_10ep.zip"
        spool.put("job2", data, metadata(10))  # e.g. an upload retried after a lost answer
        assert outcomes.wait(outcomes.landed, "job2").sha256 == stored.sha256
        assert not outcomes.rejected
    finally:
        spool.stop()


def test_a_different_model_under_a_stored_name_is_rejected_and_kept(
    tmp_path: Path, registry_server: Any
) -> None:
    outcomes = Outcomes()
    spool = outcomes.spool(tmp_path / "spool", registry_server.address)
    spool.start()
    try:
        spool.put("first", model_zip("first"), metadata(20))
        outcomes.wait(outcomes.landed, "first")
        spool.put("second", model_zip("second"), metadata(20))
        message = outcomes.wait(outcomes.rejected, "second")
        assert "different model" in message and "rl_model_" in message
        kept = tmp_path / "spool" / REJECTED_DIR / "second" / "model.zip"
        assert kept.read_bytes() == model_zip("second")
        assert spool.job_ids() == []
    finally:
        spool.stop()


def test_the_spool_retries_while_the_registry_is_down_and_resumes_after_a_restart(
    tmp_path: Path, registry_start: Any
) -> None:
    port = free_port()
    outcomes = Outcomes()
    spool = outcomes.spool(tmp_path / "spool", f"127.0.0.1:{port}")
    spool.start()
    spool.put("job", model_zip("down"), metadata(30), owner="alice")
    message = outcomes.wait(outcomes.waiting, "job")
    assert "registry unreachable, model kept in spool, retrying" in message
    spool.stop()  # the service stops; the model stays on disk
    assert spool.job_ids() == ["job"]

    registry = registry_start()
    resumed = Outcomes()
    again = resumed.spool(tmp_path / "spool", registry.address)
    again.start()
    try:
        stored = resumed.wait(resumed.landed, "job")
        assert stored.ref.episodes == 30
        assert stored.owner == "alice"  # the owner waited beside the model, across the restart
        deadline = time.monotonic() + 10
        while again.job_ids() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert again.job_ids() == []
    finally:
        again.stop()


def test_an_interrupted_write_is_swept_and_never_uploaded(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    partial = directory / f"{INCOMING_PREFIX}job-1234"
    partial.mkdir(parents=True)
    (partial / "model.zip").write_bytes(b"half a zip")
    spool = Outcomes().spool(directory, "127.0.0.1:1")
    assert not partial.exists()
    assert spool.job_ids() == []


def test_a_credential_the_registry_refuses_keeps_the_model_waiting(
    tmp_path: Path, registry_start: Any
) -> None:
    """A misconfigured service credential is the service's problem, not the model's: the
    model waits in the spool (it is not rejected) and lands once the credential is right."""
    users = tmp_path / "users.json"
    add_user(users, "alice")
    service_token = add_user(users, "trainer", Role.SERVICE)
    registry = registry_start(users_file=users)
    outcomes = Outcomes()
    spool = outcomes.spool(tmp_path / "spool", registry.address, token=None)
    spool.start()
    spool.put("job", model_zip("credential"), metadata(40), owner="alice")
    message = outcomes.wait(outcomes.waiting, "job")
    assert "UNAUTHENTICATED" in message and not outcomes.rejected
    spool.stop()

    fixed = Outcomes()
    again = fixed.spool(tmp_path / "spool", registry.address, token=service_token)
    again.start()
    try:
        stored = fixed.wait(fixed.landed, "job")
        assert stored.owner == "alice" and stored.ref.episodes == 40
    finally:
        again.stop()
