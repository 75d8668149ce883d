"""Models that are valid zips but no household could use: another layout, NaN weights,
finite weights of 3.4e38 whose actions come out NaN. The registry checks every upload and
every hand-dropped file the way a consumer loads it, and refuses these with their own
status and a one-line message, leaving nothing behind. Against a real registry server,
and a real ``python -m model_registry_service`` process whose log is read."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from conftest import RegistryHarness
from process_support import ServiceProcess
from registry_support import (
    HASH_A,
    HASH_B,
    TIMEOUT,
    huge_weights_zip,
    model_zip,
    nan_weights_zip,
    other_layout_zip,
    ref,
    rpc_error,
    stored_files,
    upload,
)

from glidepath.clients.registry import find_compatible_model
from glidepath.errors import InvalidArgument
from glidepath.registry.v1 import registry_pb2, registry_pb2_grpc
from glidepath.rl.model_io import check_model, load_policy
from glidepath.rpc.status import error_reason
from model_registry_service.service import SERVICE_NAME

UNUSABLE: dict[str, tuple[Callable[[], bytes], str]] = {
    "another layout": (other_layout_zip, "another policy layout"),
    "NaN weights": (nan_weights_zip, "NaN or infinite"),
    "3.4e38 weights": (huge_weights_zip, "non-finite actions"),
}
ANSI = re.compile(r"\x1b\[")


def test_the_test_models_fail_only_as_consumers_see_them() -> None:
    """Controls: the huge weights really are finite (and load), the other layout is a
    well-formed policy; a good model passes the same check."""
    check_model(model_zip("good"))
    policy = load_policy(huge_weights_zip())  # loads: every tensor is finite
    assert all(bool(t.isfinite().all()) for t in policy.state_dict().values())
    with pytest.raises(InvalidArgument, match="non-finite actions"):
        check_model(huge_weights_zip())


@pytest.mark.parametrize("case", sorted(UNUSABLE))
def test_an_unusable_model_is_refused_and_leaves_nothing(
    registry_server: RegistryHarness, case: str
) -> None:
    build, words = UNUSABLE[case]
    # Even with a declared score of 1e300 it never gets in, let alone ranks.
    error = rpc_error(upload, registry_server.stub, HASH_A, 1000, build(), score=1e300)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_reason(error) == "INVALID_MODEL"
    details = str(error.details())
    assert words in details
    assert "\n" not in details and not ANSI.search(details) and len(details) < 400
    assert stored_files(registry_server.directory) == []  # no temp, no zip, no sidecar
    missing = rpc_error(
        registry_server.stub.GetModel,
        registry_pb2.GetModelRequest(ref=ref(HASH_A, 1000)),
        timeout=TIMEOUT,
    )
    assert missing.code() == grpc.StatusCode.NOT_FOUND  # no row either
    # The name is still free for a usable model.
    assert upload(registry_server.stub, HASH_A, 1000, model_zip(case)).created


def test_hand_dropped_unusable_files_are_not_adopted_and_logged_once(tmp_path: Path) -> None:
    directory = tmp_path / "rl"
    directory.mkdir()
    dropped = {
        f"rl_model_{HASH_A}_{600 + i}ep.zip": build()
        for i, (build, _) in enumerate(UNUSABLE.values())
    }
    good = f"rl_model_{HASH_A}_900ep.zip"
    for name, data in {**dropped, good: model_zip("good")}.items():
        (directory / name).write_bytes(data)
    process = ServiceProcess(
        "model_registry_service",
        tmp_path,
        {"RL_MODELS_DIR": str(directory), "RL_MIN_EPISODES": "1"},
        service_name=SERVICE_NAME,
    )
    try:
        stub = registry_pb2_grpc.ModelRegistryStub(process.channel)
        for _ in range(3):  # looked at again and again, logged once
            found = find_compatible_model(process.channel, HASH_A, 1, timeout=TIMEOUT)
            assert found.ref.episodes == 900
            listed = stub.ListModels(registry_pb2.ListModelsRequest(), timeout=TIMEOUT)
            assert [m.file_name for m in listed.models] == [good]
        missing = rpc_error(find_compatible_model, process.channel, HASH_B, 1, timeout=TIMEOUT)
        assert missing.code() == grpc.StatusCode.NOT_FOUND
        log = process.log()
    finally:
        process.stop()
    for (name, _), (_, words) in zip(dropped.items(), UNUSABLE.values(), strict=True):
        lines = [line for line in log.splitlines() if name in line and "model_file_ignored" in line]
        assert len(lines) == 1, (name, lines)
        assert words in lines[0] and len(lines[0]) < 600
        assert (directory / name).exists()  # kept where the operator put it
