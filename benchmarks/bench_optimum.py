"""DP optimum with lifetimes: solve times, against the fixed-horizon single in the same run.

Prints, never asserts. Households, each solved from scratch (``solve``, no cache), best
of ``REPEATS`` in one process after one warm-up solve:
- reference: examples/household.json under the fixed horizon (one life state, 50 years);
- example single: the household as the file gives it, under mortality (target <= 2 s);
- example couple: examples/couple.json with mortality when it exists, else the test
  suite's equivalent couple (``tests/optimum_support.example_couple``: two adults, a
  mortgage, two accounts one of them holding cash, two pensions, one reversionary at
  60 %, an essential floor of 60 %) (target <= 5 s); and the same couple with no cash
  in its accounts, which drops the quadrature from 336 to 112 nodes.
The ratio to the reference says how much of a time is the machine: the targets hold on
a machine where the reference takes about 0.5 s.

Threads: BLAS and numpy run single-threaded (OMP/OPENBLAS/MKL_NUM_THREADS=1): one core.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from optimum_support import example_couple  # type: ignore[import-not-found]  # noqa: E402

from glidepath.engine.cashflows import build_schedule  # noqa: E402
from glidepath.engine.optimum import solve  # noqa: E402
from glidepath.engine.quadrature import return_nodes  # noqa: E402
from glidepath.household.convert import household_from_json  # noqa: E402
from glidepath.household.model import Household, Lifetimes  # noqa: E402

REPEATS = 3


def _best(household: Household) -> tuple[float, float]:
    """(best seconds of REPEATS solves, the CE)."""
    times = []
    ce = 0.0
    for _ in range(REPEATS):
        began = time.perf_counter()
        ce = solve(household).certainty_equivalent
        times.append(time.perf_counter() - began)
    return min(times), ce


def main() -> None:
    single = household_from_json((ROOT / "examples" / "household.json").read_text())
    couple_file = ROOT / "examples" / "couple.json"
    if couple_file.exists():
        couple = replace(
            household_from_json(couple_file.read_text()), lifetimes=Lifetimes.MORTALITY
        )
        couple_name = "examples/couple.json"
    else:
        couple = example_couple()
        couple_name = "equivalent couple (examples/couple.json absent)"
    no_cash = replace(
        couple,
        accounts=tuple(
            replace(a, bond_share=a.bond_share + a.cash_share, cash_share=0.0)
            for a in couple.accounts
        ),
    )
    rows = [
        (
            "reference: example single, fixed horizon",
            replace(single, lifetimes=Lifetimes.FIXED_HORIZON),
            None,
        ),
        ("example single, mortality", replace(single, lifetimes=Lifetimes.MORTALITY), 2.0),
        (f"{couple_name}, mortality", couple, 5.0),
        ("the same couple without cash", no_cash, 5.0),
    ]
    solve(single)  # warm imports and caches
    reference = 0.0
    for name, household, target in rows:
        seconds, ce = _best(household)
        reference = reference or seconds
        nodes = len(return_nodes(build_schedule(household).market).weights)
        goal = f" (target <= {target:.0f} s)" if target else ""
        print(
            f"{name}: {seconds:.2f} s{goal}, {seconds / reference:.1f}x the reference, "
            f"{nodes} quadrature nodes, CE {ce:,.0f}"
        )


if __name__ == "__main__":
    main()
