"""What cannot be recomputed from a model file, kept beside it: its sidecar.

The index is a cache of the directory: a model's key comes from its file name, its size
and checksum from its bytes. But its owner, visibility, verified and declared scores,
canonical parameters, lineage, training figures, creation time and quarantine exist only
in the request that stored it and the calls that changed it. Each model therefore gets
``rl_model_{hash}_{episodes}ep.json`` next to its zip (a name no model glob matches),
so that a lost or damaged index is rebuilt from the directory without losing any of it.

A sidecar is written atomically: a temp file in the same directory (the upload temp
name, swept like one), fsynced, then renamed over the old one; a reader sees the old
sidecar or the new one, never half of either. It names the SHA-256 of the bytes it
describes: a sidecar left beside other bytes (a file replaced by hand) is ignored.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from model_registry_service.naming import TEMP_PREFIX, TEMP_SUFFIX, ModelKey
from model_registry_service.records import (
    ModelDetails,
    ModelRecord,
    Origin,
    Quarantine,
    Visibility,
)

FORMAT_VERSION = 1
SIDECAR_SUFFIX = ".json"
# An upload's metadata is under gRPC's 4 MiB message limit; JSON escaping at most doubles it.
MAX_SIDECAR_BYTES = 16 * 1024 * 1024


def sidecar_name(key: ModelKey) -> str:
    """``rl_model_{hash}_{episodes}ep.json``: beside the zip, never matching its glob."""
    return f"rl_model_{key.model_hash}_{key.episodes}ep{SIDECAR_SUFFIX}"


def to_document(record: ModelRecord) -> dict[str, Any]:
    d = record.details
    return {
        "format": FORMAT_VERSION,
        "model_hash": record.key.model_hash,
        "episodes": record.key.episodes,
        "sha256": record.sha256,
        "size_bytes": record.size_bytes,
        "created_at": record.created_at.isoformat(),
        "origin": record.origin.value,
        "owner": record.owner,
        "visibility": record.visibility.value,
        "algorithm": d.algorithm,
        "library_versions": d.library_versions,
        "evaluation_score": d.evaluation_score,
        "evaluation_json": d.evaluation_json,
        "declared_score": d.declared_score,
        "declared_json": d.declared_json,
        "canonical_parameters_json": d.canonical_parameters_json,
        "parent": [d.parent.model_hash, d.parent.episodes] if d.parent else None,
        "timesteps": d.timesteps,
        "hyperparameters_json": d.hyperparameters_json,
        "training_seconds": d.training_seconds,
        "kind": d.kind,
        "episodes_added": d.episodes_added,
        "policy_family": d.policy_family,
        "policy_layout_version": d.policy_layout_version,
        "label": d.label,
        "features": list(d.features),
        "features_version": d.features_version,
        "quarantine": (
            {"reason": record.quarantine.reason, "at": record.quarantine.at.isoformat()}
            if record.quarantine
            else None
        ),
    }


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def from_document(document: dict[str, Any]) -> ModelRecord:
    """The record a sidecar describes; KeyError/TypeError/ValueError when it is not one."""
    if document["format"] != FORMAT_VERSION:
        raise ValueError(f"sidecar format {document['format']!r} is not {FORMAT_VERSION}")
    parent = document["parent"]
    quarantine = document["quarantine"]
    library_versions = document["library_versions"]
    if not isinstance(library_versions, dict):
        raise TypeError("library_versions is not an object")
    return ModelRecord(
        key=ModelKey(str(document["model_hash"]), int(document["episodes"])),
        size_bytes=int(document["size_bytes"]),
        sha256=str(document["sha256"]),
        created_at=datetime.fromisoformat(document["created_at"]),
        origin=Origin(document["origin"]),
        details=ModelDetails(
            algorithm=str(document["algorithm"]),
            library_versions={str(k): str(v) for k, v in library_versions.items()},
            evaluation_score=_optional_float(document["evaluation_score"]),
            evaluation_json=str(document["evaluation_json"]),
            declared_score=_optional_float(document["declared_score"]),
            declared_json=str(document["declared_json"]),
            canonical_parameters_json=str(document["canonical_parameters_json"]),
            parent=ModelKey(str(parent[0]), int(parent[1])) if parent else None,
            timesteps=int(document["timesteps"]),
            hyperparameters_json=str(document["hyperparameters_json"]),
            training_seconds=float(document["training_seconds"]),
            # Absent from sidecars written before identity was recorded: unknown.
            kind=str(document.get("kind", "")),
            episodes_added=int(document.get("episodes_added", 0)),
            policy_family=str(document.get("policy_family", "")),
            policy_layout_version=int(document.get("policy_layout_version", 0)),
            label=str(document.get("label", "")),
            features=tuple(float(x) for x in document.get("features", [])),
            features_version=int(document.get("features_version", 0)),
        ),
        owner=str(document["owner"]),
        visibility=Visibility(document["visibility"]),
        quarantine=(
            Quarantine(str(quarantine["reason"]), datetime.fromisoformat(quarantine["at"]))
            if quarantine
            else None
        ),
    )


def prepare(directory: Path, record: ModelRecord) -> Path:
    """Write ``record``'s sidecar to a fsynced temp file; :func:`install` names it."""
    text = json.dumps(to_document(record), sort_keys=True, indent=1) + "\n"
    fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(name, 0o644)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def install(directory: Path, temp: Path, key: ModelKey) -> None:
    """Rename a prepared sidecar into place (atomic; the caller fsyncs the directory)."""
    os.replace(temp, directory / sidecar_name(key))


def write(directory: Path, record: ModelRecord) -> None:
    """Prepare and install in one go (the caller fsyncs the directory)."""
    install(directory, prepare(directory, record), record.key)


def remove(directory: Path, key: ModelKey) -> None:
    (directory / sidecar_name(key)).unlink(missing_ok=True)


def read(directory: Path, key: ModelKey, sha256: str) -> ModelRecord | None:
    """The record of ``key``'s sidecar when it describes the bytes ``sha256``; None when
    there is none, it is damaged, or it describes other bytes."""
    path = directory / sidecar_name(key)
    try:
        if path.stat().st_size > MAX_SIDECAR_BYTES:
            return None
        record = from_document(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None
    if record.key != key or record.sha256 != sha256:
        return None
    return record
