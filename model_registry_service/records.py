"""The registry's domain objects: what is declared on upload and what is stored.

Plain dataclasses, free of gRPC, so that storage, ranking and cleanup can be tested and
reused without a server. The evaluation is kept as its JSON text plus the one number the
registry itself needs (``evaluation_score``, for ranking): the registry stores the rest
without interpreting it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from model_registry_service.naming import ModelKey


class Origin(enum.Enum):
    """How a model reached the registry (names match ``glidepath.common.v1.ModelOrigin``)."""

    UPLOADED = "UPLOADED"
    ADOPTED = "ADOPTED"


@dataclass(frozen=True)
class ModelDetails:
    """What the trainer knows about a model; empty for a file adopted from the directory."""

    algorithm: str = ""
    library_versions: dict[str, str] = field(default_factory=dict)
    evaluation_score: float | None = None
    evaluation_json: str = ""
    canonical_parameters_json: str = ""
    parent: ModelKey | None = None
    timesteps: int = 0
    hyperparameters_json: str = ""
    training_seconds: float = 0.0


@dataclass(frozen=True)
class UploadDeclaration:
    """What an upload promises before its bytes arrive; the bytes are checked against it."""

    key: ModelKey
    size_bytes: int
    sha256: str
    details: ModelDetails = field(default_factory=ModelDetails)


@dataclass(frozen=True)
class ModelRecord:
    """One stored model: its file's identity plus its details."""

    key: ModelKey
    size_bytes: int
    sha256: str
    created_at: datetime
    origin: Origin
    details: ModelDetails = field(default_factory=ModelDetails)

    @property
    def file_name(self) -> str:
        return self.key.file_name


@dataclass(frozen=True)
class PutResult:
    """The stored model, and whether this call created it (False: identical bytes existed)."""

    record: ModelRecord
    created: bool


@dataclass(frozen=True)
class Page:
    """One page of a listing and the token for the next (empty on the last page)."""

    records: list[ModelRecord]
    next_page_token: str
