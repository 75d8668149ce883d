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
  rejected with :class:`glidepath.errors.InvalidArgument` (reason ``INVALID_MODEL``).

:func:`check_model` goes one step further, as every consumer will: the weights must be
finite, and so must the actions (and values) of a forward pass on a fixed, seeded batch
of observations within the observation bounds: finite weights of 3.4e38 overflow to
NaN actions, which would end a simulation in an error. The registry runs it on every
upload and every file it adopts. Rejection messages are one line without control
characters (a torch error can span pages), clipped.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from collections.abc import Mapping

import numpy as np
import torch
from stable_baselines3.common.policies import ActorCriticPolicy

from glidepath.errors import InvalidArgument
from glidepath.household.model import Household
from glidepath.text import clip, one_line

from .actions import ACTION_SPACE
from .observations import OBS_HIGH, OBS_LOW, OBSERVATION_SPACE
from .policy_strategy import actor_layers, mean_actions, numpy_actions
from .recipe import RECIPE, Recipe

#: Members larger than this are refused before decompression (a zip bomb guard).
MAX_POLICY_BYTES = 32 * 1024 * 1024
POLICY_MEMBER = "policy.pth"
#: The sample observations of :func:`check_model`: the corners of the observation box
#: and this many seeded uniform draws inside it (the same batch for every model).
SAMPLE_OBSERVATIONS = 256
SAMPLE_SEED = 20_240_917


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
    return InvalidArgument.field("model", one_line(description, 300), reason="INVALID_MODEL")


def read_policy_weights(model_zip: bytes) -> dict[str, torch.Tensor]:
    """The tensors of ``policy.pth`` in ``model_zip``, read without unpickling code."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(model_zip))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise _reject(f"not a stable-baselines3 zip ({one_line(str(exc), 120)})") from None
    with archive:
        infos = [i for i in archive.infolist() if i.filename == POLICY_MEMBER]
        if len(infos) != 1:
            raise _reject(f"needs exactly one {POLICY_MEMBER} member, found {len(infos)}")
        if infos[0].file_size > MAX_POLICY_BYTES:
            raise _reject(f"{POLICY_MEMBER} is larger than {MAX_POLICY_BYTES} bytes")
        try:
            raw = archive.read(infos[0])
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise _reject(f"cannot read {POLICY_MEMBER} ({one_line(str(exc), 120)})") from None
    try:
        loaded = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # weights_only met an object that is not a tensor
        raise _reject(
            f"{POLICY_MEMBER} is not a plain tensor dictionary: it holds pickled objects "
            f"that weights_only loading refuses (nothing was run)"
        ) from None
    except Exception as exc:  # other damage: a broken archive, a truncated tensor
        raise _reject(
            f"{POLICY_MEMBER} is not a plain tensor dictionary "
            f"({type(exc).__name__}: {one_line(str(exc), 120)})"
        ) from None
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
            f"weights of another policy layout than this glidepath trains (missing "
            f"{clip(str(missing[:5]), 120)}, unexpected {clip(str(extra[:5]), 120)})"
        )
    for name, tensor in expected.items():
        got = weights[name]
        if got.shape != tensor.shape or got.dtype != tensor.dtype:
            raise _reject(
                f"tensor {name} has shape {tuple(got.shape)} {got.dtype}, expected "
                f"{tuple(tensor.shape)} {tensor.dtype}: another policy layout than this "
                f"glidepath trains"
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


def sample_observations() -> np.ndarray:
    """A fixed batch within the observation bounds: the box's two corners, its centre and
    seeded uniform draws (float32, as the environment observes)."""
    rng = np.random.default_rng(SAMPLE_SEED)
    draws = rng.uniform(OBS_LOW, OBS_HIGH, size=(SAMPLE_OBSERVATIONS, OBS_LOW.shape[0]))
    batch = np.vstack([OBS_LOW, OBS_HIGH, (OBS_LOW + OBS_HIGH) / 2, draws])
    return batch.astype(np.float32)


def check_forward_pass(policy: ActorCriticPolicy) -> None:
    """Raise InvalidArgument unless the policy's actions and values on
    :func:`sample_observations` are finite, computed as the consumers compute them (the
    numpy actor of ``PolicyStrategy``, torch's value head for fine-tuning)."""
    obs = sample_observations()
    layers = actor_layers(policy)
    with np.errstate(all="ignore"):
        actions = numpy_actions(layers, obs) if layers is not None else mean_actions(policy, obs)
    if not np.isfinite(actions).all():
        bad = int((~np.isfinite(actions)).any(axis=1).sum())
        raise _reject(
            f"the weights are finite but give non-finite actions on {bad} of {len(obs)} "
            f"sample observations"
        )
    with torch.inference_mode():
        values = policy.predict_values(torch.as_tensor(obs)).numpy()
    if not np.isfinite(values).all():
        raise _reject("the weights give non-finite values on the sample observations")


def check_model(model_zip: bytes, policy: ActorCriticPolicy | None = None) -> None:
    """Raise InvalidArgument (INVALID_MODEL) unless ``model_zip`` is usable as consumers
    use it: weights read without unpickling, of the trusted layout, all finite, and
    finite actions and values on the sample observations. ``policy`` (of the trusted
    layout, overwritten) saves building one per call."""
    target = policy if policy is not None else build_policy()
    load_weights_into(target, model_zip)
    check_forward_pass(target)
