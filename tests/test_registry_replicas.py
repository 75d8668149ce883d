"""Two registry replicas over one PostgreSQL index and one model directory, as real
``python -m model_registry_service`` processes: they race on one name, one cleans up while
the other serves, and the sidecars they wrote still rebuild the index from the directory."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import psycopg
import pytest
from process_support import ServiceProcess
from registry_support import (
    HASH_A,
    HASH_B,
    TIMEOUT,
    download_bytes,
    model_zip,
    ref,
    sha256_hex,
    upload,
)

from glidepath.common.v1 import model_pb2
from glidepath.registry.v1 import registry_pb2, registry_pb2_grpc
from model_registry_service import sidecar
from model_registry_service.naming import MODEL_GLOB, TEMP_PREFIX, ModelKey
from model_registry_service.postgres_index import PostgresIndex

pytestmark = pytest.mark.slow


class Replica:
    """One registry process and its stub."""

    def __init__(self, process: ServiceProcess) -> None:
        self.process = process
        self.stub = registry_pb2_grpc.ModelRegistryStub(process.channel)


class Pair:
    """Replicas started over one directory and one database; stopped by the fixture."""

    def __init__(self, tmp_path: Path, url: str) -> None:
        self.tmp_path = tmp_path
        self.directory = tmp_path / "rl"
        self.url = url
        self.started: list[Replica] = []

    def start(self, count: int, url: str | None = None) -> list[Replica]:
        """``count`` replicas at once (each imports torch before serving)."""
        env = {
            "RL_MODELS_DIR": str(self.directory),
            "REGISTRY_DATABASE_URL": url or self.url,
            "REGISTRY_GRACE_SECONDS": "1",
            "RL_MODELS_MAX_AGE_DAYS": "0",
        }
        first = len(self.started)

        def one(i: int) -> Replica:
            workdir = self.tmp_path / f"replica-{first + i}"
            return Replica(ServiceProcess("model_registry_service", workdir, env, timeout=60))

        with ThreadPoolExecutor(count) as pool:
            replicas = list(pool.map(one, range(count)))
        self.started += replicas
        return replicas

    def stop_all(self) -> None:
        """SIGTERM every replica at once; each must exit cleanly."""
        running = [r for r in self.started if r.process.process.poll() is None]
        self.started = []
        if running:
            with ThreadPoolExecutor(len(running)) as pool:
                codes = list(pool.map(lambda r: r.process.stop(), running))
            for code, replica in zip(codes, running, strict=True):
                assert code == 0, replica.process.log_path.read_text(errors="replace")


@pytest.fixture
def registry_pair(tmp_path: Path, registry_new_schema: Callable[[], str]) -> Iterator[Pair]:
    pair = Pair(tmp_path, registry_new_schema())
    yield pair
    pair.stop_all()


def _rows(url: str) -> dict[str, str]:
    """Every row of the shared index: file name -> SHA-256."""
    with psycopg.connect(url) as db:
        rows = db.execute("SELECT model_hash, episodes, sha256 FROM models").fetchall()
    return {ModelKey(h, e).file_name: sha for h, e, sha in rows}


def _zips(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob(MODEL_GLOB))


def _leftovers(directory: Path) -> list[str]:
    """Temp files, and sidecars without their zip."""
    names = {p.name for p in directory.iterdir()}
    temps = [n for n in names if n.startswith(TEMP_PREFIX)]
    orphans = [n for n in names if n.endswith(".json") and n[: -len(".json")] + ".zip" not in names]
    return sorted(temps + orphans)


def _listed(stub: registry_pb2_grpc.ModelRegistryStub) -> list[str]:
    reply = stub.ListModels(registry_pb2.ListModelsRequest(page_size=1000), timeout=TIMEOUT)
    return sorted(m.file_name for m in reply.models)


def _consistent(pair: Pair) -> list[str]:
    """The stored names, once files, rows, sidecars and every replica's listing agree."""
    zips = _zips(pair.directory)
    rows = _rows(pair.url)
    assert sorted(rows) == zips
    for name, sha in rows.items():
        key = ModelKey(name.split("_")[2], int(name.split("_")[3][: -len("ep.zip")]))
        assert sha256_hex((pair.directory / name).read_bytes()) == sha
        assert sidecar.read(pair.directory, key, sha) is not None, f"{name} lost its sidecar"
    assert _leftovers(pair.directory) == []
    for replica in pair.started:
        assert _listed(replica.stub) == zips
    return zips


def test_racing_uploads_of_one_name_on_two_replicas_end_with_one_file_and_one_row(
    registry_pair: Pair,
) -> None:
    replicas = registry_pair.start(2)
    contenders = {"first": model_zip("first"), "second": model_zip("second")}
    for episodes in range(1000, 1004):
        barrier = threading.Barrier(8)

        def race(i: int, episodes: int = episodes, barrier: threading.Barrier = barrier) -> object:
            data = contenders["first" if (i // 2) % 2 == 0 else "second"]
            barrier.wait(30)
            try:
                return upload(replicas[i % 2].stub, HASH_A, episodes, data)
            except grpc.RpcError as exc:
                return exc.code()

        with ThreadPoolExecutor(8) as pool:
            outcomes = list(pool.map(race, range(8)))
        created = [o for o in outcomes if isinstance(o, registry_pb2.UploadModelResponse)]
        winners = [o for o in created if o.created]
        assert len(winners) == 1, outcomes
        winning_sha = winners[0].model.sha256
        for outcome in created:  # the other uploads of the same bytes: idempotent retries
            assert outcome.model.sha256 == winning_sha
        refused = [o for o in outcomes if not isinstance(o, registry_pb2.UploadModelResponse)]
        assert refused == [grpc.StatusCode.ALREADY_EXISTS] * 4
        assert _rows(registry_pair.url)[ModelKey(HASH_A, episodes).file_name] == winning_sha
    assert _consistent(registry_pair) == [ModelKey(HASH_A, e).file_name for e in range(1000, 1004)]


def test_a_cleanup_on_one_replica_while_the_other_serves_loses_nothing_and_leaves_nothing(
    registry_pair: Pair,
) -> None:
    cleaner, server = registry_pair.start(2)
    old = [ModelKey(HASH_A, 600 + i) for i in range(12)]
    for i, key in enumerate(old):
        upload((cleaner, server)[i % 2].stub, key.model_hash, key.episodes, model_zip(str(key)))
    index = PostgresIndex(registry_pair.url)
    try:
        for key in old:
            index.set_created_at(key, datetime.now(UTC) - timedelta(days=90))
    finally:
        index.close()
    fresh = [ModelKey(HASH_B, 1000 + i) for i in range(12)]
    served: list[str] = []
    cleaning = threading.Event()

    def serve() -> None:
        for i, key in enumerate(fresh):
            if i == 2:
                cleaning.set()  # the cleanup starts with the upload traffic under way
            data = model_zip(str(key))
            assert upload(server.stub, key.model_hash, key.episodes, data).created
            _, body = download_bytes(server.stub, key.model_hash, key.episodes)
            assert body == data
            served.append(key.file_name)
            _listed(server.stub)

    def clean() -> int:
        assert cleaning.wait(60)
        reply = cleaner.stub.CleanupModels(
            registry_pb2.CleanupModelsRequest(max_age_days=30), timeout=60
        )
        deleted: int = reply.deleted_count
        return deleted

    with ThreadPoolExecutor(2) as pool:
        serving = pool.submit(serve)
        cleaned = pool.submit(clean)
        serving.result(120)
        assert cleaned.result(120) == len(old)
    assert served == [key.file_name for key in fresh]
    assert _consistent(registry_pair) == sorted(key.file_name for key in fresh)
    for key in old:
        assert not (registry_pair.directory / sidecar.sidecar_name(key)).exists()


def test_the_sidecars_two_replicas_wrote_rebuild_an_empty_index(
    registry_pair: Pair, registry_new_schema: Callable[[], str]
) -> None:
    first, second = registry_pair.start(2)
    stored: dict[str, registry_pb2.UploadModelResponse] = {}
    for i in range(6):
        stub = (first, second)[i % 2].stub
        reply = upload(stub, HASH_A, 700 + i, model_zip(f"kept-{i}"), score=float(i))
        stored[reply.model.file_name] = reply
    quarantined = stored[ModelKey(HASH_A, 701).file_name].model
    first.stub.QuarantineModel(
        registry_pb2.QuarantineModelRequest(
            ref=ref(HASH_A, 701), sha256=quarantined.sha256, reason="diverged on replica one"
        ),
        timeout=TIMEOUT,
    )
    before = _listing(second.stub)
    assert len(before) == 6 and before[quarantined.file_name].quarantine_reason
    registry_pair.stop_all()

    (rebuilt,) = registry_pair.start(1, url=registry_new_schema())
    after = _listing(rebuilt.stub)
    assert after == before  # owner, scores, times, origin, quarantine: all came back
    with pytest.raises(grpc.RpcError) as caught:
        download_bytes(rebuilt.stub, HASH_A, 701)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def _listing(stub: registry_pb2_grpc.ModelRegistryStub) -> dict[str, model_pb2.ModelMetadata]:
    reply = stub.ListModels(registry_pb2.ListModelsRequest(page_size=1000), timeout=TIMEOUT)
    return {m.file_name: m for m in reply.models}
