"""Every Python snippet in ``docs/*.md`` runs, as a reader would run it from the repository.

Each fenced ``python`` block runs alone in a fresh interpreter (this one's), from the
repository's root, and must exit 0. A block followed by a ``text`` block is its printed
output: every line of that output must come out of the run with the same words and the
figures within 3 % (Monte Carlo figures are seeded, yet the last digit may move with the
machine's floating point), so a figure in the docs cannot silently go stale.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted((ROOT / "docs").glob("*.md"))
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)
NUMBER = re.compile(r"-?\d[\d,]*\.?\d*")


def snippets() -> list[tuple[str, str, str | None]]:
    """(id, code, printed output or None) for every python block of the docs."""
    found = []
    for doc in DOCS:
        blocks = BLOCK.findall(doc.read_text())
        for i, (language, body) in enumerate(blocks):
            if language != "python":
                continue
            following = blocks[i + 1] if i + 1 < len(blocks) else None
            output = following[1] if following and following[0] == "text" else None
            found.append((f"{doc.name}#{i}", body, output))
    return found


def _numbers(line: str) -> list[float]:
    return [float(n.replace(",", "")) for n in NUMBER.findall(line) if n.strip("-,.")]


def _words(line: str) -> list[str]:
    return NUMBER.sub("#", line).split()


def _same(expected: str, got: str) -> bool:
    if _words(expected) != _words(got):
        return False
    pairs = zip(_numbers(expected), _numbers(got), strict=True)
    return all(abs(a - b) <= 0.03 * max(abs(a), 1.0) for a, b in pairs)


SNIPPETS = snippets()


@pytest.mark.parametrize(
    ("code", "output"), [s[1:] for s in SNIPPETS], ids=[s[0] for s in SNIPPETS]
)
def test_the_snippet_runs_and_prints_what_the_docs_show(code: str, output: str | None) -> None:
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr[-2000:]
    if output is None:
        return
    expected = [line for line in output.splitlines() if line.strip()]
    got = [line for line in run.stdout.splitlines() if line.strip()]
    assert len(got) == len(expected), run.stdout
    for want, line in zip(expected, got, strict=True):
        assert _same(want, line), f"docs show {want!r}, the run printed {line!r}"


def test_the_docs_have_snippets() -> None:
    assert snippets(), "docs/*.md hold no python block"
