"""The registry under faults: killed mid-upload, a full disk, cleanup racing the traffic.

Real registries only: a ``python -m model_registry_service`` child process killed with
SIGKILL and restarted on the same directory, and a loopback server whose model directory
is a real 2 MiB tmpfs. Nothing of ours is mocked.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from conftest import RegistryHarness
from process_support import ServiceProcess
from registry_support import (
    HASH_A,
    HASH_B,
    TIMEOUT,
    download_bytes,
    model_zip,
    ref,
    rpc_error,
    upload,
    upload_metadata,
)

from glidepath.registry.v1 import registry_pb2, registry_pb2_grpc
from glidepath.rpc.channel import wait_until_serving
from glidepath.rpc.status import error_reason
from model_registry_service.index import SqliteIndex
from model_registry_service.naming import INDEX_FILE_NAME, MODEL_GLOB, ModelKey
from model_registry_service.service import SERVICE_NAME

Start = Callable[..., RegistryHarness]


def _temp_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob(".upload-*"))


def _model_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob(MODEL_GLOB))


def _indexed(directory: Path) -> list[str]:
    index = SqliteIndex(directory / INDEX_FILE_NAME)
    try:
        return sorted(key.file_name for key in index.stamps())
    finally:
        index.close()


def _listed(stub: registry_pb2_grpc.ModelRegistryStub) -> list[str]:
    reply = stub.ListModels(registry_pb2.ListModelsRequest(page_size=1000), timeout=TIMEOUT)
    return sorted(m.file_name for m in reply.models)


# -- killed in the middle of an upload ------------------------------------------------


def test_a_registry_killed_mid_upload_leaves_nothing_half_written(tmp_path: Path) -> None:
    models = tmp_path / "rl"
    env = {"RL_MODELS_DIR": str(models), "RL_MODELS_MAX_AGE_DAYS": "0"}
    registry = ServiceProcess("model_registry_service", tmp_path, env, service_name=SERVICE_NAME)
    try:
        stub = registry_pb2_grpc.ModelRegistryStub(registry.channel)
        kept = model_zip("kept")
        upload(stub, HASH_B, 1000, kept)
        data = model_zip("interrupted", policy_bytes=2 * 1024 * 1024)
        meta = upload_metadata(HASH_A, 1000, data)
        chunk = 64 * 1024
        stop_sending = threading.Event()

        def slowly() -> Iterator[registry_pb2.UploadModelRequest]:
            yield registry_pb2.UploadModelRequest(metadata=meta)
            for start in range(0, len(data), chunk):
                if stop_sending.wait(0.05):
                    return
                yield registry_pb2.UploadModelRequest(chunk=data[start : start + chunk])

        future = stub.UploadModel.future(slowly(), timeout=60)
        # Wait until the registry has written part of the upload to its temp file.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            temps = list(models.glob(".upload-*.tmp"))
            if temps and temps[0].stat().st_size >= 4 * chunk:
                break
            time.sleep(0.02)
        else:
            raise AssertionError("the upload never reached the registry's disk")
        registry.kill()
        stop_sending.set()
        with pytest.raises(grpc.RpcError) as caught:
            future.result(timeout=30)
        assert caught.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
        # The dead process left its partial temp file behind (what the restart must clear).
        leftover = _temp_files(models)
        assert len(leftover) == 1
        assert 0 < (models / leftover[0]).stat().st_size < len(data)
        assert _model_files(models) == [f"rl_model_{HASH_B}_1000ep.zip"]
    finally:
        if registry.process.poll() is None:
            registry.stop()

    registry = ServiceProcess("model_registry_service", tmp_path, env, service_name=SERVICE_NAME)
    try:
        stub = registry_pb2_grpc.ModelRegistryStub(registry.channel)
        assert _temp_files(models) == []
        assert _model_files(models) == [f"rl_model_{HASH_B}_1000ep.zip"]
        assert _listed(stub) == _model_files(models) == _indexed(models)
        error = rpc_error(download_bytes, stub, HASH_A, 1000)
        assert error.code() == grpc.StatusCode.NOT_FOUND
        # The uploader retries, and this time the model lands, byte for byte.
        assert upload(stub, HASH_A, 1000, data).created
        assert download_bytes(stub, HASH_A, 1000)[1] == data
        assert download_bytes(stub, HASH_B, 1000)[1] == kept
        assert _listed(stub) == _model_files(models) == _indexed(models)
        assert _temp_files(models) == []
    finally:
        assert registry.stop() == 0


# -- disk full ------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MiB tmpfs (root only; CI runs as root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    if shutil.which("mount") is None:
        pytest.fail("no mount command on a root machine: the disk-full test cannot run")
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"could not mount a tmpfs as root: {result.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_disk_is_resource_exhausted_and_harms_nothing(
    small_disk: Path, registry_start: Start
) -> None:
    registry = registry_start(models_dir=small_disk / "rl", max_age_days=0)
    stub = registry.stub
    existing = {episodes: model_zip(f"existing-{episodes}", 200 * 1024) for episodes in (600, 700)}
    for episodes, data in existing.items():
        upload(stub, HASH_A, episodes, data)
    free = shutil.disk_usage(small_disk).free
    too_big = model_zip("too big", free + 512 * 1024)
    assert len(too_big) > free

    error = rpc_error(upload, stub, HASH_B, 1000, too_big)
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error_reason(error) == "DISK_FULL"
    assert "full" in str(error.details())
    directory = registry.directory
    assert _temp_files(directory) == []
    assert _model_files(directory) == [f"rl_model_{HASH_A}_{e}ep.zip" for e in (600, 700)]
    for episodes, data in existing.items():
        metadata, body = download_bytes(stub, HASH_A, episodes)
        assert hashlib.sha256(body).hexdigest() == hashlib.sha256(data).hexdigest()
        assert metadata.sha256 == hashlib.sha256(data).hexdigest()
    # Still serving: healthy, and a model that fits is stored.
    wait_until_serving(registry.channel, SERVICE_NAME, timeout=5)
    assert upload(stub, HASH_B, 1000, model_zip("fits")).created
    assert _listed(stub) == _model_files(directory) == _indexed(directory)


# -- cleanup racing downloads and uploads ---------------------------------------------


def test_cleanup_racing_downloads_and_uploads(registry_start: Start) -> None:
    registry = registry_start(max_age_days=30, cleanup_interval_seconds=1.0)
    stub = registry.stub
    now = datetime.now(UTC)
    old = {e: model_zip(f"old-{e}", 64 * 1024) for e in range(600, 612)}
    young = {e: model_zip(f"young-{e}", 64 * 1024) for e in range(700, 712)}
    for e, data in {**old, **young}.items():
        upload(stub, HASH_A, e, data)
    index = registry.index()
    for e in old:
        index.set_created_at(ModelKey(HASH_A, e), now - timedelta(days=40))
    for e in young:
        index.set_created_at(ModelKey(HASH_A, e), now - timedelta(days=29))
    index.close()
    new = {e: model_zip(f"new-{e}", 64 * 1024) for e in range(800, 824)}
    everything = {**old, **young}
    problems: list[str] = []
    downloads_ok = [0]
    lock = threading.Lock()

    def note(problem: str) -> None:
        with lock:
            problems.append(problem)

    def downloader(seed: int) -> None:
        for round_ in range(4):
            for e in sorted(everything, key=lambda k: (k * (seed + 1) + round_) % 97):
                try:
                    _, body = download_bytes(stub, HASH_A, e)
                except grpc.RpcError as exc:
                    if not (exc.code() == grpc.StatusCode.NOT_FOUND and e in old):
                        note(f"download {e}: {exc.code().name} {exc.details()}")
                    continue
                except AssertionError as exc:
                    note(f"download {e}: broken stream {exc}")
                    continue
                if body != everything[e]:
                    note(f"download {e}: wrong bytes")
                with lock:
                    downloads_ok[0] += 1

    def uploader(part: int) -> None:
        for e in sorted(new)[part::2]:
            try:
                if not upload(stub, HASH_A, e, new[e]).created:
                    note(f"upload {e}: not created")
            except grpc.RpcError as exc:
                note(f"upload {e}: {exc.code().name} {exc.details()}")

    def cleaner() -> None:
        for _ in range(6):
            try:
                stub.CleanupModels(
                    registry_pb2.CleanupModelsRequest(max_age_days=30), timeout=TIMEOUT
                )
            except grpc.RpcError as exc:
                note(f"cleanup: {exc.code().name} {exc.details()}")
            time.sleep(0.02)

    threads = [threading.Thread(target=downloader, args=(i,)) for i in range(3)]
    threads += [threading.Thread(target=uploader, args=(i,)) for i in range(2)]
    threads += [threading.Thread(target=cleaner) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads), "a call hung"
    assert problems == []
    assert downloads_ok[0] >= 3 * 4 * len(young)  # every young model, every round
    # The old models went; every young and new one stayed, byte for byte.
    survivors = sorted([*young, *new])
    expected = [f"rl_model_{HASH_A}_{e}ep.zip" for e in survivors]
    assert _model_files(registry.directory) == sorted(expected)
    assert _listed(stub) == sorted(expected) == _indexed(registry.directory)
    assert _temp_files(registry.directory) == []
    for e in survivors:
        assert download_bytes(stub, HASH_A, e)[1] == {**young, **new}[e]
    assert ref(HASH_A, 600) not in [
        m.ref
        for m in stub.ListModels(
            registry_pb2.ListModelsRequest(page_size=1000), timeout=TIMEOUT
        ).models
    ]


# -- thousands of files dropped in by hand ------------------------------------------------

DROPPED = 1000


def _adopted_lines(log: str) -> int:
    return log.count('"event":"model_adopted"')


def test_lookups_answer_while_thousands_of_dropped_files_are_adopted(tmp_path: Path) -> None:
    """Adoption (hashing, the consumer check) runs outside the store's lock: a lookup of a
    known model answers while the others are still being adopted, which the log shows
    (fewer adopted than dropped, no ``adoption_finished`` yet, when it answered)."""
    directory = tmp_path / "rl"
    registry = ServiceProcess(
        "model_registry_service",
        tmp_path,
        {"RL_MODELS_DIR": str(directory), "RL_MIN_EPISODES": "1"},
        service_name=SERVICE_NAME,
    )
    try:
        stub = registry_pb2_grpc.ModelRegistryStub(registry.channel)
        known = model_zip("known")
        upload(stub, HASH_A, 1000, known)
        for i in range(DROPPED):  # other bytes each: each is hashed and checked
            (directory / f"rl_model_{i:016x}_700ep.zip").write_bytes(model_zip(f"dropped {i}"))
        answered_at: list[int] = []
        for _ in range(5):
            got = stub.GetModel(
                registry_pb2.GetModelRequest(ref=ref(HASH_A, 1000)), timeout=TIMEOUT
            )
            found = stub.FindCompatibleModel(
                registry_pb2.FindCompatibleModelRequest(model_hash=HASH_A), timeout=TIMEOUT
            )
            log = registry.log()
            assert '"event":"adoption_finished"' not in log
            answered_at.append(_adopted_lines(log))
            assert got.model.sha256 == found.model.sha256 == hashlib.sha256(known).hexdigest()
        assert answered_at[-1] < DROPPED
        # A dropped file asked for by name is adopted for that lookup, at once.
        asked = stub.GetModel(
            registry_pb2.GetModelRequest(ref=ref(f"{DROPPED - 1:016x}", 700)), timeout=TIMEOUT
        )
        assert asked.model.ref.episodes == 700
        deadline = time.monotonic() + 600
        while '"event":"adoption_finished"' not in registry.log():
            assert time.monotonic() < deadline, "adoption never finished"
            time.sleep(0.2)
        log = registry.log()
        assert _adopted_lines(log) == DROPPED and "model_file_ignored" not in log
        listed = stub.ListModels(registry_pb2.ListModelsRequest(page_size=1000), timeout=TIMEOUT)
        assert len(listed.models) == 1000 and listed.next_page_token  # all 1,001 there
    finally:
        registry.stop()
