"""Fine-tuning and lineage from the command line: the commands of ``docs/models.md``, run
in order as a reader would, by the real ``glidepath`` client against a local stack (the
three services as real processes on loopback ports)."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import EPHEMERAL_PORTS, EXAMPLE, ROOT, one_error_line, run_cli

from glidepath.cli.inputs import load_household
from glidepath.cli.render import MISSING
from glidepath.cli.stack import LocalStack, local_stack
from glidepath.household.canonical import canonicalize, household_hash
from glidepath.household.convert import household_from_proto

pytestmark = pytest.mark.slow

DOC = ROOT / "docs" / "models.md"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    env = {"TRAINING_EVAL_LIVES": "200", "OPTIMIZE_PROFILE_PATHS": "500"}
    with local_stack(tmp_path_factory.mktemp("lineage"), ports=EPHEMERAL_PORTS, env=env) as s:
        yield s


def example_hash() -> str:
    return household_hash(canonicalize(household_from_proto(load_household(EXAMPLE).message)))


def doc_commands() -> list[list[str]]:
    """The ``glidepath`` lines of the doc's bash block, HASH filled in."""
    block = re.search(r"```bash\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert block is not None, "docs/models.md has no bash block"
    lines = [line for line in block.group(1).splitlines() if line.startswith("glidepath ")]
    return [shlex.split(line.replace("HASH", example_hash()))[1:] for line in lines]


def test_the_docs_commands_fine_tune_and_draw_the_lineage(stack: LocalStack) -> None:
    model_hash = example_hash()
    commands = doc_commands()
    assert [c[:2] for c in commands] == [
        ["optimize", "examples/household.json"],
        ["optimize", "examples/household.json"],
        ["models", "list"],
        ["models", "tree"],
        ["models", "show"],
    ]
    results = [run_cli(*command, env=stack.client_env()) for command in commands]
    for command, result in zip(commands, results, strict=True):
        assert result.returncode == 0, (command, result.stderr[-2000:])
    scratch, tuned, listing, tree, show = (r.stdout for r in results)
    parent = f"rl_model_{model_hash}_200ep.zip"
    child = f"rl_model_{model_hash}_300ep.zip"

    assert re.search(rf"^Model\s+{parent} \(200 episodes\)$", scratch, re.MULTILINE), scratch
    assert f"{child} (300 episodes), fine-tuned from {parent}, +100" in tuned

    rows = {line.split()[1]: line.split() for line in listing.splitlines() if model_hash in line}
    assert rows["200"][2:5] == ["profile", "local", MISSING]
    assert rows["300"][2] == "profile" and rows["300"][4] == f"{model_hash}_200ep"

    lines = tree.splitlines()
    assert lines[0].startswith(f"{parent}  200 episodes, profile")
    assert lines[1].startswith(f"└── {child}  300 episodes (+100 fine-tuning), profile")
    assert lines[1].endswith("<- this model") and "<- this model" not in lines[0]

    as_json = run_cli("models", "tree", child, "--json", env=stack.client_env())
    names = [m["fileName"] for m in json.loads(as_json.stdout)["models"]]
    assert sorted(names) == [parent, child]

    assert re.search(rf"fine-tuned from\s+{parent}", show), show
    assert re.search(r"episodes added\s+100$", show, re.MULTILINE), show
    assert re.search(r"kind\s+profile$", show, re.MULTILINE), show


def test_a_bad_start_model_or_a_stray_name_is_one_line(stack: LocalStack, tmp_path: Path) -> None:
    env = stack.client_env()
    model_hash = example_hash()
    missing = run_cli(
        "optimize",
        str(EXAMPLE),
        "--from",
        f"rl_model_{model_hash}_999ep.zip",
        "--fine-tune",
        "8",
        env=env,
    )
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    line = missing.stderr.strip().splitlines()[-1]  # after the progress lines
    assert line.startswith("glidepath: ") and "NOT_FOUND" in line and "999ep.zip" in line
    alone = run_cli("optimize", str(EXAMPLE), "--fine-tune", "8", env=env)
    assert "--from" in one_error_line(alone, 2)
    for argv in (
        ["models", "show", "rl_model_bad.zip"],
        ["models", "tree", "a", "b", "c"],
        ["optimize", str(EXAMPLE), "--from", "rl_model_bad.zip"],
    ):
        stray = run_cli(*argv, env=env)
        assert stray.returncode == 2 and "usage: glidepath" in stray.stderr, stray.stderr
        last = stray.stderr.strip().splitlines()[-1]
        assert last.startswith("glidepath") and ("bad.zip" in last or "one model" in last)
    tree = run_cli("models", "tree", model_hash, "7", env=env)
    assert "NOT_FOUND" in one_error_line(tree, 1)
