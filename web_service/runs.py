"""Optimize runs held by the web service, by id, so that a page can leave and come back.

Starting a run opens the Optimize stream and hands it to a thread that reads it to the
end, turning each message into a small JSON event (``event_json``) kept in the run's
list. A progress page follows the list over server-sent events from any index: a reload
(or a second tab) replays what happened and goes on live. The result stays with the run,
so its page has a URL that opens again while the run is held.

Bounds: at most ``max_active`` runs are read at once (the next start is refused with
``RunsFull``, shown as 429), and at most ``max_held`` are kept, the oldest finished run
dropped first. Cancel cancels the gRPC call; the simulation service then stops waiting
(a training it started goes on in the training service, and its model is kept).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc

from glidepath.advice.strategies import name as strategy_name
from glidepath.cli.rungs import source_words
from glidepath.household.model import Household
from glidepath.simulation.v1 import simulation_pb2 as sim
from glidepath.training.v1 import training_pb2
from web_service.clients import OptimizeCall, PeerError

# Seconds a follower waits for a new event before sending a keep-alive comment.
KEEP_ALIVE_SECONDS = 15.0

Event = dict[str, Any]

# Each stage in the words the progress page shows (the stream's names stay in "stage").
STAGE_WORDS = {
    "HASHED": "Household checked",
    "LOOKING_UP": "Looking for a stored model of this household",
    "MODEL_FOUND": "Stored model found",
    "NO_COMPATIBLE_MODEL": "No stored model serves",
    "TRAINING_STARTED": "Training started",
    "TRAINING_JOINED": "Joined a training already running for this household",
    "TRAINING_PROGRESS": "Training",
    "ALREADY_TRAINED": "Already trained: the stored model is used",
    "DOWNLOADING": "Downloading the model",
    "LOADING": "Loading the policy",
    "EVALUATING": "Judging every strategy on the same lives",
    "MODEL_UNUSABLE": "A model cannot be used",
    "SCORING": "Scoring the stored models",
    "NEAR_MATCHES": "Looking at the models of near households",
    "ZERO_SHOT": "Scoring them on this household",
    "FINE_TUNING": "Fine-tuning the best of them",
    "DONE": "Done",
    "FAILED": "Failed",
    "CANCELLED": "Cancelled",
}


class RunsFull(Exception):
    """Every slot for a running optimisation is taken."""


@dataclass
class Run:
    """One Optimize call, as the pages see it."""

    run_id: str
    household_name: str
    episodes: int
    pretrained: bool
    # False: a comparison of the rules (Compare), no trained policy.
    ai: bool = True
    # The household as sent: the summary and the charts read it (accounts, goal, ages).
    household: Household | None = None
    started: float = field(default_factory=time.monotonic)
    events: list[Event] = field(default_factory=list)
    result: sim.OptimizeResult | None = None
    error: PeerError | None = None
    cancelled: bool = False
    call: OptimizeCall | None = None
    changed: threading.Condition = field(default_factory=threading.Condition)

    @property
    def finished(self) -> bool:
        return self.result is not None or self.error is not None or self.cancelled

    def add(
        self,
        event: Event,
        *,
        result: sim.OptimizeResult | None = None,
        error: PeerError | None = None,
        cancelled: bool = False,
    ) -> None:
        """Append ``event``; an ending (result, error, cancel) is set with it, so that a
        follower never sees the run finished without its last event."""
        with self.changed:
            self.events.append(event)
            self.result = result or self.result
            self.error = error or self.error
            self.cancelled = cancelled or self.cancelled
            self.changed.notify_all()

    def follow(self, start: int, stop: Callable[[], bool]) -> Iterator[tuple[int, Event | None]]:
        """(index, event) from ``start`` on, live until the run ends; (index, None) when
        nothing came for KEEP_ALIVE_SECONDS (a keep-alive), or when ``stop()`` says so."""
        index = start
        while True:
            with self.changed:
                if index >= len(self.events) and not self.finished:
                    self.changed.wait(KEEP_ALIVE_SECONDS)
                pending = self.events[index:]
                done = self.finished
            for event in pending:
                yield index, event
                index += 1
            if done and index >= len(self.events):
                return
            if not pending:
                if stop():
                    return
                yield index, None


def event_json(response: sim.OptimizeResponse) -> Event:
    """One stream message as the progress page reads it."""
    if response.WhichOneof("content") == "result":
        result = response.result
        return {
            "kind": "result",
            "stage": "DONE",
            "label": STAGE_WORDS["DONE"],
            "message": (
                f"recommended: {strategy_name(result.recommended.strategy)}; "
                f"model: {source_words(result.source).split(':', 1)[0]}"
            ),
            "elapsed_seconds": result.total_seconds,
        }
    event = response.event
    stage = sim.OptimizeStage.Name(event.stage).removeprefix("OPTIMIZE_STAGE_")
    out: Event = {
        "kind": "event",
        "stage": stage,
        "label": STAGE_WORDS.get(stage, stage),
        "message": event.message,
        "elapsed_seconds": event.elapsed_seconds,
    }
    if event.HasField("training"):
        training = event.training
        out["training"] = {
            "state": training_pb2.TrainingState.Name(training.state).removeprefix(
                "TRAINING_STATE_"
            ),
            "episodes_done": training.episodes_done,
            "episodes_total": training.episodes_total,
            "seconds_left": (
                training.estimated_seconds_left
                if training.HasField("estimated_seconds_left")
                else None
            ),
            "message": training.message,
        }
    return out


class RunStore:
    """The runs, by id; thread-safe."""

    def __init__(self, max_active: int, max_held: int) -> None:
        self.max_active = max_active
        self.max_held = max_held
        self._runs: OrderedDict[str, Run] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, run_id: str) -> Run | None:
        with self._lock:
            return self._runs.get(run_id)

    def start(
        self,
        open_call: Callable[[], OptimizeCall],
        describe: Callable[[grpc.RpcError], PeerError],
        *,
        household_name: str,
        episodes: int,
        pretrained: bool,
        ai: bool = True,
        household: Household | None = None,
    ) -> Run:
        """Open the stream and read it on a thread; RunsFull when every slot is taken."""
        run = Run(
            secrets.token_hex(8),
            household_name,
            episodes,
            pretrained,
            ai=ai,
            household=household,
        )
        with self._lock:
            active = sum(1 for r in self._runs.values() if not r.finished)
            if active >= self.max_active:
                raise RunsFull(f"{active} optimisations are running; try again when one ends")
            self._runs[run.run_id] = run
            self._evict()
        run.call = open_call()
        threading.Thread(
            target=_read, args=(run, describe), name=f"run-{run.run_id}", daemon=True
        ).start()
        return run

    def cancel(self, run_id: str) -> Run | None:
        run = self.get(run_id)
        if run is None or run.finished:
            return run
        run.add(
            {
                "kind": "cancelled",
                "stage": "CANCELLED",
                "label": STAGE_WORDS["CANCELLED"],
                "message": "the run was cancelled; a training it started goes on, and its "
                "model will be stored",
            },
            cancelled=True,
        )
        if run.call is not None:
            run.call.cancel()
        return run

    def _evict(self) -> None:
        """Drop the oldest finished runs beyond max_held (lock held)."""
        for run_id in list(self._runs):
            if len(self._runs) <= self.max_held:
                return
            if self._runs[run_id].finished:
                del self._runs[run_id]


def _read(run: Run, describe: Callable[[grpc.RpcError], PeerError]) -> None:
    """Read the run's stream to its end: events, then the result or the failure."""
    assert run.call is not None
    try:
        for response in run.call:
            final = response.result if response.WhichOneof("content") == "result" else None
            run.add(event_json(response), result=final)
    except grpc.RpcError as error:
        if not run.cancelled:
            _fail(run, describe(error))
        return
    if run.result is None and not run.cancelled:
        _fail(run, PeerError("the simulation service ended the stream without a result", 502))


def _fail(run: Run, error: PeerError) -> None:
    failed = {"kind": "failed", "stage": "FAILED", "label": STAGE_WORDS["FAILED"]}
    run.add({**failed, "message": error.message}, error=error)
