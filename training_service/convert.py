"""Translation between the training contract's messages and the job manager's objects.

Requests are checked here, each problem reported with the field it concerns, so the
manager only ever sees a valid, canonical request with its defaults filled in. Patterns
are matched whole (``fullmatch``: ``re.match`` with ``$`` would let a trailing newline
through), and what a caller sent is echoed clipped (``glidepath.text.clip_repr``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from google.protobuf.timestamp_pb2 import Timestamp

from glidepath import errors
from glidepath.auth import User
from glidepath.common.v1 import model_pb2
from glidepath.household.canonical import canonical_json, canonicalize, household_hash
from glidepath.household.convert import household_from_proto
from glidepath.models import (
    DEFAULT_ALGORITHM,
    DEFAULT_EPISODES,
    MAX_EPISODES,
    SUPPORTED_ALGORITHMS,
    ModelKey,
    is_model_hash,
)
from glidepath.rl.features import household_features
from glidepath.text import clip_repr
from glidepath.training.v1 import training_pb2 as pb
from training_service.jobs import JobRecord, JobState
from training_service.manager import ListCursor, StartRequest

MAX_SEED = 2**32 - 1
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
_JOB_ID = re.compile(r"[0-9a-f]{32}")

_STATE_TO_PB = {
    JobState.QUEUED: pb.TRAINING_STATE_QUEUED,
    JobState.RUNNING: pb.TRAINING_STATE_RUNNING,
    JobState.EVALUATING: pb.TRAINING_STATE_EVALUATING,
    JobState.UPLOADING: pb.TRAINING_STATE_UPLOADING,
    JobState.SUCCEEDED: pb.TRAINING_STATE_SUCCEEDED,
    JobState.FAILED: pb.TRAINING_STATE_FAILED,
    JobState.CANCELLED: pb.TRAINING_STATE_CANCELLED,
}
_STATE_FROM_PB = {v: k for k, v in _STATE_TO_PB.items()}

FetchParent = Callable[[model_pb2.ModelRef], bytes]


def start_request(message: pb.StartTrainingRequest, fetch_parent: FetchParent) -> StartRequest:
    """A validated, canonical request; InvalidArgument naming every bad field."""
    problems: list[errors.FieldViolation] = []
    episodes = message.episodes or DEFAULT_EPISODES
    if episodes > MAX_EPISODES:
        problems.append(
            errors.FieldViolation("episodes", f"must be 1 to {MAX_EPISODES:,}, got {episodes}")
        )
    algorithm = message.algorithm.strip().upper() or DEFAULT_ALGORITHM
    if algorithm not in SUPPORTED_ALGORITHMS:
        problems.append(
            errors.FieldViolation(
                "algorithm",
                f"unsupported algorithm {clip_repr(message.algorithm, 40)}; supported: "
                + ", ".join(SUPPORTED_ALGORITHMS),
            )
        )
    seed = message.seed if message.HasField("seed") else None
    if seed is not None and seed > MAX_SEED:
        problems.append(errors.FieldViolation("seed", f"must be 0 to {MAX_SEED}, got {seed}"))
    parent = _parent(message, problems)
    if not message.HasField("household"):
        problems.append(errors.FieldViolation("household", "is required"))
    else:
        try:
            household = household_from_proto(message.household)
        except errors.InvalidArgument as exc:
            problems.extend(exc.violations)
    if problems:
        raise errors.InvalidArgument(problems)
    canonical = canonicalize(household)
    return StartRequest(
        household=canonical,
        model_hash=household_hash(canonical),
        canonical_json=canonical_json(canonical),
        episodes=episodes,
        algorithm=algorithm,
        seed=seed,
        parent=parent,
        parent_model_zip=fetch_parent(message.parent) if parent is not None else None,
        label=model_label(household.name),
        features=household_features(canonical),
    )


MAX_LABEL_CHARS = 200


def model_label(name: str) -> str:
    """The household's name as the registry's one-line label (at most 200 characters)."""
    line = " ".join(name.split())
    return line if len(line) <= MAX_LABEL_CHARS else line[: MAX_LABEL_CHARS - 1] + "…"


def _parent(
    message: pb.StartTrainingRequest, problems: list[errors.FieldViolation]
) -> ModelKey | None:
    if not message.HasField("parent"):
        return None
    ref = message.parent
    if not is_model_hash(ref.model_hash):
        problems.append(
            errors.FieldViolation(
                "parent.model_hash",
                f"must be 16 lowercase hex characters, got {clip_repr(ref.model_hash, 40)}",
            )
        )
    if ref.episodes < 1:
        problems.append(errors.FieldViolation("parent.episodes", "must be >= 1"))
    return ModelKey(ref.model_hash, ref.episodes)


def job_id(value: str) -> str:
    """A well-formed job id, or InvalidArgument naming ``job_id``."""
    if not value:
        raise errors.InvalidArgument.field("job_id", "is required")
    if not _JOB_ID.fullmatch(value):
        raise errors.InvalidArgument.field(
            "job_id", f"must be 32 lowercase hex characters, got {clip_repr(value, 64)}"
        )
    return value


def list_query(
    message: pb.ListTrainingsRequest,
) -> tuple[frozenset[JobState], str, ListCursor | None, int]:
    """(states, model_hash, cursor, limit) of a list request."""
    if message.page_size > MAX_PAGE_SIZE:
        raise errors.InvalidArgument.field(
            "page_size", f"must be 0 to {MAX_PAGE_SIZE}, got {message.page_size}"
        )
    limit = message.page_size or DEFAULT_PAGE_SIZE
    cursor = parse_page_token(message.page_token) if message.page_token else None
    if message.model_hash and not is_model_hash(message.model_hash):
        raise errors.InvalidArgument.field(
            "model_hash",
            "must be empty or 16 lowercase hex characters, got "
            f"{clip_repr(message.model_hash, 40)}",
        )
    states: set[JobState] = set()
    for i, value in enumerate(message.states):
        state = _STATE_FROM_PB.get(value)
        if state is None:
            raise errors.InvalidArgument.field(f"states[{i}]", f"unknown state {value}")
        states.add(state)
    return frozenset(states), message.model_hash, cursor, limit


def page_token(cursor: ListCursor | None) -> str:
    """The opaque next_page_token for a cursor ("" for the last page)."""
    return "" if cursor is None else f"{cursor[0]!r}/{cursor[1]}"


def parse_page_token(token: str) -> ListCursor:
    created, _, job = token.partition("/")
    try:
        created_at = float(created)
    except ValueError:
        created_at = float("nan")
    if created_at != created_at or not _JOB_ID.fullmatch(job):
        raise errors.InvalidArgument.field("page_token", "is not a token this service returned")
    return created_at, job


def _timestamp(seconds: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(round(seconds * 1e9))
    return stamp


def job_to_proto(record: JobRecord, now: float, user: User) -> pb.TrainingJob:
    """The job as ``user`` sees it: the owner's name only for the owner, administrators
    and services (a user who joined another's job does not learn who that is)."""
    job = pb.TrainingJob(
        job_id=record.job_id,
        state=_STATE_TO_PB[record.state],
        model=model_pb2.ModelRef(
            model_hash=record.model.model_hash, episodes=record.model.episodes
        ),
        algorithm=record.algorithm,
        seed=record.seed,
        episodes_done=record.episodes_done,
        episodes_total=record.episodes,
        timesteps=record.timesteps,
        elapsed_seconds=record.elapsed_seconds(now),
        message=record.message,
        created_at=_timestamp(record.created_at),
        requests=record.requests,
        owner=record.owner if user.is_service or user.name == record.owner else "",
    )
    if record.parent is not None:
        job.parent.CopyFrom(
            model_pb2.ModelRef(model_hash=record.parent.model_hash, episodes=record.parent.episodes)
        )
    if record.mean_episode_reward is not None:
        job.mean_episode_reward = record.mean_episode_reward
    if record.estimated_seconds_left is not None and record.state == JobState.RUNNING:
        job.estimated_seconds_left = record.estimated_seconds_left
    if record.registered_model is not None:
        job.registered_model.ParseFromString(record.registered_model)
    if record.evaluation is not None:
        job.evaluation.ParseFromString(record.evaluation)
    if record.started_at is not None:
        job.started_at.CopyFrom(_timestamp(record.started_at))
    if record.finished_at is not None:
        job.finished_at.CopyFrom(_timestamp(record.finished_at))
    return job
