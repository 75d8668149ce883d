"""Clients that go away, and deadlines that pass, over the three real service processes.

One ``local_stack()`` (registry, training and simulation services as child processes,
wired by address) serves the module. The simulation service runs one simulation at a
time with no wait list and one optimisation at a time, so whether the work of an
abandoned call still holds its place is visible from outside: a new call either runs or
is refused with RESOURCE_EXHAUSTED at once.

What is proved here, and not elsewhere:

- a client whose channel closes in the middle of ``WatchTraining`` leaves the job
  running; a watcher on a new channel sees it to SUCCEEDED and the model is in the
  registry;
- a client whose channel closes in the middle of ``Optimize`` (option A, training)
  frees the optimisation's place at once, leaves the training job running (seen through
  the training service), and a later option B is answered by that job's model;
- an ``Optimize`` whose deadline passes while it follows a training ends
  DEADLINE_EXCEEDED, frees its place, and the job goes on;
- a ``Compare`` whose deadline passes, and a ``Simulate`` whose client process is killed
  (the connection drops, nothing is sent), stop their simulation: the place is free
  again within seconds and the service's request log says DEADLINE_EXCEEDED / CANCELLED;
- watch streams are bounded: one beyond the bound is refused at once, and health checks
  and unary calls keep answering while every watch place is taken.

Already proved elsewhere (not repeated): a watcher that cancels and reattaches on the same
channel (``test_training_service.py``), a cancelled Optimize leaving its job QUEUED or
RUNNING (``test_e2e_optimize.py``), an expired or cancelled ``Simulate`` freeing the pool
in-process (``test_simulation_service_work.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from cli_support import EPHEMERAL_PORTS
from e2e_support import EVALUATION_PATHS, household, optimize, request
from grpc_health.v1 import health_pb2, health_pb2_grpc
from process_support import ServiceProcess
from registry_support import (
    HASH_A,
    HASH_B,
    download_bytes,
    model_zip,
    ref,
    upload,
    upload_metadata,
)

from glidepath.cli.peers import REGISTRY, SIMULATION, TRAINING, Peer
from glidepath.cli.stack import LocalStack, local_stack
from glidepath.registry.v1 import registry_pb2, registry_pb2_grpc
from glidepath.rpc.channel import open_channel
from glidepath.rpc.status import error_reason
from glidepath.simulation.v1 import simulation_pb2 as pb
from glidepath.simulation.v1 import simulation_pb2_grpc
from glidepath.training.v1 import training_pb2 as tpb
from glidepath.training.v1 import training_pb2_grpc
from model_registry_service.service import DEFAULT_MAX_DOWNLOADS, DEFAULT_MAX_UPLOADS
from training_service.app import MAX_WATCHERS
from training_service.registry import RegistryClient, UploadFailed

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 10.0  # unary calls
PROMPTLY = 5.0  # seconds for abandoned work to give its place back (it checks every year)
TRAINING_WAIT = 150.0  # the longest a small training may take on a loaded machine
BIG = 2_000_000  # paths: tens of seconds of CPU, far beyond any bound used here
FINAL = {tpb.TRAINING_STATE_SUCCEEDED, tpb.TRAINING_STATE_FAILED, tpb.TRAINING_STATE_CANCELLED}
LIVE = {tpb.TRAINING_STATE_QUEUED, tpb.TRAINING_STATE_RUNNING}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    env = {
        "TRAINING_EVAL_LIVES": "200",
        "OPTIMIZE_PROFILE_PATHS": "500",
        "SIMULATION_MAX_CONCURRENT": "1",
        "SIMULATION_MAX_QUEUED": "0",
        "SIMULATION_MAX_PATHS": str(BIG),
        "OPTIMIZE_MAX_CONCURRENT": "1",
    }
    root = tmp_path_factory.mktemp("faults_disconnect")
    with local_stack(root, ports=EPHEMERAL_PORTS, env=env) as running:
        yield running


def training_stub(stack: LocalStack) -> tuple[grpc.Channel, training_pb2_grpc.TrainingServiceStub]:
    channel = open_channel(stack.address(TRAINING))
    return channel, training_pb2_grpc.TrainingServiceStub(channel)


def watch_to_the_end(stack: LocalStack, job_id: str) -> list[tpb.TrainingJob]:
    """Every message of a watch on a new channel, until the job's final state."""
    channel, stub = training_stub(stack)
    try:
        seen = [
            m.job
            for m in stub.WatchTraining(
                tpb.WatchTrainingRequest(job_id=job_id), timeout=TRAINING_WAIT
            )
        ]
    finally:
        channel.close()
    assert seen and seen[-1].state in FINAL, seen[-1:] or "no message"
    return seen


def get_job(stack: LocalStack, job_id: str) -> tpb.TrainingJob:
    channel, stub = training_stub(stack)
    try:
        job: tpb.TrainingJob = stub.GetTraining(
            tpb.GetTrainingRequest(job_id=job_id), timeout=TIMEOUT
        ).job
        return job
    finally:
        channel.close()


def cancel_job(stack: LocalStack, job_id: str) -> None:
    channel, stub = training_stub(stack)
    try:
        stub.CancelTraining(tpb.CancelTrainingRequest(job_id=job_id), timeout=TIMEOUT)
    finally:
        channel.close()


def request_lines(stack: LocalStack, peer: Peer, method: str) -> list[dict[str, Any]]:
    """The service's JSON ``request`` log lines for one method (its short name)."""
    lines = []
    for text in stack.services[peer.key].log_file.read_text(errors="replace").splitlines():
        try:
            record = json.loads(text)
        except ValueError:
            continue  # the stack's own "--- starting" lines, or a traceback
        if record.get("event") == "request" and str(record.get("method", "")).endswith(method):
            lines.append(record)
    return lines


def log_events(stack: LocalStack, peer: Peer, name: str) -> int:
    text = stack.services[peer.key].log_file.read_text(errors="replace")
    return text.count(f'"event":"{name}"')


def wait_for(check: Callable[[], bool], within: float, what: str) -> float:
    """Seconds until ``check()`` holds; fails after ``within`` seconds."""
    began = time.monotonic()
    while time.monotonic() - began < within:
        if check():
            return time.monotonic() - began
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {within} s")


def simulation_stub(channel: grpc.Channel) -> simulation_pb2_grpc.SimulationServiceStub:
    return simulation_pb2_grpc.SimulationServiceStub(channel)


def small_simulate() -> pb.SimulateRequest:
    return pb.SimulateRequest(household=household(), settings=pb.SimulationSettings(paths=500))


def place_is_free(stack: LocalStack) -> bool:
    """A small Simulate runs (True) or is refused because the one place is taken (False)."""
    channel = open_channel(stack.address(SIMULATION))
    try:
        simulation_stub(channel).Simulate(small_simulate(), timeout=30)
        return True
    except grpc.RpcError as error:
        if error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
            raise
        assert error_reason(error) == "QUEUE_FULL"
        return False
    finally:
        channel.close()


def optimisation_place_is_free(stack: LocalStack) -> bool:
    """An Optimize that ends at once (option B, no fallback, an unknown household) is
    answered NOT_FOUND when the one optimisation place is free, RESOURCE_EXHAUSTED if not."""
    unknown = request(household(risk_aversion=11.0), pretrained=True, fallback=False)
    try:
        optimize(stack.address(SIMULATION), unknown)
    except grpc.RpcError as error:
        if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
            return False
        assert error.code() == grpc.StatusCode.NOT_FOUND, error
        return True
    raise AssertionError("an unknown household found a model")


def test_a_watcher_whose_channel_closes_leaves_the_job_to_finish(stack: LocalStack) -> None:
    channel, stub = training_stub(stack)
    started = stub.StartTraining(
        tpb.StartTrainingRequest(household=household(risk_aversion=3.5), episodes=300, seed=3),
        timeout=TIMEOUT,
    ).job
    watch = stub.WatchTraining(tpb.WatchTrainingRequest(job_id=started.job_id), timeout=60)
    for message in watch:
        if message.job.episodes_done > 0:  # training for real
            break
    channel.close()  # the client goes away: the stream dies with its channel
    with pytest.raises(grpc.RpcError) as dropped:
        next(watch)
    assert dropped.value.code() == grpc.StatusCode.CANCELLED

    assert get_job(stack, started.job_id).state not in FINAL - {tpb.TRAINING_STATE_SUCCEEDED}
    seen = watch_to_the_end(stack, started.job_id)  # reattached, on a new channel
    final = seen[-1]
    assert final.state == tpb.TRAINING_STATE_SUCCEEDED, final.message
    assert final.episodes_done == 300
    stored = final.registered_model
    registry = open_channel(stack.address(REGISTRY))
    try:
        found = (
            registry_pb2_grpc.ModelRegistryStub(registry)
            .FindCompatibleModel(
                registry_pb2.FindCompatibleModelRequest(
                    model_hash=final.model.model_hash, min_episodes=300
                ),
                timeout=TIMEOUT,
            )
            .model
        )
    finally:
        registry.close()
    assert found.sha256 == stored.sha256 and found.ref.episodes == 300
    # The server saw the first watch end as the client's cancellation, not as an error.
    codes = [line["code"] for line in request_lines(stack, TRAINING, "/WatchTraining")]
    assert "CANCELLED" in codes and "OK" in codes


def test_an_optimize_whose_channel_closes_leaves_its_training_to_serve_option_b(
    stack: LocalStack,
) -> None:
    message = household(risk_aversion=4.5)
    channel = open_channel(stack.address(SIMULATION))
    call = simulation_stub(channel).Optimize(
        request(message, pretrained=False, episodes=600), timeout=TRAINING_WAIT
    )
    job_id = ""
    for response in call:
        event = response.event
        if event.job_id:
            job_id = event.job_id
        if event.stage == pb.OPTIMIZE_STAGE_TRAINING_PROGRESS and event.training.episodes_done:
            break
    assert job_id
    channel.close()  # mid-training

    # The optimisation's only place is given back at once ...
    wait_for(lambda: optimisation_place_is_free(stack), PROMPTLY, "the Optimize place")
    # ... and the training goes on, as the training service reports (it may be done by now).
    training, jobs = training_stub(stack)
    try:
        listed = jobs.ListTrainings(tpb.ListTrainingsRequest(), timeout=TIMEOUT)
    finally:
        training.close()
    states = {job.job_id: job.state for job in listed.jobs}
    assert states[job_id] not in (tpb.TRAINING_STATE_CANCELLED, tpb.TRAINING_STATE_FAILED)
    final = watch_to_the_end(stack, job_id)[-1]
    assert final.state == tpb.TRAINING_STATE_SUCCEEDED, final.message

    # Option B, without fallback, is answered by that job's model: nothing is trained.
    answer = optimize(stack.address(SIMULATION), request(message, pretrained=True, fallback=False))
    assert "MODEL_FOUND" in answer.stages and "TRAINING_STARTED" not in answer.stages
    result = answer.answer()
    assert result.source == pb.MODEL_SOURCE_PRETRAINED
    assert result.model.sha256 == final.registered_model.sha256
    assert result.comparison.run.paths == EVALUATION_PATHS
    assert "CANCELLED" in [line["code"] for line in request_lines(stack, SIMULATION, "/Optimize")]


def test_an_optimize_whose_deadline_passes_frees_its_place_and_the_job_goes_on(
    stack: LocalStack,
) -> None:
    channel = open_channel(stack.address(SIMULATION))
    message = request(household(risk_aversion=5.5), pretrained=False, episodes=200_000)
    job_id = ""
    began = time.monotonic()
    try:
        with pytest.raises(grpc.RpcError) as raised:
            for response in simulation_stub(channel).Optimize(message, timeout=4.0):
                job_id = response.event.job_id or job_id
    finally:
        channel.close()
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - began < 4.0 + PROMPTLY
    assert job_id, "the training never started"
    try:
        wait_for(lambda: optimisation_place_is_free(stack), PROMPTLY, "the Optimize place")
        assert get_job(stack, job_id).state in LIVE  # the deadline was the caller's only
        codes = [line["code"] for line in request_lines(stack, SIMULATION, "/Optimize")]
        assert {"DEADLINE_EXCEEDED", "CANCELLED"} & set(codes)
    finally:
        cancel_job(stack, job_id)
    wait_for(lambda: get_job(stack, job_id).state in FINAL, 30, "the job's cancellation")


def big_compare() -> pb.CompareRequest:
    return pb.CompareRequest(
        household=household(),
        strategies=["own_plan"],
        settings=pb.SimulationSettings(paths=BIG),
    )


def test_a_compare_whose_deadline_passes_stops_its_simulation(stack: LocalStack) -> None:
    stopped_before = log_events(stack, SIMULATION, "simulation_stopped")
    channel = open_channel(stack.address(SIMULATION))
    began = time.monotonic()
    try:
        with pytest.raises(grpc.RpcError) as raised:
            simulation_stub(channel).Compare(big_compare(), timeout=1.0)
    finally:
        channel.close()
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # The one place is free again within seconds: the simulation was stopped, not finished.
    wait_for(lambda: place_is_free(stack), PROMPTLY, "the simulation place")
    assert time.monotonic() - began < 1.0 + PROMPTLY + 2.0
    wait_for(
        lambda: log_events(stack, SIMULATION, "simulation_stopped") > stopped_before,
        PROMPTLY,
        "the simulation_stopped log line",
    )
    compares = request_lines(stack, SIMULATION, "/Compare")
    assert compares and compares[-1]["code"] in ("DEADLINE_EXCEEDED", "CANCELLED")
    assert compares[-1]["duration_ms"] < (1.0 + PROMPTLY) * 1000


CLIENT = textwrap.dedent(
    """
    import sys, time
    import grpc
    from glidepath.rpc.channel import open_channel
    from glidepath.simulation.v1 import simulation_pb2 as pb, simulation_pb2_grpc
    from e2e_support import household

    stub = simulation_pb2_grpc.SimulationServiceStub(open_channel(sys.argv[1]))
    request = pb.SimulateRequest(
        household=household(), settings=pb.SimulationSettings(paths=int(sys.argv[2]))
    )
    while True:  # the test's own probe may hold the place for a moment
        try:
            stub.Simulate(request, timeout=300)
            break
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                raise
            time.sleep(0.05)
    """
)


def test_a_simulate_whose_client_process_dies_stops_its_simulation(stack: LocalStack) -> None:
    """SIGKILL of the client: no cancel is ever sent, only the connection drops."""
    stopped_before = log_events(stack, SIMULATION, "simulation_stopped")
    client = subprocess.Popen(
        [sys.executable, "-c", CLIENT, stack.address(SIMULATION), str(BIG)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "tests")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        # The client's simulation holds the only place (a small call is refused).
        wait_for(lambda: not place_is_free(stack), 30, "the client's simulation to start")
    finally:
        client.kill()
        client.wait(timeout=10)
    killed = time.monotonic()
    wait_for(lambda: place_is_free(stack), PROMPTLY, "the simulation place after the kill")
    assert time.monotonic() - killed < PROMPTLY + 2.0
    wait_for(
        lambda: log_events(stack, SIMULATION, "simulation_stopped") > stopped_before,
        PROMPTLY,
        "the simulation_stopped log line",
    )
    simulates = [line["code"] for line in request_lines(stack, SIMULATION, "/Simulate")]
    assert "CANCELLED" in simulates


def watch_once(stack: LocalStack, job_id: str) -> bool:
    """A new watch gets its first message (True), or is refused as one too many (False)."""
    channel, stub = training_stub(stack)
    try:
        next(stub.WatchTraining(tpb.WatchTrainingRequest(job_id=job_id), timeout=TIMEOUT))
        return True
    except grpc.RpcError as error:
        if error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
            raise
        return False
    finally:
        channel.close()


def test_watchers_beyond_the_bound_are_refused_and_the_service_keeps_answering(
    stack: LocalStack,
) -> None:
    """Each watch holds a server thread: unbounded, enough of them (or clients that never
    read) would take every thread, and health checks would wait behind them."""
    channel, stub = training_stub(stack)
    request = tpb.StartTrainingRequest(household=household(risk_aversion=6.5), episodes=500_000)
    job_id = stub.StartTraining(request, timeout=TIMEOUT).job.job_id
    watching: list[grpc.Channel] = []
    calls: list[Any] = []  # kept: a call object that is dropped cancels its call
    try:
        for _ in range(MAX_WATCHERS):  # every place, so the dropped watches above freed theirs
            watcher = open_channel(stack.address(TRAINING))
            watching.append(watcher)
            call = training_pb2_grpc.TrainingServiceStub(watcher).WatchTraining(
                tpb.WatchTrainingRequest(job_id=job_id), timeout=60
            )
            calls.append(call)
            first = next(call).job
            assert first.job_id == job_id and first.state in LIVE, first
        began = time.monotonic()
        with pytest.raises(grpc.RpcError) as refused:
            next(stub.WatchTraining(tpb.WatchTrainingRequest(job_id=job_id), timeout=TIMEOUT))
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert error_reason(refused.value) == "QUEUE_FULL"
        assert "GetTraining" in (refused.value.details() or "")
        assert time.monotonic() - began < 2.0
        # The other calls and the health check still answer at once.
        began = time.monotonic()
        health = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=2.0
        )
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        job = stub.GetTraining(tpb.GetTrainingRequest(job_id=job_id), timeout=2.0).job
        assert job.state in LIVE and time.monotonic() - began < 2.0
    finally:
        for watcher in watching:
            watcher.close()
    # The watchers went away: their places come back.
    try:
        wait_for(lambda: watch_once(stack, job_id), PROMPTLY, "a watch after the others left")
    finally:
        cancel_job(stack, job_id)
        channel.close()


def test_registry_streams_beyond_the_bound_are_refused_and_reads_keep_answering(
    tmp_path: Path,
) -> None:
    """Uploads that go quiet after their metadata, and downloads whose client stops
    reading, each hold a registry thread: bounded, the next is refused at once and the
    health check and the lookups still answer; once those clients leave, all is served.
    (Unbounded, 16 such streams took every thread and health checks timed out.)"""
    registry = ServiceProcess(
        "model_registry_service", tmp_path, {"RL_MODELS_DIR": str(tmp_path / "models")}
    )
    stub = registry_pb2_grpc.ModelRegistryStub(registry.channel)
    big = model_zip("big", policy_bytes=24 * 1024 * 1024)  # far beyond the flow-control window
    upload(stub, HASH_A, 1000, big)
    quiet = threading.Event()
    opened: list[grpc.Channel] = []
    calls: list[Any] = []  # kept: a call object that is dropped cancels its call

    def goes_quiet(episodes: int) -> Iterator[registry_pb2.UploadModelRequest]:
        data = model_zip(str(episodes))
        yield registry_pb2.UploadModelRequest(metadata=upload_metadata(HASH_B, episodes, data))
        quiet.wait(60)

    def refused_at_once(call: Callable[[], object]) -> None:
        began = time.monotonic()
        with pytest.raises(grpc.RpcError) as refused:
            call()
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, refused.value
        assert error_reason(refused.value) == "QUEUE_FULL"
        assert time.monotonic() - began < 2.0

    def still_answers() -> None:
        began = time.monotonic()
        health = health_pb2_grpc.HealthStub(registry.channel).Check(
            health_pb2.HealthCheckRequest(), timeout=2.0
        )
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        found = stub.FindCompatibleModel(
            registry_pb2.FindCompatibleModelRequest(model_hash=HASH_A, min_episodes=1), timeout=2.0
        )
        assert found.model.ref.episodes == 1000 and time.monotonic() - began < 2.0

    try:
        for episodes in range(1, DEFAULT_MAX_UPLOADS + 1):
            channel = open_channel(registry.address)
            opened.append(channel)
            stream = registry_pb2_grpc.ModelRegistryStub(channel).UploadModel.future(
                goes_quiet(episodes), timeout=60
            )
            calls.append(stream)
        for _ in range(DEFAULT_MAX_DOWNLOADS):
            channel = open_channel(registry.address)
            opened.append(channel)
            download = registry_pb2_grpc.ModelRegistryStub(channel).DownloadModel(
                registry_pb2.DownloadModelRequest(ref=ref(HASH_A, 1000)), timeout=60
            )
            assert next(download).WhichOneof("content") == "metadata"  # then reads no more
            calls.append(download)
        # Every quiet upload has reached the server once a probe is refused.
        probes = iter(range(900, 999))
        wait_for(lambda: not _lands(stub, next(probes)), PROMPTLY, "the quiet uploads")
        refused_at_once(lambda: upload(stub, HASH_B, 998, model_zip("refused")))
        refused_at_once(lambda: download_bytes(stub, HASH_A, 1000))
        still_answers()
        # The training service's uploader takes the refusal as transient: its spool keeps
        # the model and retries, rather than rejecting it.
        spooled = model_zip("spooled")
        (tmp_path / "spooled.zip").write_bytes(spooled)
        uploader = RegistryClient(registry.address)
        with pytest.raises(UploadFailed) as failed:
            uploader.upload(tmp_path / "spooled.zip", upload_metadata(HASH_B, 997, spooled))
        uploader.close()
        assert failed.value.transient, failed.value.message
    finally:
        quiet.set()
        for channel in opened:
            channel.close()
    # The quiet clients have gone: their places come back.
    wait_for(lambda: _lands(stub), PROMPTLY, "an upload after the quiet ones left")
    assert download_bytes(stub, HASH_A, 1000)[1] == big
    registry.stop()


def _lands(stub: registry_pb2_grpc.ModelRegistryStub, episodes: int = 999) -> bool:
    """An upload lands (True) or is refused as one too many (False)."""
    try:
        upload(stub, HASH_B, episodes, model_zip(f"lands {episodes}"))
        return True
    except grpc.RpcError as error:
        if error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
            raise
        return False
