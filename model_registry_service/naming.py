"""The registry's own file names; the model names and keys themselves live in
``glidepath.models`` (one home for every service) and are re-exported here."""

from __future__ import annotations

from glidepath.models import (
    MODEL_FILE_PATTERN,
    MODEL_GLOB,
    MODEL_HASH_PATTERN,
    ModelKey,
    is_model_hash,
    model_file_name,
    parse_model_file_name,
)

# Uploads in progress; never matches MODEL_FILE_PATTERN nor MODEL_GLOB.
TEMP_PREFIX = ".upload-"
TEMP_SUFFIX = ".tmp"
INDEX_FILE_NAME = ".index.sqlite3"

__all__ = [
    "INDEX_FILE_NAME",
    "MODEL_FILE_PATTERN",
    "MODEL_GLOB",
    "MODEL_HASH_PATTERN",
    "TEMP_PREFIX",
    "TEMP_SUFFIX",
    "ModelKey",
    "is_model_hash",
    "model_file_name",
    "parse_model_file_name",
]
