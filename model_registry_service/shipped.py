"""Models that come with the repository, and their installation into an empty directory.

The project ships a pre-trained generic model (``models/shipped``, made by
``make generic-model``) so that a fresh installation can serve the example households
before it has trained anything. A shipped model is a pair of files:

- ``rl_model_{hash}_{episodes}ep.zip``, the model;
- ``rl_model_{hash}_{episodes}ep.json``, its metadata: a sidecar document
  (:mod:`model_registry_service.sidecar`, the registry's own format, naming the zip's
  SHA-256) plus a ``shipped`` section of what made it (seed, command, the family
  evaluation), which the registry ignores.

When the registry starts on a directory without any model file, :func:`install`
copies each shipped pair into it: the zip under a temp name, the sidecar (dated now, so
that the age cleanup counts from the installation, not from the training), then the
zip renamed into place. The adoption that follows (``ModelStore._absorb``) finds a
sidecar naming these very bytes and restores the record with its kind, label and
evaluation rather than as an anonymous file. A directory that holds any model is left
alone: the operator's models, or a shipped model deleted on purpose, are never
overwritten. Each shipped zip is first put through the consumer check (``weights``): a
shipped model of an older policy layout is skipped with a warning, not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from glidepath import log
from glidepath.errors import GlidepathError
from glidepath.text import clip
from model_registry_service import sidecar
from model_registry_service.naming import (
    TEMP_PREFIX,
    TEMP_SUFFIX,
    ModelKey,
    parse_model_file_name,
)
from model_registry_service.records import ModelRecord, Origin
from model_registry_service.storage import fsync_dir, sha256_of

#: The key of a metadata file's own section (what made the model), beside the sidecar's.
SHIPPED_SECTION = "shipped"


def default_shipped_dir() -> Path:
    """``models/shipped`` of the repository this package belongs to."""
    return Path(__file__).resolve().parent.parent / "models" / "shipped"


def metadata_name(key: ModelKey) -> str:
    """The metadata file of a shipped model: its sidecar's name."""
    return sidecar.sidecar_name(key)


def write(
    directory: Path, record: ModelRecord, model_zip: bytes, made_by: Mapping[str, Any]
) -> tuple[Path, Path]:
    """Write a shipped pair (what ``make generic-model`` commits); the two paths."""
    directory.mkdir(parents=True, exist_ok=True)
    document = sidecar.to_document(record)
    document[SHIPPED_SECTION] = dict(made_by)
    zip_path = directory / record.key.file_name
    json_path = directory / metadata_name(record.key)
    zip_path.write_bytes(model_zip)
    json_path.write_text(json.dumps(document, sort_keys=True, indent=1) + "\n", encoding="utf-8")
    return zip_path, json_path


def read_metadata(json_path: Path) -> tuple[ModelRecord, dict[str, Any]]:
    """The record and the ``shipped`` section of a metadata file (ValueError, KeyError or
    TypeError when it is not one)."""
    document = json.loads(json_path.read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise TypeError("the metadata is not a JSON object")
    made_by = document.get(SHIPPED_SECTION, {})
    if not isinstance(made_by, dict):
        raise TypeError(f"{SHIPPED_SECTION} is not an object")
    return sidecar.from_document(document), made_by


def shipped_models(directory: Path) -> list[tuple[Path, ModelRecord]]:
    """Each model of ``directory`` whose metadata describes its bytes, by file name.

    A zip without metadata, or with metadata of other bytes, is skipped with a warning:
    installing it would make it an anonymous model, which is what shipping avoids."""
    found: list[tuple[Path, ModelRecord]] = []
    for path in sorted(directory.glob("rl_model_*.zip")):
        key = parse_model_file_name(path.name)
        if key is None:
            continue
        why = ""
        try:
            record, _ = read_metadata(directory / metadata_name(key))
            if record.key != key:
                why = f"its metadata describes {record.key.file_name}"
            elif record.sha256 != sha256_of(path) or record.size_bytes != path.stat().st_size:
                why = "its metadata describes other bytes"
        except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
            why = f"no readable metadata ({clip(str(exc), 120)})"
        if why:
            log.event("shipped_model_skipped", level="warning", file=path.name, why=why)
            continue
        found.append((path, record))
    return found


def holds_models(directory: Path) -> bool:
    """Whether ``directory`` exists and holds any model file (by name)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return False
    return any(parse_model_file_name(name) is not None for name in names)


def _copy_to_temp(source: Path, directory: Path) -> Path:
    """A fsynced copy of ``source`` under an upload temp name (swept if we crash)."""
    fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=directory)
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            shutil.copyfileobj(src, out)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(name, 0o644)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def install(
    source: Path,
    models_dir: Path,
    *,
    check_model: Callable[[Path], None] | None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[ModelKey]:
    """Install the shipped models of ``source`` into ``models_dir`` when it holds no
    model; the keys installed (none when it held one, or ``source`` holds none)."""
    if holds_models(models_dir) or not source.is_dir():
        return []
    models_dir.mkdir(parents=True, exist_ok=True)
    installed: list[ModelKey] = []
    for path, record in shipped_models(source):
        if check_model is not None:
            try:
                check_model(path)
            except GlidepathError as refused:
                log.event(
                    "shipped_model_skipped", level="warning", file=path.name, why=refused.message
                )
                continue
        temp = _copy_to_temp(path, models_dir)
        try:
            placed = replace(record, created_at=now(), origin=Origin.ADOPTED)
            sidecar.write(models_dir, placed)
            os.replace(temp, models_dir / record.key.file_name)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        installed.append(record.key)
        log.event("shipped_model_installed", file=record.key.file_name, kind=record.details.kind)
    if installed:
        fsync_dir(models_dir)
    return installed
