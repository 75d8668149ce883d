"""Every snippet and command in ``README.md`` and ``docs/*.md`` works as a reader would run it.

- Each fenced ``python`` block runs alone in a fresh interpreter (this one's) and must
  exit 0. It runs in a scratch copy of the repository's root (every top-level entry
  linked, ``var/`` and ``models/rl`` its own), so what a snippet writes under ``var/``
  never touches the checkout. A block that reads a service address (``SIMULATION_ADDR``,
  ``TRAINING_ADDR``, ``REGISTRY_ADDR``) runs against a real local stack started in that
  scratch root, as ``glidepath up`` would start it, with the example household's model
  already stored, so the examples that say "after ``glidepath optimize``" hold.
- A ``python`` block followed by a ``text`` block is its printed output: every line must
  come out of the run with the same words and the figures within 3 % (Monte Carlo figures
  are seeded, yet the last digit may move with the machine's floating point), so a figure
  in the docs cannot silently go stale.
- A ``text`` block that starts with ``$ glidepath compare`` or ``$ glidepath simulate``
  is that command's output: the command runs against the local stack, and every line the
  block shows must come out, in order (a block may leave rows out), with the same words
  and the figures within 3 %; elapsed times (``2.47 s``) are not compared.
- Each command of a ``sh`` block must name what exists: a ``glidepath`` command line must
  parse with the CLI's own parser (every subcommand and flag as written), a
  ``python -m``/``python FILE`` line a module or file of the repository, a ``make`` line a
  target of the Makefile; ``docker``/``mmdebstrap`` lines are run for real by
  ``make compose-test`` (``scripts/compose_smoke.py``).
- Every ``json`` block parses (a fragment such as ``"annuities": {...}`` inside braces);
  a whole household validates, and one that bears an example file's name is that file.
- Every relative link of the README and the docs points at a file the repository holds.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)
NUMBER = re.compile(r"-?\d[\d,]*\.?\d*")
# [text](target) outside code; the target up to a space, a ')' or a '#'.
LINK = re.compile(r"\[[^\]]*\]\(([^)\s#]+)(?:#[^)]*)?\)")
CLI_OUTPUT = re.compile(r"\$ glidepath (compare|simulate) ")
DURATION = re.compile(r"\d+(\.\d+)? s\b")
NEEDS_STACK = re.compile(r"\b(SIMULATION|TRAINING|REGISTRY)_ADDR\b")
# Programs whose lines only the compose test can run (it needs root and Docker).
COMPOSE_PROGRAMS = {"docker", "mmdebstrap"}


def _name(doc: Path) -> str:
    return doc.relative_to(ROOT).as_posix()


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
            found.append((f"{_name(doc)}#{i}", body, output))
    return found


def commands() -> list[tuple[str, str]]:
    """(id, command line) for every command of every ``sh`` block, comments dropped,
    backslash continuations joined."""
    found = []
    for doc in DOCS:
        for i, (language, body) in enumerate(BLOCK.findall(doc.read_text())):
            if language != "sh":
                continue
            joined = body.replace("\\\n", " ")
            for line in joined.splitlines():
                line = line.split(" #", 1)[0].strip()
                if line and not line.startswith("#"):
                    found.append((f"{_name(doc)}#{i}: {line}", line))
    return found


def cli_outputs() -> list[tuple[str, str, list[str]]]:
    """(id, command line, lines shown) for every ``text`` block that shows what
    ``glidepath compare`` or ``glidepath simulate`` prints, up to the next ``$`` line."""
    found = []
    for doc in DOCS:
        for i, (language, body) in enumerate(BLOCK.findall(doc.read_text())):
            lines = body.splitlines()
            if language != "text" or not CLI_OUTPUT.match(lines[0] if lines else ""):
                continue
            shown = []
            for line in lines[1:]:
                if line.startswith("$ "):
                    break
                if line.strip():
                    shown.append(line)
            found.append((f"{_name(doc)}#{i}", lines[0][2:], shown))
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
COMMANDS = commands()
CLI_OUTPUTS = cli_outputs()


@pytest.fixture(scope="module")
def scratch_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's root as a reader sees it, with its own ``var/`` and ``models/rl``."""
    root = tmp_path_factory.mktemp("reader")
    for entry in ROOT.iterdir():
        if entry.name not in {"var", "models", ".git"}:
            (root / entry.name).symlink_to(entry)
    (root / "models").mkdir()
    for entry in (ROOT / "models").iterdir():
        if entry.name != "rl":
            (root / "models" / entry.name).symlink_to(entry)
    return root


@pytest.fixture(scope="module")
def stack_env(scratch_root: Path) -> Iterator[dict[str, str]]:
    """A local stack in the scratch root (``var/``), holding a model of the example
    household; yields the client environment pointing at it."""
    from glidepath.cli.stack import local_stack
    from glidepath.household.convert import household_from_json, household_to_proto
    from glidepath.rpc.channel import open_channel
    from glidepath.training.v1 import training_pb2, training_pb2_grpc

    ports = {"registry": 0, "training": 0, "simulation": 0}
    settings = {"TRAINING_EVAL_LIVES": "2000", "OPTIMIZE_SCORE_LIVES": "2000"}
    with local_stack(scratch_root / "var", ports=ports, env=settings) as stack:
        env = stack.client_env()
        household = household_from_json((ROOT / "examples" / "household.json").read_text())
        channel = open_channel(env["TRAINING_ADDR"])
        try:
            stub = training_pb2_grpc.TrainingServiceStub(channel)
            request = training_pb2.StartTrainingRequest(
                household=household_to_proto(household), episodes=500, seed=7
            )
            job = stub.StartTraining(request, timeout=30).job
            for update in stub.WatchTraining(
                training_pb2.WatchTrainingRequest(job_id=job.job_id), timeout=600
            ):
                job = update.job
            assert job.state == training_pb2.TRAINING_STATE_SUCCEEDED, job.message
        finally:
            channel.close()
        yield env


@pytest.mark.parametrize(
    ("code", "output"), [s[1:] for s in SNIPPETS], ids=[s[0] for s in SNIPPETS]
)
def test_the_snippet_runs_and_prints_what_the_docs_show(
    code: str, output: str | None, scratch_root: Path, request: pytest.FixtureRequest
) -> None:
    inherited = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), inherited]))}
    for variable in ("SIMULATION_ADDR", "TRAINING_ADDR", "REGISTRY_ADDR", "RL_MODELS_DIR"):
        env.pop(variable, None)
    if NEEDS_STACK.search(code):
        env.update(request.getfixturevalue("stack_env"))
    run = subprocess.run(
        [sys.executable, "-c", code],
        cwd=scratch_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    if output is None:
        return
    expected = [line for line in output.splitlines() if line.strip()]
    got = [line for line in run.stdout.splitlines() if line.strip()]
    assert len(got) == len(expected), run.stdout
    for want, line in zip(expected, got, strict=True):
        assert _same(want, line), f"docs show {want!r}, the run printed {line!r}"


@pytest.mark.parametrize(
    ("line", "shown"), [c[1:] for c in CLI_OUTPUTS], ids=[c[0] for c in CLI_OUTPUTS]
)
def test_the_cli_prints_what_the_docs_show(
    line: str, shown: list[str], scratch_root: Path, stack_env: dict[str, str]
) -> None:
    inherited = os.environ.get("PYTHONPATH")
    env = {**os.environ, **stack_env, "COLUMNS": "200"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), inherited]))
    run = subprocess.run(
        [sys.executable, "-m", "glidepath.cli", *shlex.split(line)[1:]],
        cwd=scratch_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    printed = iter([DURATION.sub("# s", got) for got in run.stdout.splitlines()])
    for want in shown:
        want = DURATION.sub("# s", want)
        assert any(_same(want, got) for got in printed), (
            f"docs show {want!r}; not printed in that order:\n{run.stdout}"
        )


def _make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z][\w-]*):", text, re.MULTILINE))


def _python_target(words: list[str]) -> None:
    """``python -m MODULE ARGS`` or ``python FILE ARGS``: the module or file exists."""
    if words[0] == "-m":
        module = words[1]
        found = subprocess.run(
            [sys.executable, "-c", f"import importlib.util as u; assert u.find_spec({module!r})"],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
        )
        assert found.returncode == 0, f"no module {module}"
    else:
        assert (ROOT / words[0]).is_file(), f"no file {words[0]}"


@pytest.mark.parametrize("line", [c[1] for c in COMMANDS], ids=[c[0] for c in COMMANDS])
def test_the_command_names_what_exists(line: str) -> None:
    words = shlex.split(line)
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
        words = words[1:]  # VARIABLE=value before the program
    program = words[0]
    if program in COMPOSE_PROGRAMS:
        return  # run for real by `make compose-test`
    if program == "make":
        assert set(words[1:]) <= _make_targets(), f"{line}: no such make target"
    elif program.endswith("glidepath"):
        from glidepath.cli.main import build_parser

        build_parser().parse_args(words[1:])  # SystemExit on an unknown command or flag
    elif program.endswith("python"):
        _python_target(words[1:])
    else:
        pytest.fail(f"{line}: no test knows how to check {program}")


def json_blocks() -> list[tuple[str, str]]:
    """(id, body) for every ``json`` block."""
    found = []
    for doc in DOCS:
        for i, (language, body) in enumerate(BLOCK.findall(doc.read_text())):
            if language == "json":
                found.append((f"{_name(doc)}#{i}", body))
    return found


JSON_BLOCKS = json_blocks()


@pytest.mark.parametrize("body", [j[1] for j in JSON_BLOCKS], ids=[j[0] for j in JSON_BLOCKS])
def test_the_json_parses_and_a_household_is_valid(body: str) -> None:
    from glidepath.household.convert import household_from_json

    text = body.strip()
    value = json.loads(text if text.startswith("{") else "{" + text + "}")
    if "adults" not in value:
        return  # a fragment of a household; its own document's python blocks run it
    household_from_json(text)  # InvalidArgument names every bad field
    examples = {
        json.loads(path.read_text()).get("name"): path
        for path in (ROOT / "examples").glob("*.json")
    }
    if value.get("name") in examples:
        assert value == json.loads(examples[value["name"]].read_text())


def test_every_relative_link_points_at_a_file_of_the_repository() -> None:
    broken = []
    for doc in DOCS:
        text = BLOCK.sub("", doc.read_text())
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target):
                continue  # http:, https:, mailto:
            if not (doc.parent / target).exists():
                broken.append(f"{_name(doc)} -> {target}")
    assert not broken, broken


def test_the_docs_have_snippets_and_commands() -> None:
    assert snippets(), "README.md and docs/*.md hold no python block"
    assert commands(), "README.md and docs/*.md hold no sh block"
