"""Generate the Python gRPC stubs (and mypy stubs) from ``protos/``.

The stubs are committed so that a checkout runs without a build step; the test
``tests/test_proto_drift.py`` regenerates them into a temporary directory and fails
when they differ from what is committed. Run ``make protos`` after editing a proto.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"


def proto_files() -> list[Path]:
    return sorted(PROTO_ROOT.rglob("*.proto"))


def generate(out_dir: Path) -> list[Path]:
    """Write every generated file under ``out_dir``; return the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    grpc_include = Path(protoc.__file__).parent / "_proto"
    plugin = Path(sys.executable).parent / "protoc-gen-mypy"
    grpc_plugin = Path(sys.executable).parent / "protoc-gen-mypy_grpc"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{grpc_include}",
        f"--plugin=protoc-gen-mypy={plugin}",
        f"--plugin=protoc-gen-mypy_grpc={grpc_plugin}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--mypy_out={out_dir}",
        f"--mypy_grpc_out={out_dir}",
        *[str(p.relative_to(PROTO_ROOT)) for p in proto_files()],
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    written = sorted(p for p in out_dir.rglob("*") if p.is_file())
    # Each generated directory is a regular package (mypy and setuptools want one).
    packages = {parent for p in written for parent in p.parents if out_dir in parent.parents}
    for directory in packages:
        init = directory / "__init__.py"
        if not init.exists():
            init.write_text("")
            written.append(init)
    return sorted(written)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=None, help="default: the repository root")
    out = parser.parse_args().out
    if out is not None:
        generate(out)
        return
    # Generate into a scratch directory, then copy only the generated files, so that a
    # hand-written module beside them (glidepath/__init__.py, ...) is never touched.
    scratch = ROOT / "build" / "protos"
    shutil.rmtree(scratch, ignore_errors=True)
    for path in generate(scratch):
        target = ROOT / path.relative_to(scratch)
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.name == "__init__.py" and target.exists():
            continue
        shutil.copyfile(path, target)
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
