"""Model-file attacks on a real registry: pickles, zip bombs, hostile names, broken streams.

Complements ``test_registry_service.py`` (``..`` member names, a missing policy, not a
zip, wrong hashes and sizes, truncated and over-long uploads, a bomb over the size cap),
and adds what an attacker would try next. Every rejection has its own status and leaves
no file behind; a canary file proves that no pickled payload ever runs, not on upload,
lookup, listing, download, adoption, nor when the weights are read the services' way.
"""

from __future__ import annotations

import base64
import io
import json
import pickle
import struct
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import torch
from conftest import RegistryHarness
from registry_support import (
    HASH_A,
    HASH_B,
    TIMEOUT,
    download_bytes,
    model_zip,
    raw_zip,
    ref,
    rpc_error,
    sb3_members,
    stored_files,
    upload,
    upload_metadata,
    upload_stream,
)

from glidepath.clients.registry import find_compatible_model
from glidepath.errors import InvalidArgument
from glidepath.registry.v1 import registry_pb2, registry_pb2_grpc
from glidepath.rl.model_io import read_policy_weights
from glidepath.rpc.channel import wait_until_serving
from glidepath.rpc.server import MAX_MESSAGE_BYTES
from glidepath.rpc.status import error_reason
from model_registry_service.service import SERVICE_NAME
from model_registry_service.zipcheck import MAX_MEMBERS


def _leftovers(directory: Path) -> list[str]:
    """Everything but the index: models and any temp file."""
    return stored_files(directory)


def _rejected(
    registry: RegistryHarness, data: bytes, code: grpc.StatusCode, reason: str
) -> grpc.RpcError:
    error = rpc_error(upload, registry.stub, HASH_A, 1000, data)
    assert error.code() == code, error.details()
    assert error_reason(error) == reason
    assert _leftovers(registry.directory) == []
    wait_until_serving(registry.channel, SERVICE_NAME, timeout=5)
    return error


# -- a pickled payload never runs -----------------------------------------------------


class _Payload:
    """Unpickling this creates ``path``: the canary. Pickling it runs nothing."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (self.path, "w"))


def _evil_model(canary: Path) -> bytes:
    """An SB3-shaped save whose every pickled part carries the payload."""
    payload = pickle.dumps(_Payload(canary))
    data = {
        "policy_class": {
            ":type:": "<class 'abc.ABCMeta'>",
            ":serialized:": base64.b64encode(payload).decode(),
        },
        "observation_space": {":serialized:": base64.b64encode(payload).decode()},
    }
    weights = io.BytesIO()
    torch.save(_Payload(canary), weights)  # a real torch archive with the payload inside
    return raw_zip(
        [
            ("data", json.dumps(data).encode()),
            ("pytorch_variables.pth", payload),
            ("policy.pth", weights.getvalue()),
            ("policy.optimizer.pth", payload),
            ("_stable_baselines3_version", b"2.9.2"),
        ]
    )


def test_a_pickle_payload_never_runs(registry_server: RegistryHarness, tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    evil = _evil_model(canary)
    stub = registry_server.stub
    # The container is well formed, but the registry loads weights as a consumer does
    # (weights_only): the payload is refused, never run, and nothing is stored.
    error = rpc_error(upload, stub, HASH_A, 1000, evil)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_reason(error) == "INVALID_MODEL"
    assert "policy.pth" in str(error.details()) and "\n" not in str(error.details())
    assert _leftovers(registry_server.directory) == []
    # A copy dropped in by hand is checked the same way, and not adopted.
    (registry_server.directory / f"rl_model_{HASH_B}_1000ep.zip").write_bytes(evil)
    missing = rpc_error(find_compatible_model, registry_server.channel, HASH_B, timeout=TIMEOUT)
    assert missing.code() == grpc.StatusCode.NOT_FOUND
    stub.ListModels(registry_pb2.ListModelsRequest(), timeout=TIMEOUT)
    # The services read weights with torch.load(weights_only=True): refused, not run.
    with pytest.raises(InvalidArgument):
        read_policy_weights(evil)
    assert not canary.exists()
    # The payload is live: plain unpickling would have run it (so this test can fail).
    control = tmp_path / "control"
    with zipfile.ZipFile(io.BytesIO(_evil_model(control))) as archive:
        pickle.loads(archive.read("pytorch_variables.pth"))  # what the registry never does
    assert control.exists()
    assert not canary.exists()


# -- zip bombs ------------------------------------------------------------------------


def test_a_highly_compressed_member_is_refused_as_a_bomb(
    registry_server: RegistryHarness,
) -> None:
    """Under the size cap (100 MiB by default) but 1000x compressed: a bomb, not a model."""
    bomb = raw_zip([*sb3_members(), ("zeros", b"\0" * (8 * 1024 * 1024))], deflate=True)
    assert len(bomb) < 64 * 1024
    error = _rejected(registry_server, bomb, grpc.StatusCode.FAILED_PRECONDITION, "TOO_LARGE")
    assert "zip bomb" in str(error.details())


def _patch_sizes(archive: bytes, real: int, claimed: int) -> bytes:
    """Make the headers claim ``claimed`` uncompressed bytes where there are ``real``."""
    patched = archive.replace(struct.pack("<I", real), struct.pack("<I", claimed))
    assert patched != archive
    return patched


def test_a_member_that_understates_its_size_is_never_expanded(
    registry_server: RegistryHarness,
) -> None:
    """Headers claim 1,000 bytes for 50 MiB of zeros: reading stops at the claim, the CRC
    fails, and the upload is refused as corrupt, unexpanded."""
    real = 50 * 1024 * 1024
    honest = raw_zip([*sb3_members(), ("bomb", b"\0" * real)], deflate=True)
    liar = _patch_sizes(honest, real, 1000)
    error = _rejected(registry_server, liar, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_MODEL_FILE")
    assert "corrupt" in str(error.details())


def _many_members(count: int) -> bytes:
    return raw_zip([*sb3_members(), *((f"m{i}", b"") for i in range(count))])


def test_a_zip_of_many_members_is_refused_before_it_is_parsed(
    registry_server: RegistryHarness,
) -> None:
    """20,000 empty members would cost seconds and megabytes of ZipInfo objects (a million,
    gigabytes): the end record's count and directory size are checked first."""
    error = _rejected(
        registry_server,
        _many_members(20_000),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_MODEL_FILE",
    )
    assert "members" in str(error.details())


def test_an_understated_member_count_is_caught_after_parsing(
    registry_server: RegistryHarness,
) -> None:
    archive = bytearray(_many_members(100))
    end = archive.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", archive, end + 8, 6, 6)  # claim six members
    error = _rejected(
        registry_server, bytes(archive), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_MODEL_FILE"
    )
    assert f"at most {MAX_MEMBERS}" in str(error.details())


def test_a_nested_archive_is_stored_as_opaque_bytes(registry_server: RegistryHarness) -> None:
    """A zip inside a member is never opened: its claims cannot multiply anything."""
    inner = _patch_sizes(
        raw_zip([("layer", b"\0" * (4 * 1024 * 1024))], deflate=True), 4 * 1024 * 1024, 2**32 - 1
    )
    nested = raw_zip([*sb3_members(), ("nested.zip", raw_zip([("inner.zip", inner)]))])
    reply = upload(registry_server.stub, HASH_A, 1000, nested)
    assert reply.created and reply.model.size_bytes == len(nested)
    assert download_bytes(registry_server.stub, HASH_A, 1000)[1] == nested


# -- hostile member names -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("/etc/cron.d/evil", "absolute path"),
        ("C:/Windows/evil", "absolute path"),
        ("..\\..\\evil", "backslash"),
        ("models/../../evil", "'..' in path"),
        ("policy.pth/../../../evil", "'..' in path"),
    ],
)
def test_hostile_member_names_are_refused(
    registry_server: RegistryHarness, name: str, words: str
) -> None:
    data = raw_zip([*sb3_members(), (name, b"#!/bin/sh\n")])
    error = _rejected(registry_server, data, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_MODEL_FILE")
    assert words in str(error.details())


def test_a_duplicated_member_is_refused(registry_server: RegistryHarness) -> None:
    """Two ``policy.pth``: which one a loader picks is up to the loader; refused."""
    data = raw_zip([*sb3_members(), ("policy.pth", b"the other weights")])
    error = _rejected(registry_server, data, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_MODEL_FILE")
    assert "appears twice" in str(error.details())


# -- broken and oversized streams -----------------------------------------------------


def test_a_client_cancelling_mid_upload_leaves_nothing(registry_server: RegistryHarness) -> None:
    data = model_zip("cancelled", 1024 * 1024)
    meta = upload_metadata(HASH_A, 1000, data)
    half_sent, release = threading.Event(), threading.Event()

    def stalls() -> Iterator[registry_pb2.UploadModelRequest]:
        yield registry_pb2.UploadModelRequest(metadata=meta)
        yield registry_pb2.UploadModelRequest(chunk=data[: 256 * 1024])
        half_sent.set()
        release.wait(30)

    future = registry_server.stub.UploadModel.future(stalls(), timeout=60)
    try:
        assert half_sent.wait(10)
        directory = registry_server.directory
        deadline_poll = _poll(lambda: any(directory.glob(".upload-*.tmp")))
        assert deadline_poll, "the upload never reached the registry's disk"
        future.cancel()
    finally:
        release.set()
    with pytest.raises(grpc.FutureCancelledError):
        future.result(timeout=10)
    assert _poll(lambda: _leftovers(registry_server.directory) == []), _leftovers(
        registry_server.directory
    )
    wait_until_serving(registry_server.channel, SERVICE_NAME, timeout=5)
    # The same upload, whole this time, succeeds.
    assert upload(registry_server.stub, HASH_A, 1000, data).created


def _poll(condition: Any, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return bool(condition())


def test_a_single_message_over_4_mib_is_resource_exhausted(
    registry_server: RegistryHarness,
) -> None:
    """A client that raised its own send limit still meets the server's 4 MiB receive limit."""
    big = MAX_MESSAGE_BYTES + 1024 * 1024
    channel = grpc.insecure_channel(
        registry_server.address, options=[("grpc.max_send_message_length", -1)]
    )
    try:
        stub = registry_pb2_grpc.ModelRegistryStub(channel)
        data = model_zip("one huge chunk", big)
        meta = upload_metadata(HASH_A, 1000, data)
        error = rpc_error(
            stub.UploadModel, upload_stream(meta, data, chunk=len(data)), timeout=TIMEOUT
        )
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        request = registry_pb2.GetModelRequest(ref=ref("a" * big, 1))
        error = rpc_error(stub.GetModel, request, timeout=TIMEOUT)
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        channel.close()
    assert _leftovers(registry_server.directory) == []
    wait_until_serving(registry_server.channel, SERVICE_NAME, timeout=5)
    assert upload(registry_server.stub, HASH_A, 1000, model_zip("normal")).created
