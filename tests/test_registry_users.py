"""Owners, visibility, verified and declared scores, quarantine: a real registry server
with a users file (two users, a service, an administrator), called over gRPC."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
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
    sha256_hex,
    upload_metadata,
    upload_stream,
)

from glidepath.auth import ON_BEHALF_OF_METADATA, Role, add_user
from glidepath.common.v1 import model_pb2
from glidepath.registry.v1 import registry_pb2, registry_pb2_grpc
from glidepath.rpc.channel import bearer, open_channel
from glidepath.rpc.status import error_reason
from model_registry_service.naming import ModelKey

Start = Callable[..., RegistryHarness]
PRIVATE = model_pb2.MODEL_VISIBILITY_PRIVATE
SHARED = model_pb2.MODEL_VISIBILITY_SHARED


class Users:
    """A registry whose users file holds alice, bob (users), trainer (service), root."""

    def __init__(self, registry: RegistryHarness, tokens: dict[str, str]) -> None:
        self.registry = registry
        self.stub = registry.stub
        self.tokens = tokens

    def md(self, who: str | None, for_user: str | None = None) -> tuple[tuple[str, str], ...]:
        metadata = bearer(self.tokens[who]) if who else ()
        if for_user is not None:
            metadata += ((ON_BEHALF_OF_METADATA, for_user),)
        return metadata

    def upload(
        self,
        who: str,
        model_hash: str,
        episodes: int,
        *,
        score: float | None = None,
        visibility: int = 0,
        for_user: str | None = None,
        tag: str = "",
    ) -> model_pb2.ModelMetadata:
        data = model_zip(tag or f"{who}-{model_hash}-{episodes}")
        meta = upload_metadata(model_hash, episodes, data, score=score)
        meta.visibility = visibility  # type: ignore[assignment]
        response = self.stub.UploadModel(
            upload_stream(meta, data), timeout=TIMEOUT, metadata=self.md(who, for_user)
        )
        model: model_pb2.ModelMetadata = response.model
        return model

    def get(self, who: str | None, model_hash: str, episodes: int) -> model_pb2.ModelMetadata:
        response = self.stub.GetModel(
            registry_pb2.GetModelRequest(ref=ref(model_hash, episodes)),
            timeout=TIMEOUT,
            metadata=self.md(who),
        )
        model: model_pb2.ModelMetadata = response.model
        return model

    def find(
        self, who: str | None, model_hash: str, max_candidates: int = 0, min_episodes: int = 1
    ) -> registry_pb2.FindCompatibleModelResponse:
        request = registry_pb2.FindCompatibleModelRequest(
            model_hash=model_hash, min_episodes=min_episodes, max_candidates=max_candidates
        )
        response: registry_pb2.FindCompatibleModelResponse = self.stub.FindCompatibleModel(
            request, timeout=TIMEOUT, metadata=self.md(who)
        )
        return response

    def download(self, who: str | None, model_hash: str, episodes: int) -> bytes:
        request = registry_pb2.DownloadModelRequest(ref=ref(model_hash, episodes))
        stream = self.stub.DownloadModel(request, timeout=TIMEOUT, metadata=self.md(who))
        return b"".join(m.chunk for m in stream)

    def listed(self, who: str | None) -> list[str]:
        response = self.stub.ListModels(
            registry_pb2.ListModelsRequest(), timeout=TIMEOUT, metadata=self.md(who)
        )
        return sorted(m.file_name for m in response.models)

    def quarantine(self, who: str, model: model_pb2.ModelMetadata, reason: str) -> Any:
        request = registry_pb2.QuarantineModelRequest(
            ref=model.ref, sha256=model.sha256, reason=reason
        )
        return self.stub.QuarantineModel(request, timeout=TIMEOUT, metadata=self.md(who))

    def record(self, who: str, model: model_pb2.ModelMetadata, score: float) -> Any:
        request = registry_pb2.RecordEvaluationRequest(
            ref=model.ref,
            sha256=model.sha256,
            evaluation=model_pb2.ModelEvaluation(score=score, held_out_lives=2000, seed=5),
        )
        return self.stub.RecordEvaluation(request, timeout=TIMEOUT, metadata=self.md(who))


@pytest.fixture
def users(registry_start: Start, tmp_path: Path) -> Users:
    users_file = tmp_path / "users.json"
    roles = {"alice": Role.USER, "bob": Role.USER, "trainer": Role.SERVICE, "root": Role.ADMIN}
    tokens = {name: add_user(users_file, name, role) for name, role in roles.items()}
    return Users(registry_start(users_file=users_file), tokens)


def _code(error: grpc.RpcError) -> grpc.StatusCode:
    code: grpc.StatusCode = error.code()
    return code


# -- owners and visibility -------------------------------------------------------------


def test_the_owner_is_the_caller_and_a_private_model_is_theirs_alone(users: Users) -> None:
    private = users.upload("alice", HASH_A, 700, visibility=PRIVATE)
    shared = users.upload("alice", HASH_A, 800)  # unspecified: shared
    assert (private.owner, private.visibility) == ("alice", PRIVATE)
    assert (shared.owner, shared.visibility) == ("alice", SHARED)
    assert users.get("alice", HASH_A, 700).owner == "alice"
    assert users.get("root", HASH_A, 700).owner == "alice"
    for who in ("bob", None):
        error = rpc_error(users.get, who, HASH_A, 700)
        assert _code(error) == grpc.StatusCode.NOT_FOUND  # not even its existence shows
        assert users.get(who, HASH_A, 800).owner == "alice"
        assert users.listed(who) == [shared.file_name]
        found = users.find(who, HASH_A, max_candidates=16)
        assert [m.ref.episodes for m in found.candidates] == [800]
        error = rpc_error(users.download, who, HASH_A, 700)
        assert _code(error) == grpc.StatusCode.NOT_FOUND
    assert users.listed("alice") == sorted([private.file_name, shared.file_name])
    assert users.listed("root") == sorted([private.file_name, shared.file_name])
    assert [m.ref.episodes for m in users.find("alice", HASH_A, 16).candidates] == [800, 700]


def test_a_private_name_is_not_overwritten_nor_revealed_to_another_user(users: Users) -> None:
    users.upload("alice", HASH_A, 700, visibility=PRIVATE, tag="same bytes")
    error = rpc_error(users.upload, "bob", HASH_A, 700, tag="same bytes")
    assert _code(error) == grpc.StatusCode.ALREADY_EXISTS
    assert "alice" not in str(error.details())
    assert users.get("alice", HASH_A, 700).owner == "alice"


def test_canonical_parameters_are_the_owners_and_administrators_only(users: Users) -> None:
    users.upload("alice", HASH_A, 700)
    assert users.get("alice", HASH_A, 700).canonical_parameters_json == '{"age": 40}'
    assert users.get("root", HASH_A, 700).canonical_parameters_json == '{"age": 40}'
    for who in ("bob", "trainer", None):
        model = users.get(who, HASH_A, 700)
        assert model.canonical_parameters_json == ""
        assert model.timesteps == 1234  # the rest is shown
    assert users.find("bob", HASH_A).model.canonical_parameters_json == ""
    assert users.listed("bob") == [f"rl_model_{HASH_A}_700ep.zip"]


def test_visibility_is_changed_by_the_owner_or_an_administrator(users: Users) -> None:
    users.upload("alice", HASH_A, 700)

    def set_to(who: str | None, visibility: int) -> model_pb2.ModelMetadata:
        request = registry_pb2.SetModelVisibilityRequest(
            ref=ref(HASH_A, 700),
            visibility=visibility,  # type: ignore[arg-type]
        )
        response = users.stub.SetModelVisibility(request, timeout=TIMEOUT, metadata=users.md(who))
        model: model_pb2.ModelMetadata = response.model
        return model

    error = rpc_error(set_to, "bob", PRIVATE)
    assert _code(error) == grpc.StatusCode.PERMISSION_DENIED
    assert error_reason(error) == "PERMISSION_DENIED"
    assert _code(rpc_error(set_to, None, PRIVATE)) == grpc.StatusCode.UNAUTHENTICATED
    error = rpc_error(set_to, "alice", model_pb2.MODEL_VISIBILITY_UNSPECIFIED)
    assert _code(error) == grpc.StatusCode.INVALID_ARGUMENT and "visibility" in str(error.details())
    assert set_to("alice", PRIVATE).visibility == PRIVATE
    assert _code(rpc_error(users.get, "bob", HASH_A, 700)) == grpc.StatusCode.NOT_FOUND
    # Bob cannot see it now, so it is not there for him at all.
    assert _code(rpc_error(set_to, "bob", SHARED)) == grpc.StatusCode.NOT_FOUND
    assert set_to("root", SHARED).visibility == SHARED
    assert users.get("bob", HASH_A, 700).owner == "alice"


def test_delete_is_for_the_owner_or_an_administrator(users: Users) -> None:
    users.upload("alice", HASH_A, 700)
    users.upload("alice", HASH_A, 800)

    def delete(who: str | None, episodes: int) -> Any:
        request = registry_pb2.DeleteModelRequest(ref=ref(HASH_A, episodes))
        return users.stub.DeleteModel(request, timeout=TIMEOUT, metadata=users.md(who))

    error = rpc_error(delete, "bob", 700)
    assert _code(error) == grpc.StatusCode.PERMISSION_DENIED
    assert f"rl_model_{HASH_A}_700ep.zip" in str(error.details())
    assert _code(rpc_error(delete, "trainer", 700)) == grpc.StatusCode.PERMISSION_DENIED
    assert _code(rpc_error(delete, None, 700)) == grpc.StatusCode.UNAUTHENTICATED
    assert users.listed("bob") == [f"rl_model_{HASH_A}_700ep.zip", f"rl_model_{HASH_A}_800ep.zip"]
    delete("alice", 700)
    delete("root", 800)
    assert users.listed("root") == []


def test_cleanup_covers_the_callers_models_and_a_dry_run_needs_no_credential(
    users: Users,
) -> None:
    for who, episodes in (("alice", 600), ("alice", 700), ("bob", 800)):
        users.upload(who, HASH_A, episodes)
    users.upload("bob", HASH_B, 900, visibility=PRIVATE)
    index = users.registry.index()
    old = datetime.now(UTC) - timedelta(days=60)
    for model_hash, episodes in ((HASH_A, 600), (HASH_A, 700), (HASH_A, 800), (HASH_B, 900)):
        index.set_created_at(ModelKey(model_hash, episodes), old)
    index.close()

    def cleanup(who: str | None, dry_run: bool) -> registry_pb2.CleanupModelsResponse:
        request = registry_pb2.CleanupModelsRequest(max_age_days=30, dry_run=dry_run)
        response: registry_pb2.CleanupModelsResponse = users.stub.CleanupModels(
            request, timeout=TIMEOUT, metadata=users.md(who)
        )
        return response

    # Anonymous: a dry run lists the shared models that old; deleting needs a credential.
    anonymous = cleanup(None, dry_run=True)
    assert sorted(m.episodes for m in anonymous.models) == [600, 700, 800]
    assert anonymous.deleted_count == 0
    error = rpc_error(cleanup, None, False)
    assert _code(error) == grpc.StatusCode.UNAUTHENTICATED
    assert sorted(m.episodes for m in cleanup("bob", dry_run=True).models) == [800, 900]
    alice = cleanup("alice", dry_run=False)
    assert (sorted(m.episodes for m in alice.models), alice.deleted_count) == ([600, 700], 2)
    assert users.listed("root") == [f"rl_model_{HASH_A}_800ep.zip", f"rl_model_{HASH_B}_900ep.zip"]
    assert cleanup("root", dry_run=False).deleted_count == 2
    assert users.listed("root") == []


# -- verified and declared scores -------------------------------------------------------


def test_a_users_score_is_declared_and_never_ranks(users: Users) -> None:
    declared = users.upload("bob", HASH_A, 900, score=1e300)
    assert not declared.HasField("evaluation")
    assert declared.declared_evaluation.score == 1e300
    verified = users.upload("trainer", HASH_A, 600, score=20.0)
    assert verified.evaluation.score == 20.0 and not verified.HasField("declared_evaluation")
    relayed = users.upload("trainer", HASH_A, 700, score=10.0, for_user="alice")
    assert relayed.owner == "alice"  # the user it trained for
    assert relayed.evaluation.score == 10.0  # relayed by a service: verified
    unscored = users.upload("alice", HASH_A, 5000)
    ranked = users.find("bob", HASH_A, max_candidates=16).candidates
    # Verified scores first (best first), then the rest by episodes: never the 1e300.
    assert [m.ref.episodes for m in ranked] == [600, 700, 5000, 900]
    assert users.find("bob", HASH_A).model.ref.episodes == 600
    assert unscored.owner == "alice"


def test_find_returns_at_most_max_candidates_in_rank_order(users: Users) -> None:
    for episodes, score in ((600, 1.0), (700, 3.0), (800, 2.0)):
        users.upload("trainer", HASH_A, episodes, score=score)
    assert [m.ref.episodes for m in users.find(None, HASH_A, 2).candidates] == [700, 800]
    one = users.find(None, HASH_A, 1)
    assert [m.ref.episodes for m in one.candidates] == [700] and one.model == one.candidates[0]
    assert len(users.find(None, HASH_A, 0).candidates) == 1
    assert len(users.find(None, HASH_A, 16).candidates) == 3
    error = rpc_error(users.find, None, HASH_A, 17)
    assert _code(error) == grpc.StatusCode.INVALID_ARGUMENT
    assert "max_candidates" in str(error.details())


def test_record_evaluation_is_for_services_and_checks_the_bytes(users: Users) -> None:
    low = users.upload("alice", HASH_A, 600, score=99.0)  # declared only
    high = users.upload("alice", HASH_A, 700)
    assert users.find(None, HASH_A).model.ref.episodes == 700  # no verified score: episodes
    for who in ("alice", "bob"):
        error = rpc_error(users.record, who, low, 50.0)
        assert _code(error) == grpc.StatusCode.PERMISSION_DENIED
    stale = model_pb2.ModelMetadata()
    stale.CopyFrom(low)
    stale.sha256 = sha256_hex(b"other bytes")
    error = rpc_error(users.record, "trainer", stale, 50.0)
    assert _code(error) == grpc.StatusCode.FAILED_PRECONDITION
    recorded = users.record("trainer", low, 50.0).model
    assert recorded.evaluation.score == 50.0 and recorded.evaluation.seed == 5
    assert recorded.declared_evaluation.score == 99.0  # the declaration is still shown
    assert users.find(None, HASH_A).model.ref.episodes == 600
    users.record("root", high, 60.0)
    assert users.find(None, HASH_A).model.ref.episodes == 700


def test_a_quarantined_model_is_listed_never_served_nor_ranked(users: Users) -> None:
    best = users.upload("trainer", HASH_A, 700, score=50.0)
    users.upload("trainer", HASH_A, 600, score=10.0)
    error = rpc_error(users.quarantine, "alice", best, "bad")
    assert _code(error) == grpc.StatusCode.PERMISSION_DENIED
    stale = model_pb2.ModelMetadata()
    stale.CopyFrom(best)
    stale.sha256 = sha256_hex(b"other bytes")
    error = rpc_error(users.quarantine, "trainer", stale, "bad")
    assert _code(error) == grpc.StatusCode.FAILED_PRECONDITION
    error = rpc_error(users.quarantine, "trainer", best, " \n ")
    assert _code(error) == grpc.StatusCode.INVALID_ARGUMENT and "reason" in str(error.details())

    reason = "\x1b[31mRuntimeError\x1b[0m: actions are NaN\n  at step 3" + "x" * 1000
    quarantined = users.quarantine("trainer", best, reason).model
    assert quarantined.quarantine_reason.startswith("RuntimeError : actions are NaN at step 3")
    assert len(quarantined.quarantine_reason) <= 500 and "\x1b" not in quarantined.quarantine_reason
    assert quarantined.HasField("quarantined_at")
    again = users.quarantine("root", best, "another reason").model
    assert again.quarantine_reason == quarantined.quarantine_reason  # the first reason stays
    assert users.find("bob", HASH_A, 16).model.ref.episodes == 600
    assert [m.ref.episodes for m in users.find("bob", HASH_A, 16).candidates] == [600]
    assert users.get("bob", HASH_A, 700).quarantine_reason == quarantined.quarantine_reason
    assert f"rl_model_{HASH_A}_700ep.zip" in users.listed("bob")
    error = rpc_error(users.download, None, HASH_A, 700)
    assert _code(error) == grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(error) == "MODEL_QUARANTINED"
    # Once every model of the hash is quarantined, nothing is found: train one.
    users.quarantine("trainer", users.get("root", HASH_A, 600), "bad too")
    error = rpc_error(users.find, None, HASH_A)
    assert _code(error) == grpc.StatusCode.NOT_FOUND
    assert error_reason(error) == "NO_MODEL_FOR_HASH" and "quarantined" in str(error.details())


# -- one user's share of the upload places --------------------------------------------------


def test_one_user_holds_at_most_half_the_upload_places(users: Users) -> None:
    """Alice's uploads that go quiet after their metadata hold 4 of the 8 places; her
    next is refused (USER_LIMIT) while bob and the training service still upload."""
    quiet = threading.Event()
    calls: list[Any] = []
    channels: list[grpc.Channel] = []

    def goes_quiet(episodes: int) -> Iterator[registry_pb2.UploadModelRequest]:
        data = model_zip(f"quiet {episodes}")
        yield registry_pb2.UploadModelRequest(metadata=upload_metadata(HASH_B, episodes, data))
        quiet.wait(60)

    def lands(who: str, episodes: int) -> bool:
        try:
            users.upload(who, HASH_A, episodes)
        except grpc.RpcError as error:
            assert _code(error) == grpc.StatusCode.RESOURCE_EXHAUSTED, error.details()
            assert error_reason(error) == "USER_LIMIT"
            assert "alice" in str(error.details())
            return False
        return True

    try:
        for episodes in range(1, 5):
            channel = open_channel(users.registry.address)
            channels.append(channel)
            stub = registry_pb2_grpc.ModelRegistryStub(channel)
            calls.append(
                stub.UploadModel.future(
                    goes_quiet(episodes), timeout=60, metadata=users.md("alice")
                )
            )
        # Every quiet upload has reached the server once one of alice's probes is refused.
        probes = iter(range(100, 400))
        deadline = time.monotonic() + 30
        while lands("alice", next(probes)):
            assert time.monotonic() < deadline, "alice's quiet uploads never held a place"
        assert not lands("alice", 999)
        assert lands("bob", 998)
        assert lands("trainer", 997)  # a service relays many users: not counted
        assert lands("root", 996)
    finally:
        quiet.set()
        for channel in channels:
            channel.close()
    deadline = time.monotonic() + 30
    while not lands("alice", 995):  # her places come back as her streams end
        assert time.monotonic() < deadline
        time.sleep(0.1)
