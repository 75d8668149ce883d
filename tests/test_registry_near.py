"""Near matches in the registry: profile models stored with their household's feature
vector, found by FindNearModels (nearest household first, one model per household,
within the threshold), and ListModels' filters (kind, owner, parent)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from conftest import RegistryHarness
from registry_support import (
    HASH_A,
    HASH_B,
    TIMEOUT,
    model_zip,
    ref,
    rpc_error,
    upload_metadata,
    upload_stream,
)
from test_rl_features import _birthday_later, _example

from glidepath.auth import Role, add_user
from glidepath.common.v1 import model_pb2
from glidepath.household.canonical import canonicalize
from glidepath.models import GENERIC_KIND, PROFILE_KIND
from glidepath.registry.v1 import registry_pb2
from glidepath.rl.features import FEATURES_VERSION, NEAR_MATCH_THRESHOLD, household_features
from glidepath.rpc.channel import bearer
from glidepath.rpc.status import bad_fields
from model_registry_service.naming import ModelKey
from model_registry_service.near import NearQuery, nearest
from model_registry_service.records import ModelDetails, ModelRecord, Origin, Quarantine

HASH_C = "00112233445566aa"
HASH_D = "00112233445566bb"
HERE = household_features(canonicalize(_example()))
A_YEAR_ON = household_features(canonicalize(_birthday_later(_example())))
OLDER = household_features(canonicalize(_birthday_later(_birthday_later(_example()))))
FAR = (HERE[0] + 0.2, *HERE[1:])  # twenty years older


def _record(
    model_hash: str,
    episodes: int,
    features: tuple[float, ...],
    *,
    score: float | None = None,
    kind: str = PROFILE_KIND,
    quarantined: bool = False,
) -> ModelRecord:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    return ModelRecord(
        key=ModelKey(model_hash, episodes),
        size_bytes=1,
        sha256="0" * 64,
        created_at=now,
        origin=Origin.UPLOADED,
        details=ModelDetails(
            evaluation_score=score,
            kind=kind,
            features=features,
            features_version=FEATURES_VERSION if features else 0,
        ),
        quarantine=Quarantine("bad", now) if quarantined else None,
    )


def _query(**changes: object) -> NearQuery:
    base = NearQuery(HERE, NEAR_MATCH_THRESHOLD, 4, 500)
    return replace(base, **changes)  # type: ignore[arg-type]


def test_the_nearest_household_comes_first_with_its_best_model() -> None:
    records = [
        _record(HASH_A, 1000, OLDER, score=5.0),
        _record(HASH_B, 1000, A_YEAR_ON, score=1.0),
        _record(HASH_B, 2000, A_YEAR_ON, score=3.0),  # the better model of household B
        _record(HASH_C, 1000, FAR, score=9.0),  # too far, whatever its score
    ]
    found = nearest(records, _query())
    assert [(n.record.key.model_hash, n.record.key.episodes) for n in found] == [
        (HASH_B, 2000),
        (HASH_A, 1000),
    ]
    assert 0 < found[0].distance < found[1].distance <= NEAR_MATCH_THRESHOLD
    # A tighter threshold leaves only the nearest; max_candidates cuts the list too.
    assert [n.record.key.model_hash for n in nearest(records, _query(max_distance=0.2))] == [HASH_B]
    assert len(nearest(records, _query(max_candidates=1))) == 1


def test_unusable_models_are_never_near() -> None:
    records = [
        _record(HASH_A, 1000, A_YEAR_ON, quarantined=True),
        _record(HASH_B, 1000, A_YEAR_ON, kind=GENERIC_KIND),
        _record(HASH_C, 100, A_YEAR_ON),  # under min_episodes
        _record(HASH_D, 1000, ()),  # stored without features
    ]
    assert nearest(records, _query()) == []
    assert [n.record.key.model_hash for n in nearest(records, _query(min_episodes=100))] == [HASH_C]
    own = [_record(HASH_A, 1000, HERE)]
    assert nearest(own, _query(exclude_hash=HASH_A)) == []
    assert nearest(own, _query())[0].distance == 0.0


def _upload(
    registry: RegistryHarness,
    model_hash: str,
    features: tuple[float, ...],
    *,
    kind: model_pb2.ModelKind.ValueType = model_pb2.MODEL_KIND_PROFILE,
    parent: model_pb2.ModelRef | None = None,
    token: str | None = None,
) -> model_pb2.ModelMetadata:
    data = model_zip(model_hash)
    meta = upload_metadata(model_hash, 1000, data)
    meta.kind = kind
    meta.label = f"household {model_hash[-2:]}"
    if features:
        meta.features.extend(features)
        meta.features_version = FEATURES_VERSION
    if parent is not None:
        meta.parent.CopyFrom(parent)
    stored: model_pb2.ModelMetadata = registry.stub.UploadModel(
        upload_stream(meta, data), timeout=TIMEOUT, metadata=bearer(token)
    ).model
    return stored


def _near(registry: RegistryHarness, **fields: Any) -> registry_pb2.FindNearModelsResponse:
    request = registry_pb2.FindNearModelsRequest(
        features=HERE, features_version=FEATURES_VERSION, **fields
    )
    reply: registry_pb2.FindNearModelsResponse = registry.stub.FindNearModels(
        request, timeout=TIMEOUT
    )
    return reply


def test_find_near_models_over_grpc(registry_start: Callable[..., RegistryHarness]) -> None:
    registry = registry_start()
    stored = _upload(registry, HASH_A, A_YEAR_ON)
    assert tuple(stored.features) == pytest.approx(A_YEAR_ON)
    assert stored.label == "household ef"
    _upload(registry, HASH_B, FAR)
    _upload(registry, HASH_C, ())

    reply = _near(registry)
    assert [n.model.ref.model_hash for n in reply.models] == [HASH_A]
    assert 0 < reply.models[0].distance <= NEAR_MATCH_THRESHOLD
    assert _near(registry, exclude_hash=HASH_A).models == []
    assert [n.model.ref.model_hash for n in _near(registry, max_distance=10.0).models] == [
        HASH_A,
        HASH_B,
    ]
    assert _near(registry, min_episodes=2000).models == []


def test_find_near_models_names_the_bad_field(
    registry_start: Callable[..., RegistryHarness],
) -> None:
    registry = registry_start()
    cases: list[tuple[registry_pb2.FindNearModelsRequest, str]] = [
        (registry_pb2.FindNearModelsRequest(), "features"),
        (registry_pb2.FindNearModelsRequest(features=HERE[:5], features_version=1), "features"),
        (registry_pb2.FindNearModelsRequest(features=HERE, features_version=9), "features_version"),
        (
            registry_pb2.FindNearModelsRequest(
                features=(float("nan"), *HERE[1:]), features_version=1
            ),
            "features",
        ),
        (
            registry_pb2.FindNearModelsRequest(features=HERE, features_version=1, max_distance=0),
            "max_distance",
        ),
        (
            registry_pb2.FindNearModelsRequest(
                features=HERE, features_version=1, max_candidates=99
            ),
            "max_candidates",
        ),
        (
            registry_pb2.FindNearModelsRequest(
                features=HERE, features_version=1, exclude_hash="nope"
            ),
            "exclude_hash",
        ),
    ]
    for request, field in cases:
        error = rpc_error(registry.stub.FindNearModels, request, timeout=TIMEOUT)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert bad_fields(error) == [field], (request, error.details())


def test_an_upload_with_a_broken_feature_vector_is_refused(
    registry_start: Callable[..., RegistryHarness],
) -> None:
    registry = registry_start()
    data = model_zip("broken")
    meta = upload_metadata(HASH_A, 1000, data)
    meta.features.extend(HERE[:3])
    meta.features_version = FEATURES_VERSION
    error = rpc_error(registry.stub.UploadModel, upload_stream(meta, data), timeout=TIMEOUT)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_fields(error) == ["metadata.features"]


def test_list_models_filters_by_kind_owner_and_parent(
    registry_start: Callable[..., RegistryHarness], tmp_path: Path
) -> None:
    users_file = tmp_path / "users.json"
    tokens = {name: add_user(users_file, name, Role.USER) for name in ("alice", "bob")}
    registry = registry_start(users_file=users_file)
    _upload(registry, HASH_A, HERE, token=tokens["alice"])
    _upload(registry, HASH_B, (), kind=model_pb2.MODEL_KIND_GENERIC, token=tokens["bob"])
    _upload(registry, HASH_C, A_YEAR_ON, parent=ref(HASH_B, 1000), token=tokens["bob"])

    def listed(**fields: Any) -> list[str]:
        reply = registry.stub.ListModels(registry_pb2.ListModelsRequest(**fields), timeout=TIMEOUT)
        return sorted(m.ref.model_hash for m in reply.models)

    assert listed() == sorted([HASH_A, HASH_B, HASH_C])
    assert listed(kind=model_pb2.MODEL_KIND_GENERIC) == [HASH_B]
    assert listed(kind=model_pb2.MODEL_KIND_PROFILE) == sorted([HASH_A, HASH_C])
    assert listed(parent=ref(HASH_B, 1000)) == [HASH_C]
    assert listed(parent=ref(HASH_A, 1000)) == []
    assert listed(owner="alice") == [HASH_A]
    assert listed(owner="bob", kind=model_pb2.MODEL_KIND_PROFILE) == [HASH_C]
    assert listed(owner="carol") == []
    error = rpc_error(
        registry.stub.ListModels,
        registry_pb2.ListModelsRequest(parent=ref("nope", 1)),
        timeout=TIMEOUT,
    )
    assert bad_fields(error) == ["parent.model_hash"]
