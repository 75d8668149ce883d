"""``glidepath.clients``: every RPC carries a deadline and the caller's metadata, streams
can be cancelled, and a download is checked before it is believed.

The clients are driven over a recording fake channel (the generated stubs only ask a
channel for callables), so each method's wire-level arguments are seen exactly; the
clients against real services are exercised by the registry, CLI and Optimize tests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from glidepath.clients import (
    Caller,
    Deadlines,
    ModelTooLarge,
    RegistryClient,
    SimulationClient,
    TrainingClient,
)
from glidepath.clients.channel import Client
from glidepath.clients.registry import read_model
from glidepath.common.v1 import model_pb2
from glidepath.errors import DataLoss
from glidepath.registry.v1 import registry_pb2
from glidepath.simulation.v1 import simulation_pb2
from glidepath.training.v1 import training_pb2

DEADLINES = Deadlines(call=1.5, transfer=25.0, stream=700.0)
REF = model_pb2.ModelRef(model_hash="0123456789abcdef", episodes=10)
MODEL = model_pb2.ModelMetadata(ref=REF, sha256="ab" * 32)


class FakeStream:
    """A server stream of default responses that remembers being cancelled."""

    def __init__(self, messages: list[Any]) -> None:
        self._messages = iter(messages)
        self.cancelled = False

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        return next(self._messages)

    def cancel(self) -> bool:
        self.cancelled = True
        return True


class FakeFuture:
    """A unary call started with ``.future``: its answer, and whether it was cancelled."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.cancelled = False

    def result(self) -> Any:
        return self.answer

    def cancel(self) -> bool:
        self.cancelled = True
        return True


class RecordingChannel:
    """Stands in for a grpc.Channel: each call is recorded as (method, kwargs)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.streams: list[FakeStream] = []

    def _callable(self, method: str, deserializer: Callable[[bytes], Any], stream: bool) -> Any:
        def call(request: Any, **kwargs: Any) -> Any:
            if isinstance(request, Iterator):
                list(request)  # an upload: drain the request stream
            self.calls.append((method, kwargs))
            if stream:
                self.streams.append(FakeStream([deserializer(b"")]))
                return self.streams[-1]
            return deserializer(b"")

        def future(request: Any, **kwargs: Any) -> FakeFuture:
            self.calls.append((method, kwargs))
            return FakeFuture(deserializer(b""))

        call.future = future  # type: ignore[attr-defined]
        return call

    def unary_unary(self, method: str, response_deserializer: Any = None, **_: Any) -> Any:
        return self._callable(method, response_deserializer, stream=False)

    def stream_unary(self, method: str, response_deserializer: Any = None, **_: Any) -> Any:
        return self._callable(method, response_deserializer, stream=False)

    def unary_stream(self, method: str, response_deserializer: Any = None, **_: Any) -> Any:
        return self._callable(method, response_deserializer, stream=True)


def _model_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.zip"
    path.write_bytes(b"weights")
    return path


# (client class, the call, the RPC's name, which deadline it gets by default)
CALLS: list[tuple[type[Client], Callable[..., Any], str, str]] = [
    (
        RegistryClient,
        lambda c, p, **k: c.find("0123456789abcdef", **k),
        "FindCompatibleModel",
        "call",
    ),
    (
        RegistryClient,
        lambda c, p, **k: c.find_near(registry_pb2.FindNearModelsRequest(), **k),
        "FindNearModels",
        "call",
    ),
    (RegistryClient, lambda c, p, **k: c.get(REF, **k), "GetModel", "call"),
    (
        RegistryClient,
        lambda c, p, **k: c.list(registry_pb2.ListModelsRequest(), **k),
        "ListModels",
        "call",
    ),
    (
        RegistryClient,
        lambda c, p, **k: c.list_all(registry_pb2.ListModelsRequest(), **k),
        "ListModels",
        "call",
    ),
    (
        RegistryClient,
        lambda c, p, **k: c.upload(_model_file(p), registry_pb2.UploadModelMetadata(ref=REF), **k),
        "UploadModel",
        "transfer",
    ),
    (RegistryClient, lambda c, p, **k: c.download_stream(REF, **k), "DownloadModel", "transfer"),
    (RegistryClient, lambda c, p, **k: c.delete(REF, **k), "DeleteModel", "call"),
    (RegistryClient, lambda c, p, **k: c.cleanup(30, dry_run=True, **k), "CleanupModels", "call"),
    (
        RegistryClient,
        lambda c, p, **k: c.quarantine(MODEL, "broken", **k),
        "QuarantineModel",
        "call",
    ),
    (
        RegistryClient,
        lambda c, p, **k: c.record_evaluation(MODEL, model_pb2.ModelEvaluation(), **k),
        "RecordEvaluation",
        "call",
    ),
    (
        TrainingClient,
        lambda c, p, **k: c.start(training_pb2.StartTrainingRequest(), **k),
        "StartTraining",
        "call",
    ),
    (TrainingClient, lambda c, p, **k: c.watch("job-1", **k), "WatchTraining", "stream"),
    (TrainingClient, lambda c, p, **k: c.get("job-1", **k), "GetTraining", "call"),
    (
        TrainingClient,
        lambda c, p, **k: c.list(training_pb2.ListTrainingsRequest(), **k),
        "ListTrainings",
        "call",
    ),
    (TrainingClient, lambda c, p, **k: c.cancel("job-1", **k), "CancelTraining", "call"),
    (
        SimulationClient,
        lambda c, p, **k: c.simulate(simulation_pb2.SimulateRequest(), **k),
        "Simulate",
        "transfer",
    ),
    (
        SimulationClient,
        lambda c, p, **k: c.compare(simulation_pb2.CompareRequest(), **k),
        "Compare",
        "transfer",
    ),
    (
        SimulationClient,
        lambda c, p, **k: c.compare_future(simulation_pb2.CompareRequest(), **k),
        "Compare",
        "transfer",
    ),
    (
        SimulationClient,
        lambda c, p, **k: c.optimize(simulation_pb2.OptimizeRequest(), **k),
        "Optimize",
        "stream",
    ),
]


@pytest.mark.parametrize(("kind", "call", "rpc", "deadline"), CALLS, ids=[c[2] for c in CALLS])
def test_every_rpc_carries_a_deadline_and_the_callers_metadata(
    tmp_path: Path, kind: type[Client], call: Callable[..., Any], rpc: str, deadline: str
) -> None:
    channel = RecordingChannel()
    client = kind(channel, Caller("tok", "alice"), DEADLINES)  # type: ignore[arg-type]
    call(client, tmp_path)
    call(client, tmp_path, timeout=0.25)
    (method, default), (_, chosen) = channel.calls
    assert method.endswith(f"/{rpc}")
    assert default["timeout"] == getattr(DEADLINES, deadline)
    assert chosen["timeout"] == 0.25
    expected = (("authorization", "Bearer tok"), ("glidepath-on-behalf-of", "alice"))
    assert default["metadata"] == chosen["metadata"] == expected


def test_a_caller_sends_only_what_it_holds() -> None:
    assert Caller().metadata == ()
    assert Caller("tok").metadata == (("authorization", "Bearer tok"),)
    assert Caller(None, "bob").metadata == (("glidepath-on-behalf-of", "bob"),)


def test_as_caller_shares_the_channel_and_deadlines_but_not_the_credential() -> None:
    channel = RecordingChannel()
    service = RegistryClient(channel, Caller("svc"), DEADLINES)  # type: ignore[arg-type]
    for_bob = service.as_caller(Caller("svc", "bob"))
    for_bob.get(REF)
    service.get(REF)
    assert for_bob.channel is service.channel and for_bob.deadlines == DEADLINES
    assert [kwargs["metadata"] for _, kwargs in channel.calls] == [
        (("authorization", "Bearer svc"), ("glidepath-on-behalf-of", "bob")),
        (("authorization", "Bearer svc"),),
    ]


def test_streams_are_cancellable() -> None:
    channel = RecordingChannel()
    updates = TrainingClient(channel).watch("job-1")  # type: ignore[arg-type]
    events = SimulationClient(channel).optimize(simulation_pb2.OptimizeRequest())  # type: ignore[arg-type]
    assert [type(job) for job in updates] == [training_pb2.TrainingJob]  # jobs, not replies
    updates.cancel()
    events.cancel()
    assert [stream.cancelled for stream in channel.streams] == [True, True]
    pending = SimulationClient(channel).compare_future(simulation_pb2.CompareRequest())  # type: ignore[arg-type]
    assert isinstance(pending.result(), simulation_pb2.CompareResponse)
    pending.cancel()
    assert pending.cancelled  # type: ignore[attr-defined]


def _chunk_starts(data: bytes) -> range:
    return range(0, len(data), 3)


def _download(
    data: bytes, declared: bytes | None = None
) -> list[registry_pb2.DownloadModelResponse]:
    truth = data if declared is None else declared
    metadata = model_pb2.ModelMetadata(
        ref=REF,
        file_name="rl_model_0123456789abcdef_10ep.zip",
        size_bytes=len(truth),
        sha256=hashlib.sha256(truth).hexdigest(),
    )
    return [
        registry_pb2.DownloadModelResponse(metadata=metadata),
        *(
            registry_pb2.DownloadModelResponse(chunk=data[i : i + 3])
            for i in range(0, len(data), 3)
        ),
    ]


def test_a_download_that_matches_its_metadata_is_returned_whole() -> None:
    chunks: list[bytes] = []
    metadata = read_model(FakeStream(_download(b"policy weights")), chunks.append, max_bytes=14)
    assert b"".join(chunks) == b"policy weights"
    assert metadata.size_bytes == 14


def test_a_download_whose_bytes_differ_from_their_metadata_is_data_loss() -> None:
    with pytest.raises(DataLoss, match="expected 14 bytes") as raised:
        read_model(FakeStream(_download(b"policy weightz", b"policy weights")), lambda _: None)
    assert raised.value.reason == "CHECKSUM_MISMATCH"
    with pytest.raises(DataLoss, match="no metadata"):
        read_model(FakeStream(_download(b"abc")[1:]), lambda _: None)


def test_a_download_past_its_limit_is_cancelled_at_once() -> None:
    stream = FakeStream(_download(b"0123456789"))
    written: list[bytes] = []
    with pytest.raises(ModelTooLarge) as raised:
        read_model(stream, written.append, max_bytes=5)
    assert stream.cancelled
    assert raised.value.received == 6 and b"".join(written) == b"012"


def test_download_bytes_and_download_to_a_file_check_what_they_keep(tmp_path: Path) -> None:
    class Serving(RecordingChannel):
        def unary_stream(self, method: str, response_deserializer: Any = None, **_: Any) -> Any:
            return lambda request, **kwargs: FakeStream(_download(b"good bytes"))

    client = RegistryClient(Serving())  # type: ignore[arg-type]
    assert client.download_bytes(REF)[1] == b"good bytes"
    target = tmp_path / "model.zip"
    client.download(REF, target)
    assert target.read_bytes() == b"good bytes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.zip"]  # no .part left
