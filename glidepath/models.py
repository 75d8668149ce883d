"""Facts about stored models that every service shares: names, keys, limits.

The file name is the registry's key, exactly as the product's original note spells it:
``rl_model_{hash}_{episodes}ep.zip``, with ``hash`` 16 lowercase hexadecimal characters
(the first 16 of a SHA-256) and ``episodes`` a positive integer written without leading
zeros. Only names that round-trip exactly are models: ``rl_model_bad.zip``, upper-case
hashes, ``007ep`` or a name with a trailing newline are strays.

A model's identity is more than its name: its kind (one household's profile model, or a
generic model of a family), its parent (the model it was fine-tuned from, if any), the
episodes its own training added and its policy family. ``{episodes}`` counts every life
the weights were trained on, the parent's included, so a name never understates a
model's training; two models of one hash with different lineages get different counts
(the training service trains one more episode per name already taken, see
``training_service.service``). ``docs/models.md`` tells the rule with examples.

Patterns are always matched whole (``fullmatch``): ``re.match`` with ``$`` accepts a
trailing ``"\\n"``, which once let ``rl_model_<hash>\\n_777ep.zip`` be stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from glidepath.config import env_int

MODEL_HASH_LENGTH = 16
MODEL_HASH_PATTERN = re.compile(r"[0-9a-f]{16}")
MODEL_FILE_PATTERN = re.compile(r"rl_model_([0-9a-f]{16})_([1-9][0-9]*)ep\.zip")
# What the original request's listing globs for (docs/origins.md); every model file matches it.
MODEL_GLOB = "rl_model_*.zip"

# Kinds of model (names match ``glidepath.common.v1.ModelKind``): a profile model serves
# one household, a generic one a family of households. "" is a model stored before kinds
# were recorded (or dropped in by hand), read as a profile model.
PROFILE_KIND = "PROFILE"
GENERIC_KIND = "GENERIC"
MODEL_KINDS: tuple[str, ...] = (PROFILE_KIND, GENERIC_KIND)
# The policy family of every model glidepath trains today: a network whose actions
# correct the Merton-style rule. A generic family registers its own name.
DEFAULT_POLICY_FAMILY = "merton_correction"

# Training algorithms a model may be trained with (stable-baselines3 class names).
SUPPORTED_ALGORITHMS: tuple[str, ...] = ("PPO",)
DEFAULT_ALGORITHM = "PPO"

# Episodes (simulated lives) a training request may ask for: the default of option A,
# and the most one request may queue (one million lives is hours of one worker).
DEFAULT_EPISODES = 1000
MAX_EPISODES = 1_000_000
# Fewest episodes a model may have been trained on to serve option B by default.
DEFAULT_MIN_EPISODES = 500

# The largest model file any service accepts, stores or downloads (bytes). One number for
# every service: the registry refuses larger uploads, the training service refuses a
# larger fine-tuning parent before downloading it, the simulation service a larger model.
# A trained policy of the current layout is about 60 KB; 100 MiB leaves room for much
# larger networks while bounding what one request can make a service hold in memory.
MIB = 1024 * 1024
DEFAULT_MAX_MODEL_BYTES = 100 * MIB
MAX_MODEL_BYTES_VARIABLE = "RL_MODELS_MAX_BYTES"


def max_model_bytes_from_env() -> int:
    """RL_MODELS_MAX_BYTES when set, else the default; every service reads the same."""
    return env_int(MAX_MODEL_BYTES_VARIABLE, DEFAULT_MAX_MODEL_BYTES, minimum=1)


@dataclass(frozen=True, order=True)
class ModelKey:
    """The registry's key: a parameter hash and the episodes the model was trained on."""

    model_hash: str
    episodes: int

    @property
    def file_name(self) -> str:
        return model_file_name(self.model_hash, self.episodes)

    def __str__(self) -> str:
        return self.file_name


def model_file_name(model_hash: str, episodes: int) -> str:
    return f"rl_model_{model_hash}_{episodes}ep.zip"


def parse_model_file_name(name: str) -> ModelKey | None:
    """The key a file name encodes, or None when the name is not a model's."""
    match = MODEL_FILE_PATTERN.fullmatch(name)
    if match is None:
        return None
    return ModelKey(match.group(1), int(match.group(2)))


def fine_tuned_episodes(parent: ModelKey | None, added: int) -> int:
    """The ``{episodes}`` of a model trained ``added`` lives from ``parent`` (or from
    scratch): every life its weights were trained on, the parent's included."""
    return added + (parent.episodes if parent is not None else 0)


def is_model_hash(value: str) -> bool:
    return MODEL_HASH_PATTERN.fullmatch(value) is not None
