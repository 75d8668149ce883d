"""A model's identity beyond its name (kind, parent, episodes added, policy family):
stored, served, kept through an index rebuild, and an index of schema version 2 (before
identity was recorded) keeps every model readable when it is migrated."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import grpc
from conftest import RegistryHarness
from registry_support import (
    HASH_A,
    HASH_B,
    TIMEOUT,
    model_zip,
    ref,
    rpc_error,
    sha256_hex,
    upload_metadata,
    upload_stream,
)
from test_registry_state import SCHEMA_V1

from glidepath.common.v1 import model_pb2
from glidepath.registry.v1 import registry_pb2
from glidepath.rpc.status import bad_fields
from model_registry_service import sidecar
from model_registry_service.migrations import SCHEMA_VERSION
from model_registry_service.naming import INDEX_FILE_NAME, ModelKey
from model_registry_service.records import Origin, Visibility
from model_registry_service.storage import ModelStore

MAX_BYTES = 16 * 1024 * 1024

# What version 2 added to version 1 (owners, visibility, declared scores, quarantine).
SCHEMA_V2 = SCHEMA_V1.replace("PRAGMA user_version=1;", "") + (
    "ALTER TABLE models ADD COLUMN owner TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE models ADD COLUMN visibility TEXT NOT NULL DEFAULT 'SHARED';"
    "ALTER TABLE models ADD COLUMN declared_score REAL;"
    "ALTER TABLE models ADD COLUMN declared_json TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE models ADD COLUMN quarantine_reason TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE models ADD COLUMN quarantined_at_us INTEGER;"
    "PRAGMA user_version=2;"
)


def _fine_tuned_upload(
    data: bytes, episodes: int, parent: model_pb2.ModelRef, added: int
) -> registry_pb2.UploadModelMetadata:
    meta = upload_metadata(HASH_A, episodes, data)
    meta.parent.CopyFrom(parent)
    meta.kind = model_pb2.MODEL_KIND_PROFILE
    meta.episodes_added = added
    meta.policy_family = "merton_correction"
    meta.policy_layout_version = 3
    return meta


def test_identity_is_stored_served_and_survives_an_index_rebuild(
    registry_start: Callable[..., RegistryHarness],
) -> None:
    registry = registry_start()
    data = model_zip("fine-tuned")
    meta = _fine_tuned_upload(data, 1200, ref(HASH_B, 1000), 200)
    stored = registry.stub.UploadModel(upload_stream(meta, data), timeout=TIMEOUT).model
    got = registry.stub.GetModel(
        registry_pb2.GetModelRequest(ref=ref(HASH_A, 1200)), timeout=TIMEOUT
    ).model
    for model in (stored, got):
        assert model.parent == ref(HASH_B, 1000)
        assert (model.kind, model.episodes_added) == (model_pb2.MODEL_KIND_PROFILE, 200)
        assert (model.policy_family, model.policy_layout_version) == ("merton_correction", 3)

    # The index is a cache: lost, it is rebuilt from the files and their sidecars.
    registry.channel.close()
    registry.running.stop(grace=1.0)
    for suffix in ("", "-wal", "-shm"):
        (registry.directory / (INDEX_FILE_NAME + suffix)).unlink(missing_ok=True)
    again = registry_start()
    rebuilt = again.stub.GetModel(
        registry_pb2.GetModelRequest(ref=ref(HASH_A, 1200)), timeout=TIMEOUT
    ).model
    assert rebuilt.parent == ref(HASH_B, 1000) and rebuilt.episodes_added == 200
    assert rebuilt.kind == model_pb2.MODEL_KIND_PROFILE
    assert rebuilt.policy_family == "merton_correction"


def test_a_lineage_that_does_not_add_up_or_an_unknown_kind_names_the_field(
    registry_server: RegistryHarness,
) -> None:
    data = model_zip("liar")
    # 1000 from the parent + 200 added is 1200, not the 1100 the name says.
    lying = _fine_tuned_upload(data, 1100, ref(HASH_B, 1000), 200)
    error = rpc_error(registry_server.stub.UploadModel, upload_stream(lying, data), timeout=TIMEOUT)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_fields(error) == ["metadata.episodes_added"]
    assert "1200" in (error.details() or "")

    scratch = upload_metadata(HASH_A, 500, data)
    scratch.episodes_added = 400  # from scratch, the name's 500 are all added
    error = rpc_error(
        registry_server.stub.UploadModel, upload_stream(scratch, data), timeout=TIMEOUT
    )
    assert bad_fields(error) == ["metadata.episodes_added"]

    strange = upload_metadata(HASH_A, 500, data)
    strange.kind = 7  # type: ignore[assignment]
    error = rpc_error(
        registry_server.stub.UploadModel, upload_stream(strange, data), timeout=TIMEOUT
    )
    assert bad_fields(error) == ["metadata.kind"]

    odd = upload_metadata(HASH_A, 500, data)
    odd.policy_family = "Merton\x1b[31m"
    error = rpc_error(registry_server.stub.UploadModel, upload_stream(odd, data), timeout=TIMEOUT)
    assert bad_fields(error) == ["metadata.policy_family"]
    assert not list(registry_server.directory.glob("rl_model_*.zip"))


def test_an_index_of_schema_version_2_keeps_its_models_readable(tmp_path: Path) -> None:
    directory = tmp_path / "rl"
    directory.mkdir()
    data = model_zip("v2")
    key = ModelKey(HASH_A, 700)
    path = directory / key.file_name
    path.write_bytes(data)
    st = path.stat()
    db = sqlite3.connect(directory / INDEX_FILE_NAME)
    db.executescript(SCHEMA_V2)
    db.execute(
        "INSERT INTO models VALUES (?, ?, ?, ?, ?, ?, 'UPLOADED', 'PPO', '{}', 42.0, "
        "'{\"score\": 42.0}', '{\"age\": 40}', ?, 500, 7, '', 1.5, 'alice', 'PRIVATE', "
        "NULL, '', '', NULL)",
        (HASH_A, 700, st.st_size, sha256_hex(data), st.st_mtime_ns, 1_700_000_000_000_000, HASH_B),
    )
    db.commit()
    db.close()
    # The sidecar a version-2 registry wrote: no identity keys.
    document = {
        "format": 1,
        "model_hash": HASH_A,
        "episodes": 700,
        "sha256": sha256_hex(data),
        "size_bytes": len(data),
        "created_at": "2023-11-14T22:13:20+00:00",
        "origin": "UPLOADED",
        "owner": "alice",
        "visibility": "PRIVATE",
        "algorithm": "PPO",
        "library_versions": {},
        "evaluation_score": 42.0,
        "evaluation_json": '{"score": 42.0}',
        "declared_score": None,
        "declared_json": "",
        "canonical_parameters_json": '{"age": 40}',
        "parent": [HASH_B, 500],
        "timesteps": 7,
        "hyperparameters_json": "",
        "training_seconds": 1.5,
        "quarantine": None,
    }
    (directory / sidecar.sidecar_name(key)).write_text(json.dumps(document))

    store = ModelStore(directory, max_bytes=MAX_BYTES, owner=True)
    try:
        record = store.get(key)
        assert (record.owner, record.visibility, record.origin) == (
            "alice",
            Visibility.PRIVATE,
            Origin.UPLOADED,
        )
        assert record.details.parent == ModelKey(HASH_B, 500)
        assert record.details.evaluation_score == 42.0
        assert (record.details.kind, record.details.episodes_added) == ("", 0)
        # The old sidecar reads as the same record: a rebuild would lose nothing.
        assert sidecar.read(directory, key, sha256_hex(data)) == record
    finally:
        store.close()
    db = sqlite3.connect(directory / INDEX_FILE_NAME)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
    columns = {row[1] for row in db.execute("PRAGMA table_info(models)")}
    db.close()
    assert {"kind", "episodes_added", "policy_family", "policy_layout_version"} <= columns
