"""Hostile input to every registry RPC (property-based): a clear status, never a crash.

A real registry on a loopback port receives arbitrary messages built from the request
types' descriptors (``hostile_support``), near-valid requests (a valid one with random
fields overridden), arbitrary upload streams, and raw random bytes in place of a
serialized request. Every call carries a deadline. Each answer must be OK or a
deliberate error (INVALID_ARGUMENT, NOT_FOUND, RESOURCE_EXHAUSTED, DATA_LOSS, ...), never
UNKNOWN or INTERNAL; no temp or stray file may stay behind; the server must still be
healthy and still serve its models afterwards.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from conftest import RegistryHarness
from google.protobuf.message import Message
from hostile_support import (
    CLEAR_CODES,
    messages,
    near_valid,
    outcome,
    raw_stream_unary,
    raw_unary,
    raw_unary_stream,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from process_support import ServiceProcess
from registry_support import (
    HASH_A,
    TIMEOUT,
    download_bytes,
    model_zip,
    ref,
    rpc_error,
    sha256_hex,
    stored_files,
    upload,
    upload_metadata,
    upload_stream,
)

from glidepath.registry.v1 import registry_pb2, registry_pb2_grpc
from glidepath.rpc.channel import open_channel, wait_until_serving
from glidepath.rpc.server import RunningServer, start_server
from glidepath.rpc.status import bad_fields
from model_registry_service.app import build_spec
from model_registry_service.config import RegistrySettings
from model_registry_service.service import SERVICE_NAME

DEADLINE = 10.0
KEPT = model_zip("kept")
HYPOTHESIS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
UNARY = {
    "FindCompatibleModel": registry_pb2.FindCompatibleModelRequest,
    "GetModel": registry_pb2.GetModelRequest,
    "ListModels": registry_pb2.ListModelsRequest,
    "DeleteModel": registry_pb2.DeleteModelRequest,
    "CleanupModels": registry_pb2.CleanupModelsRequest,
}
VALID: dict[str, Message] = {
    "FindCompatibleModel": registry_pb2.FindCompatibleModelRequest(model_hash=HASH_A),
    "GetModel": registry_pb2.GetModelRequest(ref=ref(HASH_A, 1000)),
    "ListModels": registry_pb2.ListModelsRequest(page_size=1),
    "DeleteModel": registry_pb2.DeleteModelRequest(ref=ref(HASH_A, 999)),
    "CleanupModels": registry_pb2.CleanupModelsRequest(max_age_days=3650, dry_run=True),
    "DownloadModel": registry_pb2.DownloadModelRequest(ref=ref(HASH_A, 1000)),
}


@dataclass
class Target:
    running: RunningServer
    channel: grpc.Channel
    stub: registry_pb2_grpc.ModelRegistryStub
    directory: Path

    def method(self, name: str) -> str:
        return f"/{SERVICE_NAME}/{name}"

    def check_intact(self) -> None:
        """Healthy, the kept model still served byte for byte, no temp or stray file."""
        wait_until_serving(self.channel, SERVICE_NAME, timeout=5)
        _, body = download_bytes(self.stub, HASH_A, 1000)
        assert body == KEPT
        assert stored_files(self.directory) == [f"rl_model_{HASH_A}_1000ep.zip"]


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    directory = tmp_path_factory.mktemp("hostile_registry") / "rl"
    settings_ = RegistrySettings(models_dir=directory, max_bytes=256 * 1024, max_age_days=0)
    running = start_server(build_spec(settings_), "127.0.0.1", 0)
    channel = open_channel(f"127.0.0.1:{running.port}")
    stub = registry_pb2_grpc.ModelRegistryStub(channel)
    upload(stub, HASH_A, 1000, KEPT)
    try:
        yield Target(running, channel, stub, directory)
    finally:
        channel.close()
        running.stop(grace=1.0)


def _assert_clear(code: grpc.StatusCode, details: str, what: object) -> None:
    assert code in CLEAR_CODES, f"{code.name} ({details}) for {what!r}"


_JSON_VALUES = st.one_of(
    st.integers(-(2**70), 2**70),
    st.sampled_from([2**63, 2**64, -(2**63) - 1, 0, 1, -1, float("inf"), float("nan")]),
    st.floats(),
    st.text(max_size=20),
    st.none(),
    st.from_regex(r"\A[0-9a-f]{16}\Z"),
)


_BIG_INTS = st.integers(-(2**70), 2**70) | st.sampled_from([2**63, 2**64, -(2**63) - 1])


@st.composite
def forged_page_tokens(draw: st.DrawFn) -> registry_pb2.ListModelsRequest:
    """A token shaped like the registry's own (base64 of {h, t, k}) with hostile values.

    Mostly well-formed around one hostile value, so that most reach the index query."""
    model_hash = draw(st.sampled_from(["", HASH_A]))
    payload = {
        "h": draw(st.just(model_hash) | _JSON_VALUES),
        "t": draw(_BIG_INTS | _JSON_VALUES),
        "k": [
            draw(st.just(HASH_A) | _JSON_VALUES),
            draw(_BIG_INTS | _JSON_VALUES),
            *draw(st.lists(_JSON_VALUES, max_size=1)),
        ],
    }
    for key in draw(st.lists(st.sampled_from(["h", "t", "k"]), max_size=1)):
        del payload[key]
    token = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()
    return registry_pb2.ListModelsRequest(
        model_hash=model_hash, page_token=token, page_size=draw(st.integers(0, 3))
    )


@pytest.mark.parametrize("name", sorted(UNARY))
def test_arbitrary_unary_requests_get_a_clear_status(target: Target, name: str) -> None:
    call = getattr(target.stub, name)

    @HYPOTHESIS
    @given(st.one_of(messages(UNARY[name]), near_valid(VALID[name])))
    def run(request: Message) -> None:
        code, details = outcome(lambda: call(request, timeout=DEADLINE))
        _assert_clear(code, details, request)
        if code == grpc.StatusCode.OK and name in ("DeleteModel", "CleanupModels"):
            upload(target.stub, HASH_A, 1000, KEPT)  # put back what a lucky draw removed

    run()
    target.check_intact()


def test_forged_page_tokens_get_a_clear_status(target: Target) -> None:
    @HYPOTHESIS
    @given(forged_page_tokens())
    def run(request: registry_pb2.ListModelsRequest) -> None:
        code, details = outcome(lambda: target.stub.ListModels(request, timeout=DEADLINE))
        _assert_clear(code, details, request)

    run()
    target.check_intact()


def test_arbitrary_download_requests_get_a_clear_status(target: Target) -> None:
    @HYPOTHESIS
    @given(
        st.one_of(messages(registry_pb2.DownloadModelRequest), near_valid(VALID["DownloadModel"]))
    )
    def run(request: registry_pb2.DownloadModelRequest) -> None:
        code, details = outcome(lambda: target.stub.DownloadModel(request, timeout=DEADLINE))
        _assert_clear(code, details, request)

    run()
    target.check_intact()


def _valid_upload_start() -> registry_pb2.UploadModelRequest:
    return registry_pb2.UploadModelRequest(metadata=upload_metadata(HASH_A, 2000, model_zip("x")))


@st.composite
def upload_streams(draw: st.DrawFn) -> list[registry_pb2.UploadModelRequest]:
    """A first message (random, or valid metadata with random fields), then random ones."""
    first = draw(
        st.one_of(messages(registry_pb2.UploadModelRequest), near_valid(_valid_upload_start()))
    )
    rest = draw(st.lists(messages(registry_pb2.UploadModelRequest, depth=2), max_size=4))
    if draw(st.booleans()):  # the right bytes, declared rightly: the other fields are tested
        data = model_zip("x")
        first.metadata.size_bytes, first.metadata.sha256 = len(data), sha256_hex(data)
        rest = [registry_pb2.UploadModelRequest(chunk=data), *rest[:1]]
    return [first, *rest]


def test_arbitrary_upload_streams_get_a_clear_status(target: Target) -> None:
    @HYPOTHESIS
    @given(upload_streams())
    def run(stream: list[registry_pb2.UploadModelRequest]) -> None:
        code, details = outcome(lambda: target.stub.UploadModel(iter(stream), timeout=DEADLINE))
        _assert_clear(code, details, stream)
        if code == grpc.StatusCode.OK:  # a valid upload: remove it so the next starts clean
            key = stream[0].metadata.ref
            target.stub.DeleteModel(registry_pb2.DeleteModelRequest(ref=key), timeout=DEADLINE)

    run()
    target.check_intact()


def test_near_valid_upload_metadata_gets_a_clear_status(target: Target) -> None:
    """The right bytes, rightly declared, with any of the other metadata fields hostile."""
    data = model_zip("x")
    valid = upload_metadata(HASH_A, 2000, data)

    @HYPOTHESIS
    @given(messages(registry_pb2.UploadModelMetadata, presence=0.3))
    def run(noise: registry_pb2.UploadModelMetadata) -> None:
        meta = registry_pb2.UploadModelMetadata()
        meta.CopyFrom(valid)
        meta.MergeFrom(noise)
        meta.size_bytes, meta.sha256 = len(data), sha256_hex(data)
        code, details = outcome(
            lambda: target.stub.UploadModel(upload_stream(meta, data), timeout=DEADLINE)
        )
        _assert_clear(code, details, meta)
        if code == grpc.StatusCode.OK:
            request = registry_pb2.DeleteModelRequest(ref=meta.ref)
            target.stub.DeleteModel(request, timeout=DEADLINE)
            if meta.ref == ref(HASH_A, 1000):
                upload(target.stub, HASH_A, 1000, KEPT)

    run()
    target.check_intact()


@pytest.mark.parametrize("name", [*sorted(UNARY), "DownloadModel", "UploadModel"])
def test_raw_random_bytes_get_a_clear_status(target: Target, name: str) -> None:
    """Bytes that may not even parse as the request type: INVALID_ARGUMENT, not INTERNAL."""
    method = target.method(name)

    @HYPOTHESIS
    @given(
        st.one_of(
            st.binary(max_size=200),
            messages(UNARY.get(name, registry_pb2.DownloadModelRequest)).map(
                lambda m: m.SerializeToString()
            ),
        ),
        st.lists(st.binary(max_size=100), max_size=3),
    )
    def run(payload: bytes, more: list[bytes]) -> None:
        if name == "UploadModel":
            call = raw_stream_unary(target.channel, method)
            code, details = outcome(lambda: call(iter([payload, *more]), timeout=DEADLINE))
        elif name == "DownloadModel":
            stream_call = raw_unary_stream(target.channel, method)
            code, details = outcome(lambda: stream_call(payload, timeout=DEADLINE))
        else:
            unary_call = raw_unary(target.channel, method)
            code, details = outcome(lambda: unary_call(payload, timeout=DEADLINE))
        _assert_clear(code, details, payload)

    run()
    target.check_intact()


def test_an_unparseable_request_is_invalid_argument(target: Target) -> None:
    """A truncated varint is no GetModelRequest: the answer says so, as INVALID_ARGUMENT."""
    call = raw_unary(target.channel, target.method("GetModel"))
    code, details = outcome(lambda: call(b"\x0a\xff", timeout=DEADLINE))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "GetModelRequest" in details
    upload_call = raw_stream_unary(target.channel, target.method("UploadModel"))
    code, details = outcome(lambda: upload_call(iter([b"\x0a\xff"]), timeout=DEADLINE))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "UploadModelRequest" in details
    target.check_intact()


def test_what_fuzzing_found_is_answered_clearly(target: Target) -> None:
    """Each of these once answered INTERNAL (an unhandled exception in the registry)."""
    stub = target.stub
    # timedelta(days=2**32 - 1) overflows: nothing can be that old, nothing is selected.
    reply = stub.CleanupModels(
        registry_pb2.CleanupModelsRequest(max_age_days=2**32 - 1), timeout=DEADLINE
    )
    assert list(reply.models) == [] and reply.deleted_count == 0
    # SQLite holds signed 64-bit integers: a larger timesteps is refused up front.
    data = model_zip("x")
    meta = upload_metadata(HASH_A, 3000, data)
    meta.timesteps = 2**64 - 1
    error = rpc_error(stub.UploadModel, upload_stream(meta, data), timeout=DEADLINE)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "metadata.timesteps" in str(error.details())
    # A forged page token whose cursor SQLite cannot hold.
    for cursor in ({"t": 2**70, "k": [HASH_A, 1]}, {"t": 1, "k": [HASH_A, 2**70]}):
        token = base64.urlsafe_b64encode(json.dumps({"h": "", **cursor}).encode()).decode()
        error = rpc_error(
            stub.ListModels, registry_pb2.ListModelsRequest(page_token=token), timeout=DEADLINE
        )
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    token = base64.urlsafe_b64encode(b'{"h": "", "t": Infinity, "k": [1, 1]}').decode()
    error = rpc_error(
        stub.ListModels, registry_pb2.ListModelsRequest(page_token=token), timeout=DEADLINE
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    target.check_intact()


# -- huge strings and names matched whole, against a real process ------------------------

HUGE = "a" * (3_900_000)  # a 3.9 MB "hash"


def test_a_huge_hash_is_invalid_argument_with_a_short_message_and_log_line(
    tmp_path: Path,
) -> None:
    """Echoed whole, a 3.9 MB hash grew the log by 3.9 MB per request and, past gRPC's
    metadata limit, came back as RESOURCE_EXHAUSTED. Clipped, it is INVALID_ARGUMENT
    naming the field, and 25 such requests leave the log a few kilobytes longer."""
    process = ServiceProcess(
        "model_registry_service",
        tmp_path,
        {"RL_MODELS_DIR": str(tmp_path / "rl")},
        service_name=SERVICE_NAME,
    )
    channel = grpc.insecure_channel(process.address, options=[("grpc.max_send_message_length", -1)])
    try:
        stub = registry_pb2_grpc.ModelRegistryStub(channel)
        data = model_zip("huge hash")
        huge_meta = upload_metadata(HASH_A, 1000, data)
        huge_meta.ref.model_hash = HUGE[:3_800_000]  # the whole message stays under 4 MiB
        calls = {
            "ref.model_hash": [
                lambda: stub.GetModel(
                    registry_pb2.GetModelRequest(ref=ref(HUGE, 1)), timeout=TIMEOUT
                ),
                lambda: list(
                    stub.DownloadModel(
                        registry_pb2.DownloadModelRequest(ref=ref(HUGE, 1)), timeout=TIMEOUT
                    )
                ),
                lambda: stub.DeleteModel(
                    registry_pb2.DeleteModelRequest(ref=ref(HUGE, 1)), timeout=TIMEOUT
                ),
            ],
            "model_hash": [
                lambda: stub.FindCompatibleModel(
                    registry_pb2.FindCompatibleModelRequest(model_hash=HUGE), timeout=TIMEOUT
                ),
                lambda: stub.ListModels(
                    registry_pb2.ListModelsRequest(model_hash=HUGE), timeout=TIMEOUT
                ),
            ],
            "metadata.ref.model_hash": [
                lambda: stub.UploadModel(upload_stream(huge_meta, data), timeout=TIMEOUT)
            ],
            "sha256": [
                lambda: stub.QuarantineModel(
                    registry_pb2.QuarantineModelRequest(
                        ref=ref(HASH_A, 1), sha256=HUGE, reason="x"
                    ),
                    timeout=TIMEOUT,
                )
            ],
        }
        before = process.log_path.stat().st_size
        count = 0
        while count < 25:
            for field, field_calls in calls.items():
                for call in field_calls:
                    error = rpc_error(call)
                    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
                    assert bad_fields(error) == [field]
                    assert len(str(error.details())) < 300
                    count += 1
        log = process.log()
    finally:
        channel.close()
        process.stop()
    grown = len(log.encode()) - before
    assert grown < 25 * 2000, grown
    assert max(len(line) for line in log.splitlines()) < 2000
    assert '"code":"INVALID_ARGUMENT"' in log


@pytest.mark.parametrize(
    "bad", [f"{HASH_A}\n", f"\n{HASH_A}", f"{HASH_A[:-1]}\n", f"{HASH_A} ", HASH_A.upper()]
)
def test_hashes_are_matched_whole(registry_server: RegistryHarness, bad: str) -> None:
    """``re.match`` with ``$`` lets a trailing newline through; every check is whole."""
    data = model_zip("whole")
    meta = upload_metadata(bad, 777, data)
    error = rpc_error(registry_server.stub.UploadModel, upload_stream(meta, data), timeout=TIMEOUT)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_fields(error) == ["metadata.ref.model_hash"]
    for call, request in (
        (registry_server.stub.GetModel, registry_pb2.GetModelRequest(ref=ref(bad, 777))),
        (
            registry_server.stub.FindCompatibleModel,
            registry_pb2.FindCompatibleModelRequest(model_hash=bad),
        ),
    ):
        assert rpc_error(call, request, timeout=TIMEOUT).code() == grpc.StatusCode.INVALID_ARGUMENT
    # A file named with the newline is a stray: never adopted, never listed.
    (registry_server.directory / f"rl_model_{bad}_777ep.zip").write_bytes(data)
    listed = registry_server.stub.ListModels(registry_pb2.ListModelsRequest(), timeout=TIMEOUT)
    assert list(listed.models) == []
    assert stored_files(registry_server.directory) == [f"rl_model_{bad}_777ep.zip"]
