"""The picture: a fan chart of wealth by age, and a second panel under it.

Top: the spread of wealth across the simulated lives, age by age, in today's money: the
5-95th percentiles lightly shaded, the 25-75th darker, the median as a line; the capital
goal as a horizontal line and the retirement age as a vertical one, so that a person sees
at a glance how likely the goal is and when the savings start to be drawn down.

Bottom: the stock share by age when the result carries an allocation (the recommended
strategy of an optimisation); otherwise yearly consumption in the same fan form, with the
spending target, which is what a person checks next ("can we spend what we planned?").

The chart takes plain data (``Chart``), not a response message, so that the optimisation
result can be drawn by the same code. matplotlib is imported only when a plot is asked
for, with the Agg backend (no display needed). Where the chart goes, and in which
format, is ``glidepath.cli.plot_target``'s business.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glidepath.cli.plot_target import plot_format
from glidepath.cli.render import FEW_LIVES
from glidepath.simulation.v1 import simulation_pb2 as sim

WEALTH_COLOUR = "#1f5fa8"
CONSUMPTION_COLOUR = "#2e8b57"
GOAL_COLOUR = "#c0392b"
RETIREMENT_COLOUR = "#555555"


@dataclass(frozen=True)
class Profile:
    """A quantity's percentiles by age: ``bands`` maps percentile points to values."""

    ages: Sequence[int]
    bands: Mapping[float, Sequence[float]]

    @classmethod
    def from_proto(cls, profile: sim.AgeProfile, end_column: bool = False) -> Profile:
        """The bands by age; under mortality only the ages at which at least FEW_LIVES of
        the lives still run (a band over a handful of lives says little), and never the
        wealth profile's ``end_column``, which holds every life's bequest, whatever the
        age of death, not wealth at an age."""
        bands = {b.percentile: list(b.values) for b in profile.bands}
        counts = list(profile.paths_by_age)
        if not counts:
            return cls(list(profile.ages), bands)
        last = len(counts) - 1 if end_column else len(counts)
        keep = [k for k, n in enumerate(counts[:last]) if n >= FEW_LIVES * counts[0]]
        return cls(
            [profile.ages[k] for k in keep],
            {p: [values[k] for k in keep] for p, values in bands.items()},
        )

    def band(self, low: float, high: float) -> tuple[Sequence[float], Sequence[float]] | None:
        if low in self.bands and high in self.bands:
            return self.bands[low], self.bands[high]
        return None

    @property
    def outer(self) -> tuple[float, float]:
        return min(self.bands), max(self.bands)


@dataclass(frozen=True)
class Allocation:
    """The share of the portfolio in stocks (a fraction) at each age."""

    ages: Sequence[int]
    stock_share: Sequence[float]
    label: str = "stock share"


@dataclass(frozen=True)
class Chart:
    """Everything drawn: the wealth fan, the markers, and what goes in the second panel."""

    title: str
    wealth: Profile
    retirement_age: int
    capital_goal: float = 0.0
    consumption: Profile | None = None
    spending_target: float = 0.0
    allocation: Allocation | None = None


def chart_for_result(
    result: sim.StrategyResult, retirement_age: int, capital_goal: float, spending_target: float
) -> Chart:
    """The chart of one simulated strategy (no allocation: the simulation does not report it)."""
    return Chart(
        title=f"Wealth by age — strategy “{result.strategy}”, {result.paths:,} simulated lives",
        wealth=Profile.from_proto(result.wealth, end_column=True),
        retirement_age=retirement_age,
        capital_goal=capital_goal,
        consumption=Profile.from_proto(result.consumption) if result.consumption.ages else None,
        spending_target=spending_target,
    )


def write_chart(chart: Chart, path: Path) -> None:
    """Draw ``chart`` into ``path``, in the format its extension names (``plot_format``).

    The picture goes to a temporary file beside ``path`` and is moved into place, so a
    failure never leaves half a chart under the name asked for.
    """
    file_format = plot_format(path)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    second = chart.allocation is not None or chart.consumption is not None
    figure, axes = plt.subplots(
        2 if second else 1,
        1,
        figsize=(10, 8.5 if second else 5.5),
        sharex=True,
        gridspec_kw={"height_ratios": [3, 2]} if second else None,
        squeeze=False,
    )
    top = axes[0][0]
    _fan(top, chart.wealth, WEALTH_COLOUR, "wealth")
    if chart.capital_goal > 0:
        top.axhline(
            chart.capital_goal,
            color=GOAL_COLOUR,
            linestyle="--",
            linewidth=1.5,
            label=f"capital goal (the bequest aimed at): {chart.capital_goal:,.0f}",
        )
    _money_axis(top, "Wealth (today's money)")
    top.set_title(chart.title, fontsize=13, loc="left")
    if chart.allocation is not None:
        _allocation(axes[1][0], chart.allocation)
    elif chart.consumption is not None:
        bottom = axes[1][0]
        _fan(bottom, chart.consumption, CONSUMPTION_COLOUR, "consumption")
        if chart.spending_target > 0:
            # The target is for retirement: drawn from the retirement age on.
            bottom.hlines(
                chart.spending_target,
                chart.retirement_age,
                max(chart.wealth.ages),
                color=GOAL_COLOUR,
                linestyle="--",
                linewidth=1.5,
                label=f"spending target in retirement: {chart.spending_target:,.0f} a year",
            )
        _money_axis(bottom, "Consumption a year (today's money)")
    for index, row in enumerate(axes):
        _retirement(row[0], chart.retirement_age, labelled=index == 0)
        row[0].grid(True, alpha=0.3)
    axes[0][0].legend(loc="upper left", fontsize=9, framealpha=0.9)
    if second:
        # A falling stock share leaves the upper right empty; a fan leaves the upper left.
        corner = "upper right" if chart.allocation is not None else "upper left"
        axes[1][0].legend(loc=corner, fontsize=9, framealpha=0.9)
    axes[-1][0].set_xlabel("Age")
    axes[-1][0].set_xlim(min(chart.wealth.ages), max(chart.wealth.ages))
    figure.tight_layout()
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        figure.savefig(temporary, dpi=110, format=file_format)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
        plt.close(figure)


def _fan(axis: Any, profile: Profile, colour: str, name: str) -> None:
    """Outer band lightly, 25-75 darker, the median as a line."""
    low, high = profile.outer
    outer = profile.band(low, high)
    if outer is not None and low < high:
        axis.fill_between(
            profile.ages,
            *outer,
            color=colour,
            alpha=0.15,
            linewidth=0,
            label=f"{low:g}th-{high:g}th percentile",
        )
    inner = profile.band(25.0, 75.0)
    if inner is not None:
        axis.fill_between(
            profile.ages,
            *inner,
            color=colour,
            alpha=0.35,
            linewidth=0,
            label="25th-75th percentile",
        )
    if 50.0 in profile.bands:
        axis.plot(
            profile.ages, profile.bands[50.0], color=colour, linewidth=2.2, label=f"median {name}"
        )
    axis.set_ylim(bottom=0)


def _money_axis(axis: Any, label: str) -> None:
    from matplotlib.ticker import FuncFormatter

    axis.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:,.0f}"))
    axis.set_ylabel(label)


def _allocation(axis: Any, allocation: Allocation) -> None:
    from matplotlib.ticker import PercentFormatter

    shares = [share * 100 for share in allocation.stock_share]
    axis.step(
        allocation.ages,
        shares,
        where="post",
        color=WEALTH_COLOUR,
        linewidth=2.2,
        label=allocation.label,
    )
    axis.fill_between(allocation.ages, shares, step="post", color=WEALTH_COLOUR, alpha=0.15)
    axis.set_ylim(0, 100)
    axis.yaxis.set_major_formatter(PercentFormatter(100))
    axis.set_ylabel("Stocks (share of the portfolio)")


def _retirement(axis: Any, age: int, labelled: bool) -> None:
    axis.axvline(
        age,
        color=RETIREMENT_COLOUR,
        linestyle=":",
        linewidth=1.5,
        label=f"retirement at {age}" if labelled else None,
    )
