"""The simulation service's words for ``optimize``'s request, as the flags that set them.

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
# Request fields and the flag that sets each (``episodes`` only where it is the field
# named at the head of a violation: the word is also plain English).
_FIELDS = {
    "fallback_to_training": "--no-fallback",
    "fine_tune_episodes": "--fine-tune",
    "min_episodes": "--min-episodes",
    "use_pretrained": "--pretrained",
    "start_model": "--from",
    "settings.paths": "--paths",
    "settings.seed": "--seed",
}
_FIELD = re.compile(r"(?<![\w.-])(" + "|".join(map(re.escape, _FIELDS)) + r")(?![\w])")
_EPISODES_FIELD = re.compile(r"(^|; |: |\[fields: |, )episodes(?=[:,\]])")


def in_flag_words(text: str) -> str:
    """``text`` with every request field of ``optimize`` named by its flag."""
    for phrase, words in _PHRASES:
        text = text.replace(phrase, words)
    text = _FIELD.sub(lambda m: _FIELDS[m.group(1)], text)
    return _EPISODES_FIELD.sub(lambda m: f"{m.group(1)}--episodes", text)
