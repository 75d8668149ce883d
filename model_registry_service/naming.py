"""Model file names: ``rl_model_{hash}_{episodes}ep.zip`` <-> (hash, episodes).

The name is the key, exactly as the user's note spells it, so that a file copied in by
hand is understood without any metadata. Only names that round-trip exactly are models:
``rl_model_bad.zip``, upper-case hashes or ``007ep`` are strays and ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MODEL_HASH_PATTERN = re.compile(r"^[0-9a-f]{16}$")
MODEL_FILE_PATTERN = re.compile(r"^rl_model_([0-9a-f]{16})_([1-9][0-9]*)ep\.zip$")
# What the note's listing example globs for; every model file matches it.
MODEL_GLOB = "rl_model_*.zip"
# Uploads in progress; never matches MODEL_FILE_PATTERN nor MODEL_GLOB.
TEMP_PREFIX = ".upload-"
TEMP_SUFFIX = ".tmp"
INDEX_FILE_NAME = ".index.sqlite3"


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
    match = MODEL_FILE_PATTERN.match(name)
    if match is None:
        return None
    return ModelKey(match.group(1), int(match.group(2)))


def is_model_hash(value: str) -> bool:
    return MODEL_HASH_PATTERN.match(value) is not None
