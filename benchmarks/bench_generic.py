"""The generic model of the default profile family: zero-shot and fine-tuned. Prints, never asserts.

The model judged is the shipped one (the single ``models/shipped/rl_model_*.zip``),
or ``--model PATH``, or for development one trained here (``--train-generic N``, N lives,
a multiple of the 256-life batch). Its households are held out from its training:

- ``--households`` (default 24) drawn from the family (``glidepath/rl/families/
  default.json``) from ``--held-out-seed`` (default 12) under the spawn key "HOLD", as
  ``make generic-model`` draws the households its metadata scores
  (``glidepath/rl/generic_evaluation.py``), never the training batches' key
  (``glidepath.rl.generic.FAMILY_SPAWN_KEY``); where the model's training seed and
  budget are known (its metadata file, or ``--train-generic``) the run checks that no
  training batch drew from the held-out stream. A different count draws different
  households (the draws are made whole);
- plus the zoo households (``benchmarks/zoo/``) that lie inside the family.

For each household, on its hash's held-out evaluation lives (``evaluate``, common random
numbers for every model and rule): (a) the generic model zero-shot; (b) a profile model
trained for that household alone from scratch (1,000 episodes), with its training time;
(c) 200 episodes of fine-tuning from the generic model, with its time; the best rule.
Table 1 is the zero-shot bar (objective CE >= 99 % of the 1,000-episode profile model's
on average, >= 97 % at worst), Table 2 the fine-tuning bar (fine-tuned >= scratch on at
least 80 % of the households, in at most a third of the total time). Every time is also
given as a ratio to a time measured in the same run: the scratch training's, and the
same PPO recipe learning 1,000 lives on a trivial environment of the same shapes.

The generic and fine-tuned models' CEs come from one run of the three policies on the
scratch model's ``evaluate`` lives (paired differences, and the rules and the optimum
simulated once, not three times); the scratch model's CE there is checked against its
``evaluate`` score, which shows the lives are the same.

One process, one torch thread (the machine's two cores are shared; the trainings are
single-threaded by design). The default protocol (24 sampled + 7 zoo households, 10,000
lives each) takes about 25 s a household on 2 idle cores (measured under load and scaled
by CPU time: 1,000-episode training about 10 s, fine-tuning about 2 s, the evaluations
about 13 s): about 13 minutes, some 20 on a loaded machine.
``--households 2 --no-zoo --train-generic 512 --lives 2000`` is a smoke run of about a
minute and a half.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from glidepath.engine.cashflows import build_schedule
from glidepath.engine.objective import Objective
from glidepath.engine.run import SimulationSettings, simulate
from glidepath.household.canonical import canonicalize, household_hash
from glidepath.household.convert import household_from_json
from glidepath.household.model import Household
from glidepath.rl.evaluation import Evaluation, evaluate, evaluation_seed_for_hash
from glidepath.rl.family import (
    DEFAULT_FAMILY_PATH,
    ProfileFamily,
    contains,
    family_hash,
    load_family,
)
from glidepath.rl.gate import OPTIMUM, paired_difference
from glidepath.rl.generic import GenericSpec, batch_sample_seed, train_generic
from glidepath.rl.generic_evaluation import held_out_households, held_out_sample_seed
from glidepath.rl.model_io import load_policy
from glidepath.rl.policy_strategy import POLICY_STRATEGY_NAME, PolicyStrategy
from glidepath.rl.recipe import RECIPE
from glidepath.rl.training import TrainingSpec, make_ppo, plan_rollouts, torch_threads, train
from glidepath.rl.vec_env import BatchVecEnv, LivesVecEnv

ROOT = Path(__file__).resolve().parent.parent
ZOO = ROOT / "benchmarks" / "zoo"
SHIPPED = ROOT / "models" / "shipped"

#: make generic-model's evaluation seed: the same households its metadata scores.
DEFAULT_HELD_OUT_SEED = 12


def held_out_check(held_out_seed: int, training: tuple[int, int, int] | None) -> str:
    """Whether a training (seed, lives, lives per batch) drew any batch from the held-out
    households' sampling seed (the batches' households come from that seed alone)."""
    if training is None:
        return "not checked (the model's training seed and budget are unknown)"
    seed, lives, batch = training
    drawn = {batch_sample_seed(seed, b) for b in range(lives // batch)}
    clash = held_out_sample_seed(held_out_seed) in drawn
    return (
        f"{'CLASH: a training batch drew these households!' if clash else 'no'} training batch "
        f"of {lives // batch} (seed {seed}) drew from the held-out sampling seed"
    )


#: The bars of docs/ladder.md (never loosened).
ZERO_SHOT_MEAN, ZERO_SHOT_WORST = 0.99, 0.97
FINE_TUNE_SHARE, FINE_TUNE_TIME = 0.80, 1 / 3
#: Not references: the best RULE is the best of the others without these.
REFERENCES = (OPTIMUM, "dp_simplified", POLICY_STRATEGY_NAME)


@dataclass(frozen=True)
class Row:
    """One household, every model on the same held-out lives."""

    name: str
    generic_ce: float
    scratch_ce: float
    scratch_seconds: float
    tuned_ce: float
    tuned_seconds: float
    best_rule: str
    best_rule_ce: float
    optimum_ce: float | None
    tuned_vs_scratch: tuple[float, float]  # paired (difference, SE)
    generic_vs_scratch: tuple[float, float]
    evaluate_seconds: float

    @property
    def zero_shot(self) -> float:
        return self.generic_ce / self.scratch_ce

    @property
    def reaches(self) -> bool:
        return self.tuned_ce >= self.scratch_ce


def held_out(family: ProfileFamily, n: int, seed: int, zoo: bool) -> list[tuple[str, Household]]:
    """The sampled households, then the zoo's that lie inside ``family`` (canonical)."""
    drawn = held_out_households(family, n, seed)
    out = [(f"family_{k + 1:02d}", h) for k, h in enumerate(drawn)]
    if zoo:
        for path in sorted(ZOO.glob("*.json")):
            h = canonicalize(household_from_json(path.read_text()))
            if contains(family, h):
                out.append((f"zoo:{path.stem}", h))
    return [(name, canonicalize(h)) for name, h in out]


def best_rule(ev: Evaluation) -> tuple[str, float]:
    rules = {s.strategy: s.ce_consumption for s in ev.strategies if s.strategy not in REFERENCES}
    name = max(rules, key=lambda k: rules[k])
    return name, rules[name]


@dataclass(frozen=True)
class Paired:
    """The three models of a household on the same lives, the policies alone."""

    generic_ce: float
    tuned_ce: float
    scratch_ce: float
    generic_vs_scratch: tuple[float, float]  # (difference, paired SE)
    tuned_vs_scratch: tuple[float, float]


def paired(household: Household, models: dict[str, bytes], lives: int, seed: int) -> Paired:
    """The generic, fine-tuned and scratch models (``models``' keys) in one run on the lives
    of ``seed``: the lives ``evaluate`` meets for that seed (the scenarios depend on the
    seed alone, so a policy's CE here is its ``evaluate`` score; :func:`judge` checks it on
    the scratch model), without the rules and the optimum a second and third time."""
    schedule = build_schedule(household)
    strategies = [
        PolicyStrategy(load_policy(z, household), schedule, name) for name, z in models.items()
    ]
    result = simulate(
        household,
        list(strategies),
        SimulationSettings(paths=lives, seed=seed, keep_path_utilities=True),
    )
    u = {m.name: m.path_utilities for m in result.strategies}
    ces = {m.name: m.certainty_equivalent.value for m in result.strategies}
    objective = Objective.for_schedule(schedule)
    generic, tuned, scratch = u["generic"], u["tuned"], u["scratch"]
    assert generic is not None and tuned is not None and scratch is not None
    return Paired(
        generic_ce=ces["generic"],
        tuned_ce=ces["tuned"],
        scratch_ce=ces["scratch"],
        generic_vs_scratch=paired_difference(objective, generic, scratch),
        tuned_vs_scratch=paired_difference(objective, tuned, scratch),
    )


def judge(
    name: str,
    household: Household,
    generic_zip: bytes,
    *,
    lives: int,
    seed: int,
    scratch_episodes: int,
    tune_episodes: int,
) -> Row:
    lives_seed = evaluation_seed_for_hash(household_hash(household))
    began = time.perf_counter()
    scratch = train(TrainingSpec(household, scratch_episodes, seed), lambda _: None, lambda: False)
    scratch_seconds = time.perf_counter() - began
    began = time.perf_counter()
    tuned = train(
        TrainingSpec(household, tune_episodes, seed, parent_model_zip=generic_zip),
        lambda _: None,
        lambda: False,
    )
    tuned_seconds = time.perf_counter() - began
    began = time.perf_counter()
    ev_scratch = evaluate(household, scratch.model_zip, lives=lives, seed=lives_seed)
    p = paired(
        household,
        {"generic": generic_zip, "tuned": tuned.model_zip, "scratch": scratch.model_zip},
        lives,
        lives_seed,
    )
    evaluate_seconds = time.perf_counter() - began
    if not np.isclose(p.scratch_ce, ev_scratch.score, rtol=1e-9):
        print(
            f"  {name}: WARNING the paired run met other lives ({p.scratch_ce:,.2f} vs "
            f"evaluate's {ev_scratch.score:,.2f}): its CEs are not evaluate's"
        )
    rule, rule_ce = best_rule(ev_scratch)
    return Row(
        name=name,
        generic_ce=p.generic_ce,
        scratch_ce=ev_scratch.score,
        scratch_seconds=scratch_seconds,
        tuned_ce=p.tuned_ce,
        tuned_seconds=tuned_seconds,
        best_rule=rule,
        best_rule_ce=rule_ce,
        optimum_ce=ev_scratch.optimum_ce_consumption,
        tuned_vs_scratch=p.tuned_vs_scratch,
        generic_vs_scratch=p.generic_vs_scratch,
        evaluate_seconds=evaluate_seconds,
    )


class TrivialVecEnv(BatchVecEnv):
    """The shapes of :class:`LivesVecEnv` (observation, action, horizon, lives) and nothing
    else: zero observations and rewards. What PPO alone costs, for the same-run ratio."""

    def __init__(
        self, n_envs: int, observation: spaces.Space[Any], action: spaces.Space[Any], years: int
    ) -> None:
        super().__init__(n_envs, observation, action)
        self._years = years
        self._t = 0
        self.lives_done = 0
        self.last_episode_rewards = None
        shape = observation.shape or ()
        self._obs = np.zeros((n_envs, *shape), dtype=np.float32)

    @property
    def horizon(self) -> int:
        return self._years

    def reset(self) -> NDArray[np.float32]:
        self._t = 0
        return self._obs.copy()

    def step_async(self, actions: NDArray[Any]) -> None:
        self._t += 1

    def step_wait(self) -> Any:
        done = self._t >= self._years
        if done:
            self._t = 0
            self.lives_done += self.num_envs
        dones = np.full(self.num_envs, done)
        rewards = np.zeros(self.num_envs, dtype=np.float32)
        return self._obs.copy(), rewards, dones, [{} for _ in range(self.num_envs)]


def trivial_seconds(household: Household, episodes: int, seed: int) -> tuple[float, int]:
    """Seconds of the recipe's PPO learning ``episodes`` lives on a trivial environment of
    ``household``'s shapes (its horizon), and that horizon."""
    began = time.perf_counter()
    with torch_threads(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for k, phase in enumerate(plan_rollouts(episodes, RECIPE)):
            real = LivesVecEnv(household, phase.n_envs, seed=seed)
            env = TrivialVecEnv(
                phase.n_envs, real.observation_space, real.action_space, real.horizon
            )
            model = make_ppo(env, seed + k, RECIPE, RECIPE.epochs_for(episodes))
            model.learn(total_timesteps=phase.n_envs * phase.rollouts * env.horizon)
    return time.perf_counter() - began, real.horizon


@dataclass(frozen=True)
class Generic:
    model_zip: bytes
    origin: str  # where it came from, for the printout
    training: tuple[int, int, int] | None  # (seed, lives, lives per batch) when known


def training_of(path: Path) -> tuple[int, int, int] | None:
    """(seed, lives, lives per batch) from the model's metadata file, when it has one."""
    sidecar = path.with_suffix(".json")
    try:
        meta = json.loads(sidecar.read_text())
        hyper = json.loads(meta["hyperparameters_json"])
        batch = int(hyper["households_per_batch"]) * int(hyper["lives_per_household"])
        return int(hyper["seed"]), int(meta["episodes"]), batch
    except (OSError, ValueError, KeyError, TypeError):
        return None


def generic_model(args: argparse.Namespace, family: ProfileFamily) -> Generic | None:
    """The model, where it came from and how it was trained; None when there is none."""
    if args.train_generic:
        began = time.perf_counter()
        model = train_generic(
            GenericSpec(family, args.train_generic, args.generic_seed),
            lambda _: None,
            lambda: False,
        )
        seconds = time.perf_counter() - began
        spec = GenericSpec(family, args.train_generic, args.generic_seed)
        return Generic(
            model.model_zip,
            f"trained here: {args.train_generic:,} lives, seed {args.generic_seed}, "
            f"{seconds:.1f} s",
            (args.generic_seed, args.train_generic, spec.batch),
        )
    if args.model:
        path = Path(args.model)
    else:
        found = sorted(SHIPPED.glob("rl_model_*.zip"))
        if len(found) != 1:
            return None
        path = found[0]
    expected = family_hash(family)
    note = "" if expected in path.name else f" (its name lacks the family's hash {expected}!)"
    training = training_of(path)
    known = f", {training[1]:,} lives, seed {training[0]}" if training else ""
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    return Generic(path.read_bytes(), f"{shown}{known}{note}", training)


def pct(x: float) -> str:
    return f"{x:.2%}"


def table_zero_shot(rows: list[Row], scratch_episodes: int) -> list[str]:
    lines = [
        f"| household | generic CE | profile-{scratch_episodes:,} CE | generic − profile (± SE) "
        "| generic % of profile | best rule (CE) | generic % of best rule | optimum CE |",
        "|---" * 8 + "|",
    ]
    for r in rows:
        d, se = r.generic_vs_scratch
        optimum = f"{r.optimum_ce:,.0f}" if r.optimum_ce else "—"
        lines.append(
            f"| {r.name} | {r.generic_ce:,.0f} | {r.scratch_ce:,.0f} | {d:+,.0f} ± {se:,.0f} "
            f"| {pct(r.zero_shot)} | {r.best_rule} ({r.best_rule_ce:,.0f}) "
            f"| {pct(r.generic_ce / r.best_rule_ce)} | {optimum} |"
        )
    shares = [r.zero_shot for r in rows]
    mean, worst = statistics.fmean(shares), min(shares)
    worst_row = min(rows, key=lambda r: r.zero_shot)
    versus_rule = [r.generic_ce / r.best_rule_ce for r in rows]
    met = mean >= ZERO_SHOT_MEAN and worst >= ZERO_SHOT_WORST
    lines += [
        f"Average {pct(mean)}, median {pct(statistics.median(shares))}, worst {pct(worst)} "
        f"({worst_row.name}) of the profile model; "
        f"vs the best rule: average {pct(statistics.fmean(versus_rule))}, "
        f"worst {pct(min(versus_rule))}",
        f"Bar (zero-shot >= {ZERO_SHOT_MEAN:.0%} on average and >= {ZERO_SHOT_WORST:.0%} at "
        f"worst): {'met' if met else 'NOT met'} ({pct(mean)} average, {pct(worst)} worst, "
        f"{len(rows)} households)",
    ]
    optimal = [r for r in rows if r.optimum_ce]
    if optimal:
        g = [r.generic_ce / (r.optimum_ce or 1) for r in optimal]
        p = [r.scratch_ce / (r.optimum_ce or 1) for r in optimal]
        lines.append(
            f"Where the optimum ran ({len(optimal)} households): generic "
            f"{pct(statistics.fmean(g))} of it on average (worst {pct(min(g))}), "
            f"profile model {pct(statistics.fmean(p))} (worst {pct(min(p))})"
        )
    return lines


def table_fine_tune(rows: list[Row], scratch_episodes: int, tune_episodes: int) -> list[str]:
    lines = [
        f"| household | fine-tuned-{tune_episodes} CE | scratch-{scratch_episodes:,} CE "
        "| fine-tuned − scratch (± SE) | reaches | fine-tune s | scratch s | time ratio |",
        "|---" * 8 + "|",
    ]
    for r in rows:
        d, se = r.tuned_vs_scratch
        lines.append(
            f"| {r.name} | {r.tuned_ce:,.0f} | {r.scratch_ce:,.0f} | {d:+,.0f} ± {se:,.0f} "
            f"| {'yes' if r.reaches else 'no'} | {r.tuned_seconds:.1f} | {r.scratch_seconds:.1f} "
            f"| {r.tuned_seconds / r.scratch_seconds:.2f} |"
        )
    reached = sum(r.reaches for r in rows)
    within = sum(r.tuned_vs_scratch[0] >= -2 * r.tuned_vs_scratch[1] for r in rows)
    share = reached / len(rows)
    tuned = sum(r.tuned_seconds for r in rows)
    scratch = sum(r.scratch_seconds for r in rows)
    ratio = tuned / scratch
    lines += [
        f"Fine-tuning reaches scratch's CE on {reached} of {len(rows)} households "
        f"({share:.0%}); within 2 paired SE of it or better on {within}",
        f"Bar (reaches on >= {FINE_TUNE_SHARE:.0%}): "
        f"{'met' if share >= FINE_TUNE_SHARE else 'NOT met'} ({share:.0%})",
        f"Bar (total time <= 1/3 of scratch's): {'met' if ratio <= FINE_TUNE_TIME else 'NOT met'} "
        f"({tuned:.1f} s / {scratch:.1f} s = {ratio:.2f}; the generic model's own training "
        "not counted: it is made once for the family)",
    ]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", help="a generic model zip (default: the shipped one)")
    parser.add_argument(
        "--train-generic",
        type=int,
        default=0,
        metavar="LIVES",
        help="train a generic model here on LIVES lives (development)",
    )
    parser.add_argument("--generic-seed", type=int, default=1)
    parser.add_argument("--households", type=int, default=24, help="households sampled")
    parser.add_argument("--held-out-seed", type=int, default=DEFAULT_HELD_OUT_SEED)
    parser.add_argument("--no-zoo", action="store_true", help="leave out the zoo's households")
    parser.add_argument("--lives", type=int, default=10_000, help="held-out lives each")
    parser.add_argument("--seed", type=int, default=1, help="seed of every profile training")
    parser.add_argument("--scratch-episodes", type=int, default=1_000)
    parser.add_argument("--fine-tune-episodes", type=int, default=200)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)

    family = load_family(DEFAULT_FAMILY_PATH)
    print(f"Family {family.name} ({family_hash(family)}), held-out seed {args.held_out_seed}")
    made = generic_model(args, family)
    if made is None:
        print(
            f"No generic model: {SHIPPED.relative_to(ROOT)} holds no single rl_model_*.zip; "
            "pass --model PATH or --train-generic LIVES. Nothing measured."
        )
        return 0
    generic_zip = made.model_zip
    print(f"Generic model: {made.origin}")
    print(f"Held-out check: {held_out_check(args.held_out_seed, made.training)}")
    households = held_out(family, args.households, args.held_out_seed, not args.no_zoo)
    zoo = sum(name.startswith("zoo:") for name, _ in households)
    print(
        f"{len(households)} held-out households ({args.households} sampled, {zoo} from the zoo "
        f"inside the family), {args.lives:,} lives each; profile trainings seed {args.seed}"
    )
    if not households:
        return 0
    trivial, horizon = trivial_seconds(households[0][1], args.scratch_episodes, args.seed)

    rows: list[Row] = []
    began = time.perf_counter()
    for name, household in households:
        r = judge(
            name,
            household,
            generic_zip,
            lives=args.lives,
            seed=args.seed,
            scratch_episodes=args.scratch_episodes,
            tune_episodes=args.fine_tune_episodes,
        )
        rows.append(r)
        print(
            f"  {name}: generic {r.generic_ce:,.0f} · scratch {r.scratch_ce:,.0f} "
            f"({r.scratch_seconds:.1f} s) · fine-tuned {r.tuned_ce:,.0f} "
            f"({r.tuned_seconds:.1f} s) · best rule {r.best_rule} {r.best_rule_ce:,.0f} · "
            f"evaluations {r.evaluate_seconds:.1f} s",
            flush=True,
        )
    total = time.perf_counter() - began

    print("\nTable 1: the generic model zero-shot vs a profile model of each household")
    print("\n".join(table_zero_shot(rows, args.scratch_episodes)))
    print("\nTable 2: fine-tuning the generic model vs training from scratch")
    print("\n".join(table_fine_tune(rows, args.scratch_episodes, args.fine_tune_episodes)))
    first = rows[0]
    print(
        f"\nSame-run reference: the recipe's PPO on a trivial environment of the same shapes "
        f"({args.scratch_episodes:,} lives, {horizon}-year horizon of {first.name}): "
        f"{trivial:.1f} s; {first.name}'s scratch training {first.scratch_seconds:.1f} s "
        f"({first.scratch_seconds / trivial:.2f}x), fine-tuning {first.tuned_seconds:.1f} s "
        f"({first.tuned_seconds / trivial:.2f}x)"
    )
    print(
        f"Protocol: {total:.0f} s for {len(rows)} households "
        f"({total / len(rows):.1f} s each: trainings "
        f"{statistics.fmean(r.scratch_seconds + r.tuned_seconds for r in rows):.1f} s, "
        f"evaluations {statistics.fmean(r.evaluate_seconds for r in rows):.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
