"""The client's side of option B's ladder and of the model listing, no service needed:
the progress lines name each rung as the stream reaches it, the flags become the request's
fields (and contradictory ones are refused in one line), a model is named by its file name
or refused in one line showing the form.

The streams here are the Optimize messages the simulation service sends for each rung
(``simulation_service/optimize/flow.py``), written out; tests/test_cli_lineage.py runs the
ladder through the real services.
"""

from __future__ import annotations

import io

import pytest
from cli_support import EXAMPLE, ROOT, one_error_line, run_cli

from glidepath.cli.inputs import load_household
from glidepath.cli.main import build_parser
from glidepath.cli.models import list_request
from glidepath.cli.optimize import build_request
from glidepath.cli.progress import ProgressBar
from glidepath.cli.render import MISSING, models_table
from glidepath.cli.rungs import EXACT, FINE_TUNING, NEAR, SCRATCH, SOURCES, OptimizeProgress
from glidepath.common.v1 import model_pb2
from glidepath.simulation.v1 import simulation_pb2 as sim
from glidepath.training.v1 import training_pb2

NOWHERE = {"SIMULATION_ADDR": "127.0.0.1:9", "REGISTRY_ADDR": "127.0.0.1:9"}
HOUSEHOLD = "0123456789abcdef"
NEAR_HASH = "fedcba9876543210"
GENERIC_HASH = "00112233445566aa"


def event(stage: sim.OptimizeStage.ValueType, message: str = "") -> sim.OptimizeResponse:
    return sim.OptimizeResponse(event=sim.OptimizeEvent(stage=stage, message=message))


def training(episodes_done: int, total: int = 200) -> sim.OptimizeResponse:
    return sim.OptimizeResponse(
        event=sim.OptimizeEvent(
            stage=sim.OPTIMIZE_STAGE_TRAINING_PROGRESS,
            training=sim.TrainingProgress(
                state=training_pb2.TRAINING_STATE_RUNNING,
                episodes_done=episodes_done,
                episodes_total=total,
            ),
        )
    )


def result(source: sim.ModelSource.ValueType) -> sim.OptimizeResponse:
    answer = sim.OptimizeResult(source=source, total_seconds=3.0)
    answer.recommended.strategy = "rl_policy"
    return sim.OptimizeResponse(result=answer)


FINE_TUNED_STREAM = [
    event(sim.OPTIMIZE_STAGE_HASHED, f"household hash {HOUSEHOLD}"),
    event(sim.OPTIMIZE_STAGE_LOOKING_UP, "asking the model registry for a model of hash"),
    event(sim.OPTIMIZE_STAGE_NEAR_MATCHES, "no usable model of hash; asking for near ones"),
    event(sim.OPTIMIZE_STAGE_DOWNLOADING, "downloading"),
    event(
        sim.OPTIMIZE_STAGE_ZERO_SHOT,
        f"near match at 0.0412 rl_model_{NEAR_HASH}_1000ep.zip: -310 a year against merton "
        "on 2,000 evaluation lives, not good enough",
    ),
    event(
        sim.OPTIMIZE_STAGE_ZERO_SHOT,
        f"generic model rl_model_{GENERIC_HASH}_20000ep.zip: -120 a year against merton on "
        "2,000 evaluation lives, not good enough",
    ),
    event(sim.OPTIMIZE_STAGE_FINE_TUNING, "no candidate was good enough zero-shot; fine-tuning"),
    event(sim.OPTIMIZE_STAGE_TRAINING_STARTED, "started training job"),
    training(100),
    training(200),
    event(sim.OPTIMIZE_STAGE_EVALUATING, "evaluating"),
    result(sim.MODEL_SOURCE_FINE_TUNED_NOW),
]


def shown(stream: list[sim.OptimizeResponse], interactive: bool = False) -> str:
    out = io.StringIO()
    bar = ProgressBar(out, interactive=interactive)
    adapter = OptimizeProgress()
    with bar:
        for message in stream:
            bar.update(adapter(message))
    return out.getvalue()


def test_each_rung_is_named_on_its_lines_with_the_distances_and_scores() -> None:
    lines = shown(FINE_TUNED_STREAM).splitlines()
    by_state = {line.split()[0]: line for line in lines}
    assert f"{EXACT}: asking" in by_state["LOOKING_UP"]
    assert f"{NEAR}: no usable model" in by_state["NEAR_MATCHES"]
    zero_shot = [line for line in lines if line.startswith("ZERO_SHOT")]
    assert len(zero_shot) == 2 and all(f"{NEAR}: " in line for line in zero_shot)
    assert "near match at 0.0412" in zero_shot[0] and "-310 a year" in zero_shot[0]
    assert "generic model" in zero_shot[1] and "-120 a year" in zero_shot[1]
    # The training that follows the FINE_TUNING stage is the fine-tuning rung's, not scratch.
    assert f"{FINE_TUNING}: no candidate" in by_state["FINE_TUNING"]
    assert all(SCRATCH not in line for line in lines)
    running = [line for line in lines if line.startswith("RUNNING")]
    assert running and all(FINE_TUNING in line for line in running)
    assert lines[-1].startswith("DONE") and "model: fine-tuned now" in lines[-1]


def test_after_the_ladder_found_nothing_the_training_is_named_as_from_scratch() -> None:
    stream = [
        event(sim.OPTIMIZE_STAGE_LOOKING_UP, "asking"),
        event(sim.OPTIMIZE_STAGE_NEAR_MATCHES, "asking for near ones"),
        event(sim.OPTIMIZE_STAGE_NO_COMPATIBLE_MODEL, "no model; training a new model instead"),
        event(sim.OPTIMIZE_STAGE_TRAINING_STARTED, "started"),
        training(50, 100),
        result(sim.MODEL_SOURCE_TRAINED_NOW),
    ]
    lines = shown(stream).splitlines()
    assert f"{SCRATCH}: no model" in next(line for line in lines if "NO_COMPATIBLE" in line)
    assert f"{SCRATCH}: started" in next(line for line in lines if "TRAINING_STARTED" in line)
    assert all(FINE_TUNING not in line for line in lines)
    assert "model: trained now" in lines[-1]


def test_option_a_has_no_rungs() -> None:
    stream = [
        event(sim.OPTIMIZE_STAGE_HASHED, "hash"),
        event(sim.OPTIMIZE_STAGE_TRAINING_STARTED, "started"),
        training(100, 100),
        result(sim.MODEL_SOURCE_TRAINED_NOW),
    ]
    assert "rung" not in shown(stream)


def test_on_a_terminal_the_rung_lines_stay_and_the_bar_is_redrawn_in_place() -> None:
    drawn = shown(FINE_TUNED_STREAM, interactive=True)
    kept = [part for part in drawn.split("\n") if part]
    # A kept line ends with a newline; the training updates share one line, redrawn.
    assert any("ZERO_SHOT" in part and "0.0412" in part for part in kept)
    assert any("ZERO_SHOT" in part and "generic model" in part for part in kept)
    assert any("FINE_TUNING" in part for part in kept)
    running = [part for part in kept if "RUNNING" in part]
    # two training updates, the evaluation and the answer, one over the other
    assert len(running) == 1 and running[0].count("\r") == 4


def test_every_source_the_ladder_can_answer_with_is_named_in_plain_words() -> None:
    words = {source: SOURCES[source].split(":")[0] for source in SOURCES}
    assert words[sim.MODEL_SOURCE_PRETRAINED] == "exact"
    assert words[sim.MODEL_SOURCE_NEAR_MATCH] == "near match"
    assert words[sim.MODEL_SOURCE_GENERIC] == "generic"
    assert words[sim.MODEL_SOURCE_FINE_TUNED_NOW] == "fine-tuned now"
    assert words[sim.MODEL_SOURCE_TRAINED_NOW] == "trained now"
    every = set(sim.ModelSource.values()) - {sim.MODEL_SOURCE_UNSPECIFIED}
    assert set(SOURCES) == every


# ----------------------------------------------------------------------------- flags


def optimize_request(*flags: str) -> sim.OptimizeRequest:
    args = build_parser().parse_args(["optimize", str(EXAMPLE), *flags])
    return build_request(args, load_household(EXAMPLE))


def test_fine_tune_sets_the_ladders_episodes_with_pretrained_and_zero_skips_it() -> None:
    unset = optimize_request("--pretrained")
    assert not unset.HasField("fine_tune_episodes")  # the service's default, 200
    fifty = optimize_request("--pretrained", "--fine-tune", "50", "--episodes", "300")
    assert fifty.fine_tune_episodes == 50 and fifty.episodes == 300
    assert not fifty.HasField("start_model")
    skip = optimize_request("--pretrained", "--fine-tune", "0")
    assert skip.HasField("fine_tune_episodes") and skip.fine_tune_episodes == 0


def test_fine_tune_with_from_keeps_its_meaning_the_episodes_added() -> None:
    name = f"rl_model_{HOUSEHOLD}_1000ep.zip"
    request = optimize_request("--from", f"/some/dir/{name}", "--fine-tune", "120")
    assert not request.use_pretrained and request.episodes == 120
    assert request.start_model == model_pb2.ModelRef(model_hash=HOUSEHOLD, episodes=1000)
    assert not request.HasField("fine_tune_episodes")


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--fine-tune", "5"], "needs --from MODEL"),
        (["--pretrained", "--from", f"rl_model_{HOUSEHOLD}_10ep.zip"], "give one or the other"),
        (["--from", f"rl_model_{HOUSEHOLD}_10ep.zip", "--fine-tune", "0"], "trains nothing"),
        (["--from", f"rl_model_{HOUSEHOLD}_10ep.zip", "--fine-tune", "4", "--episodes", "9"],
         "not both"),
        (["--no-fallback"], "--no-fallback is an option B flag"),
        (["--min-episodes", "100"], "--min-episodes is an option B flag"),
        (["--from", "model.zip"], "optimize --from: 'model.zip' is not a model's file name"),
    ],
)  # fmt: skip
def test_contradictory_flags_are_one_line_and_exit_2(flags: list[str], words: str) -> None:
    line = one_error_line(run_cli("optimize", str(EXAMPLE), *flags, env=NOWHERE), 2)
    assert words in line


# ----------------------------------------------------------------------------- models


def test_models_list_filters_become_the_requests_fields() -> None:
    parent = f"rl_model_{HOUSEHOLD}_200ep.zip"
    args = build_parser().parse_args(
        ["models", "list", "--kind", "generic", "--owner", "alice", "--parent", parent]
    )
    request = list_request(args)
    assert request.kind == model_pb2.MODEL_KIND_GENERIC and request.owner == "alice"
    assert request.parent == model_pb2.ModelRef(model_hash=HOUSEHOLD, episodes=200)
    plain = list_request(build_parser().parse_args(["models", "list", "--kind", "profile"]))
    assert plain.kind == model_pb2.MODEL_KIND_PROFILE and not plain.HasField("parent")
    assert not list_request(build_parser().parse_args(["models", "list"])).kind


def test_the_listing_shows_kind_label_owner_and_the_parents_file_name() -> None:
    parent = model_pb2.ModelMetadata(
        ref=model_pb2.ModelRef(model_hash=GENERIC_HASH, episodes=20000),
        kind=model_pb2.MODEL_KIND_GENERIC,
        label="Default family\nof households",
    )
    child = model_pb2.ModelMetadata(
        ref=model_pb2.ModelRef(model_hash=HOUSEHOLD, episodes=20200),
        owner="alice",
        parent=parent.ref,
        episodes_added=200,
    )
    lines = models_table([parent, child]).splitlines()
    header = lines[0].split()
    assert header[2:5] == ["kind", "owner", "parent"] and header[-1] == "label"
    generic_row = next(line for line in lines if line.strip().startswith(GENERIC_HASH))
    child_row = next(line for line in lines if line.strip().startswith(HOUSEHOLD))
    assert generic_row.split()[2] == "generic"
    assert generic_row.endswith("Default family of households")  # one line
    assert child_row.split()[2:5] == ["profile", "alice", f"rl_model_{GENERIC_HASH}_20000ep.zip"]
    assert child_row.split()[-1] == MISSING  # no label known


@pytest.mark.parametrize(
    "argv",
    [
        ["models", "show", "rl_model_0123456789ABCDEF_1000ep.zip"],
        ["models", "show", "/tmp/rl_model_0123456789abcdef_0ep.zip"],
        ["models", "show", "0123456789abcdef"],
        ["models", "tree", "model.zip"],
    ],
)
def test_a_bad_model_name_is_one_line_showing_the_form(argv: list[str]) -> None:
    line = one_error_line(run_cli(*argv, env=NOWHERE), 2)
    assert f"{argv[0]} {argv[1]}: " in line
    assert "expected rl_model_{hash}_{episodes}ep.zip" in line and "HASH EPISODES" in line


def test_episodes_past_what_the_wire_carries_are_one_line_naming_episodes() -> None:
    result = run_cli("models", "show", "0123456789abcdef", "4294967296", env=NOWHERE)
    assert "models show: EPISODES must be at most 4,294,967,295" in one_error_line(result, 2)


def test_the_refusal_docs_models_md_shows_is_the_one_the_client_prints() -> None:
    doc = (ROOT / "docs" / "models.md").read_text()
    shown = next(line for line in doc.splitlines() if line.startswith("glidepath: models show"))
    result = run_cli("models", "show", "rl_model_bad.zip", env=NOWHERE)
    assert one_error_line(result, 2) == shown
