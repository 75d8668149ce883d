"""The result page's charts: ``glidepath.charts`` drawn as Plotly figures (plain dicts).

What a chart shows, its labels and where its axes stop are decided once, renderer-free,
in ``glidepath.charts`` (the CLI draws the same charts with matplotlib); this module only
turns each :class:`~glidepath.charts.Panel` into one Plotly figure, drawn in the browser
by ``static/charts.js``. An AI run draws the recommendation (``recommended_chart``:
wealth, spending and saving, stock share); a rules-only run, which carries no year's
decisions, draws the recommended rule's simulation (``strategy_chart``: wealth and
spending).
"""

from __future__ import annotations

from typing import Any

from glidepath.charts import (
    Chart,
    Fan,
    Level,
    Panel,
    Series,
    Unit,
    recommended_chart,
    strategy_chart,
)
from glidepath.household.model import Household
from glidepath.simulation.v1 import simulation_pb2 as sim

Figure = dict[str, Any]
# The elements drawing the panels, in the panels' order (wealth, spending, allocation).
FIGURE_IDS = ("chart-wealth", "chart-spending", "chart-allocation")
BAND = "rgba(31, 119, 180, {alpha})"
LEVEL_COLOURS = ("#2ca02c", "#b35900")
SERIES_COLOURS = ("#1f77b4", "#9467bd", "#8c564b")


def figures(chart: Chart | None) -> dict[str, Figure]:
    """The chart's panels as figures, by the id of the element drawing each."""
    if chart is None:
        return {}
    return {
        key: panel_figure(chart, panel)
        for key, panel in zip(FIGURE_IDS, chart.panels, strict=False)
    }


def result_chart(result: sim.OptimizeResult, household: Household) -> Chart | None:
    """The recommendation's chart when the answer has its years, else its simulation's."""
    if result.recommended.years:
        return recommended_chart(result, household)
    chosen = next(
        (r for r in result.comparison.results if r.strategy == result.recommended.strategy), None
    )
    return None if chosen is None else strategy_chart(chosen, household)


def panel_figure(chart: Chart, panel: Panel) -> Figure:
    """One panel as a figure: its fan, series and levels, the retirements marked."""
    first, last = chart.ages
    traces: list[dict[str, Any]] = []
    if panel.fan is not None:
        traces += _fan(panel.fan)
    for index, series in enumerate(panel.series):
        traces.append(_series(series, SERIES_COLOURS[index % len(SERIES_COLOURS)]))
    for index, level in enumerate(panel.levels):
        traces.append(_level(level, last, LEVEL_COLOURS[index % len(LEVEL_COLOURS)], first))
    return {"data": traces, "layout": _layout(chart, panel, first, last)}


def _fan(fan: Fan) -> list[dict[str, Any]]:
    """The outer band lightly, the 25th-75th darker, the median as a line."""
    profile, labels = fan.profile, fan.labels()
    ages = list(profile.ages)
    traces: list[dict[str, Any]] = []
    for key, (low, high), alpha in (
        ("outer", profile.outer, 0.15),
        ("inner", (25.0, 75.0), 0.3),
    ):
        band = profile.band(low, high)
        if band is None or (key == "inner" and (low, high) == profile.outer):
            continue
        traces.append(_line(ages, band[0], "", width=0, legend=False))
        traces.append(
            {
                **_line(ages, band[1], labels[key], width=0),
                "fill": "tonexty",
                "fillcolor": BAND.format(alpha=alpha),
            }
        )
    if profile.median is not None:
        traces.append(
            {**_line(ages, profile.median, labels["median"], width=3), "hoverinfo": "x+y+name"}
        )
        traces[-1]["line"]["color"] = BAND.format(alpha=1)
    return traces


def _line(
    ages: list[int], values: Any, name: str, *, width: float, legend: bool = True
) -> dict[str, Any]:
    trace: dict[str, Any] = {
        "x": ages,
        "y": list(values),
        "mode": "lines",
        "type": "scatter",
        "line": {"width": width},
        "name": name,
        "showlegend": legend,
    }
    if width == 0:
        trace["hoverinfo"] = "skip"
    return trace


def _series(series: Series, colour: str) -> dict[str, Any]:
    if series.bars:
        return {
            "x": list(series.ages),
            "y": list(series.values),
            "type": "bar",
            "name": series.label,
            "marker": {"color": "rgba(140, 86, 75, 0.5)"},
        }
    trace = _line(list(series.ages), series.values, series.label, width=3)
    trace["line"]["color"] = colour
    if series.step:
        trace["line"]["shape"] = "hv"
    return trace


def _level(level: Level, last: int, colour: str, first: int) -> dict[str, Any]:
    start = first if level.from_age is None else level.from_age
    return {
        "x": [start, last],
        "y": [level.value, level.value],
        "mode": "lines",
        "type": "scatter",
        "line": {"color": colour, "dash": "dot", "width": 2},
        "name": level.label,
        "hoverinfo": "name",
    }


def title(panel: Panel) -> str:
    """What the panel draws, by age: its fan's quantity, then its lines, then its bars."""
    parts = [panel.fan.quantity] if panel.fan is not None else []
    parts += [s.label for s in sorted(panel.series, key=lambda s: s.bars)]
    text = " and ".join(parts) or panel.axis_label
    return f"{text[:1].upper()}{text[1:]} by age"


def _layout(chart: Chart, panel: Panel, first: int, last: int) -> dict[str, Any]:
    share = panel.unit is Unit.SHARE
    yaxis: dict[str, Any] = {
        # The unit on a line of its own: a long label outgrows a short plot (375 px).
        "title": {"text": panel.axis_label.replace(" (", "<br>(", 1)},
        "automargin": True,
        "tickformat": ".0%" if share else ",.0f",
    }
    if panel.top is not None:
        yaxis["range"] = [panel.bottom or 0.0, panel.top]
    elif panel.bottom == 0.0:
        yaxis["rangemode"] = "tozero"
    return {
        "title": {"text": title(panel)},
        "xaxis": {"title": {"text": chart.x_label}, "automargin": True, "range": [first, last]},
        "yaxis": yaxis,
        "shapes": [
            {
                "type": "line",
                "x0": mark.age,
                "x1": mark.age,
                "yref": "paper",
                "y0": 0,
                "y1": 1,
                "line": {"color": "#555", "dash": "dash"},
            }
            for mark in chart.retirements
        ],
        "annotations": [
            {
                "x": mark.age,
                "yref": "paper",
                "y": 1 - 0.07 * number,
                "text": mark.label,
                "showarrow": False,
                "xanchor": "left",
            }
            for number, mark in enumerate(chart.retirements)
        ],
        # Below the axis title, growing downwards as it wraps on a narrow screen.
        "legend": {"orientation": "h", "yanchor": "top", "y": -0.3},
        "margin": {"l": 70, "r": 10, "t": 40, "b": 40},
        "hovermode": "x unified",
        "barmode": "overlay",
    }
