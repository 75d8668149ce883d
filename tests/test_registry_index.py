"""The index's two back ends: one migration story, the setting that chooses between them,
and two stores sharing a PostgreSQL index and one directory (replicas, in one process)."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from conftest import REGISTRY_BACKENDS
from registry_support import HASH_A, model_zip, sha256_hex

from glidepath.config import ConfigError
from glidepath.errors import AlreadyExists, NotFound, Unavailable
from model_registry_service import sidecar, storage
from model_registry_service.config import database_url_from_env
from model_registry_service.index import ModelIndex, migrate_sqlite
from model_registry_service.migrations import MIGRATIONS, SCHEMA_VERSION, NewerSchema
from model_registry_service.naming import INDEX_FILE_NAME, ModelKey
from model_registry_service.postgres_index import PostgresIndex, connect, migrate_postgres
from model_registry_service.records import ModelDetails, Origin, UploadDeclaration, Visibility
from model_registry_service.storage import ModelStore

REGISTRY_INDEX_BACKENDS = REGISTRY_BACKENDS
MAX_BYTES = 16 * 1024 * 1024
OpenIndex = Callable[..., ModelIndex]
# A row as schema version 1 stored it: the first 17 columns.
V1_ROW = "(?, ?, ?, ?, ?, ?, 'UPLOADED', 'PPO', '{}', 42.0, '', '{}', NULL, NULL, 7, '', 1.5)"


def _versions(directory: Path, url: str | None) -> list[int]:
    """The migrations recorded in the index: SQLite keeps only the last number."""
    if url is None:
        db = sqlite3.connect(directory / INDEX_FILE_NAME)
        try:
            return [db.execute("PRAGMA user_version").fetchone()[0]]
        finally:
            db.close()
    with psycopg.connect(url) as pg:
        return [v for (v,) in pg.execute("SELECT version FROM index_migrations ORDER BY 1")]


def _at_version(directory: Path, url: str | None, target: int, row: tuple[object, ...]) -> None:
    """An index migrated only up to ``target``, holding one version-1 row."""
    if url is None:
        db = sqlite3.connect(directory / INDEX_FILE_NAME, isolation_level=None)
        try:
            migrate_sqlite(db, "test", target=target)
            db.execute(f"INSERT INTO models VALUES {V1_ROW}", row)
        finally:
            db.close()
        return
    with connect(url) as pg:
        migrate_postgres(pg, "test", target=target)
        pg.execute(f"INSERT INTO models VALUES {V1_ROW.replace('?', '%s')}", row)


def _declaration(key: ModelKey, data: bytes) -> UploadDeclaration:
    details = ModelDetails(algorithm="PPO", evaluation_score=3.5)
    return UploadDeclaration(key, len(data), sha256_hex(data), details, owner="ada")


def test_a_new_index_gets_every_migration_once(
    tmp_path: Path, registry_open_index: OpenIndex, registry_database_url: str | None
) -> None:
    registry_open_index(tmp_path).close()
    registry_open_index(tmp_path).close()  # reopening applies nothing again
    if registry_database_url is None:
        assert _versions(tmp_path, None) == [SCHEMA_VERSION]
    else:
        assert _versions(tmp_path, registry_database_url) == [m.version for m in MIGRATIONS]


def test_an_index_of_schema_version_1_is_migrated_and_keeps_its_rows(
    tmp_path: Path, registry_open_index: OpenIndex, registry_database_url: str | None
) -> None:
    key = ModelKey(HASH_A, 1000)
    row = (key.model_hash, key.episodes, 10, "ab" * 32, 123_456_789, 1_700_000_000_000_000)
    _at_version(tmp_path, registry_database_url, 1, row)
    index = registry_open_index(tmp_path)
    try:
        record = index.get(key)
    finally:
        index.close()
    assert record is not None and record.origin is Origin.UPLOADED
    assert (record.owner, record.visibility, record.details.kind) == ("", Visibility.SHARED, "")
    assert record.details.evaluation_score == 42.0 and record.details.features == ()
    assert _versions(tmp_path, registry_database_url)[-1] == SCHEMA_VERSION


def test_an_index_migrated_by_a_newer_registry_is_refused(
    tmp_path: Path, registry_open_index: OpenIndex, registry_database_url: str | None
) -> None:
    registry_open_index(tmp_path).close()
    future = SCHEMA_VERSION + 1
    if registry_database_url is None:
        db = sqlite3.connect(tmp_path / INDEX_FILE_NAME)
        db.execute(f"PRAGMA user_version={future}")
        db.close()
    else:
        with psycopg.connect(registry_database_url, autocommit=True) as pg:
            pg.execute("INSERT INTO index_migrations (version, what) VALUES (%s, 'x')", (future,))
    with pytest.raises(NewerSchema, match=f"version {future} is newer than this registry"):
        registry_open_index(tmp_path)


def test_the_database_url_decides_where_the_rows_live(
    tmp_path: Path, registry_open_index: OpenIndex, registry_database_url: str | None
) -> None:
    store = ModelStore(tmp_path, max_bytes=MAX_BYTES, index=registry_open_index(tmp_path))
    try:
        store.put(_declaration(ModelKey(HASH_A, 1000), model_zip("where")), [model_zip("where")])
    finally:
        store.close()
    assert (tmp_path / INDEX_FILE_NAME).exists() == (registry_database_url is None)
    if registry_database_url is not None:
        with psycopg.connect(registry_database_url) as pg:
            assert pg.execute("SELECT owner FROM models").fetchall() == [("ada",)]


def test_an_owner_sweeps_young_temp_files_only_when_no_replica_shares_its_index(
    tmp_path: Path, registry_open_index: OpenIndex, registry_database_url: str | None
) -> None:
    stale, young = tmp_path / ".upload-dead.tmp", tmp_path / ".upload-live.tmp"
    stale.write_bytes(b"x")
    young.write_bytes(b"y")
    old = time.time() - 2 * storage.STALE_TEMP_SECONDS
    os.utime(stale, (old, old))
    index = registry_open_index(tmp_path)
    ModelStore(tmp_path, max_bytes=MAX_BYTES, index=index, owner=True).close()
    assert not stale.exists()
    # Beside other replicas, a young temp file may be one's upload in progress.
    assert young.exists() == (registry_database_url is not None)


# -- PostgreSQL only --------------------------------------------------------------------


def test_replicas_opening_one_new_schema_together_migrate_it_once(
    registry_new_schema: Callable[[], str],
) -> None:
    url = registry_new_schema()
    barrier = threading.Barrier(6)
    failures: list[BaseException] = []

    def open_one() -> None:
        barrier.wait(30)
        try:
            PostgresIndex(url).close()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert _versions(Path("."), url) == [m.version for m in MIGRATIONS]


def test_two_stores_over_one_shared_index_see_and_delete_each_others_models(
    tmp_path: Path, registry_new_schema: Callable[[], str]
) -> None:
    url = registry_new_schema()
    one = ModelStore(tmp_path, max_bytes=MAX_BYTES, index=PostgresIndex(url), owner=True)
    two = ModelStore(tmp_path, max_bytes=MAX_BYTES, index=PostgresIndex(url), owner=True)
    try:
        key, data = ModelKey(HASH_A, 1000), model_zip("shared")
        stored = one.put(_declaration(key, data), [data]).record
        assert two.get(key) == stored  # the uploader's record, not a re-adoption
        assert two.put(_declaration(key, data), [data]).created is False
        two.delete(key)
        with pytest.raises(NotFound):
            one.get(key)
        assert one.list_page(None, 0).records == []
        assert sorted(p.name for p in tmp_path.iterdir()) == []
        assert sidecar.read(tmp_path, key, stored.sha256) is None
    finally:
        one.close()
        two.close()


def test_the_setting_accepts_only_postgresql_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REGISTRY_DATABASE_URL", raising=False)
    assert database_url_from_env() is None
    monkeypatch.setenv("REGISTRY_DATABASE_URL", "  ")
    assert database_url_from_env() is None
    monkeypatch.setenv("REGISTRY_DATABASE_URL", "postgresql://u@db.example:5432/glidepath")
    assert database_url_from_env() == "postgresql://u@db.example:5432/glidepath"
    monkeypatch.setenv("REGISTRY_DATABASE_URL", "mysql://u:secret@db/glidepath")
    with pytest.raises(ConfigError, match="REGISTRY_DATABASE_URL must be a postgresql://") as e:
        database_url_from_env()
    assert "secret" not in str(e.value)


def test_an_unreachable_database_is_unavailable_naming_it_without_its_password() -> None:
    with pytest.raises(Unavailable) as caught:
        PostgresIndex("postgresql://ada:hunter2@127.0.0.1:1/models?connect_timeout=2")
    assert "ada@127.0.0.1:1/models" in caught.value.message
    assert "hunter2" not in caught.value.message


def test_a_name_locked_by_one_replica_waits_in_the_other_and_other_names_do_not(
    registry_new_schema: Callable[[], str],
) -> None:
    url = registry_new_schema()
    one, two = PostgresIndex(url), PostgresIndex(url)
    key, other_key = ModelKey(HASH_A, 1000), ModelKey(HASH_A, 1001)
    order: list[str] = []

    def second_replica() -> None:
        with two.name_lock(key):
            order.append("two")

    try:
        with one.name_lock(key):
            with two.name_lock(other_key):
                order.append("other name")
            waiting = threading.Thread(target=second_replica)
            waiting.start()
            waiting.join(0.5)
            assert waiting.is_alive()  # blocked on the name the first replica holds
            order.append("one")
        waiting.join(10)
        assert order == ["other name", "one", "two"]
    finally:
        one.close()
        two.close()


def test_a_connection_the_server_dropped_is_replaced_and_the_statement_retried(
    registry_new_schema: Callable[[], str],
) -> None:
    url = registry_new_schema()
    index = PostgresIndex(url)
    key = ModelKey(HASH_A, 1000)
    try:
        with index.name_lock(key):  # opens the name-lock connection too
            pass
        with psycopg.connect(url, autocommit=True) as admin:
            dropped = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = current_setting('application_name') "
                "AND pid != pg_backend_pid()"
            ).fetchall()
        assert len(dropped) == 2
        assert index.get(key) is None and index.all() == []
        with index.name_lock(key):
            pass
    finally:
        index.close()


def test_an_upload_on_one_replica_waits_for_the_others_install_of_that_name(
    tmp_path: Path, registry_new_schema: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first replica is held between writing the sidecar and naming the zip; the
    second, uploading other bytes under that name, waits for it instead of writing its
    own sidecar and zip (which would leave the first one's name with the wrong sidecar,
    or none), and is then refused."""
    url = registry_new_schema()
    one = ModelStore(tmp_path, max_bytes=MAX_BYTES, index=PostgresIndex(url), check_model=None)
    two = ModelStore(tmp_path, max_bytes=MAX_BYTES, index=PostgresIndex(url), check_model=None)
    key = ModelKey(HASH_A, 1000)
    first, second = model_zip("first"), model_zip("second")
    linking, may_link = threading.Event(), threading.Event()

    def held_link(temp: Path, final: Path) -> None:
        linking.set()
        assert may_link.wait(30)
        ModelStore._link(temp, final)

    monkeypatch.setattr(one, "_link", held_link)
    outcomes: dict[str, object] = {}

    def put(name: str, store: ModelStore, data: bytes) -> None:
        try:
            outcomes[name] = store.put(_declaration(key, data), [data]).created
        except AlreadyExists:
            outcomes[name] = "conflict"

    uploads = [
        threading.Thread(target=put, args=("one", one, first)),
        threading.Thread(target=put, args=("two", two, second)),
    ]
    try:
        uploads[0].start()
        assert linking.wait(30)
        uploads[1].start()
        uploads[1].join(0.5)
        assert uploads[1].is_alive()  # waiting for the name the first replica is installing
        may_link.set()
        for upload in uploads:
            upload.join(30)
        assert outcomes == {"one": True, "two": "conflict"}
        assert (tmp_path / key.file_name).read_bytes() == first
        assert sidecar.read(tmp_path, key, sha256_hex(first)) is not None
        assert two.get(key).sha256 == sha256_hex(first)
    finally:
        may_link.set()
        one.close()
        two.close()
