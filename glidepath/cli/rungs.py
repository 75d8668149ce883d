"""Option B's ladder as the Optimize stream tells it, in words a person reads.

``optimize --pretrained`` climbs down a ladder in the simulation service: the household's
own (exact) model; else the models of near households and the generic model of its
family, each scored zero-shot on the household's evaluation lives and gated; else a
fine-tuning from the best of them; else a training from scratch. The stream sends one
event per stage, and the stages alone do not say which rung a training belongs to (a
fine-tuning and a training from scratch send the same TRAINING_* events), so
:class:`OptimizeProgress` remembers the rung it is on and names it on every line.

Each rung's events (a lookup, a candidate's zero-shot score with its distance, a model
found unusable, the choice to fine-tune or train) are *kept*: on a terminal they stay on
the screen above the progress bar instead of being redrawn over, so that when the answer
comes the user can read how it was reached. :data:`SOURCES` words the answer's model
source: which rung served it.
"""

from __future__ import annotations

from glidepath.cli.flag_words import in_flag_words
from glidepath.cli.progress import Progress
from glidepath.simulation.v1 import simulation_pb2 as sim
from glidepath.training.v1 import training_pb2

EXACT = "rung 1, exact model"
NEAR = "rung 2, near matches and generic model"
FINE_TUNING = "rung 3, fine-tuning"
SCRATCH = "rung 4, training from scratch"

# The stage that puts the ladder on a rung (training stages stay on the current one).
_RUNG_OF_STAGE = {
    sim.OPTIMIZE_STAGE_LOOKING_UP: EXACT,
    sim.OPTIMIZE_STAGE_NEAR_MATCHES: NEAR,
    sim.OPTIMIZE_STAGE_FINE_TUNING: FINE_TUNING,
    # Sent after the ladder found nothing that served: a training follows (or, with
    # --no-fallback, the failure).
    sim.OPTIMIZE_STAGE_NO_COMPATIBLE_MODEL: SCRATCH,
}
# Stages that tell how the ladder went: kept on the screen. Downloading, loading and
# evaluating happen on every rung and only show progress.
_KEPT = frozenset(
    {
        sim.OPTIMIZE_STAGE_LOOKING_UP,
        sim.OPTIMIZE_STAGE_MODEL_FOUND,
        sim.OPTIMIZE_STAGE_NO_COMPATIBLE_MODEL,
        sim.OPTIMIZE_STAGE_SCORING,
        sim.OPTIMIZE_STAGE_NEAR_MATCHES,
        sim.OPTIMIZE_STAGE_ZERO_SHOT,
        sim.OPTIMIZE_STAGE_FINE_TUNING,
        sim.OPTIMIZE_STAGE_MODEL_UNUSABLE,
        sim.OPTIMIZE_STAGE_TRAINING_STARTED,
        sim.OPTIMIZE_STAGE_TRAINING_JOINED,
        sim.OPTIMIZE_STAGE_ALREADY_TRAINED,
    }
)

# Stages that say a training job runs for this request (it goes on if the call ends).
_TRAINING_STAGES = frozenset(
    {
        sim.OPTIMIZE_STAGE_TRAINING_STARTED,
        sim.OPTIMIZE_STAGE_TRAINING_JOINED,
        sim.OPTIMIZE_STAGE_TRAINING_PROGRESS,
    }
)

# Where the answer's model came from, first in the words the ladder's rungs use.
SOURCES = {
    sim.MODEL_SOURCE_PRETRAINED: "exact: a stored model of this very household (its hash)",
    sim.MODEL_SOURCE_NEAR_MATCH: (
        "near match: the stored model of a near household, which passed the gate "
        "zero-shot on this household's lives"
    ),
    sim.MODEL_SOURCE_GENERIC: (
        "generic: the generic model of the household's family, which passed the gate "
        "zero-shot on this household's lives"
    ),
    sim.MODEL_SOURCE_FINE_TUNED_NOW: (
        "fine-tuned now: fine-tuned for this household from the best near match or "
        "generic model (its parent), none of which passed the gate as it was"
    ),
    sim.MODEL_SOURCE_TRAINED_NOW: "trained now: trained from scratch for this request",
    sim.MODEL_SOURCE_JOINED_RUNNING_JOB: (
        "trained now, by a running job for the same model that this request joined"
    ),
    sim.MODEL_SOURCE_ALREADY_IN_REGISTRY: (
        "already stored: the registry held the model this training would make (same hash "
        "and episodes), so nothing was trained"
    ),
}


def source_words(source: sim.ModelSource.ValueType) -> str:
    return SOURCES.get(source, "unknown (a source this client does not know)")


class OptimizeProgress:
    """The adapter for Optimize's stream: stages as states, training as a bar, and each
    event of option B named by its rung (none before the first: option A has none)."""

    def __init__(self) -> None:
        self.rung = ""
        # The training job this request started or joined: it outlives the call.
        self.training_job = ""

    def __call__(self, response: sim.OptimizeResponse) -> Progress:
        if response.WhichOneof("content") == "result":
            result = response.result
            served = source_words(result.source).split(":", 1)[0]
            return Progress(
                state="DONE",
                elapsed_seconds=result.total_seconds,
                message=f"recommended: {result.recommended.strategy}; model: {served}",
                final=True,
            )
        event = response.event
        self.rung = _RUNG_OF_STAGE.get(event.stage, self.rung)
        if event.job_id and event.stage in _TRAINING_STAGES:
            self.training_job = event.job_id
        stage = sim.OptimizeStage.Name(event.stage).removeprefix("OPTIMIZE_STAGE_")
        if event.stage != sim.OPTIMIZE_STAGE_TRAINING_PROGRESS:
            return Progress(
                state=stage,
                elapsed_seconds=event.elapsed_seconds,
                message=self._named(event.message),
                keep=event.stage in _KEPT,
            )
        training = event.training
        return Progress(
            state=training_pb2.TrainingState.Name(training.state).removeprefix("TRAINING_STATE_"),
            episodes_done=training.episodes_done,
            episodes_total=training.episodes_total,
            timesteps=training.timesteps,
            mean_reward=(
                training.mean_episode_reward if training.HasField("mean_episode_reward") else None
            ),
            elapsed_seconds=event.elapsed_seconds,
            seconds_left=(
                training.estimated_seconds_left
                if training.HasField("estimated_seconds_left")
                else None
            ),
            message=self._named(training.message),
        )

    def _named(self, message: str) -> str:
        message = in_flag_words(message)
        if not self.rung:
            return message
        return f"{self.rung}: {message}" if message else self.rung
