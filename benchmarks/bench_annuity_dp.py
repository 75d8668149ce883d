"""Solve time and value of the purchase-once annuity DP on the zoo's annuity households.

Prints, never asserts. For each household of ``benchmarks/zoo/`` with an annuity offer
that the DP solves: the offer as written (open every year: the DP is ``dp_simplified``,
a lower bound) and with ``onlyAtFromAge`` (one purchase: the DP is the optimum), each
solved from cold (no cache) with its CE, the fraction it annuitises now and its solve
time; then the income-level count's effect on the CE (the DP's own grid error).

    python benchmarks/bench_annuity_dp.py [--levels 5 9 13]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from glidepath.engine import lives
from glidepath.engine.cashflows import build_schedule
from glidepath.engine.optimum_annuity import INCOME_LEVELS, annuity_dp_applies, solve_annuity
from glidepath.household.convert import household_from_json

ZOO = Path(__file__).resolve().parent / "zoo"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, nargs="*", default=[INCOME_LEVELS])
    args = parser.parse_args()
    for path in sorted(ZOO.glob("*.json")):
        household = household_from_json(path.read_text())
        if household.annuities is None or not annuity_dp_applies(household)[0]:
            continue
        once = replace(household, annuities=replace(household.annuities, only_at_from_age=True))
        wealth = build_schedule(once).initial_wealth
        for levels in args.levels:
            began = time.perf_counter()
            solution = solve_annuity(once, income_levels=levels)
            seconds = time.perf_counter() - began
            fraction = "later"
            if solution.purchase_year == 0:
                income = lives.state_flows(once, solution.horizon).net_income[0, 0]
                f = solution.fractions(np.array([wealth + income]), np.array([wealth]), 0)[0]
                fraction = f"{f:.0%} now"
            ce = solution.before.certainty_equivalent
            print(
                f"{path.stem:22} {levels:2d} income levels: CE {ce:9,.0f}  "
                f"annuitises {fraction:8}  solved in {seconds:5.2f} s"
            )


if __name__ == "__main__":
    main()
