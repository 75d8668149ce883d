"""Where rules break: every household of ``benchmarks/zoo/``, one row each. Prints, never asserts.

For each household, on its hash's 20,000 held-out evaluation lives (common random
numbers for every strategy):

- the best rule: name, objective CE, and its share of the reference;
- the reference: the exact dynamic-programming optimum where the household has one
  (with its solve time), otherwise the simplified one (``dp_simplified``) where it
  exists, otherwise none. A simplified reference is a lower bound on what is
  achievable, never "the optimum": its shares are marked "simplified";
- the trained policy at each budget and seed: CE, paired difference from the best
  non-RL strategy (the reference included) with its standard error, share of the
  reference, and the gated recommendation (the policy only when it beats that best
  other by more than 2 paired SE).

The bars it reports (never loosened): on at least half of the zoo the best rule is at
least 2 % below the reference; the gated recommendation reaches 99 % of an exact
reference wherever one exists; where only a simplified reference exists, the policy at
20,000 episodes beats it by more than 2 paired SE on at least half of those households.

``make bench`` runs the quick protocol (1,000 episodes, one seed: about 10 minutes);
``--full`` the full one (1,000 and 20,000 episodes, 3 seeds each: over an hour).
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from glidepath.engine.optimum import optimum_available, simplified_strategy, solve_optimum
from glidepath.engine.strategies import simplified_applies
from glidepath.household.canonical import household_hash
from glidepath.household.convert import household_from_json
from glidepath.household.model import Household
from glidepath.rl.evaluation import evaluate, evaluation_seed_for_hash
from glidepath.rl.gate import OPTIMUM
from glidepath.rl.training import TrainingSpec, train

ZOO = Path(__file__).resolve().parent / "zoo"
SIMPLIFIED = "dp_simplified"
REFERENCES = (OPTIMUM, SIMPLIFIED)


@dataclass(frozen=True)
class Reference:
    name: str  # "optimum", "dp_simplified" or "" (none)
    exact: bool
    solve_seconds: float


def reference_of(household: Household) -> Reference:
    available, _ = optimum_available(household)
    if available:
        began = time.perf_counter()
        solve_optimum(household)
        return Reference(OPTIMUM, True, time.perf_counter() - began)
    if simplified_applies(household)[0]:
        began = time.perf_counter()
        simplified_strategy(household)
        return Reference(SIMPLIFIED, False, time.perf_counter() - began)
    return Reference("", False, 0.0)


@dataclass(frozen=True)
class Run:
    """One training (budget, seed) judged on the household's held-out lives."""

    budget: int
    seed: int
    train_seconds: float
    policy_ce: float
    best_other: str  # the best non-RL strategy (the reference included)
    difference: float  # policy - best other, paired on the same lives
    standard_error: float
    recommended: str  # the gated recommendation
    recommended_ce: float
    versus_simplified: tuple[float, float] | None  # (difference, SE) vs dp_simplified
    others: dict[str, float]  # every non-RL strategy's CE on the same lives


@dataclass(frozen=True)
class Row:
    """What one household's table row and the bars need."""

    name: str
    best_rule: str
    best_rule_ce: float
    reference: Reference
    reference_ce: float | None
    runs: tuple[Run, ...]

    def share(self, ce: float) -> str:
        kind = "exact" if self.reference.exact else "simplified"
        return f"{ce / self.reference_ce:.2%} of {kind}" if self.reference_ce else "no reference"


def judge(household: Household, reference: Reference, budget: int, seed: int, lives: int) -> Run:
    lives_seed = evaluation_seed_for_hash(household_hash(household))
    began = time.perf_counter()
    model = train(TrainingSpec(household, budget, seed), lambda _: None, lambda: False)
    seconds = time.perf_counter() - began
    ev = evaluate(household, model.model_zip, lives=lives, seed=lives_seed)
    ces = {s.strategy: s.ce_consumption for s in ev.strategies}
    chosen = "rl_policy" if ev.passed_gate else ev.best_baseline
    simplified = None
    if reference.name == SIMPLIFIED:
        versus = ev.versus(SIMPLIFIED)
        simplified = (versus.difference, versus.standard_error)
    return Run(
        budget=budget,
        seed=seed,
        train_seconds=seconds,
        policy_ce=ev.score,
        best_other=ev.best_baseline,
        difference=ev.improvement,
        standard_error=ev.improvement_standard_error,
        recommended=chosen,
        recommended_ce=ev.score if ev.passed_gate else ces[ev.best_baseline],
        versus_simplified=simplified,
        others={k: v for k, v in ces.items() if k != "rl_policy"},
    )


def row(name: str, household: Household, episodes: list[int], seeds: list[int], lives: int) -> Row:
    reference = reference_of(household)
    runs = tuple(
        judge(household, reference, budget, seed, lives) for budget in episodes for seed in seeds
    )
    ces = runs[0].others  # the same held-out lives in every run: the rules' CEs are the same
    rules = {k: v for k, v in ces.items() if k not in REFERENCES}
    best_rule = max(rules, key=lambda k: rules[k])
    return Row(name, best_rule, rules[best_rule], reference, ces.get(reference.name), runs)


def row_of_file(path: Path, episodes: list[int], seeds: list[int], lives: int) -> Row:
    """One household from its file, in a worker process (one torch thread each)."""
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=UserWarning)
    return row(path.stem, household_from_json(path.read_text()), episodes, seeds, lives)


def detail(r: Row) -> str:
    lines = [
        f"{r.name}: best rule {r.best_rule} {r.best_rule_ce:,.0f} ({r.share(r.best_rule_ce)}); "
        f"reference: {reference_text(r.reference)}"
    ]
    for run in r.runs:
        versus = ""
        if run.versus_simplified is not None:
            d, se = run.versus_simplified
            versus = f" · vs dp_simplified {d:+,.0f} ± {se:,.0f}"
        lines.append(
            f"  {run.budget:>6,} ep seed {run.seed}: train {run.train_seconds:5.1f} s · policy "
            f"{run.policy_ce:9,.0f} ({r.share(run.policy_ce)}) · vs best other "
            f"({run.best_other}) {run.difference:+8,.0f} ± {run.standard_error:5,.0f}{versus} · "
            f"recommended {run.recommended} ({r.share(run.recommended_ce)})"
        )
    return "\n".join(lines)


def reference_text(reference: Reference) -> str:
    if not reference.name:
        return "none"
    kind = "exact" if reference.exact else "simplified"
    return f"{reference.name} ({kind}, solved in {reference.solve_seconds:.2f} s)"


def table(rows: list[Row], episodes: list[int]) -> str:
    """The zoo table (docs/zoo.md): one row per household, the seeds of a budget in one cell."""
    budgets = " | ".join(
        f"policy, {b:,} episodes: CE, − best other (± SE), share" for b in episodes
    )
    lines = [
        f"| household | best rule (CE, share of the reference) | reference | {budgets} "
        "| gated recommendation |",
        "|---" * (4 + len(episodes)) + "|",
    ]
    for r in rows:
        cells = []
        for budget in episodes:
            runs = [run for run in r.runs if run.budget == budget]
            cells.append(
                "; ".join(
                    f"{run.policy_ce:,.0f}, {run.difference:+,.0f} ± {run.standard_error:,.0f} "
                    f"vs {run.best_other}, {r.share(run.policy_ce)}"
                    for run in runs
                )
            )
        chosen = sorted({run.recommended for run in r.runs})
        worst = min(r.runs, key=lambda run: run.recommended_ce)
        recommended = f"{', '.join(chosen)} (worst {r.share(worst.recommended_ce)})"
        lines.append(
            f"| {r.name} | {r.best_rule} {r.best_rule_ce:,.0f} ({r.share(r.best_rule_ce)}) "
            f"| {reference_text(r.reference)} | {' | '.join(cells)} | {recommended} |"
        )
    return "\n".join(lines)


def bars(rows: list[Row]) -> list[str]:
    """The three bars, each with its count, as measured (never loosened)."""
    with_ref = [r for r in rows if r.reference_ce]
    broken = sum(1 for r in with_ref if r.reference_ce and r.best_rule_ce <= 0.98 * r.reference_ce)
    exact = [r for r in rows if r.reference.exact and r.reference_ce]
    reached = sum(
        1
        for r in exact
        if r.reference_ce and min(run.recommended_ce for run in r.runs) >= 0.99 * r.reference_ce
    )
    simplified = [r for r in rows if any(run.budget >= 20_000 for run in r.runs)]
    simplified = [r for r in simplified if r.reference.name == SIMPLIFIED]

    def beaten(r: Row) -> bool:
        wins = [
            run.versus_simplified[0] > 2 * run.versus_simplified[1]
            for run in r.runs
            if run.budget >= 20_000 and run.versus_simplified is not None
        ]
        return sum(wins) * 2 > len(wins)

    return [
        f"Bar 1, the best rule >= 2 % below the reference: {broken} of {len(with_ref)} "
        f"households with a reference (needs at least half of the zoo, {len(rows)})",
        f"Bar 2, the gated recommendation >= 99 % of an exact reference: {reached} of {len(exact)}",
        f"Bar 3, the policy at 20,000 episodes beats dp_simplified by > 2 paired SE (most "
        f"seeds): {sum(map(beaten, simplified))} of {len(simplified)} (needs half; "
        "20,000-episode runs only)",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="1,000 and 20,000 episodes, 3 seeds")
    parser.add_argument("--episodes", type=int, nargs="*", default=None)
    parser.add_argument("--seeds", type=int, nargs="*", default=None)
    parser.add_argument("--lives", type=int, default=20_000)
    parser.add_argument("--households", nargs="*", default=None, help="zoo file stems")
    parser.add_argument("--jobs", type=int, default=1, help="households solved in parallel")
    args = parser.parse_args()
    episodes = args.episodes or ([1_000, 20_000] if args.full else [1_000])
    seeds = args.seeds or ([1, 2, 3] if args.full else [1])
    files = sorted(ZOO.glob("*.json"))
    if args.households:
        files = [f for f in files if f.stem in set(args.households)]
    print(
        f"The zoo: {len(files)} households, {episodes} episodes x seeds {seeds}, "
        f"{args.lives:,} held-out lives each, {args.jobs} in parallel"
    )
    work = functools.partial(row_of_file, episodes=episodes, seeds=seeds, lives=args.lives)
    rows: list[Row] = []
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        for r in pool.imap(work, files):
            print(detail(r), flush=True)
            rows.append(r)
    print(table(rows, episodes))
    print("\n".join(bars(rows)))


if __name__ == "__main__":
    main()
