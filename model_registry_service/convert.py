"""Protobuf messages <-> the registry's domain objects; nothing else.

Kept apart from the servicer so that each RPC handler reads as "convert, call the
domain, convert back". The evaluation travels through the domain as JSON text (with its
score lifted out for ranking), so the domain never imports a generated message.
"""

from __future__ import annotations

from google.protobuf import json_format

from glidepath.auth import User
from glidepath.common.v1 import model_pb2
from glidepath.errors import InvalidArgument
from glidepath.models import GENERIC_KIND, PROFILE_KIND
from glidepath.registry.v1 import registry_pb2
from model_registry_service.naming import ModelKey
from model_registry_service.records import (
    ModelDetails,
    ModelRecord,
    Origin,
    UploadDeclaration,
    Visibility,
)

_ORIGINS = {
    Origin.UPLOADED: model_pb2.MODEL_ORIGIN_UPLOADED,
    Origin.ADOPTED: model_pb2.MODEL_ORIGIN_ADOPTED,
}


def key_from_ref(ref: model_pb2.ModelRef) -> ModelKey:
    return ModelKey(ref.model_hash, ref.episodes)


def ref_from_key(key: ModelKey) -> model_pb2.ModelRef:
    return model_pb2.ModelRef(model_hash=key.model_hash, episodes=key.episodes)


_KINDS = {
    "": model_pb2.MODEL_KIND_UNSPECIFIED,
    PROFILE_KIND: model_pb2.MODEL_KIND_PROFILE,
    GENERIC_KIND: model_pb2.MODEL_KIND_GENERIC,
}


def kind_from_proto(value: int, field: str) -> str:
    """The kind's name ("" when unspecified); InvalidArgument naming ``field`` otherwise."""
    for kind, number in _KINDS.items():
        if value == number:
            return kind
    raise InvalidArgument.field(field, f"must be MODEL_KIND_PROFILE or _GENERIC, got {value}")


_VISIBILITIES = {
    Visibility.PRIVATE: model_pb2.MODEL_VISIBILITY_PRIVATE,
    Visibility.SHARED: model_pb2.MODEL_VISIBILITY_SHARED,
}


def visibility_from_proto(value: int, field: str, *, default: bool) -> Visibility:
    """PRIVATE or SHARED; unspecified is SHARED where ``default`` allows it."""
    for visibility, number in _VISIBILITIES.items():
        if value == number:
            return visibility
    if default and value == model_pb2.MODEL_VISIBILITY_UNSPECIFIED:
        return Visibility.SHARED
    raise InvalidArgument.field(field, f"must be MODEL_VISIBILITY_PRIVATE or _SHARED, got {value}")


def evaluation_json(evaluation: model_pb2.ModelEvaluation) -> str:
    return json_format.MessageToJson(
        evaluation, preserving_proto_field_name=True, sort_keys=True, indent=None
    )


def declaration_from_proto(meta: registry_pb2.UploadModelMetadata, user: User) -> UploadDeclaration:
    """The upload's declaration; its evaluation counts as verified only when ``user`` is
    (glidepath itself computed it), else it is kept as declared and never ranks."""
    score: float | None = None
    text = ""
    if meta.HasField("evaluation"):
        score = meta.evaluation.score
        text = evaluation_json(meta.evaluation)
    verified = user.verified
    return UploadDeclaration(
        key=key_from_ref(meta.ref),
        size_bytes=meta.size_bytes,
        sha256=meta.sha256,
        details=ModelDetails(
            algorithm=meta.algorithm,
            library_versions=dict(meta.library_versions),
            evaluation_score=score if verified else None,
            evaluation_json=text if verified else "",
            declared_score=None if verified else score,
            declared_json="" if verified else text,
            canonical_parameters_json=meta.canonical_parameters_json,
            parent=key_from_ref(meta.parent) if meta.HasField("parent") else None,
            timesteps=meta.timesteps,
            hyperparameters_json=meta.hyperparameters_json,
            training_seconds=meta.training_seconds,
            kind=kind_from_proto(meta.kind, "metadata.kind"),
            episodes_added=meta.episodes_added,
            policy_family=meta.policy_family,
            policy_layout_version=meta.policy_layout_version,
            label=meta.label,
            features=tuple(meta.features),
            features_version=meta.features_version,
        ),
        owner=user.name,
        visibility=visibility_from_proto(meta.visibility, "metadata.visibility", default=True),
    )


def sees_parameters(record: ModelRecord, viewer: User) -> bool:
    """Canonical parameters are personal data: the owner's and administrators' only."""
    return viewer.is_admin or (bool(record.owner) and record.owner == viewer.name)


def metadata_to_proto(record: ModelRecord, viewer: User) -> model_pb2.ModelMetadata:
    """The record as ``viewer`` may see it (canonical parameters blank for others)."""
    d = record.details
    message = model_pb2.ModelMetadata(
        ref=ref_from_key(record.key),
        file_name=record.file_name,
        size_bytes=record.size_bytes,
        sha256=record.sha256,
        algorithm=d.algorithm,
        library_versions=d.library_versions,
        canonical_parameters_json=d.canonical_parameters_json
        if sees_parameters(record, viewer)
        else "",
        timesteps=d.timesteps,
        hyperparameters_json=d.hyperparameters_json,
        training_seconds=d.training_seconds,
        origin=_ORIGINS[record.origin],
        owner=record.owner,
        visibility=_VISIBILITIES[record.visibility],
        kind=_KINDS.get(d.kind, model_pb2.MODEL_KIND_UNSPECIFIED),
        episodes_added=d.episodes_added,
        policy_family=d.policy_family,
        policy_layout_version=d.policy_layout_version,
        label=d.label,
        features=d.features,
        features_version=d.features_version,
    )
    message.created_at.FromDatetime(record.created_at)
    if d.evaluation_json:
        json_format.Parse(d.evaluation_json, message.evaluation)
    if d.declared_json:
        json_format.Parse(d.declared_json, message.declared_evaluation)
    if record.quarantine is not None:
        message.quarantine_reason = record.quarantine.reason
        message.quarantined_at.FromDatetime(record.quarantine.at)
    if d.parent is not None:
        message.parent.CopyFrom(ref_from_key(d.parent))
    return message
