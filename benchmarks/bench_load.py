"""Load on the three services over loopback: throughput, latency, refusals, health, memory.

Prints tables, never asserts. A fresh local stack (``local_stack()``, free ports on
127.0.0.1, data in a temp directory, the services' default limits) and the example
household (``examples/household.json``):

1. set-up: one 500-episode model is trained for the household (the training service,
   as option A would), so that option B finds it; one option B call loads the policy.
2. load within capacity: ``--clients`` threads at once. Half of them (at most
   OPTIMIZE_MAX_CONCURRENT) make ``--requests`` calls each, ``Simulate`` (2,000 paths)
   and ``Optimize`` option B (2,000 evaluation lives) in turn, a new seed each call (a
   full evaluation every time, nothing from the judgement cache); the others call the
   registry's ``FindCompatibleModel`` and ``GetModel`` in turn, 20 ms apart, for as long
   as the computing lasts (at most 100 calls per compute call). Per RPC: calls, OK,
   refused, OK calls per second over the phase, p50 / p99 / max of the client's wall time.
3. overload, twice (once with ``--quick``): ``--burst`` threads at once, each making a
   few calls that together ask far more than the simulation service admits
   (SIMULATION_MAX_CONCURRENT running + SIMULATION_MAX_QUEUED waiting, Optimize's
   evaluations included; OPTIMIZE_MAX_CONCURRENT optimisations): ``Simulate`` of 100,000
   paths and option B on new seeds. Accepted calls and RESOURCE_EXHAUSTED refusals are
   timed apart: a refusal should come back at once, not after the time of the work.

Throughout, a health thread asks each service's gRPC health check every 50 ms (its own
channels, 2 s deadline) and samples the services' memory (VmRSS of each process and its
child processes: the training service's workers; VmHWM, the peak, of the main process).
Every call has a deadline; every loop is bounded in count and in time.

``--quick`` runs a smaller load (for a smoke run); ``--clients``, ``--requests`` and
``--burst`` set the sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc

from glidepath.cli.peers import REGISTRY, SIMULATION, START_ORDER, TRAINING
from glidepath.cli.stack import LocalStack, local_stack
from glidepath.common.v1 import household_pb2, model_pb2
from glidepath.household.canonical import household_hash
from glidepath.household.convert import household_from_proto
from glidepath.registry.v1 import registry_pb2, registry_pb2_grpc
from glidepath.rpc.channel import open_channel
from glidepath.simulation.v1 import simulation_pb2 as pb
from glidepath.simulation.v1 import simulation_pb2_grpc
from glidepath.training.v1 import training_pb2 as tpb
from glidepath.training.v1 import training_pb2_grpc

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "household.json"
PORTS = {"registry": 0, "training": 0, "simulation": 0}
EPISODES = 500  # option B's minimum
LOAD_PATHS = 2_000
BURST_PATHS = 100_000
DEADLINE = 120.0  # every call
PHASE_LIMIT = 90.0  # no call starts in a phase after this many seconds
REGISTRY_CALLS_PER_REQUEST = 100  # the registry clients' cap, per compute call
REGISTRY_PAUSE = 0.02  # seconds a registry client waits between two calls
HEALTH_EVERY = 0.05
HEALTH_DEADLINE = 2.0
MEMORY_EVERY = 0.5
# The services' limits (defaults unless the environment sets them), for the report.
LIMITS = ("SIMULATION_MAX_CONCURRENT", "SIMULATION_MAX_QUEUED", "OPTIMIZE_MAX_CONCURRENT")
DEFAULT_LIMITS = {"SIMULATION_MAX_CONCURRENT": 2, "SIMULATION_MAX_QUEUED": 8}
DEFAULT_LIMITS["OPTIMIZE_MAX_CONCURRENT"] = 4


@dataclass
class Outcome:
    rpc: str
    code: grpc.StatusCode
    seconds: float


@dataclass
class Recorder:
    """Every call's outcome, from any thread."""

    outcomes: list[Outcome] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def time(self, rpc: str, call: Callable[..., object], *args: object) -> None:
        began = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            call(*args)
        except grpc.RpcError as error:
            code = error.code()
        with self.lock:
            self.outcomes.append(Outcome(rpc, code, time.perf_counter() - began))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def ms(values: list[float]) -> str:
    if not values:
        return f"{'-':>8} {'-':>8} {'-':>8}"
    p50, p99 = statistics.median(values), percentile(values, 99)
    return f"{p50 * 1000:8.1f} {p99 * 1000:8.1f} {max(values) * 1000:8.1f}"


# -- memory -----------------------------------------------------------------------------


def status_kib(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def descendants(pid: int) -> list[int]:
    parents: dict[int, list[int]] = defaultdict(list)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents[ppid].append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


@dataclass
class Memory:
    """RSS of a service: its process, and its process tree (MiB)."""

    rss: float
    tree: float
    hwm: float


def memory(stack: LocalStack) -> dict[str, Memory]:
    out = {}
    for key, service in stack.services.items():
        pid = service.process.pid
        rss = status_kib(pid, "VmRSS")
        tree = rss + sum(status_kib(child, "VmRSS") for child in descendants(pid))
        out[key] = Memory(rss / 1024, tree / 1024, status_kib(pid, "VmHWM") / 1024)
    return out


# -- health -----------------------------------------------------------------------------


class HealthPoller(threading.Thread):
    """Every 50 ms, the health check of each service; memory every 0.5 s."""

    def __init__(self, stack: LocalStack) -> None:
        super().__init__(daemon=True)
        self.stack = stack
        self.channels = {p.key: open_channel(stack.address(p)) for p in START_ORDER}
        self.phase = "set-up"
        self.latencies: dict[tuple[str, str], list[float]] = defaultdict(list)
        self.failures: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.peak_tree: dict[str, float] = defaultdict(float)
        self.stopping = threading.Event()

    def run(self) -> None:
        stubs = {key: health_pb2_grpc.HealthStub(c) for key, c in self.channels.items()}
        next_memory = 0.0
        while not self.stopping.is_set():
            began_round = time.monotonic()
            for key, stub in stubs.items():
                began = time.perf_counter()
                try:
                    answer = stub.Check(health_pb2.HealthCheckRequest(), timeout=HEALTH_DEADLINE)
                    if answer.status != health_pb2.HealthCheckResponse.SERVING:
                        self.failures[(self.phase, key)].append(str(answer.status))
                except grpc.RpcError as error:
                    self.failures[(self.phase, key)].append(error.code().name)
                self.latencies[(self.phase, key)].append(time.perf_counter() - began)
            if began_round >= next_memory:
                for key, used in memory(self.stack).items():
                    self.peak_tree[key] = max(self.peak_tree[key], used.tree)
                next_memory = began_round + MEMORY_EVERY
            self.stopping.wait(max(0.0, HEALTH_EVERY - (time.monotonic() - began_round)))

    def stop(self) -> None:
        self.stopping.set()
        self.join(10)
        for channel in self.channels.values():
            channel.close()


# -- the calls --------------------------------------------------------------------------


@dataclass
class Clients:
    """Stubs on one channel per service (one client of each kind per thread)."""

    simulation: simulation_pb2_grpc.SimulationServiceStub
    registry: registry_pb2_grpc.ModelRegistryStub
    channels: list[grpc.Channel]

    @classmethod
    def open(cls, stack: LocalStack) -> Clients:
        sim, reg = open_channel(stack.address(SIMULATION)), open_channel(stack.address(REGISTRY))
        return cls(
            simulation_pb2_grpc.SimulationServiceStub(sim),
            registry_pb2_grpc.ModelRegistryStub(reg),
            [sim, reg],
        )

    def close(self) -> None:
        for channel in self.channels:
            channel.close()


def simulate(clients: Clients, household: household_pb2.Household, paths: int, seed: int) -> None:
    request = pb.SimulateRequest(
        household=household, settings=pb.SimulationSettings(paths=paths, seed=seed)
    )
    clients.simulation.Simulate(request, timeout=DEADLINE)


def option_b(clients: Clients, household: household_pb2.Household, seed: int) -> None:
    request = pb.OptimizeRequest(
        household=household,
        use_pretrained=True,
        fallback_to_training=False,
        settings=pb.SimulationSettings(paths=LOAD_PATHS, seed=seed),
    )
    result = None
    for message in clients.simulation.Optimize(request, timeout=DEADLINE):
        if message.WhichOneof("content") == "result":
            result = message.result
    assert result is not None and result.source == pb.MODEL_SOURCE_PRETRAINED


def find(clients: Clients, model_hash: str) -> None:
    clients.registry.FindCompatibleModel(
        registry_pb2.FindCompatibleModelRequest(model_hash=model_hash, min_episodes=EPISODES),
        timeout=DEADLINE,
    )


def get(clients: Clients, ref: model_pb2.ModelRef) -> None:
    clients.registry.GetModel(registry_pb2.GetModelRequest(ref=ref), timeout=DEADLINE)


def run_threads(count: int, body: Callable[[int, Clients], None], stack: LocalStack) -> float:
    """``count`` threads running ``body(index, clients)`` at once; the phase's seconds."""
    ready = threading.Barrier(count + 1)

    def thread(index: int) -> None:
        clients = Clients.open(stack)
        try:
            ready.wait()
            body(index, clients)
        finally:
            clients.close()

    threads = [threading.Thread(target=thread, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    ready.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - began


def train_once(stack: LocalStack, household: household_pb2.Household) -> tpb.TrainingJob:
    channel = open_channel(stack.address(TRAINING))
    try:
        stub = training_pb2_grpc.TrainingServiceStub(channel)
        job = stub.StartTraining(
            tpb.StartTrainingRequest(household=household, episodes=EPISODES, seed=0), timeout=30
        ).job
        last: tpb.TrainingJob = job
        for message in stub.WatchTraining(tpb.WatchTrainingRequest(job_id=job.job_id), timeout=600):
            last = message.job
        assert last.state == tpb.TRAINING_STATE_SUCCEEDED, last.message
        return last
    finally:
        channel.close()


# -- report -----------------------------------------------------------------------------


def table(outcomes: list[Outcome], seconds: float) -> None:
    print(
        f"  {'rpc':<20} {'calls':>5} {'ok':>5} {'refused':>7} {'other':>5} {'ok/s':>7}"
        f"   {'ok ms: p50':>10} {'p99':>8} {'max':>8}   {'refused ms: p50':>15} {'p99':>8} "
        f"{'max':>8}"
    )
    by_rpc: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_rpc[outcome.rpc].append(outcome)
    for rpc, rows in by_rpc.items():
        ok = [o.seconds for o in rows if o.code == grpc.StatusCode.OK]
        refused = [o.seconds for o in rows if o.code == grpc.StatusCode.RESOURCE_EXHAUSTED]
        other = [
            o
            for o in rows
            if o.code not in (grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED)
        ]
        print(
            f"  {rpc:<20} {len(rows):>5} {len(ok):>5} {len(refused):>7} {len(other):>5} "
            f"{len(ok) / seconds:>7.1f}   {ms(ok):>28}   {ms(refused):>33}"
        )
        for code in sorted({o.code.name for o in other}):
            print(f"      {rpc}: {sum(o.code.name == code for o in other)} x {code}")
    ok_all = sum(o.code == grpc.StatusCode.OK for o in outcomes)
    print(f"  all: {len(outcomes)} calls in {seconds:.1f} s, {ok_all / seconds:.1f} OK calls/s")


def health_table(poller: HealthPoller, phases: list[str]) -> None:
    print(
        f"  {'phase':<10} {'service':<11} {'checks':>6} {'failed':>6}"
        f"   {'ms: p50':>7} {'p99':>8} {'max':>8}"
    )
    for phase in phases:
        for peer in START_ORDER:
            values = poller.latencies.get((phase, peer.key), [])
            failed = poller.failures.get((phase, peer.key), [])
            print(
                f"  {phase:<10} {peer.key:<11} {len(values):>6} {len(failed):>6}   {ms(values)}"
                + (f"   ({', '.join(sorted(set(failed)))})" if failed else "")
            )


def memory_table(snapshots: list[tuple[str, dict[str, Memory]]], poller: HealthPoller) -> None:
    print(
        f"  {'service':<11} "
        + " ".join(f"{label:>16}" for label, _ in snapshots)
        + f" {'peak tree':>10} {'VmHWM':>8}"
    )
    for peer in START_ORDER:
        cells = " ".join(f"{m[peer.key].rss:7.0f} ({m[peer.key].tree:6.0f})" for _, m in snapshots)
        last = snapshots[-1][1][peer.key]
        print(f"  {peer.key:<11} {cells} {poller.peak_tree[peer.key]:>10.0f} {last.hwm:>8.0f}")
    print("  MiB: process RSS (with its child processes); VmHWM: the process's peak RSS")


def server_refusals(stack: LocalStack, since: float) -> dict[str, list[float]]:
    """Seconds the simulation service spent on each RESOURCE_EXHAUSTED answer since
    ``since`` (its request log lines): the refusal without the client's own overhead."""
    found: dict[str, list[float]] = defaultdict(list)
    text = stack.services[SIMULATION.key].log_file.read_text(errors="replace")
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if (
            record.get("event") == "request"
            and record.get("code") == "RESOURCE_EXHAUSTED"
            and record.get("ts", 0) >= since
        ):
            method = str(record.get("method", "")).rsplit("/", 1)[-1]
            found[method].append(float(record.get("duration_ms", 0)) / 1000)
    return dict(sorted(found.items()))


def limits() -> dict[str, int]:
    return {name: int(os.environ.get(name) or DEFAULT_LIMITS[name]) for name in LIMITS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smaller load (a smoke run)")
    parser.add_argument("--clients", type=int, default=None, help="threads of the load phase")
    parser.add_argument("--requests", type=int, default=None, help="calls per load thread")
    parser.add_argument("--burst", type=int, default=None, help="threads of the overload phase")
    args = parser.parse_args()
    clients_n = args.clients or (4 if args.quick else 8)
    requests_n = args.requests or (4 if args.quick else 12)
    burst_n = args.burst or (16 if args.quick else 32)
    burst_calls = 2 if args.quick else 3
    overload_rounds = 1 if args.quick else 2
    household = json_format.Parse(EXAMPLE.read_text(), household_pb2.Household())
    model_hash = household_hash(household_from_proto(household))
    began_all = time.perf_counter()

    with (
        tempfile.TemporaryDirectory(prefix="glidepath-load-") as tmp,
        local_stack(Path(tmp), ports=PORTS, env={"TRAINING_EVAL_LIVES": "1000"}) as stack,
    ):
        poller = HealthPoller(stack)
        poller.start()
        snapshots = [("started", memory(stack))]
        trained = train_once(stack, household)
        ref = trained.registered_model.ref
        warm = Clients.open(stack)
        option_b(warm, household, seed=0)  # downloads and loads the policy once
        warm.close()
        snapshots.append(("set up", memory(stack)))
        print(
            f"-- load on loopback: {os.cpu_count()} CPUs, "
            f"load average {os.getloadavg()[0]:.2f} at the start; limits {limits()}; "
            f"set-up (stack, a {EPISODES}-episode model, first option B) "
            f"{time.perf_counter() - began_all:.1f} s"
        )

        # 2. Within capacity: at most OPTIMIZE_MAX_CONCURRENT clients compute (Simulate and
        # option B in turn), the others look models up for as long as the computing lasts.
        poller.phase = "load"
        recorder = Recorder()
        phase_end = time.monotonic() + PHASE_LIMIT
        computing = min(max(1, clients_n // 2), limits()["OPTIMIZE_MAX_CONCURRENT"])
        remaining = [computing]
        computed = threading.Event()
        count_lock = threading.Lock()

        def load(index: int, clients: Clients) -> None:
            if index < computing:
                try:
                    for i in range(requests_n):
                        if time.monotonic() > phase_end:
                            return
                        seed = 1 + index * 1000 + i
                        if (index + i) % 2 == 0:
                            recorder.time(
                                "Simulate", simulate, clients, household, LOAD_PATHS, seed
                            )
                        else:
                            recorder.time("Optimize (B)", option_b, clients, household, seed)
                finally:
                    with count_lock:
                        remaining[0] -= 1
                        if remaining[0] == 0:
                            computed.set()
                return
            for i in range(requests_n * REGISTRY_CALLS_PER_REQUEST):
                if computed.is_set() or time.monotonic() > phase_end:
                    return
                if i % 2 == 0:
                    recorder.time("FindCompatibleModel", find, clients, model_hash)
                else:
                    recorder.time("GetModel", get, clients, ref)
                computed.wait(REGISTRY_PAUSE)

        seconds = run_threads(clients_n, load, stack)
        snapshots.append(("after load", memory(stack)))
        print(
            f"\n-- within capacity: {clients_n} clients: {computing} make {requests_n} calls "
            f"each, Simulate ({LOAD_PATHS:,} paths) and option B ({LOAD_PATHS:,} lives) in "
            f"turn, a new seed each call; {clients_n - computing} call FindCompatibleModel and "
            f"GetModel in turn, {REGISTRY_PAUSE * 1000:g} ms apart, until they finish"
        )
        table(recorder.outcomes, seconds)

        # 3. Beyond capacity, repeated: memory must not grow from one round to the next.
        phases = ["set-up", "load"]
        for round_ in range(1, overload_rounds + 1):
            phase = f"overload {round_}" if overload_rounds > 1 else "overload"
            phases.append(phase)
            poller.phase = phase
            burst = Recorder()
            phase_end = time.monotonic() + PHASE_LIMIT

            def overload(
                index: int,
                clients: Clients,
                burst: Recorder = burst,
                end: float = phase_end,
                base: int = 100_000 * round_,
            ) -> None:
                for i in range(burst_calls):
                    if time.monotonic() > end:
                        return
                    seed = base + index * 100 + i
                    if (index + i) % 2 == 0:
                        burst.time("Simulate", simulate, clients, household, BURST_PATHS, seed)
                    else:
                        burst.time("Optimize (B)", option_b, clients, household, seed)

            since = time.time()
            seconds = run_threads(burst_n, overload, stack)
            snapshots.append((f"after {phase}", memory(stack)))
            print(
                f"\n-- beyond capacity ({phase}): {burst_n} clients at once x {burst_calls} "
                f"calls (Simulate {BURST_PATHS:,} paths, option B on new seeds); "
                "refused = RESOURCE_EXHAUSTED"
            )
            table(burst.outcomes, seconds)
            for method, durations in server_refusals(stack, since).items():
                print(
                    f"  {method} refusals as the server logged them (ms p50 / p99 / max): "
                    f"{ms(durations).strip()}"
                )

        poller.phase = "idle"
        time.sleep(1.0)
        poller.stop()
        print("\n-- health checks every 50 ms, each service, while it ran")
        health_table(poller, [*phases, "idle"])
        print("\n-- memory")
        memory_table(snapshots, poller)
        print(
            f"\ntotal {time.perf_counter() - began_all:.1f} s; "
            f"load average now {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
