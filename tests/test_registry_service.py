"""The registry over gRPC: a real server on a loopback port, real SB3 files, no mocks; each
test that starts a registry runs on both index back ends (SQLite, PostgreSQL)."""

from __future__ import annotations

import io
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import numpy as np
import pytest
import torch
from conftest import REGISTRY_BACKENDS, RegistryHarness, RegistrySb3Model
from registry_support import (
    HASH_A,
    HASH_B,
    TIMEOUT,
    build_ppo,
    download_bytes,
    model_zip,
    raw_zip,
    ref,
    rpc_error,
    sb3_members,
    sha256_hex,
    stored_files,
    upload,
    upload_metadata,
    upload_stream,
)

from glidepath import log
from glidepath.clients.registry import download_model, find_compatible_model, upload_model
from glidepath.common.v1 import model_pb2
from glidepath.registry.v1 import registry_pb2
from glidepath.rl.model_io import build_policy, load_policy
from glidepath.rl.policy_strategy import mean_actions
from glidepath.rpc.channel import bearer
from glidepath.rpc.status import bad_fields, error_reason
from model_registry_service.naming import ModelKey

Start = Callable[..., RegistryHarness]
REGISTRY_INDEX_BACKENDS = REGISTRY_BACKENDS


def _model_files(directory: Path) -> list[str]:
    """Everything in the directory except the index: models and any leftover temp file."""
    return stored_files(directory)


def _find(
    registry: RegistryHarness, model_hash: str, min_episodes: int | None = None
) -> model_pb2.ModelMetadata:
    return find_compatible_model(registry.channel, model_hash, min_episodes, timeout=TIMEOUT)


def _redate(registry: RegistryHarness, model_hash: str, episodes: int, moment: datetime) -> None:
    index = registry.index()
    index.set_created_at(ModelKey(model_hash, episodes), moment)
    index.close()


# -- the round trip -------------------------------------------------------------------


def test_round_trip_with_a_real_sb3_model(
    registry_server: RegistryHarness, registry_sb3_model: RegistrySb3Model, tmp_path: Path
) -> None:
    meta = registry_pb2.UploadModelMetadata(
        ref=ref(HASH_A, 1000),
        algorithm="PPO",
        library_versions={"stable_baselines3": "2.9.2", "torch": torch.__version__},
        canonical_parameters_json='{"age":40}',
        timesteps=256,
        hyperparameters_json='{"n_steps":64}',
        training_seconds=1.5,
        parent=ref(HASH_A, 500),
    )
    meta.evaluation.score = 31000.0
    meta.evaluation.best_baseline = "merton"
    meta.evaluation.strategies.add(strategy="merton", ce_consumption=30500.0)
    uploaded = upload_model(registry_server.channel, registry_sb3_model.path, meta, timeout=TIMEOUT)
    assert uploaded.created
    assert uploaded.model.file_name == f"rl_model_{HASH_A}_1000ep.zip"
    assert uploaded.model.sha256 == sha256_hex(registry_sb3_model.data)
    assert uploaded.model.origin == model_pb2.MODEL_ORIGIN_UPLOADED

    found = _find(registry_server, HASH_A)
    assert found == uploaded.model
    assert found.evaluation.strategies[0].strategy == "merton"
    assert found.parent == ref(HASH_A, 500)
    assert found.library_versions["torch"] == torch.__version__
    got = registry_server.stub.GetModel(
        registry_pb2.GetModelRequest(ref=ref(HASH_A, 1000)), timeout=TIMEOUT
    )
    assert got.model == found
    listed = registry_server.stub.ListModels(registry_pb2.ListModelsRequest(), timeout=TIMEOUT)
    assert [m.file_name for m in listed.models] == [found.file_name]

    target = tmp_path / "downloaded.zip"
    downloaded = download_model(registry_server.channel, found.ref, target, timeout=TIMEOUT)
    assert downloaded == found
    assert target.read_bytes() == registry_sb3_model.data

    # Load only the weights, never the pickled parts, into the trusted layout.
    fresh = build_policy()
    before = mean_actions(fresh, registry_sb3_model.observations)
    loaded = load_policy(target.read_bytes())
    assert any(
        not torch.equal(loaded.state_dict()[name], value)
        for name, value in fresh.state_dict().items()
    ), "a fresh policy should start from other weights"
    after = mean_actions(loaded, registry_sb3_model.observations)
    np.testing.assert_array_equal(after, registry_sb3_model.actions)
    assert before.shape == after.shape


def test_a_save_of_another_layout_is_refused(
    registry_server: RegistryHarness, tmp_path: Path
) -> None:
    """A genuine stable-baselines3 save (CartPole, a 32x32 network) is a valid zip of
    another layout: no household could use it, so it is not stored."""
    model = build_ppo(seed=7)
    model.save(tmp_path / "cartpole.zip")
    data = (tmp_path / "cartpole.zip").read_bytes()
    error = rpc_error(upload, registry_server.stub, HASH_A, 1000, data)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_reason(error) == "INVALID_MODEL"
    assert "another policy layout" in str(error.details())
    assert _model_files(registry_server.directory) == []


# -- ranking and the 500-episode rule -------------------------------------------------


def test_ranking_score_then_episodes_then_newest(registry_server: RegistryHarness) -> None:
    stub = registry_server.stub
    upload(stub, HASH_A, 5000, model_zip("a5000"))
    upload(stub, HASH_A, 600, model_zip("a600"), score=10.0)
    upload(stub, HASH_A, 900, model_zip("a900"), score=12.0)
    assert _find(registry_server, HASH_A).ref.episodes == 900  # best score, fewer episodes
    upload(stub, HASH_A, 700, model_zip("a700"), score=12.0)
    assert _find(registry_server, HASH_A).ref.episodes == 900  # tie: more episodes
    # Without scores: episodes before age, even when the larger model is older.
    upload(stub, HASH_B, 800, model_zip("b800"))
    upload(stub, HASH_B, 1200, model_zip("b1200"))
    now = datetime.now(UTC)
    _redate(registry_server, HASH_B, 1200, now - timedelta(days=20))
    _redate(registry_server, HASH_B, 800, now)
    assert _find(registry_server, HASH_B).ref.episodes == 1200
    # The models under min_episodes never compete, however good their score.
    upload(stub, HASH_B, 100, model_zip("b100"), score=99.0)
    assert _find(registry_server, HASH_B).ref.episodes == 1200
    assert _find(registry_server, HASH_B, min_episodes=50).ref.episodes == 100


def test_the_500_episode_rule(registry_server: RegistryHarness) -> None:
    upload(registry_server.stub, HASH_A, 499, model_zip("499"))
    upload(registry_server.stub, HASH_A, 120, model_zip("120"))
    error = rpc_error(_find, registry_server, HASH_A)
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error_reason(error) == "BELOW_MIN_EPISODES"
    assert "under 500 episodes" in str(error.details()) and "largest has 499" in str(
        error.details()
    )
    assert _find(registry_server, HASH_A, min_episodes=400).ref.episodes == 499
    upload(registry_server.stub, HASH_A, 500, model_zip("500"))
    assert _find(registry_server, HASH_A).ref.episodes == 500


def test_rl_min_episodes_sets_the_default(
    registry_start: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    from model_registry_service.config import RegistrySettings

    monkeypatch.setenv("RL_MIN_EPISODES", "100")
    registry = registry_start(min_episodes=RegistrySettings.from_env().min_episodes)
    upload(registry.stub, HASH_A, 150, model_zip())
    assert _find(registry, HASH_A).ref.episodes == 150
    assert error_reason(rpc_error(_find, registry, HASH_A, 200)) == "BELOW_MIN_EPISODES"


def test_not_found_reasons(registry_server: RegistryHarness) -> None:
    stub = registry_server.stub
    error = rpc_error(_find, registry_server, HASH_B)
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error_reason(error) == "NO_MODEL_FOR_HASH"
    assert HASH_B in str(error.details())
    for call, request in (
        (stub.GetModel, registry_pb2.GetModelRequest(ref=ref(HASH_B, 1000))),
        (stub.DeleteModel, registry_pb2.DeleteModelRequest(ref=ref(HASH_B, 1000))),
    ):
        missing = rpc_error(call, request, timeout=TIMEOUT)
        assert missing.code() == grpc.StatusCode.NOT_FOUND
        assert error_reason(missing) == "MODEL_NOT_FOUND"
    missing = rpc_error(download_bytes, stub, HASH_B, 1000)
    assert missing.code() == grpc.StatusCode.NOT_FOUND


# -- the directory is the truth, over gRPC --------------------------------------------


def test_hand_dropped_removed_and_stray_files(
    registry_server: RegistryHarness, registry_sb3_model: RegistrySb3Model
) -> None:
    directory = registry_server.directory
    (directory / f"rl_model_{HASH_A}_1000ep.zip").write_bytes(registry_sb3_model.data)
    (directory / "rl_model_bad.zip").write_bytes(registry_sb3_model.data)
    (directory / f"rl_model_{HASH_A}_2000ep.zip").write_bytes(registry_sb3_model.data[:1000])
    (directory / "README.txt").write_text("not a model")
    found = _find(registry_server, HASH_A)
    assert found.ref.episodes == 1000
    assert found.origin == model_pb2.MODEL_ORIGIN_ADOPTED
    assert found.sha256 == sha256_hex(registry_sb3_model.data)
    _, body = download_bytes(registry_server.stub, HASH_A, 1000)
    assert body == registry_sb3_model.data
    listed = registry_server.stub.ListModels(registry_pb2.ListModelsRequest(), timeout=TIMEOUT)
    assert [m.file_name for m in listed.models] == [f"rl_model_{HASH_A}_1000ep.zip"]
    (directory / f"rl_model_{HASH_A}_1000ep.zip").unlink()
    assert error_reason(rpc_error(_find, registry_server, HASH_A)) == "NO_MODEL_FOR_HASH"
    listed = registry_server.stub.ListModels(registry_pb2.ListModelsRequest(), timeout=TIMEOUT)
    assert list(listed.models) == []


# -- bad input ------------------------------------------------------------------------

GOOD = model_zip("good")


def _requests(case: str) -> Iterator[registry_pb2.UploadModelRequest]:
    meta = upload_metadata(HASH_A, 1000, GOOD)
    if case == "bad hash":
        meta.ref.model_hash = "A1B2C3D4E5F6G7H8"
    elif case == "zero episodes":
        meta.ref.episodes = 0
    elif case == "bad sha256":
        meta.sha256 = "abc"
    elif case == "bad parameters json":
        meta.canonical_parameters_json = "{age: 40"
    if case == "chunk first":
        return upload_stream(None, GOOD)
    if case == "metadata twice":
        return iter([registry_pb2.UploadModelRequest(metadata=meta)] * 2)
    if case == "empty stream":
        return iter([])
    return upload_stream(meta, GOOD)


@pytest.mark.parametrize(
    ("case", "field"),
    [
        ("bad hash", "metadata.ref.model_hash"),
        ("zero episodes", "metadata.ref.episodes"),
        ("bad sha256", "metadata.sha256"),
        ("bad parameters json", "metadata.canonical_parameters_json"),
        ("chunk first", "metadata"),
        ("metadata twice", "metadata"),
        ("empty stream", "metadata"),
    ],
)
def test_malformed_uploads_name_the_field(
    registry_server: RegistryHarness, case: str, field: str
) -> None:
    error = rpc_error(registry_server.stub.UploadModel, _requests(case), timeout=TIMEOUT)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_reason(error) == "INVALID_FIELD"
    assert bad_fields(error) == [field]
    assert field in str(error.details())
    assert _model_files(registry_server.directory) == []


def _data_case(case: str) -> tuple[registry_pb2.UploadModelMetadata, bytes]:
    if case == "no chunks":
        return upload_metadata(HASH_A, 1000, GOOD), b""
    if case == "truncated":
        return upload_metadata(HASH_A, 1000, GOOD), GOOD[: len(GOOD) // 2]
    if case == "checksum mismatch":
        return upload_metadata(HASH_A, 1000, GOOD, sha256=sha256_hex(b"other")), GOOD
    if case == "more bytes than declared":
        return upload_metadata(HASH_A, 1000, GOOD, size_bytes=len(GOOD) - 10), GOOD
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case", ["no chunks", "truncated", "checksum mismatch", "more bytes than declared"]
)
def test_bytes_that_do_not_match_the_declaration_are_data_loss(
    registry_server: RegistryHarness, case: str
) -> None:
    meta, data = _data_case(case)
    error = rpc_error(registry_server.stub.UploadModel, upload_stream(meta, data), timeout=TIMEOUT)
    assert error.code() == grpc.StatusCode.DATA_LOSS
    assert error_reason(error) == "CHECKSUM_MISMATCH"
    assert _model_files(registry_server.directory) == []


EVIL = raw_zip([*sb3_members(), ("../evil", b"#!/bin/sh")])
NO_POLICY = raw_zip([m for m in sb3_members() if m[0] != "policy.pth"])


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (EVIL, "'..' in path"),
        (NO_POLICY, "missing member(s) policy.pth"),
        (b"PK\x03\x04 but not really a zip" * 10, "not a zip"),
    ],
    ids=["dotdot member", "no policy.pth", "not a zip"],
)
def test_invalid_model_files_are_refused(
    registry_server: RegistryHarness, data: bytes, words: str
) -> None:
    error = rpc_error(upload, registry_server.stub, HASH_A, 1000, data)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_reason(error) == "INVALID_MODEL_FILE"
    assert words in str(error.details())
    assert _model_files(registry_server.directory) == []


def test_too_large_uploads_are_a_failed_precondition(registry_start: Start) -> None:
    registry = registry_start(max_bytes=64 * 1024)
    big = model_zip("big", policy_bytes=100 * 1024)
    error = rpc_error(upload, registry.stub, HASH_A, 1000, big)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(error) == "TOO_LARGE"
    # Small on the wire, large once expanded: the members' sizes count too.
    bomb = raw_zip([*sb3_members(), ("zeros", b"\0" * (1024 * 1024))], deflate=True)
    assert len(bomb) < 64 * 1024
    error = rpc_error(upload, registry.stub, HASH_A, 1000, bomb)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(error) == "TOO_LARGE"
    assert _model_files(registry.directory) == []


def test_bad_read_requests_name_the_field(registry_server: RegistryHarness) -> None:
    stub = registry_server.stub
    cases = [
        (stub.GetModel, registry_pb2.GetModelRequest(ref=ref("xyz", 10)), "ref.model_hash"),
        (stub.GetModel, registry_pb2.GetModelRequest(ref=ref(HASH_A, 0)), "ref.episodes"),
        (stub.DeleteModel, registry_pb2.DeleteModelRequest(ref=ref("", 10)), "ref.model_hash"),
        (
            stub.FindCompatibleModel,
            registry_pb2.FindCompatibleModelRequest(model_hash="nope"),
            "model_hash",
        ),
        (
            stub.FindCompatibleModel,
            registry_pb2.FindCompatibleModelRequest(model_hash=HASH_A, min_episodes=0),
            "min_episodes",
        ),
        (stub.ListModels, registry_pb2.ListModelsRequest(model_hash="NOPE"), "model_hash"),
        (stub.ListModels, registry_pb2.ListModelsRequest(page_size=1001), "page_size"),
        (stub.ListModels, registry_pb2.ListModelsRequest(page_token="garbage!"), "page_token"),
        (stub.CleanupModels, registry_pb2.CleanupModelsRequest(max_age_days=0), "max_age_days"),
    ]
    for call, request, field in cases:
        error = rpc_error(call, request, timeout=TIMEOUT)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, field
        assert bad_fields(error) == [field]
    error = rpc_error(download_bytes, stub, "short", 10)
    assert bad_fields(error) == ["ref.model_hash"]


# -- never overwrite; concurrency -----------------------------------------------------


def test_idempotent_and_conflicting_re_uploads(registry_server: RegistryHarness) -> None:
    stub = registry_server.stub
    first = upload(stub, HASH_A, 1000, GOOD)
    again = upload(stub, HASH_A, 1000, GOOD)
    assert first.created and not again.created
    assert again.model == first.model
    error = rpc_error(upload, stub, HASH_A, 1000, model_zip("different"))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    assert error_reason(error) == "MODEL_CONFLICT"
    path = registry_server.directory / f"rl_model_{HASH_A}_1000ep.zip"
    assert path.read_bytes() == GOOD
    assert _model_files(registry_server.directory) == [path.name]


def test_concurrent_uploads_of_one_name_end_with_one_file(
    registry_server: RegistryHarness,
) -> None:
    payloads = [model_zip("left", 200_000), model_zip("right", 200_000)] * 4
    barrier = threading.Barrier(len(payloads))
    outcomes: list[tuple[bytes, str]] = [(b"", "")] * len(payloads)

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            reply = upload(registry_server.stub, HASH_A, 1000, payloads[i])
            outcomes[i] = (payloads[i], "created" if reply.created else "same")
        except grpc.RpcError as exc:
            outcomes[i] = (payloads[i], exc.code().name)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(payloads))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    winners = [data for data, outcome in outcomes if outcome == "created"]
    assert len(winners) == 1
    for data, outcome in outcomes:
        expected = {"created", "same"} if data == winners[0] else {"ALREADY_EXISTS"}
        assert outcome in expected
    name = f"rl_model_{HASH_A}_1000ep.zip"
    assert _model_files(registry_server.directory) == [name]
    assert (registry_server.directory / name).read_bytes() == winners[0]


def test_reads_are_served_while_an_upload_is_in_flight(registry_server: RegistryHarness) -> None:
    upload(registry_server.stub, HASH_B, 1000, model_zip("existing"))
    data = model_zip("held", 40 * 1024)
    meta = upload_metadata(HASH_A, 1000, data)
    half_sent, reads_done = threading.Event(), threading.Event()

    def held_open() -> Iterator[registry_pb2.UploadModelRequest]:
        """Sends half the bytes, then holds the upload open until the reads are done."""
        yield registry_pb2.UploadModelRequest(metadata=meta)
        middle = len(data) // 2
        yield registry_pb2.UploadModelRequest(chunk=data[:middle])
        half_sent.set()
        reads_done.wait(30)
        yield registry_pb2.UploadModelRequest(chunk=data[middle:])

    future = registry_server.stub.UploadModel.future(held_open(), timeout=TIMEOUT)
    try:
        assert half_sent.wait(10)
        for _ in range(10):
            assert _find(registry_server, HASH_B).ref.episodes == 1000
            listed = registry_server.stub.ListModels(
                registry_pb2.ListModelsRequest(), timeout=TIMEOUT
            )
            assert [m.ref.model_hash for m in listed.models] == [HASH_B]
        assert not future.done()
    finally:
        reads_done.set()
    assert future.result().created
    assert _find(registry_server, HASH_A).ref.episodes == 1000


def test_a_download_racing_a_delete_completes(registry_server: RegistryHarness) -> None:
    data = model_zip("large", 3 * 1024 * 1024)
    upload(registry_server.stub, HASH_A, 1000, data)
    stream = registry_server.stub.DownloadModel(
        registry_pb2.DownloadModelRequest(ref=ref(HASH_A, 1000)), timeout=TIMEOUT
    )
    first = next(stream)
    assert first.WhichOneof("content") == "metadata"
    deleted = registry_server.stub.DeleteModel(
        registry_pb2.DeleteModelRequest(ref=ref(HASH_A, 1000)), timeout=TIMEOUT, metadata=()
    )
    assert deleted.model.sha256 == sha256_hex(data)
    assert _model_files(registry_server.directory) == []
    body = b"".join(message.chunk for message in stream)
    assert body == data
    # Once deleted, a new download fails cleanly.
    assert rpc_error(download_bytes, registry_server.stub, HASH_A, 1000).code() == (
        grpc.StatusCode.NOT_FOUND
    )


# -- listing, deleting, cleaning up ---------------------------------------------------


def test_listing_is_newest_first_and_paginated(registry_server: RegistryHarness) -> None:
    stub = registry_server.stub
    now = datetime.now(UTC)
    keys = [(HASH_A, 600), (HASH_B, 700), (HASH_A, 800), (HASH_B, 900), (HASH_A, 1000)]
    keys += [(HASH_B, 1100), (HASH_A, 1200)]
    for i, (model_hash, episodes) in enumerate(keys):
        upload(stub, model_hash, episodes, model_zip(f"{i}"))
        # The last two share a timestamp: ties are ordered by (hash, episodes) and
        # neither repeat nor vanish across pages.
        _redate(registry_server, model_hash, episodes, now - timedelta(hours=min(i, 5)))
    newest_first = [*keys[:5], (HASH_A, 1200), (HASH_B, 1100)]
    expected = [f"rl_model_{h}_{e}ep.zip" for h, e in newest_first]

    def all_pages(model_hash: str = "") -> tuple[list[str], int]:
        names: list[str] = []
        token, pages = "", 0
        while True:
            page = stub.ListModels(
                registry_pb2.ListModelsRequest(
                    model_hash=model_hash, page_size=3, page_token=token
                ),
                timeout=TIMEOUT,
            )
            names += [m.file_name for m in page.models]
            pages += 1
            token = page.next_page_token
            if not token:
                return names, pages

    names, pages = all_pages()
    assert pages == 3
    assert names == expected
    only_a, _ = all_pages(HASH_A)
    assert only_a == [n for n in names if HASH_A in n]
    first = stub.ListModels(registry_pb2.ListModelsRequest(page_size=3), timeout=TIMEOUT)
    error = rpc_error(
        stub.ListModels,
        registry_pb2.ListModelsRequest(model_hash=HASH_A, page_token=first.next_page_token),
        timeout=TIMEOUT,
    )
    assert bad_fields(error) == ["page_token"]


def test_delete_removes_file_and_metadata(registry_server: RegistryHarness) -> None:
    upload(registry_server.stub, HASH_A, 1000, GOOD)
    reply = registry_server.stub.DeleteModel(
        registry_pb2.DeleteModelRequest(ref=ref(HASH_A, 1000)), timeout=TIMEOUT
    )
    assert reply.model.file_name == f"rl_model_{HASH_A}_1000ep.zip"
    assert _model_files(registry_server.directory) == []
    error = rpc_error(
        registry_server.stub.GetModel,
        registry_pb2.GetModelRequest(ref=ref(HASH_A, 1000)),
        timeout=TIMEOUT,
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND


def test_cleanup_rpc_with_dry_run(registry_server: RegistryHarness) -> None:
    stub = registry_server.stub
    now = datetime.now(UTC)
    for episodes, age_days in ((600, 90), (700, 31), (800, 2)):
        upload(stub, HASH_A, episodes, model_zip(str(episodes)))
        _redate(registry_server, HASH_A, episodes, now - timedelta(days=age_days))
    dry = stub.CleanupModels(
        registry_pb2.CleanupModelsRequest(max_age_days=30, dry_run=True), timeout=TIMEOUT
    )
    assert sorted(r.episodes for r in dry.models) == [600, 700] and dry.deleted_count == 0
    assert len(_model_files(registry_server.directory)) == 3
    done = stub.CleanupModels(registry_pb2.CleanupModelsRequest(max_age_days=30), timeout=TIMEOUT)
    assert done.deleted_count == 2
    assert _model_files(registry_server.directory) == [f"rl_model_{HASH_A}_800ep.zip"]


def test_periodic_cleanup_runs_inside_the_service(registry_start: Start) -> None:
    registry = registry_start(max_age_days=7, cleanup_interval_seconds=0.1)
    upload(registry.stub, HASH_A, 1000, GOOD)
    _redate(registry, HASH_A, 1000, datetime.now(UTC) - timedelta(days=8))
    deadline = time.monotonic() + 10
    while _model_files(registry.directory) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _model_files(registry.directory) == []


# -- auth -----------------------------------------------------------------------------


def test_mutations_need_the_token_and_reads_do_not(registry_start: Start) -> None:
    token = "s3cret-registry-token"
    captured = io.StringIO()
    log.configure("model_registry_service", stream=captured)
    try:
        registry = registry_start(token=token)
        stub = registry.stub
        for presented in (None, "wrong"):
            error = rpc_error(upload, stub, HASH_A, 1000, GOOD, token=presented)
            assert error.code() == grpc.StatusCode.UNAUTHENTICATED
            assert error_reason(error) == "UNAUTHENTICATED"
        assert _model_files(registry.directory) == []
        assert upload(stub, HASH_A, 1000, GOOD, token=token).created
        assert _find(registry, HASH_A).ref.episodes == 1000
        assert download_bytes(stub, HASH_A, 1000)[1] == GOOD
        stub.ListModels(registry_pb2.ListModelsRequest(), timeout=TIMEOUT)
        stub.GetModel(registry_pb2.GetModelRequest(ref=ref(HASH_A, 1000)), timeout=TIMEOUT)
        delete = registry_pb2.DeleteModelRequest(ref=ref(HASH_A, 1000))
        cleanup = registry_pb2.CleanupModelsRequest(max_age_days=1)
        for call, request in ((stub.DeleteModel, delete), (stub.CleanupModels, cleanup)):
            error = rpc_error(call, request, timeout=TIMEOUT)
            assert error.code() == grpc.StatusCode.UNAUTHENTICATED
            call(request, timeout=TIMEOUT, metadata=bearer(token))
        assert _model_files(registry.directory) == []
    finally:
        log.configure("glidepath", stream=sys.stderr)
    lines = captured.getvalue()
    assert '"code":"UNAUTHENTICATED"' in lines
    assert token not in lines


def test_the_consumer_check_is_off_only_when_code_says_so(registry_start: Start) -> None:
    """Tests whose stand-in trainer is not a glidepath policy (CartPole) start their
    registry with check_models=False; no environment variable can turn the check off."""
    from registry_support import other_layout_zip

    from model_registry_service.config import RegistrySettings

    assert RegistrySettings.from_env().check_models
    lenient = registry_start(check_models=False)
    assert upload(lenient.stub, HASH_A, 1000, other_layout_zip()).created
