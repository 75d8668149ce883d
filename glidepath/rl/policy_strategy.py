"""A trained policy as an engine ``Strategy``: deterministic, batched over all paths.

The simulation service evaluates it exactly like a baseline (same ``simulate``, same
scenarios, same metrics). Each year it computes the base rule's decision
(:func:`actions.base_rule`) for every path, the observations, the policy's *mean* action
(no exploration noise) for all paths at once, and decodes the correction around the
rule.

Speed: the actor (a small tanh MLP) is evaluated in numpy from weights copied once at
construction — about 3x faster than torch's per-call overhead for one forward pass of
10,000 paths, and the policy runs once per simulated year. Only the architecture the
recipe builds (Linear/Tanh layers, then the action head) is accepted; anything else
falls back to torch.

Finite actions only: weights that are each finite can still give NaN or infinite actions
(weights near float32's largest value overflow in the first layer). Such numbers would
reach the engine's metrics and fail there, far from their cause, so every batch of
actions is checked and a non-finite one raises :class:`UnusablePolicy`, a server-side
problem (FAILED_PRECONDITION, reason INVALID_MODEL) that a caller can act on: skip the
model, quarantine it, try another. ``glidepath.rl.model_io.check_model`` runs the same
forward pass on fixed sample observations before a policy is used at all.
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import NDArray
from stable_baselines3.common.policies import ActorCriticPolicy

from glidepath.engine.cashflows import Schedule
from glidepath.engine.state import Decision, YearState
from glidepath.errors import FailedPrecondition

from .actions import base_rule, decide
from .observations import observe

POLICY_STRATEGY_NAME = "rl_policy"
Layers = list[tuple[NDArray[np.float32], NDArray[np.float32]]]


class UnusablePolicy(FailedPrecondition):
    """The policy gives NaN or infinite actions: the model behind it cannot be used."""

    reason = "INVALID_MODEL"


def mean_actions(policy: ActorCriticPolicy, obs: NDArray[np.float32]) -> NDArray[np.float64]:
    """The policy's deterministic (mean) actions for observations (n, d), unclipped."""
    with torch.inference_mode():
        distribution = policy.get_distribution(torch.as_tensor(obs, dtype=torch.float32))
        action = distribution.mode()
    return np.asarray(action.numpy(), dtype=np.float64)


def actor_layers(policy: ActorCriticPolicy) -> Layers | None:
    """(W, b) of each actor layer, tanh between them; None for another architecture."""
    modules = [*policy.mlp_extractor.policy_net, policy.action_net]
    layers: Layers = []
    for i, module in enumerate(modules):
        if isinstance(module, torch.nn.Linear):
            weight = module.weight.detach().numpy().T.astype(np.float32)
            layers.append((np.ascontiguousarray(weight), module.bias.detach().numpy().copy()))
        elif not (isinstance(module, torch.nn.Tanh) and i < len(modules) - 1):
            return None
    linear_then_tanh = len(modules) == 2 * len(layers) - 1
    flat = isinstance(policy.features_extractor, torch.nn.Module) and not any(
        True for _ in policy.features_extractor.parameters()
    )
    return layers if linear_then_tanh and flat else None


def numpy_actions(layers: Layers, obs: NDArray[np.float32]) -> NDArray[np.float64]:
    x = obs
    for k, (weight, bias) in enumerate(layers):
        x = x @ weight
        x += bias
        if k < len(layers) - 1:
            np.tanh(x, out=x)
    return np.asarray(x, dtype=np.float64)


class PolicyStrategy:
    """``policy`` deciding for every path at once, as corrections of the base rule."""

    def __init__(
        self, policy: ActorCriticPolicy, schedule: Schedule, name: str = POLICY_STRATEGY_NAME
    ) -> None:
        self.policy = policy
        self.rule = base_rule(schedule)
        self._name = name
        self._layers = actor_layers(policy)

    @property
    def name(self) -> str:
        return self._name

    def actions(self, obs: NDArray[np.float32]) -> NDArray[np.float64]:
        """The mean actions for ``obs``; UnusablePolicy when any is not finite."""
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is what is checked
            if self._layers is not None:
                actions = numpy_actions(self._layers, obs)
            else:
                actions = mean_actions(self.policy, obs)
        finite = np.isfinite(actions).all(axis=-1)
        if not finite.all():
            raise UnusablePolicy(
                "the policy's actions are NaN or infinite during the evaluation "
                f"({int(np.count_nonzero(~finite)):,} of {len(actions):,} observations)"
            )
        return actions

    def decide(self, state: YearState) -> Decision:
        base = self.rule.decide(state)
        return decide(self.actions(observe(state, base)), base, state, self.rule)
