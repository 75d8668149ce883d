"""Argument types shared by the commands: what argparse rejects before any call is made.

A value the wire cannot carry (a negative count, or one past 2**32 - 1, into a uint32
field) would otherwise fail inside protobuf; argparse reports it as a usage error (exit
code 2) naming the flag. Counts (paths, episodes, days) travel as uint32, seeds as uint64.
"""

from __future__ import annotations

import argparse

UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1
PORT_MAX = 65535
# More digits than any value above can have (2**64 - 1 has 20): refused before int().
_MOST_DIGITS = 24


def positive_int(text: str) -> int:
    """A count: an integer in [1, 2**32 - 1]."""
    return _bounded(text, 1, UINT32_MAX)


def count_or_zero(text: str) -> int:
    """A count where 0 has a meaning of its own (``--fine-tune 0``: skip the rung)."""
    return _bounded(text, 0, UINT32_MAX)


def non_negative_int(text: str) -> int:
    """A seed: an integer in [0, 2**64 - 1]."""
    return _bounded(text, 0, UINT64_MAX)


def port_number(text: str) -> int:
    """A TCP port, or 0 for a free one."""
    return _bounded(text, 0, PORT_MAX)


def _bounded(text: str, low: int, high: int) -> int:
    value = _integer(text)
    if value < low:
        raise argparse.ArgumentTypeError(f"must be at least {low:,}, got {value:,}")
    if value > high:
        raise argparse.ArgumentTypeError(f"must be at most {high:,}, got {value:,}")
    return value


def _integer(text: str) -> int:
    digits = text.replace("_", "").replace(",", "")
    if len(digits) > _MOST_DIGITS:
        raise argparse.ArgumentTypeError(f"too large: {len(digits):,} digits")
    try:
        return int(digits)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
