"""Writes need the registry's token, however it is (not) presented; reads stay open; the
token never reaches a log line. Against a real ``python -m model_registry_service``
process whose stderr (its whole JSON log) is captured and searched."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from process_support import ServiceProcess
from registry_support import (
    HASH_A,
    HASH_B,
    TIMEOUT,
    download_bytes,
    model_zip,
    ref,
    stored_files,
    upload_metadata,
    upload_stream,
)

from glidepath.registry.v1 import registry_pb2, registry_pb2_grpc
from glidepath.rpc.channel import bearer
from glidepath.rpc.status import error_reason
from model_registry_service.service import SERVICE_NAME

TOKEN = "tok-7f3a9c1e5b2d4680-registry-secret"
# Every way of not presenting the token; none may change anything.
NOT_THE_TOKEN: dict[str, tuple[tuple[str, str], ...]] = {
    "no metadata": (),
    "wrong token": (("authorization", "Bearer not-the-token"),),
    "a prefix of the token": (("authorization", f"Bearer {TOKEN[:-1]}"),),
    "the token and more": (("authorization", f"Bearer {TOKEN}x"),),
    "no scheme": (("authorization", TOKEN),),
    "another scheme": (("authorization", f"Basic {TOKEN}"),),
    "no space": (("authorization", f"Bearer{TOKEN}"),),
    "scheme only": (("authorization", "Bearer"),),
    "empty value": (("authorization", ""),),
    "another key": (("x-registry-token", TOKEN),),
    "bearer as the key": (("bearer", TOKEN),),
    "token then a wrong one": (
        ("authorization", f"Bearer {TOKEN}"),
        ("authorization", "Bearer wrong"),
    ),
}
DATA = model_zip("auth")


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Any:
    workdir = tmp_path_factory.mktemp("auth")
    env = {"RL_MODELS_DIR": str(workdir / "rl"), "REGISTRY_TOKEN": TOKEN}
    process = ServiceProcess("model_registry_service", workdir, env, service_name=SERVICE_NAME)
    stub = registry_pb2_grpc.ModelRegistryStub(process.channel)
    stub.UploadModel(
        upload_stream(upload_metadata(HASH_B, 1000, DATA), DATA),
        timeout=TIMEOUT,
        metadata=bearer(TOKEN),
    )
    yield process, stub, workdir / "rl"
    process.stop()


def _mutations(
    stub: registry_pb2_grpc.ModelRegistryStub,
) -> dict[str, Callable[[tuple[tuple[str, str], ...]], Any]]:
    return {
        "UploadModel": lambda md: stub.UploadModel(
            upload_stream(upload_metadata(HASH_A, 1000, DATA), DATA), timeout=TIMEOUT, metadata=md
        ),
        "DeleteModel": lambda md: stub.DeleteModel(
            registry_pb2.DeleteModelRequest(ref=ref(HASH_B, 1000)), timeout=TIMEOUT, metadata=md
        ),
        "CleanupModels": lambda md: stub.CleanupModels(
            registry_pb2.CleanupModelsRequest(max_age_days=1), timeout=TIMEOUT, metadata=md
        ),
    }


def _stored(directory: Path) -> list[str]:
    return stored_files(directory)


@pytest.mark.parametrize("how", sorted(NOT_THE_TOKEN))
def test_no_mutation_succeeds_without_the_token(registry: Any, how: str) -> None:
    _, stub, directory = registry
    before = _stored(directory)
    for method, call in _mutations(stub).items():
        with pytest.raises(grpc.RpcError) as caught:
            call(NOT_THE_TOKEN[how])
        error = caught.value
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED, (method, error.details())
        assert error_reason(error) == "UNAUTHENTICATED"
        assert TOKEN not in str(error.details())
    assert _stored(directory) == before == [f"rl_model_{HASH_B}_1000ep.zip"]


def test_reads_stay_open_and_the_token_works(registry: Any) -> None:
    _, stub, directory = registry
    stub.ListModels(registry_pb2.ListModelsRequest(), timeout=TIMEOUT)
    stub.GetModel(registry_pb2.GetModelRequest(ref=ref(HASH_B, 1000)), timeout=TIMEOUT)
    stub.FindCompatibleModel(
        registry_pb2.FindCompatibleModelRequest(model_hash=HASH_B), timeout=TIMEOUT
    )
    assert download_bytes(stub, HASH_B, 1000)[1] == DATA
    calls = _mutations(stub)
    assert calls["UploadModel"](bearer(TOKEN)).created
    # The scheme is case-insensitive, as RFC 7235 says.
    calls["CleanupModels"]((("authorization", f"bearer {TOKEN}"),))
    calls["DeleteModel"](bearer(TOKEN))
    assert _stored(directory) == [f"rl_model_{HASH_A}_1000ep.zip"]


def test_the_token_never_reaches_the_log(registry: Any) -> None:
    process, stub, _ = registry
    for metadata in NOT_THE_TOKEN.values():
        for call in _mutations(stub).values():
            with pytest.raises(grpc.RpcError):
                call(metadata)
    stub.ListModels(registry_pb2.ListModelsRequest(), timeout=TIMEOUT, metadata=bearer(TOKEN))
    with contextlib.suppress(grpc.RpcError):  # NOT_FOUND when an earlier test deleted it
        _mutations(stub)["DeleteModel"](bearer(TOKEN))
    log = process.log()
    assert '"code":"UNAUTHENTICATED"' in log and '"method":' in log
    assert log.count('"event":"request"') >= len(NOT_THE_TOKEN) * 3
    for secret in (TOKEN, TOKEN[:-1], "not-the-token"):
        assert secret not in log
