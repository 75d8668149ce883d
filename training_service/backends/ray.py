"""The Ray backend: each training job is one Ray task on a cluster (``TRAINING_BACKEND=ray``).

Why a task per job, and how the pieces reach the service:

- The task asks for one CPU and runs the same payload as a local worker
  (``TrainAndEvaluate`` on a ``TrainingTask``), after the same warm-up, which sets
  ``torch.set_num_threads(1)``: torch's own threads would otherwise oversubscribe the
  CPUs Ray hands out. Ray reuses its worker processes, so the imports are paid once per
  worker, not per job.
- Progress: the task pushes each (throttled) update to a small mailbox actor of this
  service, without waiting; a thread here drains the mailbox every ``POLL_SECONDS`` and
  hands the updates to the manager as ``JobUpdate``. Before returning, the task waits for
  the mailbox to have taken its last update (calls from one caller run in order), so no
  update arrives after its job's end.
- The outcome is the task's return value: a ``TrainingOutcome`` our own code built (model
  zip bytes, numbers, a serialized evaluation). The service checks its type and spools the
  zip like any model file; the upload to the registry, with this service's credentials and
  through the spool when the registry is down, stays in the service.
- Cancelling calls ``ray.cancel`` on the task (a ``KeyboardInterrupt`` inside it); a task
  still running ``cancel_grace`` seconds later is cancelled with ``force=True`` (its worker
  process is killed).
- A worker process or node lost mid-job ends the job FAILED with a message saying so, and
  is not retried (``max_retries=0``): a retry would start the training again from its
  first episode without telling anyone; the user starts it again, knowingly.

Trust: the cluster is ours, as the local worker processes are; Ray pickles between our
own processes only. Nothing from the network or the model directory is unpickled here.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ray
import ray.exceptions

from glidepath import errors, log
from training_service.backends import BackendFactory, TrainingBackend
from training_service.config import TrainingSettings
from training_service.pipeline import TrainingOutcome
from training_service.workers import JobEnded, JobRunner, JobUpdate, WorkerEvent, WorkerReady

POLL_SECONDS = 0.2
NAMESPACE = "glidepath-training"
LOST_MESSAGE = (
    "the Ray worker running this training was lost ({kind}: a node or worker process "
    "died); the job is not retried: start the training again"
)


def _cluster_cpus() -> float:
    resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
    return float(resources.get("CPU", 0.0))


@ray.remote(num_cpus=0)
class _Mailbox:
    """Updates from running tasks, until the service takes them (one per service)."""

    def __init__(self) -> None:
        self._updates: list[tuple[str, object]] = []

    def push(self, job_id: str, update: object) -> None:
        self._updates.append((job_id, update))

    def take(self) -> list[tuple[str, object]]:
        updates, self._updates = self._updates, []
        return updates

    def ping(self) -> None:
        """Answers once every earlier push from the same caller has been taken in."""


def run_job(
    runner: JobRunner,
    warm_up: Callable[[], None] | None,
    job_id: str,
    payload: object,
    mailbox: Any,
) -> object:
    """One job inside a Ray worker: warm up (one torch thread), run, return the outcome."""
    if warm_up is not None:
        warm_up()
    import torch

    torch.set_num_threads(1)  # whatever warm_up did: one CPU, one torch thread

    def emit(update: object) -> None:
        mailbox.push.remote(job_id, update)

    try:
        return runner(payload, emit, lambda: False)  # a cancel arrives as ray.cancel
    finally:
        ray.get(mailbox.ping.remote())


_run_job_task = ray.remote(num_cpus=1, max_retries=0)(run_job)


@dataclass
class _Running:
    job_id: str
    ref: ray.ObjectRef[object]
    cancel_deadline: float | None = None
    forced: bool = False


@dataclass
class RayBackend:
    """Jobs as Ray tasks on the cluster at ``address``; events go to ``on_event``."""

    address: str
    runner: JobRunner
    on_event: Callable[[WorkerEvent], None]
    warm_up: Callable[[], None] | None = None
    cancel_grace: float = 10.0
    _running: dict[str, _Running] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _mailbox: Any = None
    _poller: threading.Thread | None = None

    def start(self) -> None:
        """Connect to the cluster (a clear error when it cannot be reached)."""
        try:
            ray.init(
                address=self.address,
                namespace=NAMESPACE,
                log_to_driver=False,
                configure_logging=False,
            )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise RuntimeError(
                f"could not connect to the Ray cluster at RAY_ADDRESS={self.address!r}: {exc}"
            ) from exc
        self._mailbox = _Mailbox.remote()  # type: ignore[attr-defined]
        log.event("ray_connected", address=self.address, cpus=_cluster_cpus())
        self._poller = threading.Thread(target=self._poll_loop, name="ray-events", daemon=True)
        self._poller.start()
        self._deliver(WorkerReady(0))

    def busy_workers(self) -> int:
        with self._lock:
            return len(self._running)

    def ready_workers(self) -> int:
        """The cluster's CPUs (each takes one job); 0 before the connection."""
        if self._mailbox is None:
            return 0
        return int(_cluster_cpus())

    def try_assign(self, job_id: str, payload: object) -> bool:
        """Submit the job; Ray queues it until a CPU is free (the manager bounds how many
        run at once with ``TRAINING_MAX_CONCURRENT``)."""
        if self._mailbox is None or self._stopping.is_set():
            return False
        ref = _run_job_task.remote(self.runner, self.warm_up, job_id, payload, self._mailbox)
        with self._lock:
            self._running[job_id] = _Running(job_id, ref)
        log.event("ray_task_submitted", job=job_id)
        return True

    def cancel(self, job_id: str) -> bool:
        with self._lock:
            running = self._running.get(job_id)
            if running is None:
                return False
            if running.cancel_deadline is None:
                running.cancel_deadline = time.monotonic() + self.cancel_grace
        ray.cancel(running.ref)
        return True

    def _poll_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self._poll_once()
            except Exception:
                log.event("ray_poll_error", level="error", traceback=traceback.format_exc())
            self._stopping.wait(POLL_SECONDS)

    def _poll_once(self) -> None:
        with self._lock:
            refs = [r.ref for r in self._running.values()]
        done: list[ray.ObjectRef[object]] = []
        if refs:
            done, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        # Done tasks first, then their updates (all in the mailbox by then), then ends.
        updates: list[tuple[str, object]] = ray.get(self._mailbox.take.remote())
        for job_id, update in updates:
            self._deliver(JobUpdate(0, job_id, update))
        finished = set(done)
        ended: list[JobEnded] = []
        with self._lock:
            for job_id, running in list(self._running.items()):
                if running.ref in finished:
                    del self._running[job_id]
                    ended.append(self._ending(running))
        for event in ended:
            self._deliver(event)
        self._force_overdue()

    def _ending(self, running: _Running) -> JobEnded:
        """How a finished task's job ends: its outcome, cancelled, or failed (why)."""
        cancelled = running.cancel_deadline is not None
        try:
            outcome = ray.get(running.ref, timeout=10)
        except ray.exceptions.TaskCancelledError:
            return JobEnded(0, running.job_id, cancelled=True)
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause
            if cancelled or isinstance(cause, (errors.Cancelled, KeyboardInterrupt)):
                return JobEnded(0, running.job_id, cancelled=True)
            if isinstance(cause, errors.GlidepathError):
                return JobEnded(0, running.job_id, message=cause.message)
            message = f"training error: {type(cause).__name__}: {cause}"
            return JobEnded(0, running.job_id, message=message)
        except ray.exceptions.RayError as exc:
            if cancelled:
                return JobEnded(0, running.job_id, cancelled=True)
            log.event("ray_task_lost", level="warning", job=running.job_id, error=repr(exc))
            return JobEnded(0, running.job_id, message=LOST_MESSAGE.format(kind=type(exc).__name__))
        if not isinstance(outcome, TrainingOutcome):
            message = f"the Ray task returned {type(outcome).__name__}, not a trained model"
            return JobEnded(0, running.job_id, message=message)
        return JobEnded(0, running.job_id, outcome=outcome)

    def _force_overdue(self) -> None:
        now = time.monotonic()
        with self._lock:
            overdue = [
                r
                for r in self._running.values()
                if r.cancel_deadline is not None and now > r.cancel_deadline and not r.forced
            ]
            for running in overdue:
                running.forced = True
        for running in overdue:
            log.event("ray_task_forced", level="warning", job=running.job_id)
            ray.cancel(running.ref, force=True)

    def _deliver(self, event: WorkerEvent) -> None:
        try:
            self.on_event(event)
        except Exception:
            log.event("worker_event_error", level="error", traceback=traceback.format_exc())

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop polling, cancel what still runs (the manager reports it FAILED), disconnect."""
        self._stopping.set()
        if self._poller is not None:
            self._poller.join(timeout=timeout)
        with self._lock:
            running = list(self._running.values())
            self._running.clear()
        for job in running:
            ray.cancel(job.ref, force=True)
        if ray.is_initialized():
            ray.shutdown()


def ray_backend(
    settings: TrainingSettings, runner: JobRunner, warm_up: Callable[[], None] | None
) -> BackendFactory:
    """One Ray task per job on the cluster named by ``RAY_ADDRESS``."""
    if settings.ray_address is None:
        raise ValueError("the Ray backend needs settings.ray_address (RAY_ADDRESS)")
    address = settings.ray_address

    def build(on_event: Callable[[WorkerEvent], None]) -> TrainingBackend:
        return RayBackend(
            address=address,
            runner=runner,
            on_event=on_event,
            warm_up=warm_up,
            cancel_grace=settings.cancel_grace_seconds,
        )

    return build
