"""Lifetimes on the example households: what each strategy gives. Prints, never asserts.

``examples/couple.json`` (mortality, survivor pension, floor 60 %) and
``examples/household.json`` (no lifetimes field: the fixed horizon), 20,000 paths,
seed 1: the objective's CE, the spending-alone CE, success, ruin while alive, years
lived, years without money, P(ever below the floor), the median bequest.
"""

from __future__ import annotations

import time
from pathlib import Path

from glidepath.engine import SimulationSettings, simulate
from glidepath.engine.strategies import STRATEGIES
from glidepath.household.convert import household_from_json

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    names = [n for n in STRATEGIES if n != "optimum"]
    for example in ("couple", "household"):
        household = household_from_json((ROOT / "examples" / f"{example}.json").read_text())
        began = time.perf_counter()
        result = simulate(household, names, SimulationSettings(paths=20_000, seed=1))
        print(
            f"examples/{example}.json ({household.lifetimes.value}), 20,000 paths: "
            f"{time.perf_counter() - began:.2f} s"
        )
        print(
            f"{'strategy':18} {'CE':>8} {'spend CE':>9} {'success':>8} {'ruin':>6} "
            f"{'years':>6} {'broke':>6} {'<floor':>7} {'bequest p50':>12}"
        )
        for s in result.strategies:
            life = s.lifetimes
            assert life is not None
            below = life.below_floor_probability
            print(
                f"{s.name:18} {s.certainty_equivalent.value:>8,.0f} "
                f"{life.spending_ce.value:>9,.0f} {s.success_probability.value:>8.3f} "
                f"{s.ruin_probability.value:>6.3f} {life.years_lived.value:>6.2f} "
                f"{life.years_without_money.value:>6.2f} "
                f"{'-' if below is None else f'{below.value:.3f}':>7} "
                f"{s.terminal.median.value:>12,.0f}"
            )


if __name__ == "__main__":
    main()
