"""A live progress bar on stderr, fed by a server stream.

A training takes seconds to minutes; a person wants to see it move. ``follow()`` reads a
stream (``WatchTraining`` today, ``Optimize`` later), turns each message into a
``Progress`` with an adapter, and hands it to a ``ProgressBar``, which redraws one line in
place on a terminal:

    RUNNING     [#########...........]    450/1,000 episodes   22,500 steps
                gain over the rule -21.3 % of a year's spending (exploring)   0:03 elapsed
                ETA 0:04                                           (on one line)

and, when stderr is not a terminal (a log file, CI), prints plain lines instead: one per
change of state or message and one per tenth of the episodes, so that a log stays short.
An update marked ``keep`` (a step of option B's ladder) always gets a line of its own,
on a terminal too.
The results go to stdout, so ``glidepath ... > result.txt`` keeps them apart.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import TextIO, TypeVar

from glidepath.training.v1 import training_pb2

Update = TypeVar("Update")

BAR_WIDTH = 20
PLAIN_STEPS = 10
FINAL_TRAINING_STATES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})


@dataclass(frozen=True)
class Progress:
    """Where a long job stands, whatever stream reported it."""

    state: str
    episodes_done: int = 0
    episodes_total: int = 0
    timesteps: int = 0
    mean_reward: float | None = None
    elapsed_seconds: float = 0.0
    seconds_left: float | None = None
    message: str = ""
    final: bool = False
    # A step worth reading afterwards (a rung of option B's ladder): on a terminal its
    # line stays on the screen instead of being redrawn over by the next update.
    keep: bool = False


def training_progress(job: training_pb2.TrainingJob) -> Progress:
    """The adapter for the training service's ``TrainingJob``."""
    state = training_pb2.TrainingState.Name(job.state).removeprefix("TRAINING_STATE_")
    return Progress(
        state=state,
        episodes_done=job.episodes_done,
        episodes_total=job.episodes_total,
        timesteps=job.timesteps,
        mean_reward=job.mean_episode_reward if job.HasField("mean_episode_reward") else None,
        elapsed_seconds=job.elapsed_seconds,
        seconds_left=job.estimated_seconds_left if job.HasField("estimated_seconds_left") else None,
        message=job.message,
        final=state in FINAL_TRAINING_STATES,
    )


def duration(seconds: float) -> str:
    """0:07, 3:25, 1:02:03."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def gain_over_rule(mean_episode_reward: float) -> str:
    """The training's reward, labelled as what it measures.

    With the default (rule-advantage) reward, a life's reward is how much better (> 0)
    the policy's choices did than the rule it corrects, on that life's own markets, in
    utility of the household's consumption scale: 0.01 is about 1 % more spending for
    one year (``glidepath.rl.training``). Shown as that percentage, and marked as
    measured while the policy explores (its actions drawn with noise), which keeps it
    below what the finished policy, judged without noise, achieves.
    """
    return f"gain over the rule {100 * mean_episode_reward:+.1f} % of a year's spending (exploring)"


def describe(progress: Progress) -> str:
    """The one line shown for ``progress`` (bar included)."""
    parts = [f"{progress.state:<11}"]
    if progress.episodes_total:
        filled = BAR_WIDTH * min(progress.episodes_done, progress.episodes_total)
        filled //= progress.episodes_total
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        width = len(f"{progress.episodes_total:,}")
        parts.append(
            f"[{bar}]  {progress.episodes_done:>{width},}/{progress.episodes_total:,} episodes"
        )
    if progress.timesteps:
        parts.append(f"{progress.timesteps:,} steps")
    if progress.mean_reward is not None:
        parts.append(gain_over_rule(progress.mean_reward))
    parts.append(f"{duration(progress.elapsed_seconds)} elapsed")
    if progress.seconds_left is not None and not progress.final:
        parts.append(f"ETA {duration(progress.seconds_left)}")
    line = "   ".join(parts)
    return f"{line}   {progress.message}" if progress.message else line


class ProgressBar:
    """Draws ``Progress`` updates on a stream: in place on a terminal, as lines otherwise."""

    def __init__(self, stream: TextIO | None = None, *, interactive: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self._drawn = False
        self._last: Progress | None = None

    def update(self, progress: Progress) -> None:
        if self.interactive:
            self.stream.write("\r" + describe(progress) + "\x1b[K")
            self._drawn = True
            if progress.final or progress.keep:
                self._end_line()
        elif self._worth_a_line(progress):
            self.stream.write(describe(progress) + "\n")
        self.stream.flush()
        self._last = progress

    def close(self) -> None:
        """Leave the cursor on a fresh line, whatever the last update was."""
        if self.interactive and self._drawn:
            self._end_line()
            self.stream.flush()

    def _end_line(self) -> None:
        self.stream.write("\n")
        self._drawn = False

    def _worth_a_line(self, progress: Progress) -> bool:
        last = self._last
        if last is None or progress.final or progress.keep:
            return True
        if (progress.state, progress.message) != (last.state, last.message):
            return True
        return _step(progress) > _step(last)

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _step(progress: Progress) -> int:
    if not progress.episodes_total:
        return 0
    return PLAIN_STEPS * progress.episodes_done // progress.episodes_total


def follow(
    updates: Iterable[Update], to_progress: Callable[[Update], Progress], bar: ProgressBar
) -> Update | None:
    """Draw every update of a stream; return the last one (None for an empty stream)."""
    last: Update | None = None
    with bar:
        for update in updates:
            bar.update(to_progress(update))
            last = update
    return last
