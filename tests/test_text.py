"""Echoed strings are clipped: short ones unchanged, long ones cut with their length."""

from __future__ import annotations

from glidepath.text import clip


def test_short_text_is_unchanged() -> None:
    assert clip("abc") == "abc"
    assert clip("x" * 200) == "x" * 200


def test_long_text_keeps_its_start_and_says_how_long_it_was() -> None:
    assert clip("x" * 201) == "x" * 200 + "… (201 characters)"
    assert clip("abcdef", limit=3) == "abc… (6 characters)"
