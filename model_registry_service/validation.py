"""Request checks that name the offending field, before any byte touches the disk.

Field paths follow the request messages (``metadata.ref.model_hash``) so that a client
can point at exactly what it got wrong; the caller passes the prefix because the same
key appears at different paths in different requests.
"""

from __future__ import annotations

import json
import math
import re

from glidepath.errors import FailedPrecondition, FieldViolation, InvalidArgument
from glidepath.models import fine_tuned_episodes
from glidepath.rl.features import FEATURES_LENGTH, FEATURES_VERSION
from glidepath.text import clip, clip_repr
from model_registry_service.naming import ModelKey, is_model_hash
from model_registry_service.records import ModelDetails, UploadDeclaration

SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
POLICY_FAMILY_PATTERN = re.compile(r"[a-z0-9_.-]{1,64}")
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_TIMESTEPS = 2**63 - 1


def key_violations(model_hash: str, episodes: int, prefix: str) -> list[FieldViolation]:
    violations = []
    if not is_model_hash(model_hash):
        violations.append(
            FieldViolation(
                f"{prefix}model_hash",
                f"must be 16 lowercase hexadecimal characters, got {clip_repr(model_hash, 40)}",
            )
        )
    if episodes < 1:
        violations.append(FieldViolation(f"{prefix}episodes", f"must be >= 1, got {episodes}"))
    return violations


def check_key(model_hash: str, episodes: int, prefix: str = "ref.") -> ModelKey:
    """The key, or InvalidArgument naming ``{prefix}model_hash`` / ``{prefix}episodes``."""
    violations = key_violations(model_hash, episodes, prefix)
    if violations:
        raise InvalidArgument(violations)
    return ModelKey(model_hash, episodes)


def check_hash(model_hash: str, field: str = "model_hash") -> str:
    if not is_model_hash(model_hash):
        raise InvalidArgument.field(
            field, f"must be 16 lowercase hexadecimal characters, got {clip_repr(model_hash, 40)}"
        )
    return model_hash


def check_min_episodes(min_episodes: int, field: str = "min_episodes") -> int:
    if min_episodes < 1:
        raise InvalidArgument.field(field, f"must be >= 1 when set, got {min_episodes}")
    return min_episodes


def check_max_age_days(max_age_days: int, field: str = "max_age_days") -> int:
    if max_age_days < 1:
        raise InvalidArgument.field(field, f"must be >= 1, got {max_age_days}")
    return max_age_days


def check_page_size(page_size: int, field: str = "page_size") -> int:
    """0 means the default; above the maximum is refused rather than silently cut."""
    if page_size == 0:
        return DEFAULT_PAGE_SIZE
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidArgument.field(field, f"must be 0 to {MAX_PAGE_SIZE}, got {page_size}")
    return page_size


def _json_violation(text: str, field: str) -> FieldViolation | None:
    if not text:
        return None
    try:
        json.loads(text)
    except ValueError as exc:
        return FieldViolation(field, f"must be JSON text: {clip(str(exc), 120)}")
    return None


def check_declaration(declaration: UploadDeclaration, max_bytes: int) -> None:
    """Everything an upload's metadata must satisfy before its bytes are accepted.

    A declared size above the cap is FAILED_PRECONDITION (reason TOO_LARGE) rather than
    INVALID_ARGUMENT: the request is well formed, this registry just does not take files
    that large; and not RESOURCE_EXHAUSTED, which tells a client to retry later, while
    this refusal is permanent for as long as RL_MODELS_MAX_BYTES stays.
    """
    key, details = declaration.key, declaration.details
    violations = key_violations(key.model_hash, key.episodes, "metadata.ref.")
    if declaration.size_bytes < 1:
        violations.append(
            FieldViolation("metadata.size_bytes", "must be the file's size in bytes (>= 1)")
        )
    if not SHA256_PATTERN.fullmatch(declaration.sha256):
        violations.append(
            FieldViolation(
                "metadata.sha256",
                f"must be 64 lowercase hexadecimal characters, got "
                f"{clip_repr(declaration.sha256, 80)}",
            )
        )
    for score in (details.evaluation_score, details.declared_score):
        if score is not None and not math.isfinite(score):
            violations.append(
                FieldViolation("metadata.evaluation.score", "must be a finite number")
            )
    if details.parent is not None:
        violations += key_violations(
            details.parent.model_hash, details.parent.episodes, "metadata.parent."
        )
    for text, field in (
        (details.canonical_parameters_json, "metadata.canonical_parameters_json"),
        (details.hyperparameters_json, "metadata.hyperparameters_json"),
    ):
        violation = _json_violation(text, field)
        if violation is not None:
            violations.append(violation)
    if details.timesteps > MAX_TIMESTEPS:  # the index stores it as a signed 64-bit integer
        violations.append(FieldViolation("metadata.timesteps", f"must be at most {MAX_TIMESTEPS}"))
    if not math.isfinite(details.training_seconds) or details.training_seconds < 0:
        violations.append(FieldViolation("metadata.training_seconds", "must be >= 0"))
    violations += _identity_violations(key, details)
    if violations:
        raise InvalidArgument(violations)
    if declaration.size_bytes > max_bytes:
        raise too_large(
            f"metadata.size_bytes: {declaration.size_bytes} bytes is over this registry's "
            f"limit of {max_bytes} bytes (RL_MODELS_MAX_BYTES)"
        )


def _identity_violations(key: ModelKey, details: ModelDetails) -> list[FieldViolation]:
    """A name's episodes count every life the weights saw (glidepath.models): a declared
    episodes_added must add up with the parent's to the name's, or a lineage would lie. A
    policy family is a short name (shown in every listing, looked up by name)."""
    violations = []
    if details.policy_family and not POLICY_FAMILY_PATTERN.fullmatch(details.policy_family):
        violations.append(
            FieldViolation(
                "metadata.policy_family",
                "must be 1 to 64 lowercase letters, digits, '_', '.' or '-', got "
                f"{clip_repr(details.policy_family, 80)}",
            )
        )
    if len(details.label) > 200 or "\n" in details.label or "\r" in details.label:
        violations.append(
            FieldViolation("metadata.label", "must be one line of at most 200 characters")
        )
    violations += features_violations(
        details.features, details.features_version, "metadata.features"
    )
    if details.episodes_added == 0:
        return violations
    total = fine_tuned_episodes(details.parent, details.episodes_added)
    if total != key.episodes:
        parent = f"the parent's {details.parent.episodes} + " if details.parent else ""
        violations.append(
            FieldViolation(
                "metadata.episodes_added",
                f"{parent}{details.episodes_added} added = {total}, but the model is named "
                f"for {key.episodes} episodes",
            )
        )
    return violations


def features_violations(
    features: tuple[float, ...], version: int, field: str
) -> list[FieldViolation]:
    """A feature vector is this registry's version, of its length, every number finite;
    none at all (version 0) is fine for an upload: that model is never a near match."""
    if not features and version == 0:
        return []
    if version != FEATURES_VERSION:
        return [
            FieldViolation(
                f"{field}_version",
                f"this registry compares feature vectors of version {FEATURES_VERSION}, "
                f"got {version}",
            )
        ]
    if len(features) != FEATURES_LENGTH:
        return [
            FieldViolation(
                field,
                f"a version-{version} vector has {FEATURES_LENGTH} numbers, got {len(features)}",
            )
        ]
    if not all(math.isfinite(x) for x in features):
        return [FieldViolation(field, "every number must be finite")]
    return []


def check_near_query(
    features: tuple[float, ...], version: int, max_distance: float | None
) -> tuple[float, ...]:
    """The query's vector, or InvalidArgument naming ``features``, ``features_version``
    or ``max_distance``."""
    violations = features_violations(features, version, "features")
    if not features and not violations:
        violations.append(FieldViolation("features", "is required"))
    if max_distance is not None and not (math.isfinite(max_distance) and max_distance > 0):
        violations.append(
            FieldViolation("max_distance", f"must be > 0 when set, got {max_distance}")
        )
    if violations:
        raise InvalidArgument(violations)
    return features


def too_large(message: str) -> FailedPrecondition:
    """A model over the one size limit (``glidepath.models``): permanent, not retryable."""
    return FailedPrecondition(message, reason="TOO_LARGE")


MAX_CANDIDATES = 16
MAX_QUARANTINE_REASON = 500


def check_max_candidates(value: int, field: str = "max_candidates") -> int:
    """0 and 1 both mean the best only."""
    if value > MAX_CANDIDATES:
        raise InvalidArgument.field(field, f"must be 0 to {MAX_CANDIDATES}, got {value}")
    return max(value, 1)


DEFAULT_NEAR_CANDIDATES = 4


def check_near_candidates(value: int, field: str = "max_candidates") -> int:
    """0 means DEFAULT_NEAR_CANDIDATES: a near search wants a few households to try."""
    if value > MAX_CANDIDATES:
        raise InvalidArgument.field(field, f"must be 0 to {MAX_CANDIDATES}, got {value}")
    return value or DEFAULT_NEAR_CANDIDATES


def check_sha256(value: str, field: str = "sha256") -> str:
    if not SHA256_PATTERN.fullmatch(value):
        raise InvalidArgument.field(
            field, f"must be 64 lowercase hexadecimal characters, got {clip_repr(value, 80)}"
        )
    return value


def quarantine_reason(text: str, field: str = "reason") -> str:
    """The reason as one clean line of at most MAX_QUARANTINE_REASON characters: control
    characters and ANSI codes (a torch error's colours) become spaces, runs of blanks
    one; longer text is clipped rather than refused, since the model must be quarantined."""
    line = " ".join(_CONTROL.sub(" ", text).split())
    if not line:
        raise InvalidArgument.field(field, "must say why the model is unusable")
    return line if len(line) <= MAX_QUARANTINE_REASON else line[: MAX_QUARANTINE_REASON - 1] + "…"


_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x1f\x7f]")
