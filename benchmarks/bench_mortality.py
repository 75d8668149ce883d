"""Drawing deaths: cost per batch against a bare uniform draw. Prints, never asserts.

For 100k paths x 2 adults (a couple under the default law, calibrated at 60 and 58):
- ``draw_death_ages``: the per-block seeded streams (one SeedSequence + SFC64 per
  1,024 paths) and the inverse of each survival curve (a binary search per draw);
- ``death_uniforms``: the seeded streams alone;
- a bare ``Generator.random((2, 100_000))`` from one SFC64 (no blocks, no inversion);
- the calibration of the two adults' laws (done once per request, not per batch).
Each figure is the best of 20 runs (ms); the ratios are against the bare draw. For scale,
the engine's target is 100k paths x 60 years in 0.5 s, so a draw of deaths once per
batch is to be compared with that. Run single-threaded (OMP/OPENBLAS/MKL_NUM_THREADS=1).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402  (after the thread settings, which numpy reads on import)

from glidepath.engine.mortality import (  # noqa: E402
    death_uniforms,
    draw_death_ages,
    table_for_life_expectancy,
)

PATHS = 100_000
ADULTS = 2
REPEATS = 20


def best_ms(work: Callable[[], object]) -> float:
    work()  # warm caches
    times = []
    for _ in range(REPEATS):
        began = time.perf_counter()
        work()
        times.append(time.perf_counter() - began)
    return 1000.0 * min(times)


def main() -> None:
    adults = [(table_for_life_expectancy(60, 85), 60), (table_for_life_expectancy(58, 88), 58)]
    generator = np.random.Generator(np.random.SFC64(1))
    bare = best_ms(lambda: generator.random((ADULTS, PATHS)))
    streams = best_ms(lambda: death_uniforms(1, 0, PATHS))
    deaths = best_ms(lambda: draw_death_ages(adults, 1, 0, PATHS))
    calibration = best_ms(
        lambda: [table_for_life_expectancy(60, 85), table_for_life_expectancy(58, 88)]
    )
    print(f"deaths for {PATHS:,} paths x {ADULTS} adults (best of {REPEATS}):")
    print(f"  bare numpy uniform draw       {bare:8.2f} ms   1.00x")
    print(f"  death_uniforms (block seeds)  {streams:8.2f} ms  {streams / bare:5.2f}x")
    print(f"  draw_death_ages (full)        {deaths:8.2f} ms  {deaths / bare:5.2f}x")
    print(f"  calibration of 2 laws         {calibration:8.2f} ms  (once per request)")


if __name__ == "__main__":
    main()
