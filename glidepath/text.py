"""Clipping user-supplied strings before they are echoed in an error or a log line.

A request may carry a string of megabytes where a 16-character hash belongs. Echoed
whole, it grows the log by that much per request, and once an error message passes gRPC's
metadata limit (about 8 KB) the client gets RESOURCE_EXHAUSTED instead of the
INVALID_ARGUMENT it earned. Every echo goes through :func:`clip`.
"""

from __future__ import annotations

import re

DEFAULT_LIMIT = 200


def clip(text: str, limit: int = DEFAULT_LIMIT) -> str:
    """``text`` when short; else its first ``limit`` characters and the full length."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} characters)"


def clip_repr(value: object, limit: int = DEFAULT_LIMIT) -> str:
    """``repr(value)`` clipped: for messages that quote what the caller sent."""
    return clip(repr(value), limit)


_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def one_line(text: str, limit: int = DEFAULT_LIMIT) -> str:
    """``text`` as one clipped line: ANSI colour codes dropped, line breaks and other
    control characters folded into single spaces. For a third party's message (torch's
    multi-line errors, a peer's details) that ends up in a status or a stream event."""
    plain = _CONTROL.sub(" ", _ANSI_ESCAPE.sub("", text))
    return clip(" ".join(plain.split()), limit)
