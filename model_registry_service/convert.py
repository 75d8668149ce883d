"""Protobuf messages <-> the registry's domain objects; nothing else.

Kept apart from the servicer so that each RPC handler reads as "convert, call the
domain, convert back". The evaluation travels through the domain as JSON text (with its
score lifted out for ranking), so the domain never imports a generated message.
"""

from __future__ import annotations

from google.protobuf import json_format

from glidepath.common.v1 import model_pb2
from glidepath.registry.v1 import registry_pb2
from model_registry_service.naming import ModelKey
from model_registry_service.records import ModelDetails, ModelRecord, Origin, UploadDeclaration

_ORIGINS = {
    Origin.UPLOADED: model_pb2.MODEL_ORIGIN_UPLOADED,
    Origin.ADOPTED: model_pb2.MODEL_ORIGIN_ADOPTED,
}


def key_from_ref(ref: model_pb2.ModelRef) -> ModelKey:
    return ModelKey(ref.model_hash, ref.episodes)


def ref_from_key(key: ModelKey) -> model_pb2.ModelRef:
    return model_pb2.ModelRef(model_hash=key.model_hash, episodes=key.episodes)


def declaration_from_proto(meta: registry_pb2.UploadModelMetadata) -> UploadDeclaration:
    score: float | None = None
    evaluation_json = ""
    if meta.HasField("evaluation"):
        score = meta.evaluation.score
        evaluation_json = json_format.MessageToJson(
            meta.evaluation, preserving_proto_field_name=True, sort_keys=True, indent=None
        )
    return UploadDeclaration(
        key=key_from_ref(meta.ref),
        size_bytes=meta.size_bytes,
        sha256=meta.sha256,
        details=ModelDetails(
            algorithm=meta.algorithm,
            library_versions=dict(meta.library_versions),
            evaluation_score=score,
            evaluation_json=evaluation_json,
            canonical_parameters_json=meta.canonical_parameters_json,
            parent=key_from_ref(meta.parent) if meta.HasField("parent") else None,
            timesteps=meta.timesteps,
            hyperparameters_json=meta.hyperparameters_json,
            training_seconds=meta.training_seconds,
        ),
    )


def metadata_to_proto(record: ModelRecord) -> model_pb2.ModelMetadata:
    d = record.details
    message = model_pb2.ModelMetadata(
        ref=ref_from_key(record.key),
        file_name=record.file_name,
        size_bytes=record.size_bytes,
        sha256=record.sha256,
        algorithm=d.algorithm,
        library_versions=d.library_versions,
        canonical_parameters_json=d.canonical_parameters_json,
        timesteps=d.timesteps,
        hyperparameters_json=d.hyperparameters_json,
        training_seconds=d.training_seconds,
        origin=_ORIGINS[record.origin],
    )
    message.created_at.FromDatetime(record.created_at)
    if d.evaluation_json:
        json_format.Parse(d.evaluation_json, message.evaluation)
    if d.parent is not None:
        message.parent.CopyFrom(ref_from_key(d.parent))
    return message
