"""How responses look: aligned tables for people, protobuf JSON for programs.

People read money in today's terms with thousands separators ("45,120"), probabilities
as percentages ("87.3 %") and every Monte Carlo figure with its standard error
("45,120 ± 85"), because a difference smaller than a few standard errors is noise. The
summary (what to do this year, ``glidepath.advice``) comes first, the figures behind it
under "Details". The ``--json`` form is the response message itself
(``json_format.MessageToJson``), so that a script sees exactly the fields the proto
documents.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from google.protobuf import json_format
from google.protobuf.message import Message

from glidepath.advice.strategies import described
from glidepath.advice.summary import Summary
from glidepath.common.v1 import model_pb2
from glidepath.household.convert import file_field
from glidepath.registry.v1 import registry_pb2
from glidepath.simulation.v1 import simulation_pb2 as sim
from glidepath.text import one_line

MISSING = "—"
#: Every share of a reference names it (exact, or simplified: a lower bound on what is
#: achievable); only the exact dynamic programme is ever called the optimum.
EXACT = "exact optimum"
OF_EXACT = "of exact optimum"
DP_SIMPLIFIED = "dp_simplified"
OF_SIMPLIFIED = f"of {DP_SIMPLIFIED}"
SIMPLIFIED_SHARE = f"Share of {DP_SIMPLIFIED}'s CE (a lower bound on what is achievable)"
# Rows of the wealth-by-age table: one every few years keeps it on one screen.
AGE_STEP = 5

# ----------------------------------------------------------------------------- numbers


def summary_first(summary: Summary, details: str) -> str:
    """The summary a person acts on (``glidepath.advice``), then the figures behind it."""
    rule = "─" * 78
    return f"{summary.text()}\n\n{rule}\nDetails\n\n{details}"


def to_json(message: Message) -> str:
    """The message in protobuf's JSON mapping (lowerCamelCase names, NaN as "NaN"), with
    every field written: a zero (0 models deleted, a ruin probability of 0) is an answer,
    and a script reading the JSON must find it rather than a missing key."""
    return json_format.MessageToJson(message, indent=2, always_print_fields_with_no_presence=True)


def money(value: float) -> str:
    """Whole units of today's money with thousands separators: 45,120."""
    return MISSING if not math.isfinite(value) else f"{value:,.0f}"


def percent(fraction: float, digits: int = 1) -> str:
    """A fraction as a percentage: 0.873 -> "87.3 %"."""
    return MISSING if not math.isfinite(fraction) else f"{fraction * 100:.{digits}f} %"


def money_estimate(estimate: sim.Estimate) -> str:
    """ "45,120 ± 85"; the ± part is left out when the error could not be estimated."""
    text = money(estimate.value)
    error = estimate.standard_error
    return f"{text} ± {error:,.0f}" if math.isfinite(error) and text != MISSING else text


def percent_estimate(estimate: sim.Estimate) -> str:
    """ "87.3 % ± 0.4" (the standard error in percentage points; two decimals under 0.1)."""
    text = percent(estimate.value)
    points = estimate.standard_error * 100
    if not math.isfinite(points) or text == MISSING:
        return text
    return f"{text} ± {points:.2f}" if points < 0.095 else f"{text} ± {points:.1f}"


def signed_money_estimate(estimate: sim.Estimate) -> str:
    sign = "+" if estimate.value >= 0 else ""
    return sign + money_estimate(estimate)


def size(size_bytes: int) -> str:
    if size_bytes >= 1024 * 1024:
        return f"{size_bytes / (1024 * 1024):.1f} MiB"
    return f"{size_bytes / 1024:.1f} KiB"


# ----------------------------------------------------------------------------- tables


def table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], align: str = "", indent: int = 2
) -> str:
    """Columns padded to their widest cell.

    ``align`` has one letter per column, "l" or "r"; by default the first column (a name)
    is left-aligned and the others (figures) right-aligned, so that digits line up.
    """
    align = align or "l" + "r" * (len(headers) - 1)
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.ljust(width) if side == "l" else cell.rjust(width)
            for cell, width, side in zip(cells, widths, align, strict=True)
        ]
        return " " * indent + "  ".join(padded).rstrip()

    return "\n".join([line(headers), *(line(row) for row in rows)])


def key_values(pairs: Sequence[tuple[str, str]], indent: int = 2) -> str:
    """Labels in a column, values beside them."""
    width = max(len(label) for label, _ in pairs)
    return "\n".join(f"{' ' * indent}{label.ljust(width)}  {value}" for label, value in pairs)


# ----------------------------------------------------------------------------- simulation


def run_line(household_hash: str, run: sim.RunInfo, strategies: str) -> str:
    converged = "" if run.converged else " (adaptive target NOT reached)"
    return (
        f"Household {household_hash} · {strategies} · {run.paths:,} paths · seed {run.seed} · "
        f"{run.seconds:.2f} s{converged}"
    )


def warning_lines(warnings: Sequence[sim.FieldWarning]) -> list[str]:
    """One line per implausible value (the field as a household file writes it), then a
    blank line; nothing when there are none."""
    lines = [f"warning: {file_field(w.field)}: {w.message}" for w in warnings]
    return [*lines, ""] if lines else []


def simulate_report(response: sim.SimulateResponse) -> str:
    """The metrics of one strategy, then its wealth by age."""
    result = response.result
    figures: list[tuple[str, str]] = [
        (
            "Certainty-equivalent consumption, objective (spending and bequest)",
            f"{money_estimate(result.certainty_equivalent)} a year",
        ),
        ("Certainty-equivalent consumption, spending alone", f"{_spending_ce(result)} a year"),
        (
            "Success (target met every retirement year lived, money never exhausted while alive)",
            percent_estimate(result.success_probability),
        ),
        (
            "Ruin (money exhausted while someone was alive)",
            percent_estimate(result.ruin_probability),
        ),
    ]
    if result.HasField("capital_goal_probability"):
        figures.append(("Capital goal reached", percent_estimate(result.capital_goal_probability)))
    figures += _terminal_wealth_figures(result.terminal_wealth)
    figures += [
        (
            "Shortfall per retirement year",
            money_estimate(result.shortfall.mean_per_retirement_year),
        ),
        ("Some retirement year short", percent_estimate(result.shortfall.probability_any)),
    ]
    if result.HasField("share_of_optimum"):
        figures.append((f"Share of the {EXACT}'s CE", percent_estimate(result.share_of_optimum)))
    if result.HasField("share_of_simplified"):
        figures.append((SIMPLIFIED_SHARE, percent_estimate(result.share_of_simplified)))
    figures += lifetime_figures(result.lifetimes)
    if result.HasField("annuities"):
        figures += [
            ("Wealth annuitised, mean", money_estimate(result.annuities.premium)),
            ("Bought an annuity", percent_estimate(result.annuities.probability)),
        ]
    figures += [(_pension_name(c), claims_sentence(c)) for c in result.claims]
    return "\n".join(
        [
            *warning_lines(response.warnings),
            run_line(response.household_hash, response.run, f"strategy {result.strategy}"),
            "",
            key_values(figures),
            "",
            "Wealth by age (today's money; percentiles across the simulated lives)",
            wealth_table(result.wealth),
            "",
            optimum_line(response.optimum),
        ]
    )


def lifetime_figures(lives: sim.LifetimeOutcomes) -> list[tuple[str, str]]:
    """Years lived and without money, the floor, and ages at death (under mortality)."""
    figures = [
        ("Years lived (until the last death), mean", _years(lives.years_lived)),
        ("Years lived without money, mean", _years(lives.years_without_money)),
    ]
    if lives.HasField("below_floor_probability"):
        figures += [
            (
                "Below the essential floor in some year",
                percent_estimate(lives.below_floor_probability),
            ),
            ("Years below the essential floor, mean", _years(lives.years_below_floor)),
        ]
    if lives.HasField("last_death"):
        figures.append(
            ("Age of the last to die, at death (10th / median / 90th)", _ages(lives.last_death))
        )
    if len(lives.per_adult) > 1:
        for i, counts in enumerate(lives.per_adult):
            figures.append((f"Age at death of adult {i + 1} (10th / median / 90th)", _ages(counts)))
    return figures


#: Below this share of lives, a claiming age is not named on its own (it joins "other ages").
FEW_CLAIMS = 0.01


def _pension_name(claims: sim.PensionClaims) -> str:
    label = f" ({claims.label})" if claims.label else ""
    return f"Pension {claims.income + 1}{label} claimed, default age {claims.default_age}"


def _claim_ages(claims: sim.PensionClaims) -> list[tuple[int, sim.Estimate]]:
    """(age, share of lives) of each age some lives claim at, the most common first."""
    ages = [(claims.first_age + k, e) for k, e in enumerate(claims.share_at_age) if e.value > 0]
    return sorted(ages, key=lambda pair: -pair[1].value)


def claims_sentence(claims: sim.PensionClaims) -> str:
    """When one pension is claimed, in words: "at 70 in 93.1 % ± 0.6 of lives, at 67 in
    5.0 %; never (died first) in 1.9 %; median age 70"."""
    named = [(a, e) for a, e in _claim_ages(claims) if e.value >= FEW_CLAIMS]
    parts = [
        f"at {age} in {percent_estimate(e)}{' of lives' if i == 0 else ''}"
        for i, (age, e) in enumerate(named)
    ]
    rest = 1.0 - claims.died_before_claiming.value - sum(e.value for _, e in named)
    if rest > 1e-12:
        parts.append(f"at other ages in {percent(rest)}")
    text = ", ".join(parts) or "never"
    if claims.died_before_claiming.value > 0:
        text += f"; never (died first) in {percent_estimate(claims.died_before_claiming)}"
    if claims.HasField("median_age"):
        text += f"; median age {claims.median_age}"
    return text


def claims_cell(result: sim.StrategyResult) -> str:
    """The most common claiming age of each windowed pension and its share of lives,
    "70 (93 %)", pensions joined by " / "."""
    cells = []
    for claims in result.claims:
        ages = _claim_ages(claims)
        cells.append(f"{ages[0][0]} ({percent(ages[0][1].value, 0)})" if ages else "never")
    return " / ".join(cells) or MISSING


def _years(estimate: sim.Estimate) -> str:
    error = estimate.standard_error
    tail = f" ± {error:.2f}" if math.isfinite(error) else ""
    return f"{estimate.value:.2f}{tail} years" if math.isfinite(estimate.value) else MISSING


def _ages(counts: sim.AgeCounts) -> str:
    """The 10th, 50th and 90th percentiles of an age distribution given as counts."""
    paths = list(counts.paths_at_age)
    total = sum(paths)
    if total == 0:
        return MISSING
    cumulative, found, wanted = 0, [], [0.1, 0.5, 0.9]
    for k, n in enumerate(paths):
        cumulative += n
        while wanted and cumulative >= wanted[0] * total:
            found.append(counts.first_age + k)
            wanted.pop(0)
    return " / ".join(str(age) for age in found)


def _terminal_wealth_figures(terminal: sim.TerminalWealth) -> list[tuple[str, str]]:
    figures = [("Wealth at the end, mean", money_estimate(terminal.mean))]
    for point in terminal.percentiles:
        if point.percentile == 50:
            figures.append(("Wealth at the end, median", money_estimate(point.value)))
    figures += [
        ("Wealth at the end, worst 5 % mean", money_estimate(terminal.mean_worst_5_percent)),
        ("Nothing left at the end", percent_estimate(terminal.probability_depleted)),
    ]
    return figures


#: Under mortality, ages at which fewer lives than this share still run are not listed
#: in a table nor drawn in a chart: a median over a handful of lives says little.
FEW_LIVES = 0.01


def wealth_table(profile: sim.AgeProfile) -> str:
    """Percentiles of wealth every AGE_STEP years, and at the last age. Under mortality
    the percentiles of an age are over the lives still running then (an "alive" column
    says how many), ages with fewer than FEW_LIVES of them are left out, and the last row
    is the bequest: the wealth of every life at its last death."""
    counts = list(profile.paths_by_age)
    headers = ["age", *(_percentile_name(band.percentile) for band in profile.bands), "mean"]
    if counts:
        headers.insert(1, "alive")
    last = len(profile.ages) - 1
    rows = []
    for i, age in enumerate(profile.ages):
        end = i == last
        if counts and not end and counts[i] < FEW_LIVES * counts[0]:
            continue
        if not (i % AGE_STEP == 0 or end):
            continue
        row = [
            str(age),
            *(money(band.values[i]) for band in profile.bands),
            money(profile.means[i]),
        ]
        if counts:
            row[0] = "bequest" if end else row[0]
            row.insert(1, "all" if end else percent(counts[i] / counts[0], 0))
        rows.append(row)
    return table(headers, rows)


def _percentile_name(percentile: float) -> str:
    return "median" if percentile == 50 else f"{percentile:g}th"


def optimum_line(optimum: sim.OptimumInfo) -> str:
    if not optimum.available:
        return f"Exact optimum: not available for this household ({optimum.reason})"
    if optimum.HasField("value_certainty_equivalent"):
        return (
            "Exact optimum (dynamic programming): objective CE of "
            f"{money(optimum.value_certainty_equivalent)} a year from its value function"
        )
    return 'Exact optimum: available (add the strategy "optimum" to see it)'


def compare_report(response: sim.CompareResponse) -> str:
    """The strategies side by side, the highest objective CE marked with *.

    Two certainty equivalents: the objective's (spending plus the bequest term, what the
    strategies are ranked by) and spending's alone, with the bequest apart (its median,
    and the chance of leaving the capital goal), so a plan that spends well but leaves
    little reads as what it is.
    """
    results = list(response.results)
    best = max(results, key=lambda r: r.certainty_equivalent.value).strategy if results else ""
    with_optimum = any(r.HasField("share_of_optimum") for r in results)
    with_simplified = any(r.HasField("share_of_simplified") for r in results)
    with_versus = not (with_optimum or with_simplified)
    with_goal = any(r.HasField("capital_goal_probability") for r in results)
    with_claims = any(r.claims for r in results)
    baseline = next((r.versus.baseline for r in results if r.HasField("versus")), "")
    headers = ["strategy", "objective CE"]
    headers += [OF_EXACT] if with_optimum else []
    headers += [OF_SIMPLIFIED] if with_simplified else []
    headers += [f"objective CE vs {baseline}"] if baseline and with_versus else []
    headers += ["spending CE", "success", "ruin", "median bequest"]
    headers += ["bequest ≥ goal"] if with_goal else []
    rows = []
    for result in results:
        row = [("* " if result.strategy == best else "  ") + result.strategy]
        row.append(money_estimate(result.certainty_equivalent))
        if with_optimum:
            row.append(percent_estimate(result.share_of_optimum))
        if with_simplified:
            has = result.HasField("share_of_simplified")
            row.append(percent_estimate(result.share_of_simplified) if has else MISSING)
        if baseline and with_versus:
            has = result.HasField("versus")
            row.append(signed_money_estimate(result.versus.ce_difference) if has else MISSING)
        row += [
            _spending_ce(result),
            percent_estimate(result.success_probability),
            percent_estimate(result.ruin_probability),
            _median_terminal(result.terminal_wealth),
        ]
        if with_goal:
            row.append(percent_estimate(result.capital_goal_probability))
        if with_claims:
            row.append(claims_cell(result))
        rows.append(row)
    if with_claims:
        headers.append("claims at")
    lines = [
        *warning_lines(response.warnings),
        run_line(response.household_hash, response.run, f"{len(results)} strategies"),
        "",
        table(headers, rows),
        "",
        *COMPARISON_NOTES,
        *strategy_notes(results),
        *(CLAIMS_NOTES if with_claims else ()),
        *(EXACT_NOTES if with_optimum else ()),
        *simplified_notes(results, with_simplified),
        optimum_line(response.optimum),
    ]
    lines += [f"Skipped {s.strategy}: {s.reason}" for s in response.skipped]
    return "\n".join(lines)


#: What the columns of a comparison mean, printed under it.
COMPARISON_NOTES = (
    "* ranked by the objective CE: the sure yearly spending worth as much as the strategy's",
    "  uncertain spending and bequest together. Spending CE: the same for spending alone.",
    "  Bequest: the wealth left at the end (at the last death under mortality); bequest ≥ goal:",
    "  the chance of leaving at least the capital goal. Success: the spending target met in",
    "  every retirement year lived and money never exhausted while alive. Ruin: money",
    "  exhausted while someone was alive. ± one standard error; money in today's terms.",
)


def strategy_notes(results: Sequence[sim.StrategyResult]) -> list[str]:
    """Each strategy of the table in words, one line each: what its identifier means."""
    width = max((len(r.strategy) for r in results), default=0)
    return [f"  {r.strategy.ljust(width)}  {described(r.strategy)}" for r in results]


#: Under a comparison with claiming windows.
CLAIMS_NOTES = (
    "  Claims at: the age each pension with a claiming window is claimed at most often, and",
    "  the share of lives claiming it then (the rest claim at other ages or die first).",
)

#: Under a comparison with the exact optimum's shares.
EXACT_NOTES = (
    f"  {OF_EXACT}: the objective CE as a share of the exact dynamic-programming optimum's,",
    "  paired on the same lives.",
)


def simplified_notes(results: Sequence[sim.StrategyResult], with_shares: bool) -> tuple[str, ...]:
    """Where dp_simplified is listed: what it is, so that nobody reads it as the optimum."""
    if not any(r.strategy == DP_SIMPLIFIED for r in results):
        return ()
    notes: tuple[str, ...] = (
        f"  {DP_SIMPLIFIED}: the DP of a simplified model, run in the full simulator: a reference",
        "  and a lower bound on what is achievable, never the optimum.",
    )
    if with_shares:
        notes += (
            f"  {OF_SIMPLIFIED}: the objective CE as a share of {DP_SIMPLIFIED}'s (the simplified",
            "  reference; above 100 % is possible), paired on the same lives.",
        )
    return notes


def _spending_ce(result: sim.StrategyResult) -> str:
    if not result.HasField("lifetimes"):
        return MISSING
    lifetimes = result.lifetimes
    if not lifetimes.HasField("spending_certainty_equivalent"):
        return MISSING
    return money_estimate(lifetimes.spending_certainty_equivalent)


def _median_terminal(terminal: sim.TerminalWealth) -> str:
    for point in terminal.percentiles:
        if point.percentile == 50:
            return money(point.value.value)
    return MISSING


# ----------------------------------------------------------------------------- models


# A label is the user's free text: kept to one line, and cut so the table stays readable.
LABEL_WIDTH = 40


def models_table(models: Sequence[model_pb2.ModelMetadata]) -> str:
    if not models:
        return "No models stored."
    headers = [
        "hash",
        "episodes",
        "kind",
        "owner",
        "parent",
        "created (UTC)",
        "size",
        "algorithm",
        "score",
        "gate",
        "origin",
        "label",
    ]
    rows = [
        [
            m.ref.model_hash,
            f"{m.ref.episodes:,}",
            _kind(m.kind),
            m.owner or MISSING,
            (
                f"rl_model_{m.parent.model_hash}_{m.parent.episodes}ep.zip"
                if m.HasField("parent")
                else MISSING
            ),
            m.created_at.ToDatetime().strftime("%Y-%m-%d %H:%M"),
            size(m.size_bytes),
            m.algorithm or MISSING,
            money(m.evaluation.score) if m.HasField("evaluation") else MISSING,
            _gate(m),
            _origin(m.origin),
            one_line(m.label, LABEL_WIDTH) or MISSING,
        ]
        for m in models
    ]
    listing = table(headers, rows, align="lrllllrlrlll")
    return (
        f"{listing}\n\n{len(models)} model(s). Kind: profile (one household) or generic (a "
        "family of households). Score: the policy's CE a year, today's money. Parent: the "
        "model a fine-tuning started from (`glidepath models tree MODEL` draws the lineage). "
        "Label: the household's or family's name for people, when one is known."
    )


def _kind(kind: model_pb2.ModelKind.ValueType) -> str:
    """profile or generic; a model stored before kinds were recorded is a profile one."""
    if kind == model_pb2.MODEL_KIND_UNSPECIFIED:
        return "profile"
    return model_pb2.ModelKind.Name(kind).removeprefix("MODEL_KIND_").lower()


def _gate(model: model_pb2.ModelMetadata) -> str:
    if not model.HasField("evaluation"):
        return MISSING
    return "passed" if model.evaluation.passed_gate else "not passed"


def _origin(origin: model_pb2.ModelOrigin.ValueType) -> str:
    return model_pb2.ModelOrigin.Name(origin).removeprefix("MODEL_ORIGIN_").lower()


def model_details(model: model_pb2.ModelMetadata) -> str:
    """Everything the registry knows about one model, evaluation included."""
    created = model.created_at.ToDatetime().strftime("%Y-%m-%d %H:%M:%S UTC")
    libraries = ", ".join(f"{k} {v}" for k, v in sorted(model.library_versions.items()))
    parent = (
        f"rl_model_{model.parent.model_hash}_{model.parent.episodes}ep.zip"
        if model.HasField("parent")
        else "none (trained from scratch)"
    )
    training = (
        f"{model.algorithm or 'unknown algorithm'}, {model.timesteps:,} timesteps, "
        f"{model.training_seconds:.1f} s"
    )
    pairs = [
        ("hash", model.ref.model_hash),
        ("episodes", f"{model.ref.episodes:,}"),
        ("created", created),
        ("size", f"{size(model.size_bytes)} ({model.size_bytes:,} bytes)"),
        ("sha256", model.sha256),
        ("origin", _origin(model.origin)),
        ("kind", _kind(model.kind)),
        ("label", one_line(model.label) or MISSING),
        ("owner", model.owner or "none (adopted from the directory)"),
        ("training", training),
        ("libraries", libraries or MISSING),
        ("fine-tuned from", parent),
        ("episodes added", f"{model.episodes_added:,}" if model.episodes_added else MISSING),
        (
            "policy",
            f"{model.policy_family or MISSING}, layout {model.policy_layout_version or MISSING}",
        ),
    ]
    lines = [model.file_name, key_values(pairs)]
    if model.HasField("evaluation"):
        lines += ["", evaluation_report(model.evaluation)]
    else:
        lines += ["", "Not evaluated."]
    return "\n".join(lines)


def evaluation_report(evaluation: model_pb2.ModelEvaluation) -> str:
    verdict = (
        "passed the gate: recommended over the best other strategy"
        if evaluation.passed_gate
        else "did not pass the gate: the best other strategy is recommended instead"
    )
    improvement = (
        f"{'+' if evaluation.improvement >= 0 else ''}{money(evaluation.improvement)}"
        f" ± {money(evaluation.improvement_standard_error)} a year"
    )
    lines = [
        f"Evaluation on {evaluation.held_out_lives:,} held-out lives: {verdict}",
        f"  policy CE minus {evaluation.best_baseline or 'the best other strategy'}: {improvement}",
    ]
    if evaluation.HasField("optimum_ce_consumption"):
        lines.append(f"  {EXACT} CE: {money(evaluation.optimum_ce_consumption)} a year")
    if evaluation.strategies:
        headers = ["strategy", "objective CE a year", OF_EXACT, "success", "bequest ≥ goal"]
        rows = [
            [
                s.strategy,
                f"{money(s.ce_consumption)} ± {money(s.ce_standard_error)}",
                percent(s.ce_share_of_optimum) if s.HasField("ce_share_of_optimum") else MISSING,
                percent(s.success_probability),
                percent(s.capital_goal_probability),
            ]
            for s in evaluation.strategies
        ]
        lines += ["", table(headers, rows)]
    return "\n".join(lines)


def cleanup_report(response: registry_pb2.CleanupModelsResponse, dry_run: bool, days: int) -> str:
    names = [f"  rl_model_{r.model_hash}_{r.episodes}ep.zip" for r in response.models]
    if not names:
        would = "would be" if dry_run else "was"
        return f"No model is older than {days} days: nothing {would} deleted."
    if dry_run:
        head = f"Dry run: {len(names)} model(s) older than {days} days would be deleted"
    else:
        head = f"Deleted {response.deleted_count} model(s) older than {days} days"
    return "\n".join([head + (":" if names else "."), *names])
