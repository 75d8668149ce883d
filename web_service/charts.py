"""The result page's charts as Plotly figures (plain dicts, drawn in the browser).

Three figures from one OptimizeResult: wealth by age (the recommended strategy's
percentile bands and median, the household's own plan's median, the capital goal and
the retirement age), spending by age (the same, for consumption) and the stock share by
age. Under mortality the ages where fewer than FEW_LIVES of the lives still run are left
out (a band over a handful of lives says little), and so is the wealth profile's last
column, which holds every life's bequest whatever its age at death. These builders are
this module's own until the chart data shared with the CLI has a renderer-free home.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from glidepath.cli.render import FEW_LIVES
from glidepath.simulation.v1 import simulation_pb2 as sim
from web_service.filters import strategy_name

Figure = dict[str, Any]
BAND_COLOUR = "rgba(31, 119, 180, {alpha})"
OWN_PLAN = "own_plan"


def _kept(profile: sim.AgeProfile, end_column: bool) -> list[int]:
    counts = list(profile.paths_by_age)
    if not counts:
        return list(range(len(profile.ages)))
    last = len(counts) - 1 if end_column else len(counts)
    return [k for k, n in enumerate(counts[:last]) if n >= FEW_LIVES * counts[0]]


def _pick(values: Sequence[float], keep: list[int]) -> list[float]:
    return [values[k] for k in keep]


def _layout(title: str, y_title: str, *, percent: bool = False) -> dict[str, Any]:
    return {
        "title": {"text": title},
        "xaxis": {"title": {"text": "age of the first adult"}, "automargin": True},
        "yaxis": {
            "title": {"text": y_title},
            "automargin": True,
            "rangemode": "tozero",
            **({"tickformat": ".0%"} if percent else {"tickformat": ",.0f"}),
        },
        # Below the axis title, growing downwards as it wraps on a narrow screen.
        "legend": {"orientation": "h", "yanchor": "top", "y": -0.3},
        "margin": {"l": 70, "r": 10, "t": 40, "b": 40},
        "hovermode": "x unified",
    }


def band_figure(
    profile: sim.AgeProfile,
    own: sim.AgeProfile | None,
    *,
    title: str,
    y_title: str,
    strategy: str,
    end_column: bool,
    goal: float = 0.0,
    retirement_age: int | None = None,
) -> Figure:
    """The percentile bands (outer and inner pairs shaded), the median, own plan's median."""
    keep = _kept(profile, end_column)
    ages = _pick(list(profile.ages), keep)
    bands = {b.percentile: _pick(list(b.values), keep) for b in profile.bands}
    traces: list[dict[str, Any]] = []
    points = sorted(bands)
    pairs = [(points[i], points[-1 - i]) for i in range(len(points) // 2)]
    for depth, (low, high) in enumerate(pairs):
        alpha = 0.12 + 0.12 * depth
        traces.append(
            {
                "x": ages,
                "y": bands[low],
                "mode": "lines",
                "line": {"width": 0},
                "showlegend": False,
                "hoverinfo": "skip",
                "type": "scatter",
            }
        )
        traces.append(
            {
                "x": ages,
                "y": bands[high],
                "mode": "lines",
                "line": {"width": 0},
                "fill": "tonexty",
                "fillcolor": BAND_COLOUR.format(alpha=alpha),
                "name": f"{low:g}th to {high:g}th percentile",
                "type": "scatter",
                "hoverinfo": "skip",
            }
        )
    if 50.0 in bands:
        traces.append(
            {
                "x": ages,
                "y": bands[50.0],
                "mode": "lines",
                "type": "scatter",
                "line": {"color": BAND_COLOUR.format(alpha=1), "width": 3},
                "name": f"median, {strategy_name(strategy)}",
            }
        )
    if own is not None and strategy != OWN_PLAN:
        own_keep = _kept(own, end_column)
        own_bands = {b.percentile: list(b.values) for b in own.bands}
        if 50.0 in own_bands:
            traces.append(
                {
                    "x": _pick(list(own.ages), own_keep),
                    "y": _pick(own_bands[50.0], own_keep),
                    "mode": "lines",
                    "type": "scatter",
                    "line": {"color": "#b35900", "dash": "dash"},
                    "name": "median, your own plan",
                }
            )
    layout = _layout(title, y_title)
    shapes: list[dict[str, Any]] = []
    if goal > 0 and ages:
        shapes.append(
            {
                "type": "line",
                "x0": ages[0],
                "x1": ages[-1],
                "y0": goal,
                "y1": goal,
                "line": {"color": "#2ca02c", "dash": "dot"},
            }
        )
        traces.append(
            {
                "x": [ages[0], ages[-1]],
                "y": [goal, goal],
                "mode": "lines",
                "type": "scatter",
                "line": {"color": "#2ca02c", "dash": "dot"},
                "name": "capital goal",
            }
        )
    if retirement_age is not None:
        shapes.append(
            {
                "type": "line",
                "x0": retirement_age,
                "x1": retirement_age,
                "yref": "paper",
                "y0": 0,
                "y1": 1,
                "line": {"color": "#555", "dash": "dash"},
            }
        )
        layout["annotations"] = [
            {
                "x": retirement_age,
                "yref": "paper",
                "y": 1,
                "text": "retirement",
                "showarrow": False,
                "xanchor": "left",
            }
        ]
    layout["shapes"] = shapes
    if 95.0 in bands and 50.0 in bands and bands[50.0]:
        # The 95th percentile of wealth runs far above the median: cap the axis so that
        # the median stays readable (the band is cut, not dropped; hover shows values).
        top = max(bands[50.0]) * 3
        layout["yaxis"]["range"] = [0, max(top, goal * 1.2)]
    return {"data": traces, "layout": layout}


def allocation_figure(recommended: sim.RecommendedStrategy) -> Figure:
    years = [y for y in recommended.years if y.lives_running >= FEW_LIVES]
    trace = {
        "x": [y.age for y in years],
        "y": [y.stock_share for y in years],
        "mode": "lines",
        "type": "scatter",
        "line": {"width": 3},
        "name": f"stock share, {strategy_name(recommended.strategy)} (median)",
    }
    layout = _layout("Allocation by age: share in stocks", "share in stocks", percent=True)
    layout["yaxis"]["range"] = [0, 1]
    return {"data": [trace], "layout": layout}


def result_figures(
    result: sim.OptimizeResult, *, goal: float, retirement_age: int | None
) -> dict[str, Figure]:
    """The three figures of the result page, by the id of the element drawing each."""
    by_name = {r.strategy: r for r in result.comparison.results}
    chosen = by_name.get(result.recommended.strategy)
    own = by_name.get(OWN_PLAN)
    figures: dict[str, Figure] = {}
    if chosen is not None:
        name = strategy_name(chosen.strategy)
        figures["chart-wealth"] = band_figure(
            chosen.wealth,
            own.wealth if own else None,
            title=f"Wealth by age: {name}",
            y_title="wealth, today's money",
            strategy=chosen.strategy,
            end_column=True,
            goal=goal,
            retirement_age=retirement_age,
        )
        figures["chart-spending"] = band_figure(
            chosen.consumption,
            own.consumption if own else None,
            title=f"Spending by age: {name}",
            y_title="spending a year, today's money",
            strategy=chosen.strategy,
            end_column=False,
            retirement_age=retirement_age,
        )
    if result.recommended.years:
        figures["chart-allocation"] = allocation_figure(result.recommended)
    return figures
