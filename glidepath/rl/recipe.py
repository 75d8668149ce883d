"""The PPO recipe: every hyperparameter the trainer uses, in one place, with why.

Trusted configuration: :mod:`glidepath.rl.model_io` rebuilds a policy from these
constants (never from what a model file says), so a change here that alters the network's
shape makes old weights fail their shape check and be rejected cleanly. Bump
``POLICY_LAYOUT_VERSION`` (folded into the household hash's schema by its owner) when
the observation, the action decoding or the network changes.

Placeholder values; the measured recipe and its reasons are filled in below.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .lives import Reward

#: Version of (observation layout, action decoding, network): models of another layout
#: cannot be loaded into this one.
POLICY_LAYOUT_VERSION = 1


@dataclass(frozen=True)
class Recipe:
    """PPO hyperparameters (stable-baselines3 names) and the environment's reward."""

    reward: Reward = Reward.RULE_ADVANTAGE

    # Lives stepped together (= lives per policy update, since n_steps = episode length).
    target_lives_per_update: int = 256
    # Fewest policy updates a budget should give; small budgets shrink the batch of lives.
    min_updates: int = 16
    min_lives_per_update: int = 64
    batch_size: int = 2048
    n_epochs: int = 5
    # Small budgets (fewer than ``large_budget`` lives) take more passes over their data.
    small_budget_epochs: int = 20
    large_budget: int = 5_000
    learning_rate: float = 1e-3
    gamma: float = 0.0
    gae_lambda: float = 1.0
    clip_range: float = 0.2
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    log_std_init: float = -2.0
    net_arch: tuple[int, ...] = (64, 64)

    def epochs_for(self, episodes: int) -> int:
        return self.small_budget_epochs if episodes < self.large_budget else self.n_epochs

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["net_arch"] = list(self.net_arch)
        out["reward"] = self.reward.value
        return out


RECIPE = Recipe()
