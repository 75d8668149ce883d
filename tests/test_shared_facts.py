"""Facts every service shares have one home, and their rules hold exactly."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from glidepath import models
from glidepath.common.v1 import errors_pb2
from glidepath.errors import ResourceExhausted
from glidepath.rpc.bounds import Bound

ROOT = Path(__file__).resolve().parents[1]
CODE = ["glidepath", "model_registry_service", "simulation_service", "training_service"]


@pytest.mark.parametrize(
    "name",
    [
        "rl_model_0123456789abcdef_1000ep.zip\n",
        "rl_model_0123456789abcdef\n_777ep.zip",
        "rl_model_0123456789ABCDEF_1000ep.zip",
        "rl_model_0123456789abcdef_0100ep.zip",
        "rl_model_0123456789abcdef_0ep.zip",
        "xrl_model_0123456789abcdef_1ep.zip",
    ],
)
def test_only_exact_model_names_are_models(name: str) -> None:
    assert models.parse_model_file_name(name) is None


def test_a_model_name_round_trips() -> None:
    key = models.ModelKey("0123456789abcdef", 1000)
    assert models.parse_model_file_name(key.file_name) == key


@pytest.mark.parametrize("value", ["0123456789abcdef\n", " 0123456789abcdef", "0123456789abcde"])
def test_hashes_are_matched_whole(value: str) -> None:
    assert not models.is_model_hash(value)


def _reasons_raised() -> set[str]:
    found: set[str] = set()
    for package in CODE:
        for path in (ROOT / package).rglob("*.py"):
            if "_pb2" in path.name:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                values: list[ast.expr] = []
                if isinstance(node, ast.Call):
                    values = [k.value for k in node.keywords if k.arg == "reason"]
                elif isinstance(node, ast.Assign):
                    targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
                    values = [node.value] if targets == ["reason"] else []
                found |= {
                    v.value
                    for v in values
                    if isinstance(v, ast.Constant) and isinstance(v.value, str)
                }
    return found


def test_every_reason_raised_is_a_value_of_the_error_reason_enum() -> None:
    enum_names = errors_pb2.ErrorReason.DESCRIPTOR.values_by_name
    names = {name.removeprefix("ERROR_REASON_") for name in enum_names}
    raised = _reasons_raised()
    assert "NO_MODEL_FOR_HASH" in raised  # the scan sees the code
    assert raised - names == set()


def test_a_bound_refuses_beyond_its_places_and_frees_them() -> None:
    bound = Bound(1, "full; retry")
    with bound.taken():
        with pytest.raises(ResourceExhausted, match="full; retry") as refused, bound.taken():
            pass
        assert refused.value.reason == "QUEUE_FULL"
    with bound.taken():
        pass
