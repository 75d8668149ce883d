"""Safe loading: weights only, from trusted configuration; never unpickle a model file."""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from rl_support import small_household, tiny_model

from glidepath.errors import InvalidArgument
from glidepath.household.canonical import canonicalize
from glidepath.rl.evaluation import evaluate
from glidepath.rl.model_io import build_policy, load_policy, read_policy_weights
from glidepath.rl.observations import OBS_DIM


class _Canary:
    """Unpickling this creates (touches) a file: proof that code ran."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.path), "w"))


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_the_canary_payload_really_runs_code_when_unpickled(tmp_path: Path) -> None:
    canary = tmp_path / "proof"
    pickle.loads(pickle.dumps(_Canary(canary)))  # the test's own control
    assert canary.exists()


def test_a_model_whose_data_member_carries_a_payload_loads_without_running_it(
    tmp_path: Path,
) -> None:
    canary = tmp_path / "pwned"
    members = _members(tiny_model().model_zip)
    assert "data" in members and "policy.pth" in members
    members["data"] = pickle.dumps(_Canary(canary))
    hostile = _zip(members)

    policy = load_policy(hostile, small_household())
    expected = read_policy_weights(tiny_model().model_zip)
    for name, tensor in policy.state_dict().items():
        torch.testing.assert_close(tensor, expected[name])
    result = evaluate(canonicalize(small_household()), hostile, lives=1024, seed=5)
    assert result.held_out_lives == 1024
    assert not canary.exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_policy_file_carrying_a_payload_is_rejected_without_running_it(tmp_path: Path) -> None:
    canary = tmp_path / "pwned"
    members = _members(tiny_model().model_zip)
    buffer = io.BytesIO()
    torch.save({"mlp_extractor.policy_net.0.weight": _Canary(canary)}, buffer)
    members["policy.pth"] = buffer.getvalue()
    with pytest.raises(InvalidArgument):
        load_policy(_zip(members))
    members["policy.pth"] = pickle.dumps(_Canary(canary))
    with pytest.raises(InvalidArgument):
        load_policy(_zip(members))
    assert not canary.exists()


def test_weights_of_another_shape_are_rejected() -> None:
    members = _members(tiny_model().model_zip)
    weights = read_policy_weights(tiny_model().model_zip)
    first = "mlp_extractor.policy_net.0.weight"
    weights[first] = torch.zeros(weights[first].shape[0], OBS_DIM + 1)
    buffer = io.BytesIO()
    torch.save(weights, buffer)
    members["policy.pth"] = buffer.getvalue()
    with pytest.raises(InvalidArgument, match="shape"):
        load_policy(_zip(members))


def test_a_model_of_the_layout_before_claiming_is_rejected() -> None:
    """Layout 3 (15 observations, 3 actions: no claiming) is refused by its shapes, never
    served with the fourth action missing."""
    members = _members(tiny_model().model_zip)
    weights = read_policy_weights(tiny_model().model_zip)
    first = "mlp_extractor.policy_net.0.weight"
    weights[first] = torch.zeros(weights[first].shape[0], 15)
    weights["mlp_extractor.value_net.0.weight"] = torch.zeros(weights[first].shape[0], 15)
    weights["action_net.weight"] = weights["action_net.weight"][:3].clone()
    weights["action_net.bias"] = weights["action_net.bias"][:3].clone()
    weights["log_std"] = weights["log_std"][:3].clone()
    buffer = io.BytesIO()
    torch.save(weights, buffer)
    with pytest.raises(InvalidArgument, match="another policy layout"):
        load_policy(_zip({**members, "policy.pth": buffer.getvalue()}))


def test_missing_extra_or_non_finite_weights_are_rejected() -> None:
    members = _members(tiny_model().model_zip)
    base = read_policy_weights(tiny_model().model_zip)
    variants = []
    missing = dict(base)
    missing.pop("log_std")
    variants.append(missing)
    variants.append({**base, "backdoor.weight": torch.zeros(2)})
    variants.append({**base, "log_std": torch.full_like(base["log_std"], float("nan"))})
    for weights in variants:
        buffer = io.BytesIO()
        torch.save(weights, buffer)
        with pytest.raises(InvalidArgument):
            load_policy(_zip({**members, "policy.pth": buffer.getvalue()}))


@pytest.mark.parametrize(
    "data",
    [b"", b"not a zip at all", _zip({"data": b"{}"})],
    ids=["empty", "garbage", "no-policy"],
)
def test_anything_but_a_model_zip_is_rejected(data: bytes) -> None:
    with pytest.raises(InvalidArgument):
        load_policy(data)


def test_loaded_policy_acts_like_the_trained_one() -> None:
    policy = load_policy(tiny_model().model_zip)
    fresh = build_policy()
    obs = torch.as_tensor(
        np.random.default_rng(0).uniform(0, 1, (16, OBS_DIM)), dtype=torch.float32
    )
    with torch.no_grad():
        trained = policy.get_distribution(obs).mode()
        untrained = fresh.get_distribution(obs).mode()
    assert not torch.allclose(trained, untrained)
