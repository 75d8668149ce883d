"""Warm worker processes that run one job at a time, off the RPC threads.

Importing stable-baselines3 and torch costs seconds; a process started per job would pay
that every time. So ``size`` processes start with the service ("spawn": no forked gRPC or
lock state), pay the imports once in ``warm_up``, then serve jobs from their own task
queue. What they say comes back on a pipe per worker (a worker killed in the middle of a
message can only break its own pipe, which is replaced with it), read by a thread here
that hands each event to the owner (the job manager).

Cancellation is a per-worker ``multiprocessing.Event`` the job's ``should_stop`` polls.
If a worker does not stop within ``cancel_grace`` seconds it is killed and replaced, so
a cancel is always prompt. A worker that dies mid-job (killed, out of memory, a crash in
native code) is noticed within a fraction of a second: its job fails and a fresh worker
takes its place; a job the dead worker had not yet taken from its queue (it died idle,
just as the job was given to it) goes to the replacement instead. Workers also stop on
their own when the service process disappears, so
a killed service leaves no orphan training.

Events are typed (:data:`WorkerEvent`); only our own processes are on the other end of
these queues and pipes (multiprocessing pickles between them); nothing from the network
or the model directory is ever unpickled.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnContext, SpawnProcess
from multiprocessing.synchronize import Event as EventType
from typing import Protocol

from glidepath import errors, log

# What a runner reports while a job runs (the pipeline's progress and phase messages).
Emit = Callable[[object], None]


class JobRunner(Protocol):
    """Runs one job's payload in a worker; must be picklable (a top-level function/object).

    ``emit(update)`` sends an update (progress, a phase change) to the manager, delivered
    as a :class:`JobUpdate`; ``should_stop()`` turns true on cancellation; raise
    ``glidepath.errors.Cancelled`` then. The return value (picklable) is the job's outcome.
    """

    def __call__(self, payload: object, emit: Emit, should_stop: Callable[[], bool]) -> object: ...


@dataclass(frozen=True)
class WorkerReady:
    """A worker finished warming up and can take a job."""

    worker: int


@dataclass(frozen=True)
class JobStarted:
    """A worker took its job from its queue (kept by the pool, not delivered): a worker
    that dies before saying so never ran the job, which goes to its replacement."""

    worker: int
    job_id: str


@dataclass(frozen=True)
class JobUpdate:
    """Something the runner emitted while the job ran."""

    worker: int
    job_id: str
    update: object


@dataclass(frozen=True)
class JobEnded:
    """The job's end: ``outcome`` when it succeeded, else cancelled or failed (message)."""

    worker: int
    job_id: str
    outcome: object | None = None
    cancelled: bool = False
    message: str = ""


WorkerEvent = WorkerReady | JobUpdate | JobEnded
_WireEvent = WorkerReady | JobStarted | JobUpdate | JobEnded
Task = tuple[str, object]


def _worker_main(
    index: int,
    runner: JobRunner,
    warm_up: Callable[[], None] | None,
    tasks: multiprocessing.Queue[Task | None],
    events: Connection,
    cancel: EventType,
    parent_pid: int,
) -> None:
    """A worker's whole life: warm up, then run jobs until told to stop or orphaned."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the service decides when workers stop

    def orphaned() -> bool:
        return os.getppid() != parent_pid

    if warm_up is not None:
        warm_up()
    events.send(WorkerReady(index))
    while not orphaned():
        try:
            task = tasks.get(timeout=1.0)
        except queue.Empty:
            continue
        if task is None:
            return
        job_id, payload = task
        events.send(JobStarted(index, job_id))

        def emit(update: object, job_id: str = job_id) -> None:
            events.send(JobUpdate(index, job_id, update))

        try:
            outcome = runner(payload, emit, lambda: cancel.is_set() or orphaned())
        except errors.Cancelled:
            events.send(JobEnded(index, job_id, cancelled=True))
        except errors.GlidepathError as exc:
            events.send(JobEnded(index, job_id, message=exc.message))
        except Exception as exc:
            traceback.print_exc()
            message = f"training error: {type(exc).__name__}: {exc}"
            events.send(JobEnded(index, job_id, message=message))
        else:
            events.send(JobEnded(index, job_id, outcome=outcome))


@dataclass
class _Slot:
    """One worker process and the job it holds, if any."""

    index: int
    process: SpawnProcess
    tasks: multiprocessing.Queue[Task | None]
    cancel: EventType
    events: Connection
    job_id: str | None = None
    payload: object = None
    started: bool = False  # the worker said it took the job (JobStarted)
    cancel_deadline: float | None = None
    ready: bool = False
    born: float = field(default_factory=time.monotonic)  # when the process was started


@dataclass
class WorkerPool:
    """``size`` warm processes; ``on_event`` receives every ``WorkerEvent`` (one thread)."""

    size: int
    runner: JobRunner
    on_event: Callable[[WorkerEvent], None]
    warm_up: Callable[[], None] | None = None
    cancel_grace: float = 10.0
    _ctx: SpawnContext = field(default_factory=lambda: multiprocessing.get_context("spawn"))
    _slots: list[_Slot] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _reader: threading.Thread | None = None

    def start(self) -> None:
        with self._lock:
            self._slots = [self._spawn(i) for i in range(self.size)]
        self._reader = threading.Thread(target=self._read_loop, name="worker-events", daemon=True)
        self._reader.start()

    def _spawn(self, index: int) -> _Slot:
        tasks = self._ctx.Queue()
        cancel = self._ctx.Event()
        receive, send = self._ctx.Pipe(duplex=False)
        process = self._ctx.Process(
            target=_worker_main,
            args=(index, self.runner, self.warm_up, tasks, send, cancel, os.getpid()),
            name=f"training-worker-{index}",
            daemon=True,
        )
        process.start()
        send.close()  # the worker holds the only writing end: EOF when it dies
        log.event("worker_started", worker=index, pid=process.pid)
        return _Slot(index=index, process=process, tasks=tasks, cancel=cancel, events=receive)

    def idle_workers(self) -> int:
        with self._lock:
            return sum(1 for s in self._slots if s.job_id is None)

    def busy_workers(self) -> int:
        with self._lock:
            return sum(1 for s in self._slots if s.job_id is not None)

    def ready_workers(self) -> int:
        with self._lock:
            return sum(1 for s in self._slots if s.ready)

    def try_assign(self, job_id: str, payload: object) -> bool:
        """Give the job to an idle, living worker; False when there is none just now.

        A worker that died while idle is skipped (its replacement takes the next job); if
        one dies after this check but before taking the job, the job goes to its
        replacement (see ``_check_slots``), so a job never fails for a death it did not
        cause.
        """
        with self._lock:
            for slot in self._slots:
                if slot.job_id is None and slot.process.is_alive():
                    self._give(slot, job_id, payload)
                    return True
        return False

    @staticmethod
    def _give(slot: _Slot, job_id: str, payload: object) -> None:
        slot.cancel.clear()
        slot.job_id = job_id
        slot.payload = payload
        slot.started = False
        slot.cancel_deadline = None
        slot.tasks.put((job_id, payload))

    def cancel(self, job_id: str) -> bool:
        """Ask the worker running ``job_id`` to stop; killed if it takes over the grace."""
        with self._lock:
            for slot in self._slots:
                if slot.job_id == job_id:
                    slot.cancel.set()
                    if slot.cancel_deadline is None:
                        slot.cancel_deadline = time.monotonic() + self.cancel_grace
                    return True
        return False

    def _read_loop(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                readers = {slot.events: slot.index for slot in self._slots}
            for ready in wait(list(readers), timeout=0.2):
                assert isinstance(ready, Connection)
                try:
                    event = ready.recv()
                except (EOFError, OSError):
                    continue  # its worker died: _check_slots replaces it
                if isinstance(event, _WireEvent) and self._accept(event, readers[ready]):
                    assert not isinstance(event, JobStarted)
                    self._deliver(event)
            self._check_slots()

    def _accept(self, event: _WireEvent, index: int) -> bool:
        """Track slot state; drop events from a job the slot no longer holds."""
        with self._lock:
            if index >= len(self._slots) or event.worker != index:
                return False
            slot = self._slots[index]
            if isinstance(event, WorkerReady):
                slot.ready = True
                # How long its imports took: a job given to it before then waited for them.
                seconds = round(time.monotonic() - slot.born, 3)
                log.event("worker_ready", worker=index, seconds=seconds)
                return True
            if slot.job_id != event.job_id:
                return False  # a late word from a job already killed or given up
            if isinstance(event, JobStarted):
                slot.started = True
                return False
            if isinstance(event, JobEnded):
                slot.job_id = None
                slot.payload = None
                slot.cancel_deadline = None
            return True

    def _deliver(self, event: WorkerEvent) -> None:
        try:
            self.on_event(event)
        except Exception:
            log.event("worker_event_error", level="error", traceback=traceback.format_exc())

    def _check_slots(self) -> None:
        """Replace dead workers, kill those that ignore a cancel; report their jobs."""
        if self._stopping.is_set():
            return
        lost: list[WorkerEvent] = []
        now = time.monotonic()
        with self._lock:
            for i, slot in enumerate(self._slots):
                overdue = slot.cancel_deadline is not None and now > slot.cancel_deadline
                if slot.process.is_alive() and not overdue:
                    continue
                if overdue:
                    slot.process.kill()
                slot.process.join(timeout=5)
                code = slot.process.exitcode
                log.event("worker_lost", level="warning", worker=i, exit_code=code, job=slot.job_id)
                lost_job = self._lost_job(slot, overdue, code)
                if lost_job is not None:
                    lost.append(lost_job)
                slot.events.close()
                self._slots[i] = self._spawn(i)
                if slot.job_id is not None and lost_job is None:  # it never ran: rerun it
                    log.event("job_reassigned", worker=i, job=slot.job_id)
                    self._give(self._slots[i], slot.job_id, slot.payload)
        for event in lost:
            self._deliver(event)

    @staticmethod
    def _lost_job(slot: _Slot, overdue: bool, code: int | None) -> JobEnded | None:
        """How the job of a dead worker ends; None when the worker never took it (and no
        cancel was asked), so that it goes to the replacement instead."""
        if slot.job_id is None:
            return None
        if overdue or (slot.cancel_deadline is not None and not slot.started):
            return JobEnded(slot.index, slot.job_id, cancelled=True)
        if not slot.started:
            return None
        return JobEnded(
            slot.index, slot.job_id, message=f"training worker process died (exit code {code})"
        )

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop every worker: ask, then kill those still running after ``timeout``."""
        self._stopping.set()
        with self._lock:
            slots = list(self._slots)
        for slot in slots:
            slot.cancel.set()
            with contextlib.suppress(OSError, ValueError):
                slot.tasks.put(None)
        deadline = time.monotonic() + timeout
        for slot in slots:
            if not slot.ready:  # still importing: nothing to finish, no reason to wait
                slot.process.kill()
            slot.process.join(timeout=max(0.0, deadline - time.monotonic()))
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join(timeout=5)
        if self._reader is not None:
            self._reader.join(timeout=2)
