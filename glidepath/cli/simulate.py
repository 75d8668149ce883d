"""``glidepath simulate FILE`` and ``glidepath compare FILE``: Monte Carlo on one household.

Both read the household file, check it locally (a bad file fails before any call), ask the
simulation service (SIMULATION_ADDR) with a deadline, and print a table, the response as
JSON (``--json``), and/or a fan chart (``--plot out.png``, checked before the call).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from glidepath.advice.convert import recommended_result, simulate_summary
from glidepath.cli.arguments import non_negative_int, positive_int
from glidepath.cli.channels import connect
from glidepath.cli.errors import EXIT_OK, EXIT_USAGE, CliError
from glidepath.cli.inputs import HouseholdInput, load_household
from glidepath.cli.peers import SIMULATION
from glidepath.cli.plot_target import PLOT_HELP, plot_target
from glidepath.cli.render import compare_report, simulate_report, summary_first, to_json
from glidepath.clients import SimulationClient
from glidepath.rpc.channel import LONG_DEADLINE
from glidepath.simulation.v1 import simulation_pb2 as sim

# A simulation of the default 10,000 paths takes well under a second, the optimum a few
# seconds; the long deadline leaves room for a million paths on a busy machine.
SIMULATION_DEADLINE = LONG_DEADLINE


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    simulate = commands.add_parser(
        "simulate",
        help="simulate one strategy for a household",
        description="Simulate one strategy for the household in FILE (JSON: docs/household.md).",
    )
    simulate.add_argument("file", type=Path, metavar="FILE", help="household JSON file")
    simulate.add_argument(
        "--strategy", default="own_plan", help="strategy name (default own_plan; see docs/cli.md)"
    )
    _add_common(simulate)
    simulate.set_defaults(run=run_simulate)

    compare = commands.add_parser(
        "compare",
        help="compare strategies for a household on the same scenarios",
        description="Compare strategies side by side on the same market scenarios.",
    )
    compare.add_argument("file", type=Path, metavar="FILE", help="household JSON file")
    compare.add_argument(
        "--strategies",
        type=strategy_list,
        default=[],
        metavar="A,B",
        help="comma-separated strategy names (default: every baseline, and the optimum)",
    )
    compare.add_argument(
        "--plot-strategy",
        default=None,
        metavar="NAME",
        help=(
            "strategy drawn by --plot (default: the recommended one, the highest certainty "
            "equivalent but for the exact optimum, the ceiling the others are measured by)"
        ),
    )
    _add_common(compare)
    compare.set_defaults(run=run_compare)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--paths", type=positive_int, default=None, help="simulated lives (default 10,000)"
    )
    parser.add_argument(
        "--seed", type=non_negative_int, default=0, help="seed of the scenarios (default 0)"
    )
    parser.add_argument("--json", action="store_true", help="print the response as JSON")
    parser.add_argument("--plot", type=Path, default=None, metavar="PATH", help=PLOT_HELP)


def strategy_list(text: str) -> list[str]:
    """``"merton, vpw"`` -> ``["merton", "vpw"]``; an empty name is a usage error."""
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"empty strategy name in {text!r}")
    return names


def settings(args: argparse.Namespace) -> sim.SimulationSettings:
    message = sim.SimulationSettings(seed=args.seed)
    if args.paths is not None:
        message.paths = args.paths
    return message


def run_simulate(args: argparse.Namespace) -> int:
    plot = None if args.plot is None else plot_target(args.plot, args.file, "simulate")
    household = load_household(args.file)
    request = sim.SimulateRequest(
        household=household.message, strategy=args.strategy, settings=settings(args)
    )
    with connect(SIMULATION) as peer, peer.guard(SIMULATION_DEADLINE):
        response = peer.client(SimulationClient).simulate(request, timeout=SIMULATION_DEADLINE)
    summary = simulate_summary(response, household.household)
    print(to_json(response) if args.json else summary_first(summary, simulate_report(response)))
    if plot is not None:
        write_plot(response.result, household, plot)
    return EXIT_OK


def run_compare(args: argparse.Namespace) -> int:
    if args.plot_strategy is not None and args.plot is None:
        raise CliError(
            "--plot-strategy NAME chooses what --plot draws: give --plot PATH too", EXIT_USAGE
        )
    plot = None if args.plot is None else plot_target(args.plot, args.file, "compare")
    household = load_household(args.file)
    request = sim.CompareRequest(
        household=household.message, strategies=args.strategies, settings=settings(args)
    )
    with connect(SIMULATION) as peer, peer.guard(SIMULATION_DEADLINE):
        response = peer.client(SimulationClient).compare(request, timeout=SIMULATION_DEADLINE)
    print(to_json(response) if args.json else compare_report(response))
    if plot is not None and response.results:
        write_plot(plotted_result(response, args.plot_strategy), household, plot)
    return EXIT_OK


def plotted_result(response: sim.CompareResponse, name: str | None) -> sim.StrategyResult:
    """The strategy asked for, else the one the comparison recommends
    (``recommended_result``: not a dynamic-programming reference)."""
    if name is None:
        return recommended_result(response.results)
    for result in response.results:
        if result.strategy == name:
            return result
    ran = ", ".join(r.strategy for r in response.results)
    raise CliError(f"--plot-strategy {name} was not compared (compared: {ran})", EXIT_USAGE)


def write_plot(result: sim.StrategyResult, household: HouseholdInput, path: Path) -> None:
    from glidepath.charts import strategy_chart
    from glidepath.cli.plot import write_chart

    try:
        write_chart(strategy_chart(result, household.household), path)
    except OSError as error:
        raise CliError(f"cannot write the plot to {path}: {error.strerror or error}") from None
    print(f"wrote {path}", file=sys.stderr)
