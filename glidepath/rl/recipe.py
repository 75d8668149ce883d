"""The PPO recipe: every hyperparameter the trainer uses, in one place, with why.

Trusted configuration: :mod:`glidepath.rl.model_io` rebuilds a policy from these
constants (never from what a model file says), so a change here that alters the network's
shape makes old weights fail their shape check and be rejected cleanly. Bump
``POLICY_LAYOUT_VERSION`` (in :mod:`glidepath.versions`) when the observation, the action
decoding or the network changes: it is part of the household hash, so old models stop
matching.

The recipe, and the measurements behind it. All figures: the example household
(``examples/household.json``), the policy's CE minus the Merton-style rule's on 20,000
held-out lives with common random numbers (paired SE 0.5-2.5 a year); the rule is 71-78
a year below the dynamic-programming optimum there. Each line is 3 training seeds.

- ``reward = RULE_ADVANTAGE`` with ``gamma = 0``: the single change that made 1,000 lives
  learn. Each year's decision is scored by its paired value against the rule's decision,
  both continued by the rule on the life's own market (:mod:`glidepath.rl.lives`); PPO
  then learns the greedy improvement of the rule, one step of policy iteration, from an
  almost noise-free signal. At 1,000 lives: plain objective (gamma 1, lambda 1, the
  early experiment's recipe) +13 / -62 / -21 (a coin toss, as docs/origins.md says); shadow-life
  difference reward +34 / +4 / +23; rule advantage +34 / +35 / +36 (8 updates of 125
  lives) and +45 / +40 / +42, fresh seeds +38 / +44 / +36 (20 updates of 50 lives,
  below). On the Merton case, where the rule *is* the optimum, the shadow reward lost
  12-37 a year; the rule advantage stays within 6 of it (+1 / -4 / -6).
  ``gae_lambda`` is irrelevant at gamma 0 (kept at 1: no critic bootstrapping).
- Lives per update: at least ``min_updates`` = 16 updates, batches of 64-256 lives
  (``plan_rollouts`` then picks a divisor, so 1,000 lives = 20 updates of 50 and 20,000
  = 80 of 250). With a clean signal, more updates beat bigger batches at small budgets
  (8 x 125: mean +35; 20 x 50: mean +42).
- Epochs: 20 below 5,000 lives (little data: reuse it; 10 epochs: +45 / +34 / +41), 5 at
  5,000 and more (20,000 lives with 5 epochs: +46 / +43 / +51 in under a minute; the
  PPO update, not the environment, dominates the time of large budgets).
- ``learning_rate = 1e-3`` (2e-3: +37 / +34 / +39 on seeds where 1e-3 gave +38 / +44 /
  +36), ``batch_size = 2048`` (1024 was no better: +41 / +45 / +36), ``clip_range``
  0.2, no entropy bonus, ``max_grad_norm`` 0.5: SB3's PPO defaults where nothing
  measured better.
- ``log_std_init = -2`` (exploration std 0.14 in action units: +-4 points of stock share,
  +-7 % of consumption): the corrections to learn are small (the optimum differs from
  the rule by 2-6 % of consumption and 2-4 points of stock share); -1 made learning
  noisier (+16 / +40 / +37 with the older 8-update plan).
- ``net_arch = (64, 64)``, tanh, separate policy and value networks: SB3's default MLP;
  small enough that 1,000 lives train in seconds on one thread.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from glidepath import versions

from .lives import Reward

#: Version of (observation layout, action decoding, network): models of another layout
#: cannot be loaded into this one, and the household hash includes it, so they are never
#: even found for a household (see :mod:`glidepath.versions`).
POLICY_LAYOUT_VERSION = versions.POLICY_LAYOUT_VERSION


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

#: A fine-tuning starts from a policy that is already close (a generic model, a near
#: household's model): it needs many small steps more than fresh data. Batches down to 8
#: lives (200 episodes = 20 updates of 10 instead of 4 of 50), a learning rate of 2e-3 and
#: 5 epochs per update. Measured on 8 households of the default family drawn apart from
#: the benchmark's (held-out seed 99), 200 episodes from the shipped generic model, CE on
#: 3,000 lives: the fine-tuned policy closes 40-75 % of the generic model's gap to a
#: 1,000-episode training from scratch where the plain recipe closed 10-30 % (e.g. 86,525
#: -> 89,126 against scratch's 90,054), in the same time (1.5-2.4 s against 1.3-2.3 s;
#: scratch 7-9 s).
FINE_TUNE_RECIPE = replace(
    RECIPE, min_lives_per_update=8, learning_rate=2e-3, small_budget_epochs=5
)


def recipe_for(fine_tuning: bool) -> Recipe:
    """The recipe of a training from scratch, or of a fine-tuning from a parent's weights."""
    return FINE_TUNE_RECIPE if fine_tuning else RECIPE
