"""Structured logs: one JSON object per line on stderr.

A line per request (method, status, duration) and a line per lifecycle event is what an
operator greps and what a log pipeline ingests; JSON keeps both easy. Secrets (the
registry token) are never passed to these functions.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any, TextIO

_lock = threading.Lock()
_service = "glidepath"
_stream: TextIO = sys.stderr


def configure(service: str, stream: TextIO | None = None) -> None:
    """Name the service that every following line is attributed to."""
    global _service, _stream
    _service = service
    if stream is not None:
        _stream = stream


def event(name: str, *, level: str = "info", **fields: Any) -> None:
    """Write one log line; ``fields`` must be JSON-serialisable (others are str()-ed)."""
    record = {
        "ts": round(time.time(), 3),
        "level": level,
        "service": _service,
        "event": name,
        **fields,
    }
    line = json.dumps(record, default=str, separators=(",", ":"))
    with _lock:
        _stream.write(line + "\n")
        _stream.flush()
