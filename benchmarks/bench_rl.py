"""Reinforcement learning: training speed and learning quality. Prints, never asserts.

Speed (example household, ``examples/household.json``, one thread):
- wall time of ``train`` for 1,000 and 20,000 episodes (targets <= 10 s and <= 60 s);
- environment steps per second (simulated life-years stepped by the numpy VecEnv).

Quality, for the Merton case and the example household, at 1,000 and 20,000 episodes,
3 training seeds each: every policy is evaluated on held-out lives (an evaluation seed
derived from the training seed under its own SeedSequence spawn key, as the training
service does), against every baseline and the dynamic-programming optimum, on common
random numbers; differences carry paired standard errors. The learning bar (docs/benchmarks.md):
3 seeds of 3 beat the Merton-style rule by > 2 paired SE, and on average they close at
least half the gap between that rule and the optimum.

``--quick``: one seed, the example household only, 5,000 held-out lives (a smoke run).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
import torch

from glidepath.household.model import Household
from glidepath.rl.evaluation import Evaluation, evaluate
from glidepath.rl.households import example_household, merton_case
from glidepath.rl.lives import Reward
from glidepath.rl.training import TrainingSpec, train
from glidepath.rl.vec_env import LivesVecEnv

EVALUATION_SPAWN_KEY = 0x4556414C  # the training service's key ("EVAL")


def evaluation_seed(training_seed: int) -> int:
    sequence = np.random.SeedSequence(training_seed, spawn_key=(EVALUATION_SPAWN_KEY,))
    return int(sequence.generate_state(1, dtype=np.uint32)[0])


def env_steps_per_second(
    household: Household, reward: Reward, n_envs: int = 256, years: int = 1000
) -> float:
    env = LivesVecEnv(household, n_envs, seed=0, reward=reward, deferred=True)
    env.reset()
    actions = np.zeros((n_envs, 2), dtype=np.float32)
    began = time.perf_counter()
    for _ in range(years):
        env.step(actions)
    return n_envs * years / (time.perf_counter() - began)


def train_once(household: Household, episodes: int, seed: int) -> tuple[bytes, float]:
    began = time.perf_counter()
    model = train(TrainingSpec(household, episodes, seed), lambda _: None, lambda: False)
    return model.model_zip, time.perf_counter() - began


def speed(household: Household) -> None:
    print("-- speed (example household, torch threads = 1)")
    for reward, what in (
        (Reward.RULE_ADVANTAGE, "training reward: rule advantage, lockstep continuations"),
        (Reward.OBJECTIVE, "plain objective reward, no continuations"),
    ):
        rate = env_steps_per_second(household, reward)
        print(f"env steps/s, 256 lives ({what}): {rate:,.0f}")
    train_once(household, 64, seed=0)  # warm-up: what a warm training worker has paid
    for episodes, target in ((1_000, 10.0), (20_000, 60.0)):
        _, seconds = train_once(household, episodes, seed=0)
        print(f"train {episodes:>6,} episodes: {seconds:6.1f} s  (target <= {target:.0f} s)")


def strategy_table(result: Evaluation) -> None:
    print(
        f"   {'strategy':<18} {'CE':>10} {'± SE':>7} {'of exact opt':>12}"
        f" {'success':>8} {'goal':>6}"
    )
    for s in result.strategies:
        share = f"{100 * s.ce_share_of_optimum:11.3f}%" if s.ce_share_of_optimum else "         n/a"
        print(
            f"   {s.strategy:<18} {s.ce_consumption:10,.0f} {s.ce_standard_error:7.1f} {share}"
            f" {s.success_probability:8.3f} {s.capital_goal_probability:6.3f}"
        )


def quality(
    name: str, household: Household, budgets: tuple[int, ...], seeds: tuple[int, ...], lives: int
) -> None:
    for episodes in budgets:
        print(f"-- quality: {name}, {episodes:,} episodes, {lives:,} held-out lives per seed")
        print(
            f"   {'seed':>4} {'train s':>7} {'policy CE':>10} {'vs Merton':>16} {'gap':>7}"
            f" {'closed':>7} {'best baseline':>18} {'vs best':>16} gate"
        )
        beats, closed = 0, []
        for seed in seeds:
            model_zip, seconds = train_once(household, episodes, seed)
            result = evaluate(household, model_zip, lives=lives, seed=evaluation_seed(seed))
            rule = result.versus_rule
            merton = result.by_name("merton").ce_consumption
            gap = (result.optimum_ce_consumption or float("nan")) - merton
            # No gap to close where the rule is the optimum (the Merton case): n/a.
            meaningful = gap > max(1.0, 1e-4 * merton)
            share_closed = rule.difference / gap if meaningful else float("nan")
            beats += rule.difference > 2 * rule.standard_error
            if meaningful:
                closed.append(share_closed)
            print(
                f"   {seed:>4} {seconds:7.1f} {result.score:10,.1f}"
                f" {rule.difference:+8.1f} ± {rule.standard_error:5.1f} {gap:7.1f}"
                f" {share_closed:7.2f} {result.best_baseline:>18}"
                f" {result.improvement:+8.1f} ± {result.improvement_standard_error:5.1f}"
                f" {'PASS' if result.passed_gate else 'fail'}"
            )
            if seed == seeds[0]:
                last = result
        mean_closed = statistics.fmean(closed) if closed else float("nan")
        print(
            f"   => beat Merton by > 2 SE: {beats}/{len(seeds)}; mean share of the rule-optimum"
            f" gap closed: {mean_closed:.2f} (bar: {len(seeds)}/{len(seeds)} and >= 0.50;"
            " nan: the rule is the optimum here, no gap to close)"
        )
        print(f"   strategies on seed {seeds[0]}'s held-out lives:")
        strategy_table(last)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed, example household only")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    example = example_household()
    speed(example)
    if args.quick:
        quality("example household", example, (1_000, 20_000), (1,), 5_000)
        return
    for name, household in (("Merton case", merton_case()), ("example household", example)):
        quality(name, household, (1_000, 20_000), (1, 2, 3), 20_000)


if __name__ == "__main__":
    main()
