"""The trained policy in the world of lifetimes: the bar, measured. Prints, never asserts.

For the three example households (``examples/household.json``, the single adult;
``examples/couple.json``; ``examples/retiree.json``), all under mortality, at 1,000 and
20,000 training episodes, 3 training seeds each:

- the trained policy against the best of every other strategy (the rules, "floor and
  upside" and the dynamic-programming optimum's own policy) on the household's held-out
  evaluation lives (``evaluation_seed_for_hash``), with the paired standard error;
- the gated recommendation (the policy only when it beats the best other by more than 2
  paired SE, else that best other) as a share of the DP optimum's objective CE (its value
  function's CE, exact on the DP's grid). The bar: >= 99.5 % on every household.
- the policy against the base rule it corrects ("floor and upside"), the learning signal.

Not a ``bench_*`` script (``make bench`` does not run it): 18 trainings take about 15
minutes on one core. Run: ``python benchmarks/rl_lifetimes_bar.py [--episodes 1000]``.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import torch

from glidepath.engine.optimum import solve_optimum
from glidepath.household.canonical import household_hash
from glidepath.household.convert import household_from_json
from glidepath.household.model import Household, Lifetimes
from glidepath.rl.evaluation import evaluate, evaluation_seed_for_hash
from glidepath.rl.training import TrainingSpec, train

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ("household", "couple", "retiree")
LIVES = 20_000
SEEDS = (1, 2, 3)


def example(name: str) -> Household:
    household = household_from_json((ROOT / "examples" / f"{name}.json").read_text())
    if household.lifetimes is not Lifetimes.MORTALITY:
        raise SystemExit(f"examples/{name}.json is not under mortality")
    return household


def one_run(household: Household, episodes: int, seed: int, optimum_ce: float) -> str:
    began = time.perf_counter()
    model = train(TrainingSpec(household, episodes, seed), lambda _: None, lambda: False)
    seconds = time.perf_counter() - began
    lives_seed = evaluation_seed_for_hash(household_hash(household))
    ev = evaluate(household, model.model_zip, lives=LIVES, seed=lives_seed)
    recommended = ev.score if ev.passed_gate else ev.by_name(ev.best_baseline).ce_consumption
    rule = ev.versus_rule
    return (
        f"  {episodes:>6,} ep seed {seed}: train {seconds:5.1f} s · policy {ev.score:8,.0f} · "
        f"vs best other ({ev.best_baseline}) {ev.improvement:+7,.0f} ± "
        f"{ev.improvement_standard_error:4,.0f} · vs {rule.baseline} {rule.difference:+7,.0f} ± "
        f"{rule.standard_error:4,.0f} · gate {'passed' if ev.passed_gate else 'not passed'} · "
        f"recommended {recommended / optimum_ce:7.2%} of the DP optimum"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, nargs="*", default=[1_000, 20_000])
    parser.add_argument("--examples", nargs="*", default=list(EXAMPLES))
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=UserWarning)
    for name in args.examples:
        household = example(name)
        optimum_ce = solve_optimum(household).certainty_equivalent
        print(f"examples/{name}.json: DP optimum's objective CE {optimum_ce:,.0f} a year")
        for episodes in args.episodes:
            for seed in SEEDS:
                print(one_run(household, episodes, seed, optimum_ce), flush=True)


if __name__ == "__main__":
    main()
