"""``glidepath optimize FILE``: options A and B, with a live progress bar fed by the stream.

Option A (default) trains a policy for the household (``--episodes``, 1000 by default),
or fine-tunes a stored model (``--from MODEL --fine-tune N``: N more episodes, the new
model named after the start model's episodes plus N); option B (``--pretrained``) climbs
the ladder (``glidepath.cli.rungs``): the household's exact model, else near matches and
the generic model scored zero-shot, else a fine-tuning from the best of them
(``--fine-tune N`` episodes, 200 by default, 0 skips it), else, unless
``--no-fallback``, a training from scratch. The progress lines name each rung, and the
answer says which one served. Either way the simulation service
judges the policy against every other strategy and recommends one; this module prints
that answer (model, gate, strategy by age, comparison, timings), or the result message as
JSON (``--json``), and draws the fan chart with the recommended allocation (``--plot``).

``make run`` (``glidepath.demo``) uses the same stream reader, report and chart.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

from glidepath.advice.convert import optimize_summary
from glidepath.cli.arguments import count_or_zero, non_negative_int, positive_int
from glidepath.cli.channels import connect
from glidepath.cli.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, CliError
from glidepath.cli.inputs import HouseholdInput, load_household
from glidepath.cli.models import ModelArgument
from glidepath.cli.peers import SIMULATION
from glidepath.cli.plot_target import PLOT_HELP, plot_target
from glidepath.cli.progress import ProgressBar, follow
from glidepath.cli.render import (
    AGE_STEP,
    FEW_LIVES,
    compare_report,
    key_values,
    money,
    percent,
    signed_money_estimate,
    summary_first,
    table,
    to_json,
)
from glidepath.cli.rungs import OptimizeProgress, source_words
from glidepath.clients import SimulationClient
from glidepath.common.v1 import model_pb2
from glidepath.household.model import Household
from glidepath.models import model_file_name
from glidepath.simulation.v1 import simulation_pb2 as sim

# A training of 1000 episodes takes seconds; the deadline leaves room for large budgets
# and a queue on a busy machine. The training itself outlives a client that gives up.
OPTIMIZE_DEADLINE = 1800.0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "optimize",
        help="find or train an RL policy for a household and recommend a strategy",
        description=(
            "Option A (default): train a policy for the household in FILE (or, with --from "
            "MODEL, fine-tune that model). Option B (--pretrained) climbs a ladder: the "
            "household's own stored model; else the models of near households and the "
            "generic model of its family, scored zero-shot; else a fine-tuning of the best "
            "of them (--fine-tune N episodes, default 200, 0 skips it); else a training "
            "from scratch (--episodes, unless --no-fallback). The policy is judged against "
            "every other strategy (the rules of thumb and the optimum); it is recommended "
            "only when it beats the best of them by more than 2 paired standard errors. "
            "While it trains, the progress line shows the gain over the rule the policy "
            "corrects, on the lives just trained, in % of a year's spending: it is low, even "
            "negative, at first, while the policy explores, and the finished policy is judged "
            "without that noise. Ctrl-C stops the waiting, not the training: its model is "
            "saved, and the same command run again uses it."
        ),
    )
    parser.add_argument("file", type=Path, metavar="FILE", help="household JSON file")
    parser.add_argument(
        "--episodes", type=positive_int, default=None, help="episodes to train (default 1000)"
    )
    parser.add_argument(
        "--from",
        dest="start_model",
        action=ModelArgument,
        default=None,
        metavar="MODEL",
        help="option A: fine-tune this stored model (its file name) instead of training anew",
    )
    parser.add_argument(
        "--fine-tune",
        type=count_or_zero,
        default=None,
        metavar="N",
        help=(
            "with --from: episodes to add to the start model's (default 1000); with "
            "--pretrained: episodes of the ladder's fine-tuning (default 200, 0 skips it)"
        ),
    )
    parser.add_argument("--pretrained", action="store_true", help="option B: use a stored model")
    parser.add_argument(
        "--min-episodes", type=positive_int, default=None, help="option B: fewest (default 500)"
    )
    parser.add_argument(
        "--no-fallback", action="store_true", help="option B: fail rather than train"
    )
    parser.add_argument("--paths", type=positive_int, default=None, help="evaluation lives")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="evaluation seed")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--plot", type=Path, default=None, metavar="PATH", help=PLOT_HELP)
    parser.set_defaults(run=run_optimize)


def build_request(args: argparse.Namespace, household: HouseholdInput) -> sim.OptimizeRequest:
    """The request ``args`` ask for (checked by :func:`check_flags` first). --fine-tune is
    the episodes of a fine-tuning from --from (option A), or of the ladder's fine-tuning
    rung (option B); --episodes those of a training from scratch either way."""
    fine_tune_from = args.start_model is not None
    added = args.fine_tune if fine_tune_from and args.fine_tune is not None else args.episodes
    request = sim.OptimizeRequest(
        household=household.message,
        use_pretrained=args.pretrained,
        episodes=added or 0,
        settings=sim.SimulationSettings(seed=args.seed),
    )
    if fine_tune_from:
        request.start_model.CopyFrom(args.start_model)
    elif args.fine_tune is not None:
        request.fine_tune_episodes = args.fine_tune
    if args.paths is not None:
        request.settings.paths = args.paths
    if args.min_episodes is not None:
        request.min_episodes = args.min_episodes
    if args.no_fallback:
        request.fallback_to_training = False
    return request


def check_flags(args: argparse.Namespace) -> None:
    """Flags that contradict each other are a usage error before anything is sent: --from
    belongs to option A, --fine-tune needs a start (--from) or the ladder (--pretrained),
    and option B's own flags need --pretrained."""
    if args.start_model is not None and args.pretrained:
        raise CliError(
            "--from fine-tunes that model (option A); --pretrained climbs the ladder, which "
            "picks its own start model: give one or the other",
            EXIT_USAGE,
        )
    if args.fine_tune is not None and args.start_model is None and not args.pretrained:
        raise CliError(
            "--fine-tune N needs --from MODEL (the model to fine-tune) or --pretrained "
            "(the ladder's fine-tuning)",
            EXIT_USAGE,
        )
    if args.start_model is not None:
        if args.episodes is not None and args.fine_tune is not None:
            raise CliError("give --fine-tune N or --episodes, not both", EXIT_USAGE)
        if args.fine_tune == 0:
            raise CliError(
                "--fine-tune 0 with --from trains nothing: give at least 1 episode", EXIT_USAGE
            )
    option_b = [
        ("--min-episodes", args.min_episodes is not None),
        ("--no-fallback", args.no_fallback),
    ]
    for flag, given in option_b:
        if given and not args.pretrained:
            raise CliError(f"{flag} is an option B flag: it needs --pretrained", EXIT_USAGE)


def run_optimize(args: argparse.Namespace) -> int:
    check_flags(args)
    plot = None if args.plot is None else plot_target(args.plot, args.file, "optimize")
    household = load_household(args.file)
    request = build_request(args, household)
    progress = OptimizeProgress()
    try:
        with connect(SIMULATION) as peer, peer.guard(OPTIMIZE_DEADLINE):
            responses = peer.client(SimulationClient).optimize(request, timeout=OPTIMIZE_DEADLINE)
            result = stream_result(responses, ProgressBar(), progress)
    except KeyboardInterrupt:
        raise CliError(interrupted_line(progress), EXIT_INTERRUPTED) from None
    print(to_json(result) if args.json else optimize_report(result, household.household))
    if plot is not None:
        write_plot(result, household, plot)
    return EXIT_OK


def stream_result(
    responses: Iterable[sim.OptimizeResponse],
    bar: ProgressBar,
    progress: OptimizeProgress | None = None,
) -> sim.OptimizeResult:
    """Draw every event on ``bar`` (read by ``progress``); the stream's final result."""
    last = follow(responses, progress or OptimizeProgress(), bar)
    if last is None or last.WhichOneof("content") != "result":
        raise CliError("the simulation service ended the stream without a result")
    return last.result


def interrupted_line(progress: OptimizeProgress) -> str:
    """What Ctrl-C stopped: the waiting and the evaluation, never a training under way
    (the service lets it finish, and the registry keeps its model), so the same command
    run again joins that training or finds its model."""
    if not progress.training_job:
        return "interrupted (no training had started)"
    return (
        f"interrupted: the training goes on in the training service (job "
        f"{progress.training_job}) and its model will be saved in the registry; run the "
        "same command again to join it or use the saved model"
    )


# ----------------------------------------------------------------------------- report


def optimize_report(result: sim.OptimizeResult, household: Household) -> str:
    """The summary (what to do this year and why), then the details below it."""
    return summary_first(optimize_summary(result, household), optimize_details(result))


def optimize_details(result: sim.OptimizeResult) -> str:
    """Model, gate, the recommended strategy by age, the comparison, the timings."""
    model = result.model
    gate = result.gate
    verdict = "PASSED" if gate.passed else "not passed"
    lines = [
        key_values(
            [
                ("Model", _model_line(model, result.household_hash)),
                ("Source", source_words(result.source)),
                (
                    "Gate",
                    f"{verdict}: trained policy minus {gate.best_baseline} (the best other "
                    f"strategy) {signed_money_estimate(gate.improvement)} a year of objective "
                    f"CE (needs > {gate.standard_errors_required:g} paired SE)",
                ),
                ("Recommended", _recommended_name(result.recommended)),
            ],
            indent=0,
        ),
        f"  {result.recommended.reason}",
        "",
        f"Recommended strategy by age (medians over {result.recommended.paths:,} lives, "
        "today's money, a year):",
        strategy_table(result.recommended),
        "",
        compare_report(result.comparison),
        "",
        timings_line(result),
    ]
    return "\n".join(lines)


def _model_line(model: model_pb2.ModelMetadata, household_hash: str) -> str:
    """Name and episodes; whose model it is when it is not this household's own; the
    start of a fine-tuning."""
    line = f"{model.file_name} ({model.ref.episodes:,} episodes)"
    label = f" “{model.label}”" if model.label else ""
    if model.kind == model_pb2.MODEL_KIND_GENERIC:
        line += f", the generic model of a family{label}"
    elif household_hash and model.ref.model_hash != household_hash:
        line += f", the model of another household{label} (this one's hash is {household_hash})"
    if model.HasField("parent"):
        parent = model_file_name(model.parent.model_hash, model.parent.episodes)
        added = f", +{model.episodes_added:,}" if model.episodes_added else ""
        line += f", fine-tuned from {parent}{added}"
    return line


def _recommended_name(recommended: sim.RecommendedStrategy) -> str:
    if recommended.is_trained_policy:
        return f"{recommended.strategy} (the trained policy)"
    return (
        f"{recommended.strategy} (the best other strategy; the trained policy did not pass "
        "the gate)"
    )


def strategy_table(recommended: sim.RecommendedStrategy) -> str:
    """Every AGE_STEP years, plus the first retirement year and the last year shown, while
    at least FEW_LIVES of the lives still run (medians over a handful say little)."""
    years = [y for y in recommended.years if y.lives_running >= FEW_LIVES]
    if not years:
        return "  (no years)"
    first_retired = next((y.age for y in years if y.retired), None)
    shown = [
        y
        for i, y in enumerate(years)
        if (y.age - years[0].age) % AGE_STEP == 0 or y.age == first_retired or i == len(years) - 1
    ]
    rows = [
        [
            str(y.age),
            "retired" if y.retired else "working",
            percent(y.lives_running, 0),
            percent(y.stock_share, 0),
            money(-y.withdrawal if y.retired else y.savings),
            percent(-y.withdrawal_rate if y.retired else y.savings_rate),
            money(y.consumption),
            money(y.wealth),
        ]
        for y in shown
    ]
    headers = [
        "age",
        "phase",
        "alive",
        "stocks",
        "saved(+)/withdrawn(-)",
        "rate",
        "consumption",
        "wealth",
    ]
    note = (
        "  alive: the lives still running at that age (medians are over those); rate: of "
        "disposable income while working, of wealth at the start of the year in retirement"
    )
    if len(years) < len(recommended.years):
        note += f"\n  ages where fewer than {FEW_LIVES:.0%} of the lives still run are not shown"
    return table(headers, rows, align="llrrrrrr") + "\n" + note


def timings_line(result: sim.OptimizeResult) -> str:
    stages = ", ".join(f"{t.stage} {t.seconds:.2f} s" for t in result.timings)
    return f"Took {result.total_seconds:.2f} s in the service ({stages})"


# ----------------------------------------------------------------------------- plot


def write_plot(result: sim.OptimizeResult, household: HouseholdInput, path: Path) -> None:
    """The recommended strategy's wealth, spending and saving, and stock share, by age."""
    from glidepath.charts import recommended_chart
    from glidepath.cli.plot import write_chart

    chart = recommended_chart(result, household.household)
    if chart is None:
        raise CliError(f"the result has no simulation of {result.recommended.strategy} to plot")
    try:
        write_chart(chart, path)
    except OSError as error:
        raise CliError(f"cannot write the plot to {path}: {error.strerror or error}") from None
    print(f"wrote {path}", file=sys.stderr)
