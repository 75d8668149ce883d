"""The summary of an answer: what to do this year, what the own plan risks, why.

A comparison table of certainty equivalents says which strategy wins; it does not say
what to do on Monday. This module turns an answer (an Optimize or a Simulate one, read
into the plain objects below by ``glidepath.advice.convert``) into a few sections a
person can act on, and it is the one writer of that text: the CLI prints it, the web
page and the API show it, so the three cannot drift apart.

The sections, in order:

- **This year**: the recommended actions next to the household's own plan (save X a
  month instead of Y, hold Z % in stocks instead of W %, how the saving falls on the
  accounts, withdraw V this year, when to claim a pension with a choice of age, whether
  to buy an annuity). Figures are medians over the simulated lives, rounded, since a
  person acts on round numbers.
- **Risk and gain**: how often the own plan runs out of money and meets its target, the
  same for the recommendation, and what the recommendation gains in certainty-equivalent
  money a year, with a range of two standard errors either side.
- **Strategy**: the recommended strategy named in words, what it does, and why in one
  sentence. A trained policy that passes the gate by less than :data:`NOTICEABLE_GAIN`
  of the best rule's CE is announced with "the rule is as good": a gain smaller than
  that is below what a household could notice in its spending, and the rule needs no
  trained model.
- **Words used**: success, ruin and the certainty equivalent, defined where they are
  shown; **Before you act**: re-run every year, and experimental, not financial advice.

Accounts: the engine invests all accounts as one portfolio, so it recommends a total
saving and one stock share, not a split between accounts. The summary says so and splits
the saving as the household does today (in proportion to its planned contributions,
or to its balances when it plans none), which changes nothing in the result.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from glidepath.advice.strategies import described, name, words
from glidepath.rl.gate import OWN_PLAN, POLICY

#: A trained policy gaining less than this share of the best rule's CE a year is called
#: "as good as" that rule: 1 % of the yearly spending-equivalent is about the rounding
#: of a household's own budget.
NOTICEABLE_GAIN = 0.01
#: Below this share of lives an annuity purchase or a claiming age is "not" done.
FEW_LIVES = 0.01
#: Standard errors either side of a gain in its range (about 95 % of the Monte Carlo
#: noise).
RANGE_ERRORS = 2.0

RE_RUN = "Re-run every year: the advice follows the markets and your life."
NOT_ADVICE = "Experimental, not financial advice."
SUCCESS = (
    "Success: your spending target met in every retirement year lived, and money never "
    "exhausted while someone is alive."
)
RUIN = "Ruin (runs out of money): wealth exhausted while someone is still alive."
CERTAINTY_EQUIVALENT = (
    "Certainty equivalent (CE): the sure yearly spending, in today's money, that is worth "
    "as much to you as a strategy's uncertain spending and bequest; the gain is the "
    "difference of two CEs on the same simulated lives."
)


# ----------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Figure:
    """A Monte Carlo figure and its standard error (NaN when unknown)."""

    value: float
    standard_error: float = math.nan


@dataclass(frozen=True)
class ThisYear:
    """One strategy's decisions in the first year of the plan (medians over the lives)."""

    # The household's (first adult's) age this year.
    age: int
    # True when the household is retired this year (withdrawal applies, not savings).
    retired: bool
    # Share of the portfolio in stocks, a fraction in [0, 1].
    stock_share: float
    # Before retirement: put into the portfolio this year (annual, today's money;
    # negative when the portfolio is drawn on).
    savings: float = 0.0
    # In retirement: taken from the portfolio this year (annual, today's money).
    withdrawal: float = 0.0
    # Spending this year (annual, today's money).
    consumption: float = 0.0


@dataclass(frozen=True)
class Claim:
    """When one strategy claims one pension with a choice of claiming age."""

    # The pension, for people ("State pension"); "" when it has no label.
    pension: str
    # The age most lives claim it at.
    age: int
    # Fraction of the lives claiming at ``age``.
    share: float
    # The pension's default age (the household's own plan claims then).
    default_age: int


@dataclass(frozen=True)
class Annuity:
    """Life annuities one strategy buys."""

    # Fraction of the lives that buy one.
    probability: Figure
    # Wealth annuitised, mean over all lives (today's money; 0 where none was bought).
    premium: Figure


@dataclass(frozen=True)
class Outcome:
    """What one strategy gives the household, and what it does this year."""

    strategy: str
    # Objective certainty equivalent: annual, today's money.
    certainty_equivalent: Figure
    # Fractions of the lives.
    success: Figure
    ruin: Figure
    # None when the answer does not carry the year's decisions (a Simulate answer).
    this_year: ThisYear | None = None
    claims: tuple[Claim, ...] = ()
    # None: the household has no annuity offer.
    annuity: Annuity | None = None


@dataclass(frozen=True)
class AccountPlan:
    """One account as the household holds it today."""

    label: str
    # Today's money.
    balance: float
    # Monthly, today's money.
    monthly_contribution: float


@dataclass(frozen=True)
class PolicyVerdict:
    """The trained policy against the best other strategy (the gate), on the same lives."""

    passed: bool
    best_other: str
    # Policy CE minus best_other's CE (annual, today's money), paired.
    improvement: Figure
    # best_other's objective CE (annual, today's money).
    best_other_ce: float
    # The margin the gate asks for, in paired standard errors.
    standard_errors_required: float
    lives: int


@dataclass(frozen=True)
class Answer:
    """An answer to summarise: the own plan, and the recommendation where there is one."""

    own_plan: Outcome
    # None for an answer about one strategy alone (a Simulate answer).
    recommended: Outcome | None = None
    # Recommended CE minus the own plan's (annual, today's money), paired.
    gain: Figure | None = None
    # None where no trained policy was judged.
    verdict: PolicyVerdict | None = None
    accounts: tuple[AccountPlan, ...] = ()
    # The age from which annuities may be bought; None: no annuity offer.
    annuity_from_age: int | None = None
    lives: int = 0


# ----------------------------------------------------------------------------- output


@dataclass(frozen=True)
class Section:
    """A heading and its lines, each line one sentence or one action."""

    heading: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Summary:
    """The summary: a headline, then the sections in reading order."""

    headline: str
    sections: tuple[Section, ...] = field(default_factory=tuple)

    def section(self, heading: str) -> Section:
        """The section of ``heading`` (KeyError when absent)."""
        for section in self.sections:
            if section.heading == heading:
                return section
        raise KeyError(heading)

    def text(self, indent: str = "  ") -> str:
        """Plain text: the headline, then each heading with its lines indented."""
        out = [self.headline]
        for section in self.sections:
            out += ["", section.heading, *(f"{indent}{line}" for line in section.lines)]
        return "\n".join(out)


THIS_YEAR = "This year"
RISK = "Risk and gain"
STRATEGY = "Strategy"
WORDS_USED = "Words used"
BEFORE = "Before you act"


def summarise(answer: Answer) -> Summary:
    """The summary of ``answer``: actions, risk and gain, the strategy and why, words."""
    sections = [
        Section(THIS_YEAR, this_year_lines(answer)),
        Section(RISK, risk_lines(answer)),
        Section(STRATEGY, strategy_lines(answer)),
        Section(WORDS_USED, (SUCCESS, RUIN, CERTAINTY_EQUIVALENT)),
        Section(BEFORE, (RE_RUN, NOT_ADVICE)),
    ]
    return Summary(headline(answer), tuple(s for s in sections if s.lines))


def headline(answer: Answer) -> str:
    """What the answer comes to, in one line."""
    recommended = answer.recommended
    if recommended is None:
        lives = f" on {answer.lives:,} simulated lives" if answer.lives else ""
        return f"{_subject(answer.own_plan.strategy)}{lives}."
    if recommended.strategy == OWN_PLAN:
        return "Recommended: keep your current plan."
    verdict = answer.verdict
    if verdict is not None and verdict.passed and not noticeable(verdict):
        return (
            f"Recommended: {name(recommended.strategy)}, though {name(verdict.best_other)} "
            "is as good."
        )
    return f"Recommended: {name(recommended.strategy)}."


# ----------------------------------------------------------------------------- this year


def this_year_lines(answer: Answer) -> tuple[str, ...]:
    """The year's actions, the recommendation's next to the own plan's."""
    own = answer.own_plan.this_year
    advised = own
    if answer.recommended is not None:
        advised = answer.recommended.this_year
    else:
        own = None  # one strategy alone: nothing to set it against
    if advised is None:
        return ()
    lines: list[str] = [f"At age {advised.age}:"]
    if advised.retired:
        lines.append(_withdraw_line(advised, own))
    else:
        lines.append(_save_line(advised, own))
    lines.append(_stocks_line(advised, own))
    if not advised.retired:
        lines += _account_lines(answer.accounts, advised.savings)
    chooser = answer.recommended or answer.own_plan
    lines += [_claim_line(claim) for claim in chooser.claims]
    if chooser.annuity is not None:
        lines.append(_annuity_line(chooser, chooser.annuity, answer.annuity_from_age, advised.age))
    return tuple(lines)


def _instead(advised: float, own: float | None, text: str) -> str:
    """ " instead of <own>", or ", as in your plan" when the two round alike."""
    if own is None:
        return ""
    if _rounded(advised) == _rounded(own):
        return ", as in your current plan"
    return f" instead of {text}"


def _save_line(advised: ThisYear, own: ThisYear | None) -> str:
    if advised.savings >= 0:
        action = f"Save {money(advised.savings / 12)} a month ({money(advised.savings)} this year)"
    else:
        action = f"Take {money(-advised.savings)} out of your savings this year"
    if own is None:
        return action + "."
    return action + _instead(advised.savings, own.savings, _saving_words(own.savings)) + "."


def _saving_words(savings: float) -> str:
    if savings >= 0:
        return f"{money(savings / 12)} a month"
    return f"taking {money(-savings)} out"


def _withdraw_line(advised: ThisYear, own: ThisYear | None) -> str:
    spend = f"spend {money(advised.consumption)} in all, your incomes included"
    if _rounded(advised.withdrawal) == 0:
        action = "Withdraw nothing this year: your incomes cover your spending"
        if own is not None and _rounded(own.withdrawal) != 0:
            action += f" (your current plan withdraws {money(own.withdrawal)})"
        return f"{action}; {spend}."
    action = f"Withdraw {money(advised.withdrawal)} this year"
    action += f" ({money(advised.withdrawal / 12)} a month)"
    if own is not None:
        action += _instead(advised.withdrawal, own.withdrawal, money(own.withdrawal))
    return f"{action}; {spend}."


def _stocks_line(advised: ThisYear, own: ThisYear | None) -> str:
    share = round(advised.stock_share * 100)
    rest = "" if share >= 100 else ", the rest in bonds and cash"
    if own is None:
        return f"Hold {share} % in stocks{rest}."
    own_share = round(own.stock_share * 100)
    if share == own_share:
        return f"Hold {share} % in stocks, as in your current plan."
    return f"Hold {share} % in stocks instead of {own_share} %{rest}."


def _account_lines(accounts: Sequence[AccountPlan], savings: float) -> list[str]:
    """How the year's saving falls on the accounts (see the module docstring)."""
    if savings <= 0 or not accounts:
        return []
    if len(accounts) == 1:
        return [f"Put it all into {_label(accounts[0], 0)}."]
    weights = [a.monthly_contribution for a in accounts]
    basis = "your planned contributions"
    if sum(weights) <= 0:
        weights, basis = [max(a.balance, 0.0) for a in accounts], "your balances"
    if sum(weights) <= 0:
        weights, basis = [1.0] * len(accounts), "equal parts"
    total = sum(weights)
    parts = [
        f"{_label(a, i)} {money(savings / 12 * w / total)} a month"
        for i, (a, w) in enumerate(zip(accounts, weights, strict=True))
    ]
    return [
        f"Split it as {basis} do: {', '.join(parts)} "
        "(all accounts are invested as one portfolio, with the same stock share)."
    ]


def _label(account: AccountPlan, index: int) -> str:
    return account.label or f"account {index + 1}"


def _claim_line(claim: Claim) -> str:
    pension = claim.pension or "your pension"
    lives = f" (in {percent(claim.share)} of simulated lives)" if claim.share < 0.995 else ""
    if claim.age == claim.default_age:
        return f"Claim {pension} at {claim.age}{lives}, as in your current plan."
    return f"Claim {pension} at {claim.age}{lives} instead of at {claim.default_age}."


def _annuity_line(outcome: Outcome, annuity: Annuity, from_age: int | None, age: int) -> str:
    probability = annuity.probability.value
    if probability < FEW_LIVES:
        return (
            f"Do not buy a life annuity: {_subject(outcome.strategy, capital=False)} buys "
            "none in almost every simulated life."
        )
    when = "now on" if from_age is None or from_age <= age else f"age {from_age}"
    bought = annuity.premium.value / probability
    return (
        f"Buy a life annuity (on offer from {when}): {percent(probability)} of simulated "
        f"lives buy one, paying {money(bought)} in all on average (today's money)."
    )


# ----------------------------------------------------------------------------- risk


def risk_lines(answer: Answer) -> tuple[str, ...]:
    own = answer.own_plan
    lines = [_risk_sentence(own)]
    recommended = answer.recommended
    if recommended is None or recommended.strategy == own.strategy:
        return tuple(lines)
    lines.append(_risk_sentence(recommended))
    if recommended.success.value < own.success.value:
        lines.append(
            f"Success counts only the lives that meet your spending target in every year: "
            f"{name(recommended.strategy)} spends less than it in some years of some lives, "
            "for a higher CE."
        )
    if answer.gain is not None:
        lines.append(_gain_sentence(answer.gain, answer.lives))
    return tuple(lines)


def _subject(strategy: str, capital: bool = True) -> str:
    """The strategy as the subject of a sentence: "Your current plan", "The 4 % rule"."""
    if strategy == OWN_PLAN:
        return "Your current plan" if capital else "your current plan"
    return words(strategy).title if capital else name(strategy)


def _risk_sentence(outcome: Outcome) -> str:
    return (
        f"{_subject(outcome.strategy)} runs out of money in {percent(outcome.ruin.value)} "
        f"of simulated lives and succeeds in {percent(outcome.success.value)}; its CE is "
        f"{money(outcome.certainty_equivalent.value)} a year."
    )


def _gain_sentence(gain: Figure, lives: int) -> str:
    on = f" on the same {lives:,} lives" if lives else ""
    if not math.isfinite(gain.standard_error):
        return f"The recommendation gains {signed_money(gain.value)} a year of CE{on}."
    low = gain.value - RANGE_ERRORS * gain.standard_error
    high = gain.value + RANGE_ERRORS * gain.standard_error
    return (
        f"The recommendation gains {signed_money(gain.value)} ± "
        f"{money(gain.standard_error)} a year of CE over your plan{on} "
        f"(likely between {signed_money(low)} and {signed_money(high)})."
    )


# ----------------------------------------------------------------------------- strategy


def strategy_lines(answer: Answer) -> tuple[str, ...]:
    chosen = answer.recommended or answer.own_plan
    lines = [described(chosen.strategy)]
    why = _why(answer)
    if why:
        lines.append(f"Why: {why}")
    verdict = answer.verdict
    if verdict is not None and chosen.strategy != verdict.best_other:
        lines.append(described(verdict.best_other))
    if chosen.strategy != OWN_PLAN:
        lines.append(described(OWN_PLAN))
    if verdict is not None and chosen.strategy != POLICY:
        lines.append(described(POLICY))
    return tuple(lines)


def _why(answer: Answer) -> str:
    """Why the recommendation, in one sentence."""
    verdict = answer.verdict
    chosen = answer.recommended
    if chosen is None:
        return ""
    if verdict is None:
        if chosen.strategy == OWN_PLAN:
            return "no other rule compared does better for you."
        return f"it has the highest CE of the rules compared ({_ce(chosen)})."
    margin = _margin(verdict.improvement)
    other = name(verdict.best_other)
    if verdict.passed and noticeable(verdict):
        return (
            f"it beats the best other strategy, {other}, by {margin} on the same "
            f"{verdict.lives:,} lives, more than luck explains."
        )
    if verdict.passed:
        return (
            f"the trained policy gains only {margin} over {other}, less than a noticeable "
            f"{NOTICEABLE_GAIN:.0%}: {other} is as good, and needs no trained model."
        )
    if verdict.improvement.value > 0:
        return (
            f"the trained policy gains only {margin} over it, within what luck explains: "
            f"{other} is as good, and needs no trained model."
        )
    if verdict.best_other == OWN_PLAN:
        return f"no strategy tried does better than your plan (the trained policy: {margin})."
    return (
        f"it has the highest CE of the strategies tried ({_ce(chosen)}); the trained policy "
        f"does worse ({margin})."
    )


def noticeable(verdict: PolicyVerdict) -> bool:
    """Whether the policy's gain over the best rule is worth noticing (see the module)."""
    return verdict.improvement.value >= NOTICEABLE_GAIN * abs(verdict.best_other_ce)


def _margin(figure: Figure) -> str:
    error = figure.standard_error
    text = signed_money(figure.value)
    return f"{text} ± {money(error)} a year" if math.isfinite(error) else f"{text} a year"


def _ce(outcome: Outcome) -> str:
    return f"{money(outcome.certainty_equivalent.value)} a year"


# ----------------------------------------------------------------------------- numbers


def _rounded(value: float) -> float:
    """Money as a person reads it: to the nearest 10."""
    return round(value / 10) * 10


def money(value: float) -> str:
    """Today's money with thousands separators, rounded to 10 from 1,000 on (1,250; 45)."""
    if not math.isfinite(value):
        return "—"
    return f"{_rounded(value) if abs(value) >= 1000 else value:,.0f}"


def signed_money(value: float) -> str:
    return ("+" if value >= 0 else "−") + money(abs(value))


def percent(fraction: float) -> str:
    """A fraction as a whole percentage ("44 %"), one decimal under 1 % ("0.4 %")."""
    if not math.isfinite(fraction):
        return "—"
    points = fraction * 100
    if 0 < abs(points) < 1:
        return f"{points:.1f} %"
    return f"{points:.0f} %"
