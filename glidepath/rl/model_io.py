"""Load a policy from a stable-baselines3 zip without ever unpickling anything.

An SB3 zip's ``data`` member holds cloudpickled objects (spaces, schedules, the policy
class): ``PPO.load`` on a file from the registry or the network could run code. So:

- the policy is **built from trusted configuration** — this package's recipe (network
  shape, initial log-std) and the environment's observation and action spaces — never
  from anything the file says; ``data`` is not even read;
- only ``policy.pth`` is read, with ``torch.load(..., weights_only=True)`` (tensors and
  plain containers only, no code objects), and every tensor's name, dtype and shape must
  match the trusted policy's before ``load_state_dict(strict=True)``;
- anything else (not a zip, no ``policy.pth``, an oversized member, a foreign layout) is
  rejected with :class:`glidepath.errors.InvalidArgument`.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping

import torch
from stable_baselines3.common.policies import ActorCriticPolicy

from glidepath.errors import InvalidArgument
from glidepath.household.model import Household

from .actions import ACTION_SPACE
from .observations import OBSERVATION_SPACE
from .recipe import RECIPE, Recipe

#: Members larger than this are refused before decompression (a zip bomb guard).
MAX_POLICY_BYTES = 32 * 1024 * 1024
POLICY_MEMBER = "policy.pth"


def _constant_schedule(_: float) -> float:
    return RECIPE.learning_rate


def build_policy(recipe: Recipe = RECIPE) -> ActorCriticPolicy:
    """A fresh policy of the trusted architecture (what PPO builds for ``recipe``)."""
    policy = ActorCriticPolicy(
        OBSERVATION_SPACE,
        ACTION_SPACE,
        _constant_schedule,
        net_arch=list(recipe.net_arch),
        log_std_init=recipe.log_std_init,
    )
    policy.set_training_mode(False)
    return policy


def _reject(description: str) -> InvalidArgument:
    return InvalidArgument.field("model", description, reason="INVALID_MODEL")


def read_policy_weights(model_zip: bytes) -> dict[str, torch.Tensor]:
    """The tensors of ``policy.pth`` in ``model_zip``, read without unpickling code."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(model_zip))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise _reject(f"not a stable-baselines3 zip ({exc})") from None
    with archive:
        infos = [i for i in archive.infolist() if i.filename == POLICY_MEMBER]
        if len(infos) != 1:
            raise _reject(f"needs exactly one {POLICY_MEMBER} member, found {len(infos)}")
        if infos[0].file_size > MAX_POLICY_BYTES:
            raise _reject(f"{POLICY_MEMBER} is larger than {MAX_POLICY_BYTES} bytes")
        try:
            raw = archive.read(infos[0])
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise _reject(f"cannot read {POLICY_MEMBER} ({exc})") from None
    try:
        loaded = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only raises UnpicklingError and others on bad input
        raise _reject(f"{POLICY_MEMBER} is not a plain tensor dictionary ({exc})") from None
    if not isinstance(loaded, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in loaded.items()
    ):
        raise _reject(f"{POLICY_MEMBER} is not a dictionary of named tensors")
    return dict(loaded)


def check_weights(policy: ActorCriticPolicy, weights: Mapping[str, torch.Tensor]) -> None:
    """Raise InvalidArgument unless ``weights`` has exactly ``policy``'s names and shapes."""
    expected = policy.state_dict()
    missing = sorted(set(expected) - set(weights))
    extra = sorted(set(weights) - set(expected))
    if missing or extra:
        raise _reject(
            f"weights do not match this policy layout (missing {missing[:5]}, "
            f"unexpected {extra[:5]})"
        )
    for name, tensor in expected.items():
        got = weights[name]
        if got.shape != tensor.shape or got.dtype != tensor.dtype:
            raise _reject(
                f"tensor {name} has shape {tuple(got.shape)} {got.dtype}, "
                f"expected {tuple(tensor.shape)} {tensor.dtype}"
            )
        if not bool(torch.isfinite(got).all()):
            raise _reject(f"tensor {name} holds NaN or infinite values")


def load_weights_into(policy: ActorCriticPolicy, model_zip: bytes) -> None:
    """Validate ``model_zip``'s weights against ``policy`` and load them (strict)."""
    weights = read_policy_weights(model_zip)
    check_weights(policy, weights)
    policy.load_state_dict(weights, strict=True)


def load_policy(
    model_zip: bytes, household: Household | None = None, *, recipe: Recipe = RECIPE
) -> ActorCriticPolicy:
    """The trained policy in ``model_zip``, rebuilt from trusted configuration.

    ``household`` is accepted for the contract's symmetry: the spaces are normalised and
    so identical for every household; the household enters through the observations.
    """
    del household
    policy = build_policy(recipe)
    load_weights_into(policy, model_zip)
    return policy
