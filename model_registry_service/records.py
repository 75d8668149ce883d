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


class Visibility(enum.Enum):
    """Who may read a model (names match ``glidepath.common.v1.ModelVisibility``)."""

    PRIVATE = "PRIVATE"
    SHARED = "SHARED"


class Origin(enum.Enum):
    """How a model reached the registry (names match ``glidepath.common.v1.ModelOrigin``)."""

    UPLOADED = "UPLOADED"
    ADOPTED = "ADOPTED"


@dataclass(frozen=True)
class ModelDetails:
    """What the trainer knows about a model; empty for a file adopted from the directory.

    ``evaluation_*`` is the verified evaluation (computed by glidepath itself), the only
    one that ranks; ``declared_*`` what an unverified uploader claimed, kept to be shown.
    """

    algorithm: str = ""
    library_versions: dict[str, str] = field(default_factory=dict)
    evaluation_score: float | None = None
    evaluation_json: str = ""
    declared_score: float | None = None
    declared_json: str = ""
    canonical_parameters_json: str = ""
    parent: ModelKey | None = None
    timesteps: int = 0
    hyperparameters_json: str = ""
    training_seconds: float = 0.0
    # Identity beyond the name (glidepath.models): "" / 0 when unknown (stored before
    # they were recorded, or a hand-dropped file).
    kind: str = ""
    episodes_added: int = 0
    policy_family: str = ""
    policy_layout_version: int = 0
    # The household's (or family's) label for people; "" when none was given.
    label: str = ""
    # The feature vector of a profile model's household (glidepath.rl.features) and its
    # version; () / 0 when unknown, and then the model is never a near match.
    features: tuple[float, ...] = ()
    features_version: int = 0


@dataclass(frozen=True)
class Quarantine:
    """Why and when a model was found unusable; it stays stored and listed, never served."""

    reason: str
    at: datetime


@dataclass(frozen=True)
class UploadDeclaration:
    """What an upload promises before its bytes arrive; the bytes are checked against it.

    ``owner`` is the calling user (set by the servicer, never by the message)."""

    key: ModelKey
    size_bytes: int
    sha256: str
    details: ModelDetails = field(default_factory=ModelDetails)
    owner: str = ""
    visibility: Visibility = Visibility.SHARED


@dataclass(frozen=True)
class ModelRecord:
    """One stored model: its file's identity plus its details."""

    key: ModelKey
    size_bytes: int
    sha256: str
    created_at: datetime
    origin: Origin
    details: ModelDetails = field(default_factory=ModelDetails)
    owner: str = ""
    visibility: Visibility = Visibility.SHARED
    quarantine: Quarantine | None = None

    @property
    def file_name(self) -> str:
        return self.key.file_name

    @property
    def shared(self) -> bool:
        return self.visibility is Visibility.SHARED


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
