"""Every strategy in words: a plain name and one sentence a household can follow.

An answer names its strategies by the service's identifiers (``rl_policy``, ``vpw``);
a person reads "the trained policy" and what it does. Each sentence says the rule as
``glidepath.engine.strategies`` implements it (its parameters included), so the words
cannot promise what the simulation did not do. A name the table does not know (a
strategy added later) is shown as itself, with a sentence saying so, rather than
failing the whole answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from glidepath.rl.gate import DP_SIMPLIFIED, OPTIMUM, OWN_PLAN, POLICY


@dataclass(frozen=True)
class StrategyWords:
    """How one strategy is shown to a person."""

    # A plain name, lower case, as it reads inside a sentence: "the 4 % rule".
    name: str
    # What the strategy does, in one sentence.
    sentence: str

    @property
    def title(self) -> str:
        """The name with a capital letter, to start a sentence or a heading."""
        return self.name[:1].upper() + self.name[1:]


_MERTON = "the total-wealth rule"

WORDS: dict[str, StrategyWords] = {
    OWN_PLAN: StrategyWords(
        "your current plan",
        "Today's stock share, the monthly contributions you plan until retirement, and your "
        "spending target after it.",
    ),
    "four_percent_rule": StrategyWords(
        "the 4 % rule",
        "Keep today's stock share; from retirement withdraw each year 4 % of the wealth you "
        "retired with, kept level against inflation.",
    ),
    "glide_path": StrategyWords(
        "the age-based glide path",
        "Hold 110 minus your age in per cent in stocks (less as you age), and spend your target.",
    ),
    "vpw": StrategyWords(
        "variable percentage withdrawal",
        "Keep today's stock share; each retirement year withdraw the part of your wealth "
        "that would last evenly over the years left, so spending follows the markets.",
    ),
    "guardrails": StrategyWords(
        "the guardrails rule",
        "Keep today's stock share; start by withdrawing 5 % of your wealth, keep that amount "
        "against inflation, cut it by a tenth when it rises above 6 % of wealth and raise it "
        "by a tenth when it falls below 4 %.",
    ),
    "merton": StrategyWords(
        _MERTON,
        "Spend and invest fixed shares of everything you own, future income included, as "
        "the textbook (Merton) rule for your risk aversion says.",
    ),
    "floor_upside": StrategyWords(
        "floor and upside",
        f"Set aside what pays for your essential spending first, and invest the rest by {_MERTON}.",
    ),
    OPTIMUM: StrategyWords(
        "the exact optimum",
        "The best strategy for your objective, computed exactly by dynamic programming for "
        "your household.",
    ),
    DP_SIMPLIFIED: StrategyWords(
        "the simplified optimum",
        "The best strategy for a simplified version of your household, followed in the full "
        "simulation: a lower bound on what can be achieved, not the optimum.",
    ),
    "annuitise_25": StrategyWords(
        "annuitise a quarter",
        f"At retirement buy a life annuity with a quarter of your wealth, and invest the rest "
        f"by {_MERTON}.",
    ),
    "annuitise_50": StrategyWords(
        "annuitise half",
        f"At retirement buy a life annuity with half of your wealth, and invest the rest by "
        f"{_MERTON}.",
    ),
    "floor_annuity": StrategyWords(
        "floor with annuities",
        f"At retirement buy the life annuity that covers the essential spending your other "
        f"incomes leave uncovered, and invest the rest by {_MERTON}.",
    ),
    "claim_earliest": StrategyWords(
        "claim early",
        f"Claim each pension that has a choice of age at its earliest age, and follow {_MERTON}.",
    ),
    "claim_latest": StrategyWords(
        "claim late",
        f"Claim each pension that has a choice of age at its latest age, and follow {_MERTON}.",
    ),
    POLICY: StrategyWords(
        "the trained policy",
        "An AI policy (experimental) trained by reinforcement learning on simulated lives of "
        "your household, choosing each year's saving or spending and stock share from your "
        "age, wealth and the markets.",
    ),
}


def words(strategy: str) -> StrategyWords:
    """The words of ``strategy``; an unknown name is shown as itself."""
    known = WORDS.get(strategy)
    if known is not None:
        return known
    return StrategyWords(f"the {strategy} strategy", f"A strategy named {strategy}.")


def name(strategy: str) -> str:
    """The plain name: "the 4 % rule"."""
    return words(strategy).name


def described(strategy: str) -> str:
    """Name and sentence on one line: "The 4 % rule: Keep today's ...": how a strategy
    appears wherever it is listed."""
    entry = words(strategy)
    return f"{entry.title}: {entry.sentence}"
