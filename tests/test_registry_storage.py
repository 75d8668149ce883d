"""The model directory and its index, driven directly (no server): the directory is the truth.

Every test that opens an index runs on both back ends: SQLite in the directory, and a
fresh database on the session's PostgreSQL server."""

from __future__ import annotations

import errno
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import REGISTRY_BACKENDS, RegistrySb3Model
from registry_support import HASH_A, HASH_B, model_zip, sha256_hex, stored_files

from glidepath.errors import AlreadyExists, NotFound, ResourceExhausted
from model_registry_service import model_storage, storage
from model_registry_service.cleanup import PeriodicCleanup, cleanup_models
from model_registry_service.index import ModelIndex
from model_registry_service.naming import ModelKey
from model_registry_service.records import ModelDetails, Origin, PutResult, UploadDeclaration
from model_registry_service.storage import ModelStore

MAX_BYTES = 16 * 1024 * 1024
REGISTRY_INDEX_BACKENDS = REGISTRY_BACKENDS
OpenIndex = Callable[..., ModelIndex]


@pytest.fixture
def registry_store(tmp_path: Path, registry_open_index: OpenIndex) -> Iterator[ModelStore]:
    directory = tmp_path / "rl"
    store = ModelStore(directory, max_bytes=MAX_BYTES, index=registry_open_index(directory))
    yield store
    store.close()


def _put(
    store: ModelStore, model_hash: str, episodes: int, data: bytes, score: float | None = None
) -> PutResult:
    declaration = UploadDeclaration(
        ModelKey(model_hash, episodes),
        len(data),
        sha256_hex(data),
        ModelDetails(algorithm="PPO", evaluation_score=score),
    )
    return store.put(declaration, [data[:100], data[100:]])


def _files(directory: Path) -> list[str]:
    return stored_files(directory)


def _age(store: ModelStore, key: ModelKey, days: float) -> None:
    """Make a model ``days`` old, in the index and in its file's mtime."""
    moment = datetime.now(UTC) - timedelta(days=days)
    store.index.set_created_at(key, moment)
    os.utime(store.directory / key.file_name, (moment.timestamp(), moment.timestamp()))


def test_put_stores_one_file_and_no_temp(registry_store: ModelStore) -> None:
    data = model_zip("one")
    result = _put(registry_store, HASH_A, 1000, data)
    assert result.created and result.record.origin is Origin.UPLOADED
    assert _files(registry_store.directory) == [f"rl_model_{HASH_A}_1000ep.zip"]
    assert (registry_store.directory / result.record.file_name).read_bytes() == data
    assert _put(registry_store, HASH_A, 1000, data).created is False
    with pytest.raises(AlreadyExists):
        _put(registry_store, HASH_A, 1000, model_zip("two"))
    assert _files(registry_store.directory) == [f"rl_model_{HASH_A}_1000ep.zip"]


def test_index_survives_a_restart(tmp_path: Path, registry_open_index: OpenIndex) -> None:
    store = ModelStore(tmp_path, max_bytes=MAX_BYTES, index=registry_open_index(tmp_path))
    _put(store, HASH_A, 700, model_zip(), score=4.0)
    store.close()
    reopened = ModelStore(tmp_path, max_bytes=MAX_BYTES, index=registry_open_index(tmp_path))
    record = reopened.get(ModelKey(HASH_A, 700))
    assert record.origin is Origin.UPLOADED and record.details.evaluation_score == 4.0
    reopened.close()


def test_a_hand_dropped_sb3_save_is_adopted(
    registry_store: ModelStore, registry_sb3_model: RegistrySb3Model
) -> None:
    target = registry_store.directory / f"rl_model_{HASH_B}_1000ep.zip"
    shutil.copyfile(registry_sb3_model.path, target)
    mtime = datetime(2026, 3, 1, 12, tzinfo=UTC).timestamp()
    os.utime(target, (mtime, mtime))
    record = registry_store.find_compatible(HASH_B, 500)
    assert record.origin is Origin.ADOPTED
    assert record.sha256 == sha256_hex(registry_sb3_model.data)
    assert record.size_bytes == len(registry_sb3_model.data)
    assert record.created_at.timestamp() == pytest.approx(mtime)
    assert record.details.algorithm == ""


def test_a_hand_removed_file_disappears(registry_store: ModelStore) -> None:
    _put(registry_store, HASH_A, 1000, model_zip())
    (registry_store.directory / f"rl_model_{HASH_A}_1000ep.zip").unlink()
    with pytest.raises(NotFound) as caught:
        registry_store.find_compatible(HASH_A, 500)
    assert caught.value.reason == "NO_MODEL_FOR_HASH"
    assert registry_store.list_page(None, 0).records == []


def test_strays_never_break_listing_or_lookup(registry_store: ModelStore) -> None:
    directory = registry_store.directory
    _put(registry_store, HASH_A, 800, model_zip("good"))
    (directory / "rl_model_bad.zip").write_bytes(model_zip("bad name"))
    truncated = directory / f"rl_model_{HASH_A}_900ep.zip"
    truncated.write_bytes(model_zip("cut")[:300])
    (directory / "notes.txt").write_text("hello")
    (directory / f"rl_model_{HASH_A}_950ep.zip").mkdir()
    (directory / f"rl_model_{HASH_A}_990ep.zip").symlink_to(directory / "notes.txt")
    assert [r.key.episodes for r in registry_store.list_page(None, 0).records] == [800]
    assert registry_store.find_compatible(HASH_A, 500).key.episodes == 800
    # The truncated file, completed, is adopted: it was only skipped, not banned.
    truncated.write_bytes(model_zip("now complete"))
    assert registry_store.find_compatible(HASH_A, 500).key.episodes == 900


def test_a_file_rewritten_in_place_is_noticed(
    registry_store: ModelStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage, "RESCAN_SECONDS", 0.0)
    _put(registry_store, HASH_A, 1000, model_zip("before"), score=1.0)
    path = registry_store.directory / f"rl_model_{HASH_A}_1000ep.zip"
    path.write_bytes(model_zip("after!"))
    record = registry_store.get(ModelKey(HASH_A, 1000))
    assert record.sha256 == sha256_hex(model_zip("after!"))
    assert record.origin is Origin.ADOPTED and record.details.evaluation_score is None
    path.write_bytes(b"garbage now")
    with pytest.raises(NotFound):
        registry_store.get(ModelKey(HASH_A, 1000))


def test_stale_temp_files_are_swept_at_start_up(
    tmp_path: Path, registry_open_index: OpenIndex
) -> None:
    stale, fresh = tmp_path / ".upload-dead.tmp", tmp_path / ".upload-live.tmp"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"y")
    old = time.time() - 2 * storage.STALE_TEMP_SECONDS
    os.utime(stale, (old, old))
    ModelStore(tmp_path, max_bytes=MAX_BYTES, index=registry_open_index(tmp_path)).close()
    assert not stale.exists() and fresh.exists()


def test_disk_full_leaves_nothing_behind(
    registry_store: ModelStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _put(registry_store, HASH_A, 600, model_zip("kept"))

    def full(fd: int, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(storage, "_write_all", full)
    with pytest.raises(ResourceExhausted) as caught:
        _put(registry_store, HASH_A, 700, model_zip("lost"))
    assert caught.value.reason == "DISK_FULL"
    assert _files(registry_store.directory) == [f"rl_model_{HASH_A}_600ep.zip"]
    assert registry_store.get(ModelKey(HASH_A, 600)).size_bytes == len(model_zip("kept"))


def test_cleanup_by_age_with_dry_run(registry_store: ModelStore) -> None:
    for episodes, age in ((600, 40), (700, 31), (800, 5)):
        _put(registry_store, HASH_A, episodes, model_zip(str(episodes)))
        _age(registry_store, ModelKey(HASH_A, episodes), age)
    dry = cleanup_models(registry_store, 30, dry_run=True)
    assert sorted(r.key.episodes for r in dry.selected) == [600, 700]
    assert dry.deleted_count == 0 and len(_files(registry_store.directory)) == 3
    done = cleanup_models(registry_store, 30)
    assert done.deleted_count == 2
    assert _files(registry_store.directory) == [f"rl_model_{HASH_A}_800ep.zip"]


def test_the_notes_functions(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    registry_sb3_model: RegistrySb3Model,
    registry_database_url: str | None,
) -> None:
    monkeypatch.chdir(tmp_path)
    if registry_database_url is None:
        monkeypatch.delenv("REGISTRY_DATABASE_URL", raising=False)
    else:
        monkeypatch.setenv("REGISTRY_DATABASE_URL", registry_database_url)
    monkeypatch.delenv("RL_MODELS_DIR", raising=False)
    assert model_storage.get_model_directory() == tmp_path / "models" / "rl"
    custom = tmp_path / "elsewhere" / "models"
    monkeypatch.setenv("RL_MODELS_DIR", str(custom))
    directory = model_storage.get_model_directory()
    assert directory == custom and directory.is_dir()
    for episodes, age in ((1000, 45), (400, 60), (2000, 1)):
        path = directory / f"rl_model_{HASH_B}_{episodes}ep.zip"
        shutil.copyfile(registry_sb3_model.path, path)
        stamp = time.time() - age * 86400
        os.utime(path, (stamp, stamp))
    # The original request's listing recipe sees exactly the models.
    assert len(list(directory.glob("rl_model_*.zip"))) == 3
    assert model_storage.find_compatible_model(HASH_B).key.episodes == 2000
    assert model_storage.find_compatible_model(HASH_B, min_episodes=1).key.episodes == 2000
    assert model_storage.cleanup_old_models(max_age_days=30) == 2
    assert [p.name for p in directory.glob("rl_model_*.zip")] == [f"rl_model_{HASH_B}_2000ep.zip"]
    assert model_storage.cleanup_old_models() == 0
    with pytest.raises(NotFound) as caught:
        model_storage.find_compatible_model(HASH_B, min_episodes=5000)
    assert caught.value.reason == "BELOW_MIN_EPISODES"


def test_periodic_cleanup_runs_and_stops(registry_store: ModelStore) -> None:
    _put(registry_store, HASH_A, 600, model_zip("old"))
    _age(registry_store, ModelKey(HASH_A, 600), 10)
    periodic = PeriodicCleanup(registry_store, max_age_days=7, interval_seconds=0.05)
    periodic.start()
    deadline = time.monotonic() + 10
    while _files(registry_store.directory) and time.monotonic() < deadline:
        time.sleep(0.02)
    periodic.stop()
    assert _files(registry_store.directory) == []
    assert not periodic.running


def test_an_upload_meeting_an_adoption_of_its_name_waits_for_it_without_deadlock(
    tmp_path: Path, registry_open_index: OpenIndex
) -> None:
    """The name an upload is about to take is dropped in by hand with the same bytes and
    is being adopted: the upload waits for that adoption (outside the store's lock, which
    the adoption needs to finish) and answers as an idempotent retry."""
    upload_checking, upload_may_go = threading.Event(), threading.Event()
    adoption_checking, adoption_may_go = threading.Event(), threading.Event()

    def check(path: Path) -> None:  # the consumer check, held at a point of our choosing
        if path.name.startswith(".upload-"):
            upload_checking.set()
            assert upload_may_go.wait(30)
        else:
            adoption_checking.set()
            assert adoption_may_go.wait(30)

    directory = tmp_path / "rl"
    store = ModelStore(
        directory, max_bytes=MAX_BYTES, index=registry_open_index(directory), check_model=check
    )
    data = model_zip("raced")
    results: list[PutResult] = []
    uploading = threading.Thread(
        target=lambda: results.append(_put(store, HASH_A, 1000, data)), daemon=True
    )
    uploading.start()
    try:
        assert upload_checking.wait(30)
        key = ModelKey(HASH_A, 1000)
        (store.directory / key.file_name).write_bytes(data)
        store.refresh(force=True)
        adopting = threading.Thread(target=lambda: store.settle(name=key.file_name), daemon=True)
        adopting.start()
        assert adoption_checking.wait(30)
        upload_may_go.set()
        uploading.join(0.5)
        assert uploading.is_alive()  # waiting for the adoption, not done without it
        adoption_may_go.set()
        adopting.join(30)
        uploading.join(30)
        assert not adopting.is_alive() and not uploading.is_alive(), "deadlocked"
        assert len(results) == 1 and not results[0].created
        assert results[0].record.origin is Origin.ADOPTED
        assert _files(store.directory) == [key.file_name]
    finally:
        upload_may_go.set()
        adoption_may_go.set()
        store.close()
