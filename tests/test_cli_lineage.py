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
        ["models", "list"],
        ["optimize", "examples/household.json"],
    ]
    results = [run_cli(*command, env=stack.client_env()) for command in commands]
    for command, result in zip(commands, results, strict=True):
        assert result.returncode == 0, (command, result.stderr[-2000:])
    scratch, tuned, listing, tree, show, children, exact = (r.stdout for r in results)
    parent = f"rl_model_{model_hash}_200ep.zip"
    child = f"rl_model_{model_hash}_300ep.zip"

    assert re.search(rf"^Model\s+{parent} \(200 episodes\)$", scratch, re.MULTILINE), scratch
    assert f"{child} (300 episodes), fine-tuned from {parent}, +100" in tuned

    rows = {line.split()[1]: line.split() for line in listing.splitlines() if model_hash in line}
    assert rows["200"][2:5] == ["profile", "local", MISSING]
    assert rows["300"][2] == "profile" and rows["300"][4] == parent
    label = load_household(EXAMPLE).message.name  # the household's label, the last column
    assert label and all(
        line.endswith(label) for line in listing.splitlines() if model_hash in line
    ), listing
    # --parent (with --kind and --owner that match): the fine-tunings of the first model.
    listed = [line.split()[:2] for line in children.splitlines() if model_hash in line]
    assert listed == [[model_hash, "300"]], children

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
    assert re.search(rf"label\s+{re.escape(label)}$", show, re.MULTILINE), show

    # Option B: the first rung serves (the 300-episode model has at least 300 episodes).
    assert re.search(rf"^Model\s+{child} \(300 episodes\)", exact, re.MULTILINE), exact
    assert re.search(r"^Source\s+exact: ", exact, re.MULTILINE), exact
    ladder = results[-1].stderr
    assert "rung 1, exact model: " in ladder and "rung 2" not in ladder, ladder


def changed_household(tmp_path: Path, raise_by: float = 100.0) -> Path:
    """The example household with its income raised a little: another hash, no model."""
    data = json.loads(EXAMPLE.read_text())
    data["adults"][0]["netIncome"] += raise_by
    path = tmp_path / f"household_{raise_by:g}.json"
    path.write_text(json.dumps(data))
    return path


def served_by(stdout: str) -> str:
    """The rung's word that starts the answer's Source line."""
    source = re.search(r"^Source\s+([a-z -]+):", stdout, re.MULTILINE)
    assert source is not None, stdout
    return source.group(1)


def test_option_b_names_each_rung_it_climbs_and_the_one_that_served(
    stack: LocalStack, tmp_path: Path
) -> None:
    """No model of this hash: the ladder goes on to near matches and the generic model
    (whichever the registry holds), skips the fine-tuning (--fine-tune 0), and trains
    from scratch unless a candidate passed zero-shot. The answer names that rung."""
    household = changed_household(tmp_path)
    flags = ["--pretrained", "--fine-tune", "0", "--episodes", "100", "--min-episodes", "100"]
    flags += ["--paths", "1000"]
    first = run_cli("optimize", str(household), *flags, env=stack.client_env())
    assert first.returncode == 0, first.stderr[-2000:]
    progress = first.stderr.splitlines()
    assert any(line.startswith("LOOKING_UP") and "rung 1, exact model" in line for line in progress)
    assert any(line.startswith("NEAR_MATCHES") and "rung 2, near" in line for line in progress)
    assert not any("rung 3, fine-tuning" in line for line in progress)  # skipped
    zero_shot = [line for line in progress if line.startswith("ZERO_SHOT")]
    assert all("a year against" in line for line in zero_shot)  # each candidate's score
    served = served_by(first.stdout)
    assert served in ("near match", "generic", "trained now"), served
    if served == "trained now":
        assert any("rung 4, training from scratch" in line for line in progress)
    else:
        assert any(line.endswith(", accepted") for line in zero_shot), zero_shot
    # The model this call served or stored is the household's exact model next time when it
    # was trained for it.
    if served == "trained now":
        again = run_cli(
            "optimize", str(household), "--pretrained", "--min-episodes", "100",
            "--paths", "1000", env=stack.client_env(),
        )  # fmt: skip
        assert again.returncode == 0, again.stderr[-2000:]
        assert re.search(r"^Source\s+exact: ", again.stdout, re.MULTILINE), again.stdout
        assert "rung 2" not in again.stderr


def test_option_b_fine_tunes_the_best_candidate_when_none_passes_zero_shot(
    stack: LocalStack, tmp_path: Path
) -> None:
    """--fine-tune N: when a near match or the generic model was scored and none passed,
    the best is fine-tuned N episodes and the answer names the fine-tuning and its parent;
    with no candidate at all the ladder trains from scratch."""
    household = changed_household(tmp_path, raise_by=200.0)
    flags = ["--pretrained", "--fine-tune", "30", "--episodes", "100", "--min-episodes", "100"]
    result = run_cli("optimize", str(household), *flags, "--paths", "1000", env=stack.client_env())
    assert result.returncode == 0, result.stderr[-2000:]
    progress = result.stderr.splitlines()
    zero_shot = [line for line in progress if line.startswith("ZERO_SHOT")]
    served = served_by(result.stdout)
    if any(line.endswith(", accepted") for line in zero_shot):
        assert served in ("near match", "generic"), served
    elif zero_shot:
        assert served == "fine-tuned now", result.stdout
        assert any(
            line.startswith("FINE_TUNING") and "for 30 episodes" in line for line in progress
        )
        assert all("rung 4" not in line for line in progress)
        model = next(line for line in result.stdout.splitlines() if line.startswith("Model"))
        assert "fine-tuned from rl_model_" in model and model.endswith(", +30"), model
    else:
        assert served == "trained now" and all("rung 3" not in line for line in progress)


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
        last = one_error_line(run_cli(*argv, env=env), 2)
        assert "bad.zip' is not a model's file name: expected" in last or "one model" in last
    tree = run_cli("models", "tree", model_hash, "7", env=env)
    assert "NOT_FOUND" in one_error_line(tree, 1)
