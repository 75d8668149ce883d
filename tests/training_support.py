"""Helpers for the training service's tests.

``cartpole_train`` / ``cartpole_evaluate`` stand in for the RL library's trainer and
evaluator in the tests of the job machinery itself (queue, dedupe, cancel, restart,
spool): they really train a tiny stable-baselines3 PPO on CartPole, report progress,
honour ``should_stop`` between steps, and really evaluate the saved policy (weights
loaded with ``torch.load(weights_only=True)``, never unpickled). The service's
integration tests use the real ``glidepath.rl`` trainer instead.

Everything here must be importable by name: the worker processes are spawned and
receive these functions by reference.
"""

from __future__ import annotations

import io
import math
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from glidepath import errors
from glidepath.household.model import Household
from training_service.pipeline import ProgressLike, TrainAndEvaluate, TrainingTask

ROOT = Path(__file__).resolve().parent.parent
NET_ARCH = [16, 16]
N_STEPS = 64


@dataclass(frozen=True)
class Progress:
    episodes_done: int
    timesteps: int
    mean_episode_reward: float
    elapsed_seconds: float


@dataclass(frozen=True)
class Trained:
    model_zip: bytes
    timesteps: int
    hyperparameters: dict[str, Any]
    library_versions: dict[str, str]
    training_seconds: float


@dataclass(frozen=True)
class Score:
    strategy: str
    ce_consumption: float
    ce_standard_error: float
    success_probability: float
    capital_goal_probability: float
    ce_share_of_optimum: float | None = None


@dataclass(frozen=True)
class Evaluation:
    score: float
    held_out_lives: int
    best_baseline: str
    improvement: float
    improvement_standard_error: float
    passed_gate: bool
    optimum_ce_consumption: float | None = None
    strategies: list[Score] = field(default_factory=list)


def _ppo(seed: int) -> Any:
    import gymnasium as gym
    from stable_baselines3 import PPO

    return PPO(
        "MlpPolicy",
        gym.make("CartPole-v1"),
        n_steps=N_STEPS,
        batch_size=N_STEPS,
        n_epochs=1,
        seed=seed,
        device="cpu",
        policy_kwargs={"net_arch": NET_ARCH},
        verbose=0,
    )


def cartpole_train(
    task: TrainingTask, on_progress: Callable[[ProgressLike], None], should_stop: Callable[[], bool]
) -> Trained:
    """Train until ``task.episodes`` CartPole episodes finished, or raise Cancelled."""
    import stable_baselines3
    import torch
    from stable_baselines3.common.callbacks import BaseCallback

    started = time.monotonic()
    model = _ppo(task.seed)
    state = {"episodes": 0, "cancelled": False}
    rewards: list[float] = []
    running = [0.0]

    class Callback(BaseCallback):  # type: ignore[misc]
        def _on_step(self) -> bool:
            running[0] += float(self.locals["rewards"][0])
            if bool(self.locals["dones"][0]):
                state["episodes"] += 1
                rewards.append(running[0])
                running[0] = 0.0
            on_progress(
                Progress(
                    episodes_done=int(state["episodes"]),
                    timesteps=int(self.num_timesteps),
                    mean_episode_reward=float(np.mean(rewards[-20:])) if rewards else math.nan,
                    elapsed_seconds=time.monotonic() - started,
                )
            )
            if should_stop():
                state["cancelled"] = True
                return False
            return int(state["episodes"]) < task.episodes

    model.learn(total_timesteps=10**9, callback=Callback())
    if state["cancelled"]:
        raise errors.Cancelled("training cancelled")
    buffer = io.BytesIO()
    model.save(buffer)
    return Trained(
        model_zip=buffer.getvalue(),
        timesteps=int(model.num_timesteps),
        hyperparameters={"n_steps": N_STEPS, "net_arch": NET_ARCH, "env": "CartPole-v1"},
        library_versions={
            "stable_baselines3": stable_baselines3.__version__,
            "torch": torch.__version__,
        },
        training_seconds=time.monotonic() - started,
    )


def _episode_length(env: Any, act: Callable[[Any], int], seed: int) -> float:
    observation, _ = env.reset(seed=seed)
    total = 0.0
    for _ in range(500):
        observation, reward, terminated, truncated, _ = env.step(act(observation))
        total += float(reward)
        if terminated or truncated:
            break
    return total


def cartpole_evaluate(household: Household, model_zip: bytes, lives: int, seed: int) -> Evaluation:
    """The policy against a random policy on the same ``lives`` seeded episodes."""
    import gymnasium as gym
    import torch

    with zipfile.ZipFile(io.BytesIO(model_zip)) as archive:
        weights = torch.load(
            io.BytesIO(archive.read("policy.pth")), map_location="cpu", weights_only=True
        )
    model = _ppo(0)
    model.policy.load_state_dict(weights)
    env = gym.make("CartPole-v1")
    rng = np.random.default_rng(seed)
    seeds = [int(s) for s in rng.integers(0, 2**31 - 1, size=lives)]

    def policy(observation: Any) -> int:
        action, _ = model.predict(observation, deterministic=True)
        return int(action)

    def random_policy(observation: Any) -> int:
        return int(rng.integers(0, 2))

    ours = np.array([_episode_length(env, policy, s) for s in seeds])
    theirs = np.array([_episode_length(env, random_policy, s) for s in seeds])
    diff = ours - theirs
    se = float(diff.std(ddof=1) / math.sqrt(lives)) if lives > 1 else 0.0
    improvement = float(diff.mean())
    return Evaluation(
        score=float(ours.mean()),
        held_out_lives=lives,
        best_baseline="random",
        improvement=improvement,
        improvement_standard_error=se,
        passed_gate=improvement > 2 * se,
        strategies=[
            Score("rl_policy", float(ours.mean()), float(ours.std() / math.sqrt(lives)), 1.0, 0.0),
            Score("random", float(theirs.mean()), float(theirs.std() / math.sqrt(lives)), 1.0, 0.0),
        ],
    )


def cartpole_warm_up() -> None:
    import torch

    torch.set_num_threads(1)
    import gymnasium  # noqa: F401
    import stable_baselines3  # noqa: F401


# A job with this seed makes its worker process die mid-job (as the OOM killer would).
CRASH_SEED = 666
# A job with this seed ignores should_stop (as a trainer stuck in native code would).
STUBBORN_SEED = 777


def cartpole_or_crash_train(
    task: TrainingTask, on_progress: Callable[[ProgressLike], None], should_stop: Callable[[], bool]
) -> Trained:
    """``cartpole_train``, except for the seeds that crash or ignore cancellation."""
    if task.seed == STUBBORN_SEED:
        for step in range(600):
            on_progress(Progress(step + 1, step + 1, 0.0, step * 0.1))
            time.sleep(0.1)
    if task.seed == CRASH_SEED:
        import os

        on_progress(Progress(1, 10, 0.0, 0.01))
        time.sleep(0.5)
        os._exit(9)
    return cartpole_train(task, on_progress, should_stop)


CARTPOLE_RUNNER = TrainAndEvaluate(trainer=cartpole_or_crash_train, evaluator=cartpole_evaluate)


def example_household_proto(retirement_spending: float = 40000.0) -> Any:
    """The example household as a message; the spending target varies its hash."""
    from glidepath.household.convert import household_from_json, household_to_proto

    household = household_from_json((ROOT / "examples" / "household.json").read_text())
    message = household_to_proto(household)
    message.goals.retirement_spending = retirement_spending
    return message


def free_port() -> int:
    """A loopback port free now (for a server the test starts later on purpose)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
