"""A service's words for a request, as the flags and arguments of the command that sent it.

The service answers any client, so its messages name request fields
(``fallback_to_training is off``, ``min_episodes (500)``); a person at the command line
typed ``--no-fallback`` and ``--min-episodes``, and should read those. :func:`in_flag_words`
rewrites a status message or a progress line: whole phrases first (what to do about it),
then each field name where it stands as a name, never inside another word.
"""

from __future__ import annotations

import re

# Phrases whose advice changes with the words: "turn it on" is "drop --no-fallback".
_PHRASES = (
    (
        "fallback_to_training is off; turn it on, or run option A",
        "--no-fallback was given; leave it out, or run without --pretrained",
    ),
    ("fallback_to_training is off", "--no-fallback was given"),
    ("option B with fallback_to_training on", "--pretrained without --no-fallback"),
)
# Request fields and the flag that sets each.
_FIELDS = {
    "fallback_to_training": "--no-fallback",
    "fine_tune_episodes": "--fine-tune",
    "min_episodes": "--min-episodes",
    "use_pretrained": "--pretrained",
    "start_model": "--from",
    "settings.paths": "--paths",
    "settings.seed": "--seed",
    "ref.model_hash": "HASH",
    "ref.episodes": "EPISODES",
    "model_hash": "--hash",
    "max_age_days": "--max-age-days",
}
# Longest first, so that ``ref.model_hash`` is one name, not ``ref.`` and ``model_hash``.
_FIELD = re.compile(
    r"(?<![\w./-])("
    + "|".join(map(re.escape, sorted(_FIELDS, key=len, reverse=True)))
    + r")(?![\w])"
)
# Fields whose names are also plain words: replaced only where a violation names them.
_HEAD_FIELDS = {"episodes": "--episodes", "strategy": "--strategy"}
_HEAD_FIELD = re.compile(r"(^|; |: |\[fields: |, )(episodes|strategy)(?=[:,\]])")
_LISTED_STRATEGY = re.compile(r"(?<![\w.-])strategies\[(\d+)\]")


def in_flag_words(text: str) -> str:
    """``text`` with every request field the CLI's commands set named by its flag (or
    argument: ``HASH``, ``EPISODES``)."""
    for phrase, words in _PHRASES:
        text = text.replace(phrase, words)
    text = _FIELD.sub(lambda m: _FIELDS[m.group(1)], text)
    text = _LISTED_STRATEGY.sub(lambda m: f"--strategies (name {int(m.group(1)) + 1})", text)
    return _HEAD_FIELD.sub(lambda m: m.group(1) + _HEAD_FIELDS[m.group(2)], text)
