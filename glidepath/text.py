"""Clip strings echoed back to people, so a hostile input cannot flood an answer or a log."""

from __future__ import annotations


def clip(text: str, limit: int = 200) -> str:
    """``text`` unchanged when short, else its first ``limit`` characters and its length."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} characters)"
