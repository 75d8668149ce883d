"""State that survives: an older index is migrated in place, a damaged one is rebuilt from
the directory and the sidecars without losing what cannot be recomputed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from registry_support import HASH_A, model_zip, sha256_hex

from model_registry_service.index import SCHEMA_VERSION
from model_registry_service.naming import INDEX_FILE_NAME, ModelKey
from model_registry_service.records import Origin, Visibility
from model_registry_service.storage import ModelStore

MAX_BYTES = 16 * 1024 * 1024

# The index as schema version 1 wrote it (before owners, visibility and quarantine).
SCHEMA_V1 = """
CREATE TABLE models (
    model_hash TEXT NOT NULL, episodes INTEGER NOT NULL, size_bytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL, mtime_ns INTEGER NOT NULL, created_at_us INTEGER NOT NULL,
    origin TEXT NOT NULL, algorithm TEXT NOT NULL, library_versions_json TEXT NOT NULL,
    evaluation_score REAL, evaluation_json TEXT NOT NULL,
    canonical_parameters_json TEXT NOT NULL, parent_hash TEXT, parent_episodes INTEGER,
    timesteps INTEGER NOT NULL, hyperparameters_json TEXT NOT NULL,
    training_seconds REAL NOT NULL, PRIMARY KEY (model_hash, episodes)
);
CREATE INDEX models_newest_first ON models (created_at_us DESC, model_hash, episodes);
PRAGMA user_version=1;
"""


def test_an_index_of_schema_version_1_opens_and_keeps_its_rows(tmp_path: Path) -> None:
    directory = tmp_path / "rl"
    directory.mkdir()
    data = model_zip("v1")
    key = ModelKey(HASH_A, 1000)
    path = directory / key.file_name
    path.write_bytes(data)
    st = path.stat()
    db = sqlite3.connect(directory / INDEX_FILE_NAME)
    db.executescript(SCHEMA_V1)
    db.execute(
        "INSERT INTO models VALUES (?, ?, ?, ?, ?, ?, 'UPLOADED', 'PPO', '{}', 42.0, "
        "'{\"score\": 42.0}', '{\"age\": 40}', NULL, NULL, 7, '', 1.5)",
        (HASH_A, 1000, st.st_size, sha256_hex(data), st.st_mtime_ns, 1_700_000_000_000_000),
    )
    db.commit()
    db.close()

    store = ModelStore(directory, max_bytes=MAX_BYTES)
    try:
        record = store.get(key)
        assert (record.owner, record.visibility) == ("", Visibility.SHARED)
        assert record.origin is Origin.UPLOADED  # the old row, not a re-adoption
        assert record.details.evaluation_score == 42.0
        assert record.details.canonical_parameters_json == '{"age": 40}'
        assert record.quarantine is None and record.details.declared_score is None
    finally:
        store.close()
    db = sqlite3.connect(directory / INDEX_FILE_NAME)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    db.close()
