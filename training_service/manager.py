"""The job manager: queue, deduplication, dispatch to workers, progress fan-out, cancel.

Plain Python, no gRPC: the servicer translates messages and calls these methods, and the
tests drive the manager directly too. One lock (a condition variable) guards every
record; watchers wait on it and wake on each change. Work itself happens elsewhere: in
the worker processes (training, evaluation) and the spool's thread (upload).

Rules:
- at most ``max_concurrent`` jobs run at once; at most ``max_queued`` wait, beyond which
  a new job is refused (``ResourceExhausted``) rather than left to wait for ever;
- a request for a model (household hash, episodes, algorithm, parent) that an unfinished
  job will already produce joins that job instead of training twice; a job being cancelled is no
  longer one to join: the next request for its model starts a new job;
- every job has its requesters (user names); a user sees and cancels only jobs they asked
  for, administrators and services every job. A user's cancel detaches their requests;
  the job stops when nobody is left (or when an administrator or service cancels it);
- per-user bounds (users only; administrators and services have the service-wide ones):
  jobs waiting in the queue and episodes of unfinished trainings;
- cancelling a queued job removes it at once; a running one is stopped by its worker at
  the trainer's next check (the pool kills a worker that ignores it);
- a job's model is uploaded through the spool, so it survives a registry outage and a
  restart; jobs whose worker died with a previous process are reported FAILED.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from glidepath import errors, log
from glidepath.auth import User
from glidepath.common.v1 import model_pb2
from glidepath.household.model import Household
from glidepath.models import DEFAULT_POLICY_FAMILY, ModelKey, fine_tuned_episodes
from glidepath.registry.v1 import registry_pb2
from glidepath.rl.features import FEATURES_VERSION
from glidepath.text import clip
from glidepath.versions import POLICY_LAYOUT_VERSION
from training_service.backends import BackendFactory
from training_service.backends.local import local_backend
from training_service.config import TrainingSettings
from training_service.jobs import JobKey, JobRecord, JobState, JobStore, job_key
from training_service.pipeline import (
    PhaseChanged,
    ProgressReport,
    TrainingOutcome,
    TrainingTask,
)
from training_service.spool import Spool, Upload
from training_service.workers import JobRunner, JobUpdate, WorkerEvent, WorkerReady

LOST_BEFORE_SPOOL_MESSAGE = (
    "training service restarted before the trained model was saved; start the training again"
)
STOPPED_MESSAGE = "training service stopped while the job ran; start the training again"
WATCH_POLL_SECONDS = 0.5

# Where a page of ListTrainings ends: (created_at, job_id) of its last job.
ListCursor = tuple[float, str]
# States whose training is still to be done: what a user's episode bound counts.
UNTRAINED = frozenset({JobState.QUEUED, JobState.RUNNING, JobState.EVALUATING})


def bounded(user: User) -> bool:
    """Whether the per-user bounds apply: to users, direct or relayed by a service."""
    return not user.is_service


def may_see(user: User, record: JobRecord) -> bool:
    """Administrators and services see every job; a user the jobs they asked for."""
    return user.is_service or (not user.anonymous and user.name in record.requesters)


@dataclass(frozen=True)
class StartRequest:
    """A validated StartTraining: the household is canonical, defaults are filled in."""

    household: Household
    model_hash: str
    canonical_json: str
    episodes: int
    algorithm: str
    seed: int | None = None
    parent: ModelKey | None = None
    parent_model_zip: bytes | None = None
    note: str = ""  # a sentence for the job's message while it waits (e.g. a taken name)
    label: str = ""  # the household's name, for people (not part of the hash)
    features: tuple[float, ...] = ()  # glidepath.rl.features of the canonical household

    @property
    def model(self) -> ModelKey:
        """The model this request produces: ``episodes`` added to the parent's."""
        return ModelKey(self.model_hash, fine_tuned_episodes(self.parent, self.episodes))

    @property
    def key(self) -> JobKey:
        return job_key(self.model, self.algorithm, self.parent)


@dataclass(frozen=True)
class _Pending:
    """What a not-yet-uploaded job needs beyond its record."""

    task: TrainingTask
    canonical_json: str
    label: str = ""
    features: tuple[float, ...] = ()


class JobManager:
    """Owns every job record, the backend that runs the jobs and the spool."""

    def __init__(
        self,
        settings: TrainingSettings,
        runner: JobRunner,
        upload: Upload,
        *,
        warm_up: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.time,
        backend: BackendFactory | None = None,
    ) -> None:
        """``backend`` builds what runs the jobs (``training_service.backends``); by
        default the local warm workers running ``runner``."""
        self._settings = settings
        self._clock = clock
        self._cond = threading.Condition()
        self._jobs: dict[str, JobRecord] = {}
        self._versions: dict[str, int] = {}
        self._queue: deque[str] = deque()
        self._pending: dict[str, _Pending] = {}
        self._active: dict[JobKey, str] = {}
        self._store = JobStore(settings.store_path)
        self._spool = Spool(
            settings.spool_dir,
            upload,
            on_landed=self._on_landed,
            on_waiting=self._on_waiting,
            on_rejected=self._on_rejected,
            initial_delay=settings.spool_retry_initial_seconds,
            max_delay=settings.spool_retry_max_seconds,
        )
        build = backend or local_backend(settings, runner, warm_up)
        self._pool = build(self._on_worker_event)
        self._recover()

    # ------------------------------------------------------------------ lifecycle

    def _recover(self) -> None:
        """Load the previous run's jobs; fail those whose work died with it."""
        now = self._clock()
        spooled = set(self._spool.job_ids())
        with self._cond:
            self._recover_locked(now, spooled)

    def _recover_locked(self, now: float, spooled: set[str]) -> None:
        for record in self._store.recover(now):
            if record.state == JobState.UPLOADING and record.job_id not in spooled:
                self._finish(record, JobState.FAILED, LOST_BEFORE_SPOOL_MESSAGE)
            self._jobs[record.job_id] = record
            self._versions[record.job_id] = 0
            if record.state == JobState.UPLOADING:
                self._active[record.key] = record.job_id
        self._prune_locked()

    def start(self) -> None:
        """Start the warm workers and resume the spool."""
        self._pool.start()
        self._spool.start()

    def shutdown(self) -> None:
        """Stop workers and the spool; unfinished training is reported FAILED."""
        with self._cond:
            for record in list(self._jobs.values()):  # _finish may prune the history
                if record.state in (JobState.QUEUED, JobState.RUNNING, JobState.EVALUATING):
                    self._finish(record, JobState.FAILED, STOPPED_MESSAGE)
            self._queue.clear()
        self._pool.shutdown()
        self._spool.stop()
        self._store.close()

    def ready_workers(self) -> int:
        """Workers that finished warming up (for readiness checks and tests)."""
        return self._pool.ready_workers()

    # ------------------------------------------------------------------ requests

    def submit(self, request: StartRequest, user: User) -> tuple[JobRecord, bool]:
        """Queue a job for ``user`` (or join the unfinished one for the same model):
        (job, joined)."""
        with self._cond:
            request = self._free_in_flight(request)
            key = request.key
            existing = self._active.get(key)
            if existing is not None:
                record = self._jobs[existing]
                record.requesters.append(user.name)
                self._changed(record, persist=True)
                log.event("job_joined", job=existing, requests=record.requests, user=user.name)
                return copy.copy(record), True
            running = self._pool.busy_workers()
            must_wait = running >= self._settings.max_concurrent or bool(self._queue)
            if must_wait and len(self._queue) >= self._settings.max_queued:
                raise errors.ResourceExhausted(
                    f"the training queue is full: {len(self._queue)} jobs wait and "
                    f"{running} run (TRAINING_MAX_QUEUED={self._settings.max_queued}); retry "
                    "when one finishes, or cancel a queued job",
                    reason="QUEUE_FULL",
                )
            if bounded(user):
                self._check_user_bounds(user, request.episodes, must_wait)
            record = self._new_record(request, user)
            seed = record.seed
            self._pending[record.job_id] = _Pending(
                task=TrainingTask(
                    household=request.household,
                    episodes=request.episodes,
                    seed=seed,
                    algorithm=request.algorithm,
                    eval_lives=self._settings.eval_lives,
                    parent_model_zip=request.parent_model_zip,
                    model_hash=request.model_hash,
                ),
                canonical_json=request.canonical_json,
                label=request.label,
                features=request.features,
            )
            self._jobs[record.job_id] = record
            self._versions[record.job_id] = 0
            self._active[key] = record.job_id
            self._queue.append(record.job_id)
            self._store.save(record)
            log.event("job_queued", job=record.job_id, model_hash=record.model_hash, user=user.name)
            self._dispatch_locked()
            return copy.copy(record), False

    def _free_in_flight(self, request: StartRequest) -> StartRequest:
        """The request, trained one more episode per name an unfinished job of another
        identity will give its model (a fine-tuning and a training from scratch of one
        total): two such jobs would otherwise race for one name, and the registry would
        refuse the second model. Lock held."""
        taken = {self._jobs[job_id].model: key for key, job_id in self._active.items()}
        wanted = request.model
        episodes = request.episodes
        while True:
            name = ModelKey(wanted.model_hash, wanted.episodes + episodes - request.episodes)
            holder = taken.get(name)
            # Free, or a job of this very identity (the request joins it): stop here.
            if holder is None or holder == job_key(name, request.algorithm, request.parent):
                break
            episodes += 1
        if episodes == request.episodes:
            return request
        note = (
            f"{wanted.file_name} is what a job under way for another lineage will produce: "
            f"training {episodes} episodes, so that the model's name is free"
        )
        log.event("taken_name", model_hash=wanted.model_hash, episodes=episodes, held_by="job")
        return dataclasses.replace(request, episodes=episodes, note=note)

    def _check_user_bounds(self, user: User, episodes: int, must_wait: bool) -> None:
        """ResourceExhausted USER_LIMIT when one more job would take ``user`` over a bound."""
        # A job being cancelled no longer holds anything of its user's share.
        mine = [
            r for r in self._jobs.values() if user.name in r.requesters and not r.cancel_requested
        ]
        queued = sum(1 for r in mine if r.state == JobState.QUEUED)
        limit = self._settings.max_queued_per_user
        if must_wait and queued >= limit:
            raise errors.ResourceExhausted(
                f"you already have {queued} training job(s) waiting in the queue "
                f"(TRAINING_MAX_QUEUED_PER_USER={limit}); retry when one has started, or "
                "cancel one",
                reason="USER_LIMIT",
            )
        held = sum(r.episodes for r in mine if r.state in UNTRAINED)
        most = self._settings.max_episodes_per_user
        if held + episodes > most:
            raise errors.ResourceExhausted(
                f"your unfinished trainings hold {held:,} episodes and this one asks for "
                f"{episodes:,}: more than TRAINING_MAX_EPISODES_PER_USER={most:,}; retry when "
                "one has finished, or cancel one",
                reason="USER_LIMIT",
            )

    def _new_record(self, request: StartRequest, user: User) -> JobRecord:
        return JobRecord(
            job_id=secrets.token_hex(16),
            model_hash=request.model_hash,
            episodes=request.episodes,
            algorithm=request.algorithm,
            seed=request.seed if request.seed is not None else secrets.randbits(32),
            created_at=self._clock(),
            parent=request.parent,
            model_episodes=request.model.episodes,
            requesters=[user.name],
            message=request.note,
        )

    def get(self, job_id: str, user: User) -> JobRecord:
        with self._cond:
            return copy.copy(self._record(job_id, user))

    def list(
        self,
        user: User,
        *,
        states: frozenset[JobState] = frozenset(),
        model_hash: str = "",
        after: ListCursor | None = None,
        limit: int = 50,
    ) -> tuple[list[JobRecord], ListCursor | None]:
        """Jobs newest first, those after ``after``; the cursor of the next page, or None.

        A cursor is the (created_at, job_id) of the last job of a page, so jobs created
        between two pages never shift the second one.
        """
        with self._cond:
            matching = [
                r
                for r in self._jobs.values()
                if may_see(user, r)
                and (not states or r.state in states)
                and (not model_hash or r.model_hash == model_hash)
                and (after is None or (r.created_at, r.job_id) < after)
            ]
        matching.sort(key=lambda r: (r.created_at, r.job_id), reverse=True)
        page = [copy.copy(r) for r in matching[:limit]]
        more = len(matching) > limit
        return page, ((page[-1].created_at, page[-1].job_id) if more else None)

    def cancel(self, job_id: str, user: User) -> tuple[JobRecord, bool]:
        """Cancel ``user``'s part in a job: (the job, whether only ``user`` was detached).

        A user whose job others asked for too is detached and the job goes on for them;
        otherwise (nobody else left, or an administrator or service cancelling) the job is
        cancelled for everyone: a queued job is gone at once, a running one stops soon.
        """
        with self._cond:
            record = self._record(job_id, user)
            if record.state == JobState.CANCELLED:
                return copy.copy(record), False
            if record.state.final or record.state == JobState.UPLOADING:
                raise errors.FailedPrecondition(
                    f"job {job_id} is {record.state.value}: its model is already trained and "
                    "cannot be cancelled"
                )
            others = [name for name in record.requesters if name != user.name]
            if others and not user.is_service:
                record.requesters = others
                self._changed(record, persist=True)
                log.event("job_detached", job=job_id, user=user.name, requests=len(others))
                return copy.copy(record), True
            record.cancel_requested = True
            if self._active.get(record.key) == job_id:
                del self._active[record.key]  # a new request for this model starts afresh
            if record.state == JobState.QUEUED:
                self._queue.remove(job_id)
                self._finish(record, JobState.CANCELLED, "cancelled while queued")
            else:
                record.message = "cancellation requested; stopping the worker"
                self._changed(record, persist=True)
                self._pool.cancel(job_id)
            log.event("job_cancel", job=job_id, state=record.state.value, user=user.name)
            return copy.copy(record), False

    def watch(
        self, job_id: str, user: User, still_wanted: Callable[[], bool] = lambda: True
    ) -> Iterator[JobRecord]:
        """The job now, then after every change, until a final state (or the caller leaves)."""
        seen = -1
        while True:
            with self._cond:
                self._record(job_id, user)
                while self._versions.get(job_id, seen) == seen and still_wanted():
                    self._cond.wait(timeout=WATCH_POLL_SECONDS)
                if not still_wanted() or job_id not in self._jobs:
                    return
                seen = self._versions[job_id]
                snapshot = copy.copy(self._jobs[job_id])
            yield snapshot
            if snapshot.state.final:
                return

    # ------------------------------------------------------------------ internals

    def _record(self, job_id: str, user: User | None = None) -> JobRecord:
        """The job, if it exists and ``user`` (when given) may see it; NotFound otherwise.

        Another user's job answers exactly as an unknown id does: whether it exists, and
        for which household, stays its requesters' business.
        """
        record = self._jobs.get(job_id)
        if record is None or (user is not None and not may_see(user, record)):
            message = f"no training job with id {clip(job_id, 64)!r}"
            if self._store.history_lost:
                message += (
                    f" (the job history before {self._store.history_lost} was lost: the job "
                    "store was damaged and set aside; models trained before are in the "
                    "registry)"
                )
            raise errors.NotFound(message, reason="JOB_NOT_FOUND")
        return record

    def _changed(self, record: JobRecord, *, persist: bool) -> None:
        """Wake the watchers (and write through state changes); lock held."""
        self._versions[record.job_id] = self._versions.get(record.job_id, 0) + 1
        if persist:
            self._store.save(record)
        self._cond.notify_all()

    def _finish(self, record: JobRecord, state: JobState, message: str) -> None:
        """Move a job to a final state; lock held."""
        record.state = state
        record.message = message
        record.finished_at = self._clock()
        record.estimated_seconds_left = None
        self._pending.pop(record.job_id, None)
        if self._active.get(record.key) == record.job_id:
            del self._active[record.key]
        self._changed(record, persist=True)
        log.event("job_finished", job=record.job_id, state=state.value, message=message)
        self._prune_locked()

    def _prune_locked(self) -> None:
        """Forget the oldest finished jobs beyond the history limit."""
        finished = sorted(
            (r for r in self._jobs.values() if r.state.final),
            key=lambda r: (r.created_at, r.job_id),
        )
        excess = len(finished) - self._settings.job_history
        if excess > 0:
            gone = [r.job_id for r in finished[:excess]]
            for job_id in gone:
                del self._jobs[job_id]
                self._versions.pop(job_id, None)
            self._store.delete(gone)

    def _dispatch_locked(self) -> None:
        """Hand queued jobs to idle workers, within the concurrency limit; lock held."""
        while self._queue and self._pool.busy_workers() < self._settings.max_concurrent:
            job_id = self._queue[0]
            pending = self._pending[job_id]
            if not self._pool.try_assign(job_id, pending.task):
                return
            self._queue.popleft()
            record = self._jobs[job_id]
            record.state = JobState.RUNNING
            record.started_at = self._clock()
            record.message = ""
            self._changed(record, persist=True)
            log.event("job_running", job=job_id)

    def _on_worker_event(self, event: WorkerEvent) -> None:
        with self._cond:
            if isinstance(event, WorkerReady):  # a (replacement) worker can take a job
                self._dispatch_locked()
                return
            record = self._jobs.get(event.job_id)
            if record is None or record.state.final:
                self._dispatch_locked()
                return
            if isinstance(event, JobUpdate):
                self._on_update(record, event.update)
            elif isinstance(event.outcome, TrainingOutcome):
                self._on_trained(record, event.outcome)
            elif event.cancelled:
                self._finish(record, JobState.CANCELLED, "cancelled")
            else:
                self._finish(record, JobState.FAILED, event.message or "training gave no model")
            self._dispatch_locked()

    def _on_update(self, record: JobRecord, update: object) -> None:
        if isinstance(update, ProgressReport):
            self._on_progress(record, update)
        elif isinstance(update, PhaseChanged):
            record.state = JobState(update.state)
            record.estimated_seconds_left = None
            self._changed(record, persist=True)

    def _on_progress(self, record: JobRecord, progress: ProgressReport) -> None:
        record.episodes_done = progress.episodes_done
        record.timesteps = progress.timesteps
        if progress.mean_episode_reward is not None:
            record.mean_episode_reward = progress.mean_episode_reward
        record.training_seconds = progress.elapsed_seconds
        left = record.episodes - progress.episodes_done
        if progress.episodes_done > 0 and left >= 0:
            pace = progress.elapsed_seconds / progress.episodes_done
            record.estimated_seconds_left = pace * left
        self._changed(record, persist=False)

    def _on_trained(self, record: JobRecord, outcome: TrainingOutcome) -> None:
        """Trained and evaluated: spool the model (it is uploaded from there)."""
        if record.cancel_requested:
            self._finish(record, JobState.CANCELLED, "cancelled")
            return
        pending = self._pending.pop(record.job_id, None)
        record.state = JobState.UPLOADING
        record.episodes_done = record.episodes
        record.timesteps = outcome.timesteps
        record.training_seconds = outcome.training_seconds
        record.estimated_seconds_left = None
        record.evaluation = outcome.evaluation
        record.message = "uploading the model to the registry"
        self._changed(record, persist=True)
        try:
            self._spool.put(
                record.job_id,
                outcome.model_zip,
                _metadata(record, outcome, pending),
                owner=record.owner,
            )
        except OSError as exc:
            self._finish(record, JobState.FAILED, f"could not keep the trained model: {exc}")

    def _on_landed(self, job_id: str, stored: model_pb2.ModelMetadata) -> None:
        with self._cond:
            record = self._jobs.get(job_id)
            if record is None or record.state.final:
                return
            record.registered_model = stored.SerializeToString(deterministic=True)
            self._finish(record, JobState.SUCCEEDED, "")

    def _on_waiting(self, job_id: str, message: str) -> None:
        with self._cond:
            record = self._jobs.get(job_id)
            if record is None or record.state.final:
                return
            record.message = message
            self._changed(record, persist=True)

    def _on_rejected(self, job_id: str, message: str) -> None:
        with self._cond:
            record = self._jobs.get(job_id)
            if record is None or record.state.final:
                return
            self._finish(record, JobState.FAILED, f"the registry refused the model: {message}")


def _metadata(
    record: JobRecord, outcome: TrainingOutcome, pending: _Pending | None
) -> registry_pb2.UploadModelMetadata:
    """What the registry stores beside the model (size and SHA-256 are added at upload).

    ``pending`` is None only for a job restored after a restart mid-upload: its model is
    stored without canonical parameters, label or features (never a near match)."""

    model = record.model
    metadata = registry_pb2.UploadModelMetadata(
        ref=model_pb2.ModelRef(model_hash=model.model_hash, episodes=model.episodes),
        algorithm=record.algorithm,
        library_versions=outcome.library_versions,
        evaluation=model_pb2.ModelEvaluation.FromString(outcome.evaluation),
        canonical_parameters_json=pending.canonical_json if pending else "",
        timesteps=outcome.timesteps,
        hyperparameters_json=json.dumps(
            outcome.hyperparameters, sort_keys=True, separators=(",", ":"), default=str
        ),
        training_seconds=outcome.training_seconds,
        # This service trains one household's policy, in glidepath's one family today.
        kind=model_pb2.MODEL_KIND_PROFILE,
        episodes_added=record.episodes,
        policy_family=DEFAULT_POLICY_FAMILY,
        policy_layout_version=POLICY_LAYOUT_VERSION,
        label=pending.label if pending else "",
        features=pending.features if pending else (),
        features_version=FEATURES_VERSION if pending and pending.features else 0,
    )
    if record.parent is not None:
        metadata.parent.CopyFrom(
            model_pb2.ModelRef(model_hash=record.parent.model_hash, episodes=record.parent.episodes)
        )
    return metadata
