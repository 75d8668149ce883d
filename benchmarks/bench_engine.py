"""Monte Carlo engine and DP optimum: speed and memory. Prints, never asserts.

- Path-years per second for 10k, 100k and 1M paths over 60 years (the household's own
  plan, full metrics: percentile histograms, per-path utilities), each size in a fresh
  subprocess so that its peak resident memory (ru_maxrss) is its own.
  Targets: 100k x 60 in <= 0.5 s on one core (>= 10 M path-years/s); 1M peak <= 500 MB.
- The same 100k paths with lifetimes mortality (deaths drawn per path, the alive state
  in every year; the plan then runs to age 110, 80 years), in the same run: path-years
  per second against the fixed horizon's. Target >= 0.8x.
- The DP optimum for the example household under the fixed horizon (40, salary 60k,
  retiring at 65, pension 20k, mortgage 12k/yr to 55, 100k invested, 800/month,
  spending 40k, goal 200k, gamma 3), solved in a fresh process (no cache). Target <= 10 s.
- The DP against Samuelson's closed form (retiree, 30 years, no income): CE error.
- The evaluation of a policy against every other strategy (``glidepath.rl.evaluation``:
  the policy, the seven rules and the optimum) on 10,000 lives of the example household
  (``examples/household.json``), against a bare rollout of the same number of path-years:
  ``glidepath.engine.rollout`` of the own plan once per strategy (each path's arrays
  kept, no metrics, no comparison: the reference of the target), and for scale the
  step loop alone (``step_loop``: one market draw a year shared by as many own-plan
  states as there are strategies, nothing kept), in the same process. Cold: nothing
  cached; warm: the baselines' results for those lives already computed
  (``glidepath.engine.result_cache``), so only the policy runs. The policy is the
  recipe's network untrained (its cost does not depend on its weights). Best of 5,
  CPU time. Target (issue 12): cold <= 1.5x the bare rollout.

Threads: BLAS and numpy run single-threaded (OMP/OPENBLAS/MKL_NUM_THREADS=1): one core.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = (10_000, 100_000, 1_000_000)
YEARS = 60

CHILD = r"""
import json, resource, sys, time
from glidepath.household.model import Account, Adult, Charge, Goals, Household, Income
from glidepath.household.model import Lifetimes
from glidepath.engine import SimulationSettings, simulate
n = int(sys.argv[1])
lifetimes = Lifetimes(sys.argv[2]) if len(sys.argv) > 2 else Lifetimes.FIXED_HORIZON
h = Household(
    adults=(Adult(30, 65, 90, 60_000.0, 0.01),),
    incomes=(Income(20_000.0, 65),),
    charges=(Charge(12_000.0, 55),),
    accounts=(Account(100_000.0, 800.0, 0.6, 0.4, 0.0),),
    goals=Goals(200_000.0, 40_000.0),
    lifetimes=lifetimes,
)
simulate(h, ["own_plan"], SimulationSettings(paths=1024))  # warm imports and caches
began, cpu = time.perf_counter(), time.process_time()
result = simulate(h, ["own_plan"], SimulationSettings(paths=n, seed=1))
seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "cpu": cpu, "rss_mb": rss_mb, "years": h.horizon_years}))
"""

OPTIMUM = r"""
import json, time
from glidepath.household.model import Account, Adult, Charge, Goals, Household, Income
from glidepath.household.model import Lifetimes
from glidepath.engine.optimum import solve
h = Household(
    adults=(Adult(40, 65, 90, 60_000.0, 0.01),),
    incomes=(Income(20_000.0, 65),),
    charges=(Charge(12_000.0, 55),),
    accounts=(Account(100_000.0, 800.0, 0.6, 0.4, 0.0),),
    goals=Goals(capital_goal=200_000.0, retirement_spending=40_000.0),
    risk_aversion=3.0,
    lifetimes=Lifetimes.FIXED_HORIZON,
)
began = time.perf_counter()
solution = solve(h)
print(json.dumps({"seconds": time.perf_counter() - began, "ce": solution.certainty_equivalent}))
"""

SAMUELSON = r"""
import json, math
import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from glidepath.household.model import Account, Adult, AssetClass, Household, MarketAssumptions
from glidepath.household.model import Lifetimes
from glidepath.engine.optimum import solve
identity = tuple(tuple(1.0 if i == j else 0.0 for j in range(4)) for i in range(4))
market = MarketAssumptions(AssetClass(0.06, 0.18), AssetClass(0.01, 0.0), AssetClass(0.01, 0.0),
                           0.0, 0.0, identity)
h = Household(adults=(Adult(65, 65, 95),), accounts=(Account(1e6, 0.0, 0.6, 0.4, 0.0),),
              risk_aversion=3.0, market=market, lifetimes=Lifetimes.FIXED_HORIZON)
s2 = math.log(1 + 0.18**2 / 1.06**2); m = math.log(1.06) - s2 / 2
x, w = hermegauss(200); w = w / w.sum(); r = np.exp(m + math.sqrt(s2) * x)
shares = np.linspace(0, 1, 20001); e = ((1.01 + shares[:, None] * (r - 1.01)) ** -2.0) @ w
k = int(np.argmin(e)); b = e[k] ** (1 / 3); a = (1 - b**30) / (1 - b)
closed = 1e6 * (a**3 / 30) ** (1 / (1 - 3))
sol = solve(h)
c, share = sol.policy(0, np.array([1e6]))
print(json.dumps({"closed_ce": closed, "dp_ce": sol.certainty_equivalent, "pi": shares[k],
                  "dp_share": float(share[0]), "c_w": (1 - b) / (1 - b**30),
                  "dp_c_w": float(c[0] / 1e6)}))
"""


EVALUATION = r"""
import json, time
from pathlib import Path
from google.protobuf import json_format
from glidepath.common.v1 import household_pb2
from glidepath.household.canonical import canonicalize
from glidepath.household.convert import household_from_proto
from glidepath.engine.result_cache import BASELINE_RESULTS
from glidepath.engine.cashflows import build_schedule
from glidepath.engine.lifetimes import draw_death_years
from glidepath.engine.market import Scenarios
from glidepath.engine.step import initial_state, step
from glidepath.engine.strategies import make_strategy
from glidepath.engine.rollout import rollout
from glidepath.rl.evaluation import evaluate_policy
from glidepath.rl.gate import other_strategies
from glidepath.rl.model_io import build_policy
message = json_format.Parse(Path("examples/household.json").read_text(), household_pb2.Household())
h = canonicalize(household_from_proto(message))
policy, lives = build_policy(), 10_000
strategies = 1 + len(other_strategies(h))
evaluate_policy(h, policy, lives=1024, seed=1)  # warm imports and the DP solve
def step_loop(seed):
    schedule = build_schedule(h)
    scenarios = Scenarios(schedule.market, seed, 0, lives)
    deaths = None if schedule.lives is None else draw_death_years(schedule.lives, seed, 0, lives)
    rule = make_strategy("own_plan", h)
    states = [initial_state(schedule, lives, death_year=deaths,
                            turbulent=scenarios.first_turbulent) for _ in range(strategies)]
    for t in range(schedule.horizon):
        returns = scenarios.year(t)
        for k, state in enumerate(states):
            states[k], _ = step(state, rule.decide(state), returns)
def cpu(f):
    began = time.process_time(); f(); return time.process_time() - began
bare, loop, cold, warm = [], [], [], []
for k in range(5):
    bare.append(cpu(lambda: [rollout(h, "own_plan", lives, seed=10 + k)
                             for _ in range(strategies)]))
    loop.append(cpu(lambda: step_loop(10 + k)))
    BASELINE_RESULTS.clear()
    cold.append(cpu(lambda: evaluate_policy(h, policy, lives=lives, seed=10 + k)))
    warm.append(cpu(lambda: evaluate_policy(h, policy, lives=lives, seed=10 + k)))
print(json.dumps({"bare": min(bare), "loop": min(loop), "cold": min(cold), "warm": min(warm),
                  "strategies": strategies, "years": h.horizon_years, "lives": lives}))
"""


def run_child(code: str, *args: str) -> dict[str, float]:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    out = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    data: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return data


def main() -> None:
    print(f"Monte Carlo engine, own plan, {YEARS} years, one core")
    print("(wall clock, and CPU time of the process: they differ when the machine is busy)")
    header = f"{'paths':>10} {'wall s':>8} {'cpu s':>8} {'M path-yr/s wall':>17} {'cpu':>7}"
    print(f"{header} {'target':>8} {'peak MB':>9}")
    for n in SIZES:
        r = run_child(CHILD, str(n))
        rate = n * r["years"] / r["seconds"] / 1e6
        rate_cpu = n * r["years"] / r["cpu"] / 1e6
        print(
            f"{n:>10,} {r['seconds']:>8.3f} {r['cpu']:>8.3f} {rate:>17.2f} {rate_cpu:>7.2f} "
            f"{'>= 10':>8} {r['rss_mb']:>9.0f}"
        )
        if n == 100_000:
            print(
                f"{'':>10} 100k x 60 target 0.5 s: wall {r['seconds'] / 0.5:.2f}x, "
                f"cpu {r['cpu'] / 0.5:.2f}x the target"
            )
            lives = run_child(CHILD, str(n), "mortality")
            rate_lives = n * lives["years"] / lives["cpu"] / 1e6
            print(
                f"{'':>10} with mortality (100k x {lives['years']:.0f}): "
                f"{rate_lives:.2f} M path-yr/s cpu, {rate_lives / rate_cpu:.2f}x the fixed "
                f"horizon's (target >= 0.8x)"
            )
        if n == 1_000_000:
            print(f"{'':>10} 1M peak target 500 MB: ratio {r['rss_mb'] / 500:.2f}x the target")
    opt = run_child(OPTIMUM)
    print(
        f"DP optimum, example household: {opt['seconds']:.2f} s (target <= 10 s, "
        f"ratio {opt['seconds'] / 10:.3f}); CE {opt['ce']:,.0f} per year"
    )
    sam = run_child(SAMUELSON)
    err = sam["dp_ce"] / sam["closed_ce"] - 1
    print(
        f"DP vs Samuelson closed form (30 years, gamma 3): CE {sam['dp_ce']:,.2f} vs "
        f"{sam['closed_ce']:,.2f}, error {err:+.2e} (target |error| <= 1e-3); share "
        f"{sam['dp_share']:.4f} vs {sam['pi']:.4f}; c/W {sam['dp_c_w']:.5f} vs {sam['c_w']:.5f}"
    )
    ev = run_child(EVALUATION)
    path_years = ev["strategies"] * ev["lives"] * ev["years"]
    print(
        f"evaluation of {ev['strategies']:.0f} strategies on {ev['lives']:,.0f} lives "
        f"({path_years / 1e6:.1f} M path-years), best of 5, cpu: bare rollout {ev['bare']:.3f} s; "
        f"cold {ev['cold']:.3f} s = {ev['cold'] / ev['bare']:.2f}x (target <= 1.5x); "
        f"baselines cached {ev['warm']:.3f} s = {ev['warm'] / ev['bare']:.2f}x"
    )
    print(
        f"   the step loop alone (no arrays kept): {ev['loop']:.3f} s; cold evaluation "
        f"{ev['cold'] / ev['loop']:.2f}x, baselines cached {ev['warm'] / ev['loop']:.2f}x"
    )


if __name__ == "__main__":
    main()
