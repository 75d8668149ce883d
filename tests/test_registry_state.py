"""State that survives: an older index is migrated in place, a damaged one is rebuilt from
the directory and the sidecars without losing what cannot be recomputed."""

from __future__ import annotations

import fnmatch
import json
import random
import re
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from process_support import ServiceProcess
from registry_support import (
    HASH_A,
    HASH_B,
    TIMEOUT,
    model_zip,
    ref,
    sha256_hex,
    stored_files,
    upload_metadata,
    upload_stream,
)

from glidepath.auth import ON_BEHALF_OF_METADATA, Role, User, add_user
from glidepath.common.v1 import model_pb2
from glidepath.registry.v1 import registry_pb2, registry_pb2_grpc
from glidepath.rpc.channel import bearer
from model_registry_service import sidecar
from model_registry_service.migrations import SCHEMA_VERSION
from model_registry_service.naming import INDEX_FILE_NAME, MODEL_GLOB, ModelKey
from model_registry_service.records import ModelDetails, Origin, UploadDeclaration, Visibility
from model_registry_service.service import SERVICE_NAME
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

    store = ModelStore(directory, max_bytes=MAX_BYTES, owner=True)
    try:
        record = store.get(key)
        assert (record.owner, record.visibility) == ("", Visibility.SHARED)
        assert record.origin is Origin.UPLOADED  # the old row, not a re-adoption
        assert record.details.evaluation_score == 42.0
        assert record.details.canonical_parameters_json == '{"age": 40}'
        assert record.quarantine is None and record.details.declared_score is None
        # The old model gets the sidecar it lacked (the owner's adopter does it at start).
        store.backfill_sidecars()
        assert sidecar.read(directory, key, sha256_hex(data)) == record
    finally:
        store.close()
    db = sqlite3.connect(directory / INDEX_FILE_NAME)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
    db.close()


# -- sidecars -----------------------------------------------------------------------------


def _store_with_model(directory: Path) -> tuple[ModelStore, ModelKey, bytes]:
    store = ModelStore(directory, max_bytes=MAX_BYTES, owner=True)
    data = model_zip("sidecar")
    key = ModelKey(HASH_A, 1000)
    declaration = UploadDeclaration(
        key,
        len(data),
        sha256_hex(data),
        ModelDetails(
            algorithm="PPO",
            evaluation_score=12.5,
            evaluation_json='{"score": 12.5}',
            canonical_parameters_json='{"age": 40}',
            parent=ModelKey(HASH_A, 500),
            timesteps=99,
        ),
        owner="alice",
        visibility=Visibility.PRIVATE,
    )
    store.put(declaration, [data])
    return store, key, data


def test_a_sidecar_is_written_with_the_model_rewritten_with_it_and_removed_with_it(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "rl"
    store, key, data = _store_with_model(directory)
    try:
        path = directory / sidecar.sidecar_name(key)
        assert not fnmatch.fnmatch(path.name, MODEL_GLOB)
        assert sorted(p.name for p in directory.glob(MODEL_GLOB)) == [key.file_name]
        document = json.loads(path.read_text())
        assert document["owner"] == "alice" and document["visibility"] == "PRIVATE"
        assert document["sha256"] == sha256_hex(data) and document["parent"] == [HASH_A, 500]
        assert document["quarantine"] is None
        store.record_evaluation(key, sha256_hex(data), 20.0, '{"score": 20.0}')
        assert json.loads(path.read_text())["evaluation_score"] == 20.0
        store.quarantine(key, sha256_hex(data), "actions are NaN")
        assert json.loads(path.read_text())["quarantine"]["reason"] == "actions are NaN"
        store.set_visibility(key, Visibility.SHARED, User("alice"))
        assert json.loads(path.read_text())["visibility"] == "SHARED"
        assert sidecar.read(directory, key, sha256_hex(data)) == store.get(key)
        assert sorted(p.name for p in directory.iterdir() if p.name.startswith(".upload")) == []
        store.delete(key)
        assert not path.exists()
        assert stored_files(directory) == []
    finally:
        store.close()


def test_a_sidecar_is_never_seen_half_written(tmp_path: Path) -> None:
    """A reader looping over the sidecar while it is rewritten 200 times always parses a
    whole document (a write in place would show a truncated one now and then)."""
    directory = tmp_path / "rl"
    store, key, data = _store_with_model(directory)
    path = directory / sidecar.sidecar_name(key)
    seen: list[float] = []
    problems: list[str] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            try:
                seen.append(json.loads(path.read_text())["evaluation_score"])
            except ValueError as exc:
                problems.append(repr(exc))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(200):
            store.record_evaluation(key, sha256_hex(data), float(i), f'{{"score": {i}}}')
    finally:
        done.set()
        thread.join()
        store.close()
    assert problems == []
    assert len(seen) > 0 and json.loads(path.read_text())["evaluation_score"] == 199.0


# -- a damaged index, on a real process ---------------------------------------------------


def _garbage(path: Path) -> None:
    path.write_bytes(random.Random(7).randbytes(path.stat().st_size))


def _half(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _bad_page(path: Path) -> None:
    """Overwrite the second page (the models table's root) with garbage; the header and
    every other page stay as they were."""
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    assert len(data) >= 2 * page
    data[page : 2 * page] = random.Random(8).randbytes(page)
    path.write_bytes(bytes(data))


DAMAGE: dict[str, Callable[[Path], None]] = {
    "garbage": _garbage,
    "half a file": _half,
    "a bad page": _bad_page,
}


class Stack:
    """A real registry process with a users file (alice, bob, trainer, root)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.directory = workdir / "rl"
        users_file = workdir / "users.json"
        roles = {"alice": Role.USER, "bob": Role.USER, "trainer": Role.SERVICE, "root": Role.ADMIN}
        self.tokens = {name: add_user(users_file, name, role) for name, role in roles.items()}
        self.env = {
            "RL_MODELS_DIR": str(self.directory),
            "GLIDEPATH_USERS_FILE": str(users_file),
            "RL_MIN_EPISODES": "1",
        }

    def start(self) -> ServiceProcess:
        return ServiceProcess(
            "model_registry_service", self.workdir, self.env, service_name=SERVICE_NAME
        )

    def md(self, who: str, for_user: str | None = None) -> tuple[tuple[str, str], ...]:
        metadata = bearer(self.tokens[who])
        return metadata + (((ON_BEHALF_OF_METADATA, for_user),) if for_user else ())


def _fill(stack: Stack, process: ServiceProcess) -> None:
    """Models with everything the index holds: owners, visibility, verified and declared
    scores, canonical parameters, lineage, a quarantine, a recorded evaluation."""
    stub = registry_pb2_grpc.ModelRegistryStub(process.channel)

    def put(
        who: str, episodes: int, score: float | None, for_user: str | None = None, **fields: Any
    ) -> model_pb2.ModelMetadata:
        data = model_zip(f"state-{episodes}")
        meta = upload_metadata(HASH_A, episodes, data, score=score)
        for name, value in fields.items():
            if name == "parent":
                meta.parent.CopyFrom(value)
            else:
                setattr(meta, name, value)
        response = stub.UploadModel(
            upload_stream(meta, data), timeout=TIMEOUT, metadata=stack.md(who, for_user)
        )
        model: model_pb2.ModelMetadata = response.model
        return model

    put("trainer", 500, 10.0, "alice", visibility=model_pb2.MODEL_VISIBILITY_PRIVATE)
    best = put("trainer", 800, 30.0, "alice", parent=ref(HASH_A, 500), hyperparameters_json="{}")
    put("bob", 900, 1e300)  # declared: shown, never ranks
    doomed = put("trainer", 1000, 99.0, "bob")
    stub.QuarantineModel(
        registry_pb2.QuarantineModelRequest(
            ref=doomed.ref, sha256=doomed.sha256, reason="actions are NaN"
        ),
        timeout=TIMEOUT,
        metadata=stack.md("trainer"),
    )
    rescored = put("alice", 700, 5.0)  # declared 5.0, then verified at 20.0
    stub.RecordEvaluation(
        registry_pb2.RecordEvaluationRequest(
            ref=rescored.ref,
            sha256=rescored.sha256,
            evaluation=model_pb2.ModelEvaluation(score=20.0, seed=3),
        ),
        timeout=TIMEOUT,
        metadata=stack.md("trainer"),
    )
    (stack.directory / f"rl_model_{HASH_B}_600ep.zip").write_bytes(model_zip("by hand"))
    assert best.ref.episodes == 800


def _state(process: ServiceProcess, stack: Stack) -> tuple[Any, ...]:
    """Everything an administrator sees, and what alice and bob are each served."""
    stub = registry_pb2_grpc.ModelRegistryStub(process.channel)
    listed = stub.ListModels(
        registry_pb2.ListModelsRequest(), timeout=TIMEOUT, metadata=stack.md("root")
    )
    found = {
        who: [
            m.file_name
            for m in stub.FindCompatibleModel(
                registry_pb2.FindCompatibleModelRequest(model_hash=HASH_A, max_candidates=16),
                timeout=TIMEOUT,
                metadata=stack.md(who),
            ).candidates
        ]
        for who in ("alice", "bob")
    }
    return sorted(listed.models, key=lambda m: m.file_name), found


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_index_is_moved_aside_and_rebuilt_without_loss(
    tmp_path: Path, damage: str
) -> None:
    stack = Stack(tmp_path)
    process = stack.start()
    try:
        _fill(stack, process)
        before = _state(process, stack)
    finally:
        assert process.stop() == 0
    models, found = before
    assert found["alice"] == [f"rl_model_{HASH_A}_{e}ep.zip" for e in (800, 700, 500, 900)]
    assert found["bob"][0] == f"rl_model_{HASH_A}_800ep.zip"
    assert len(models) == 6
    index = stack.directory / INDEX_FILE_NAME
    assert not index.with_name(index.name + "-wal").exists()  # checkpointed on stop
    DAMAGE[damage](index)
    damaged = index.read_bytes()

    process = stack.start()
    try:
        after = _state(process, stack)
        log = process.log()
    finally:
        process.stop()
    assert after == before  # scores, owners, parameters, lineage, quarantine: all back
    lines = [line for line in log.splitlines() if '"event":"index_damaged"' in line]
    assert len(lines) == 1 and "rebuilding" in lines[0] and len(lines[0]) < 600
    aside = sorted(stack.directory.glob(f"{INDEX_FILE_NAME}.damaged-*"))
    assert [p.read_bytes() for p in aside] == [damaged]  # kept for a post-mortem
    assert re.fullmatch(r"\.index\.sqlite3\.damaged-\d{8}T\d{12}Z", aside[0].name)
    hand = next(m for m in after[0] if m.ref.model_hash == HASH_B)
    assert (hand.owner, hand.visibility) == ("", model_pb2.MODEL_VISIBILITY_SHARED)
    assert hand.origin == model_pb2.MODEL_ORIGIN_ADOPTED and not hand.HasField("evaluation")
    assert "Traceback" not in log
