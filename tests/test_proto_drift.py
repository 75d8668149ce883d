"""The committed stubs must be exactly what protoc generates from protos/ today."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_generated_stubs_match_protos(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_protos.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    generated = {
        p.relative_to(tmp_path)
        for p in tmp_path.rglob("*")
        if p.is_file() and p.name != "__init__.py"
    }
    assert generated, "protoc generated nothing"
    stale = [
        str(rel)
        for rel in sorted(generated)
        if not (ROOT / rel).exists() or (ROOT / rel).read_bytes() != (tmp_path / rel).read_bytes()
    ]
    assert not stale, f"stubs out of date, run `make protos`: {stale}"
    committed = {
        p.relative_to(ROOT) for p in (ROOT / "glidepath").rglob("*_pb2*.py*") if p.is_file()
    }
    orphans = sorted(str(p) for p in committed - generated)
    assert not orphans, f"stubs without a .proto, delete them: {orphans}"
