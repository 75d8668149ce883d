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
``--full`` the issue's (1,000 and 20,000 episodes, 3 seeds each: over an hour).
"""

from __future__ import annotations

import argparse
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


@dataclass
class Outcome:
    """What the bars need from one household."""

    rule_share: float | None = None  # best rule / reference
    exact: bool = False
    recommended_shares: tuple[float, ...] = ()  # gated recommendation / reference
    beats_simplified_at_20k: tuple[bool, ...] = ()


def row(
    name: str, household: Household, episodes: list[int], seeds: list[int], lives: int
) -> tuple[str, Outcome]:
    reference = reference_of(household)
    outcome = Outcome(exact=reference.exact)
    lives_seed = evaluation_seed_for_hash(household_hash(household))
    lines: list[str] = []
    rule_line = ""
    for budget in episodes:
        for seed in seeds:
            began = time.perf_counter()
            model = train(TrainingSpec(household, budget, seed), lambda _: None, lambda: False)
            seconds = time.perf_counter() - began
            ev = evaluate(household, model.model_zip, lives=lives, seed=lives_seed)
            ces = {s.strategy: s.ce_consumption for s in ev.strategies}
            ref_ce = ces.get(reference.name)
            kind = "exact" if reference.exact else "simplified"

            def share(ce: float, ref: float | None = ref_ce, label: str = kind) -> str:
                return f"{ce / ref:7.2%} of {label}" if ref else "no reference"

            if not rule_line:
                rules = {k: v for k, v in ces.items() if k not in (*REFERENCES, "rl_policy")}
                best_rule = max(rules, key=lambda k: rules[k])
                ref_text = (
                    f"{reference.name} ({kind}, solved in {reference.solve_seconds:.2f} s)"
                    if reference.name
                    else "none"
                )
                rule_line = (
                    f"  best rule {best_rule} {rules[best_rule]:,.0f} "
                    f"({share(rules[best_rule])}); reference: {ref_text}"
                )
                outcome.rule_share = rules[best_rule] / ref_ce if ref_ce else None
            recommended = ev.score if ev.passed_gate else ces[ev.best_baseline]
            if ref_ce:
                outcome.recommended_shares += (recommended / ref_ce,)
            if budget >= 20_000 and reference.name == SIMPLIFIED:
                beats = ev.passed_gate  # beat the best other, hence the simplified one
                outcome.beats_simplified_at_20k += (beats,)
            chosen = "rl_policy" if ev.passed_gate else ev.best_baseline
            lines.append(
                f"  {budget:>6,} ep seed {seed}: train {seconds:5.1f} s · policy {ev.score:9,.0f} "
                f"({share(ev.score)}) · vs best other ({ev.best_baseline}) "
                f"{ev.improvement:+8,.0f} ± {ev.improvement_standard_error:5,.0f} · "
                f"recommended {chosen} ({share(recommended)})"
            )
    return "\n".join([f"{name}: {household.name}", rule_line, *lines]), outcome


def bars(outcomes: list[Outcome]) -> list[str]:
    """The three bars, each with its count, as measured (never loosened)."""
    with_ref = [o for o in outcomes if o.rule_share is not None]
    broken = sum(1 for o in with_ref if o.rule_share is not None and o.rule_share <= 0.98)
    exact = [o for o in outcomes if o.exact]
    reached = sum(1 for o in exact if o.recommended_shares and min(o.recommended_shares) >= 0.99)
    simplified = [o for o in outcomes if o.beats_simplified_at_20k]
    beaten = sum(
        1 for o in simplified if sum(o.beats_simplified_at_20k) * 2 > len(o.beats_simplified_at_20k)
    )
    return [
        f"Bar 1, the best rule >= 2 % below the reference: {broken} of {len(with_ref)} "
        f"households with a reference (needs at least half of the zoo, {len(outcomes)})",
        f"Bar 2, the gated recommendation >= 99 % of an exact reference: {reached} of {len(exact)}",
        f"Bar 3, the policy at 20,000 episodes beats a simplified reference by > 2 SE: "
        f"{beaten} of {len(simplified)} (needs half; 20,000-episode runs only)",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="1,000 and 20,000 episodes, 3 seeds")
    parser.add_argument("--episodes", type=int, nargs="*", default=None)
    parser.add_argument("--seeds", type=int, nargs="*", default=None)
    parser.add_argument("--lives", type=int, default=20_000)
    parser.add_argument("--households", nargs="*", default=None, help="zoo file stems")
    args = parser.parse_args()
    episodes = args.episodes or ([1_000, 20_000] if args.full else [1_000])
    seeds = args.seeds or ([1, 2, 3] if args.full else [1])
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=UserWarning)
    files = sorted(ZOO.glob("*.json"))
    if args.households:
        files = [f for f in files if f.stem in set(args.households)]
    print(
        f"The zoo: {len(files)} households, {episodes} episodes x seeds {seeds}, "
        f"{args.lives:,} held-out lives each"
    )
    outcomes = []
    for path in files:
        household = household_from_json(path.read_text())
        text, outcome = row(path.stem, household, episodes, seeds, args.lives)
        print(text, flush=True)
        outcomes.append(outcome)
    print("\n".join(bars(outcomes)))


if __name__ == "__main__":
    main()
