"""``make run``: options A and B, end to end, on a fresh machine.

Starts the three services locally (``local_stack``: registry, training, simulation, each
its own process, data in a fresh temp directory so every run starts from nothing and can
be repeated), then:

1. option A on ``examples/household.json``: train a policy (1000 episodes), which the
   training service saves to the registry by itself, and judge it against every other strategy;
2. option B on the same household: the model saved by step 1 is found (already loaded in
   the simulation service's memory, so not downloaded again) and judged on new scenarios,
   without any training;

prints both answers (the model, the gate's verdict, the recommended strategy by age, the
comparison with every baseline and the optimum) and how long each took as the client saw
it, writes the chart (wealth fan and allocation by age of the recommended strategy) to
``var/make-run/optimization.png``, and stops the stack.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from glidepath.cli.inputs import HouseholdInput, load_household
from glidepath.cli.optimize import OPTIMIZE_DEADLINE, optimize_report, stream_result, write_plot
from glidepath.cli.peers import SIMULATION
from glidepath.cli.progress import ProgressBar
from glidepath.cli.stack import LocalStack, local_stack
from glidepath.clients import SimulationClient, connected
from glidepath.simulation.v1 import simulation_pb2 as sim

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "household.json"
PLOT = Path("var") / "make-run" / "optimization.png"
EPISODES = 1000
FREE_PORTS = {"registry": 0, "training": 0, "simulation": 0}


def optimize(stack: LocalStack, request: sim.OptimizeRequest) -> tuple[sim.OptimizeResult, float]:
    """One Optimize call with its live progress on stderr; the result and the wall time."""
    with connected(stack.address(SIMULATION)) as channel:
        began = time.perf_counter()
        events = SimulationClient(channel).optimize(request, timeout=OPTIMIZE_DEADLINE)
        result = stream_result(events, ProgressBar())
        return result, time.perf_counter() - began


def heading(text: str) -> None:
    print(f"\n{'=' * 78}\n{text}\n{'=' * 78}", flush=True)


def main() -> None:
    household: HouseholdInput = load_household(EXAMPLE)
    option_a = sim.OptimizeRequest(household=household.message, episodes=EPISODES, training_seed=0)
    # New scenarios for B (seed 1): its evaluation really runs rather than being the one A
    # computed (a judgement is kept by model, household and settings).
    option_b = sim.OptimizeRequest(
        household=household.message,
        use_pretrained=True,
        settings=sim.SimulationSettings(seed=1),
    )
    with tempfile.TemporaryDirectory(prefix="glidepath-run-") as tmp:
        print(f"Starting the three services (data in {tmp}) ...", flush=True)
        began = time.perf_counter()
        with local_stack(Path(tmp), ports=FREE_PORTS) as stack:
            for key, service in stack.services.items():
                print(f"  {key:<10} {service.address}")
            print(f"  ready in {time.perf_counter() - began:.1f} s")

            heading(f"Option A: train a new model ({EPISODES} episodes) for {EXAMPLE.name}")
            result_a, seconds_a = optimize(stack, option_a)
            print(optimize_report(result_a, household.household))

            heading("Option B: the same household, a pre-trained model, new scenarios (seed 1)")
            result_b, seconds_b = optimize(stack, option_b)
            print(optimize_report(result_b, household.household))

            PLOT.parent.mkdir(parents=True, exist_ok=True)
            write_plot(result_b, household, PLOT)
        print("Stopped the three services.")
    heading("Summary")
    same = result_a.model.sha256 == result_b.model.sha256
    print(f"  option A (trained {result_a.model.file_name}): {seconds_a:6.2f} s")
    print(
        f"  option B (found {result_b.model.file_name}, "
        f"{'the model A saved' if same else 'ANOTHER model'}): {seconds_b:6.2f} s"
    )
    print(f"  recommended: {result_b.recommended.strategy}")
    print(f"  chart: {PLOT.resolve()}")
    if not same:
        sys.exit("option B did not find the model option A saved")


if __name__ == "__main__":
    main()
