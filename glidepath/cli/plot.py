"""The picture: a chart of ``glidepath.charts`` drawn with matplotlib.

What is shown, its labels and where each axis stops are the chart data's
(``glidepath.charts``), shared with the web page; this module only draws it: the panels
stacked under one another on a shared age axis, fans as shaded bands under a median
line, levels as dashed lines, a step line for a share, bars for a flow that changes
sign, and each adult's retirement as a vertical line on every panel. matplotlib is
imported only when a plot is asked for, with the Agg backend (no display needed). Where
the chart goes, and in which format, is ``glidepath.cli.plot_target``'s business.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from glidepath.charts import Chart, Fan, Panel, Series, Unit
from glidepath.cli.plot_target import plot_format

COLOURS = ("#1f5fa8", "#2e8b57", "#8e44ad")
FLOW_COLOUR = "#d68910"
GOAL_COLOUR = "#c0392b"
RETIREMENT_COLOUR = "#555555"
# The first adult's retirement dotted, the second's dash-dotted.
RETIREMENT_STYLES = (":", "-.")
PANEL_HEIGHTS = {Unit.MONEY: 3.0, Unit.SHARE: 2.0}


def write_chart(chart: Chart, path: Path) -> None:
    """Draw ``chart`` into ``path``, in the format its extension names (``plot_format``).

    The picture goes to a temporary file beside ``path`` and is moved into place, so a
    failure never leaves half a chart under the name asked for.
    """
    file_format = plot_format(path)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ratios = [PANEL_HEIGHTS[panel.unit] for panel in chart.panels]
    figure, axes = plt.subplots(
        len(chart.panels),
        1,
        figsize=(10, 1.2 + 1.45 * sum(ratios)),
        sharex=True,
        gridspec_kw={"height_ratios": ratios},
        squeeze=False,
    )
    for index, (panel, row) in enumerate(zip(chart.panels, axes, strict=True)):
        axis = row[0]
        _panel(axis, panel, COLOURS[index % len(COLOURS)])
        for number, retirement in enumerate(chart.retirements):
            axis.axvline(
                retirement.age,
                color=RETIREMENT_COLOUR,
                linestyle=RETIREMENT_STYLES[number % len(RETIREMENT_STYLES)],
                linewidth=1.5,
                label=retirement.label if index == 0 else None,
            )
        axis.grid(True, alpha=0.3)
        # A falling share leaves the upper right empty; a fan the upper left; savings
        # before retirement and withdrawals after it leave the lower left.
        corner = "upper right" if panel.unit is Unit.SHARE else "upper left"
        if any(series.bars for series in panel.series):
            corner = "lower left"
            low, high = axis.get_ylim()
            axis.set_ylim(bottom=low - 0.3 * (high - low))  # room for the legend
        axis.legend(loc=corner, fontsize=9, framealpha=0.9)
    axes[0][0].set_title(chart.title, fontsize=13, loc="left")
    axes[-1][0].set_xlabel(chart.x_label)
    axes[-1][0].set_xlim(*chart.ages)
    figure.tight_layout()
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        figure.savefig(temporary, dpi=110, format=file_format)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
        plt.close(figure)


def _panel(axis: Any, panel: Panel, colour: str) -> None:
    if panel.fan is not None:
        _fan(axis, panel.fan, colour)
    for number, series in enumerate(panel.series):
        _series(axis, series, colour if number == 0 else COLOURS[(number + 1) % len(COLOURS)])
    for level in panel.levels:
        if level.from_age is None:
            axis.axhline(
                level.value, color=GOAL_COLOUR, linestyle="--", linewidth=1.5, label=level.label
            )
        else:
            axis.hlines(
                level.value,
                level.from_age,
                max(panel.ages),
                color=GOAL_COLOUR,
                linestyle="--",
                linewidth=1.5,
                label=level.label,
            )
    if panel.unit is Unit.SHARE:
        from matplotlib.ticker import PercentFormatter

        axis.yaxis.set_major_formatter(PercentFormatter(1.0))
    else:
        from matplotlib.ticker import FuncFormatter

        axis.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:,.0f}"))
    if panel.bottom is not None:
        axis.set_ylim(bottom=panel.bottom)
    if panel.top is not None:
        axis.set_ylim(top=panel.top)
    axis.set_ylabel(panel.axis_label)


def _fan(axis: Any, fan: Fan, colour: str) -> None:
    """Outer band lightly, 25-75 darker, the median as a line."""
    profile = fan.profile
    labels = fan.labels()
    low, high = profile.outer
    outer = profile.band(low, high)
    if outer is not None and low < high:
        axis.fill_between(
            profile.ages, *outer, color=colour, alpha=0.15, linewidth=0, label=labels["outer"]
        )
    inner = profile.band(25.0, 75.0)
    if inner is not None:
        axis.fill_between(
            profile.ages, *inner, color=colour, alpha=0.35, linewidth=0, label=labels["inner"]
        )
    if profile.median is not None:
        axis.plot(profile.ages, profile.median, color=colour, linewidth=2.2, label=labels["median"])


def _series(axis: Any, series: Series, colour: str) -> None:
    if series.bars:
        axis.bar(
            series.ages,
            series.values,
            width=0.8,
            color=FLOW_COLOUR,
            alpha=0.55,
            label=series.label,
        )
        axis.axhline(0.0, color="#333333", linewidth=0.8)
    elif series.step:
        axis.step(
            series.ages,
            series.values,
            where="post",
            color=colour,
            linewidth=2.2,
            label=series.label,
        )
        axis.fill_between(series.ages, series.values, step="post", color=colour, alpha=0.15)
    else:
        axis.plot(series.ages, series.values, color=colour, linewidth=2.2, label=series.label)
