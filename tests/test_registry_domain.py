"""The registry's pure domain rules, tested without a server: names, checks, zips, ranking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import RegistrySb3Model
from registry_support import HASH_A, model_zip, raw_zip, sb3_members

from glidepath.errors import FailedPrecondition, InvalidArgument, NotFound
from model_registry_service import ranking, validation, zipcheck
from model_registry_service.naming import (
    MODEL_GLOB,
    ModelKey,
    model_file_name,
    parse_model_file_name,
)
from model_registry_service.records import ModelDetails, ModelRecord, Origin, UploadDeclaration

# -- naming ---------------------------------------------------------------------------


def test_file_name_round_trips_exactly_as_the_note_spells_it() -> None:
    name = model_file_name("a1b2c3d4e5f6a7b8", 1000)
    assert name == "rl_model_a1b2c3d4e5f6a7b8_1000ep.zip"
    assert parse_model_file_name(name) == ModelKey("a1b2c3d4e5f6a7b8", 1000)
    assert Path(name).match(MODEL_GLOB)


@pytest.mark.parametrize(
    "name",
    [
        "rl_model_bad.zip",
        "rl_model_A1B2C3D4E5F6A7B8_1000ep.zip",  # upper case
        "rl_model_a1b2c3d4e5f6a7b_1000ep.zip",  # 15 characters
        "rl_model_a1b2c3d4e5f6g7h8_1000ep.zip",  # the original request's example is not hex
        "rl_model_a1b2c3d4e5f6a7b8_0ep.zip",
        "rl_model_a1b2c3d4e5f6a7b8_007ep.zip",
        "rl_model_a1b2c3d4e5f6a7b8_1000ep.zip.tmp",
        ".upload-abc.tmp",
        ".index.sqlite3",
    ],
)
def test_names_that_are_not_models(name: str) -> None:
    assert parse_model_file_name(name) is None


# -- validation -----------------------------------------------------------------------


def _declaration(**changes: object) -> UploadDeclaration:
    base: dict[str, object] = {
        "key": ModelKey(HASH_A, 1000),
        "size_bytes": 10,
        "sha256": "0" * 64,
        "details": ModelDetails(),
    }
    base.update(changes)
    return UploadDeclaration(**base)  # type: ignore[arg-type]


def _fields(error: InvalidArgument) -> list[str]:
    return [v.field for v in error.violations]


@pytest.mark.parametrize(
    ("declaration", "field"),
    [
        (_declaration(key=ModelKey("ABC", 1000)), "metadata.ref.model_hash"),
        (_declaration(key=ModelKey(HASH_A, 0)), "metadata.ref.episodes"),
        (_declaration(size_bytes=0), "metadata.size_bytes"),
        (_declaration(sha256="xyz"), "metadata.sha256"),
        (
            _declaration(details=ModelDetails(evaluation_score=float("nan"))),
            "metadata.evaluation.score",
        ),
        (
            _declaration(details=ModelDetails(parent=ModelKey("nope", 5))),
            "metadata.parent.model_hash",
        ),
        (
            _declaration(details=ModelDetails(canonical_parameters_json="{not json")),
            "metadata.canonical_parameters_json",
        ),
        (
            _declaration(details=ModelDetails(hyperparameters_json="[1,")),
            "metadata.hyperparameters_json",
        ),
    ],
)
def test_declaration_errors_name_the_field(declaration: UploadDeclaration, field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validation.check_declaration(declaration, max_bytes=1000)
    assert _fields(caught.value) == [field]
    assert caught.value.reason == "INVALID_FIELD"


def test_declared_size_over_the_cap_is_a_permanent_failed_precondition() -> None:
    with pytest.raises(FailedPrecondition) as caught:
        validation.check_declaration(_declaration(size_bytes=1001), max_bytes=1000)
    assert caught.value.reason == "TOO_LARGE"
    assert "RL_MODELS_MAX_BYTES" in caught.value.message


def test_page_size_and_key_checks() -> None:
    assert validation.check_page_size(0) == validation.DEFAULT_PAGE_SIZE
    assert validation.check_page_size(1000) == 1000
    with pytest.raises(InvalidArgument):
        validation.check_page_size(1001)
    with pytest.raises(InvalidArgument) as caught:
        validation.check_key("zz", 0, prefix="ref.")
    assert _fields(caught.value) == ["ref.model_hash", "ref.episodes"]


# -- zip validation -------------------------------------------------------------------


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "candidate.zip"
    path.write_bytes(data)
    return path


def test_a_real_sb3_save_passes(registry_sb3_model: RegistrySb3Model) -> None:
    zipcheck.validate_model_zip(registry_sb3_model.path, max_bytes=10 * 1024 * 1024)


def test_synthetic_sb3_shaped_zip_passes(tmp_path: Path) -> None:
    zipcheck.validate_model_zip(_write(tmp_path, model_zip("x")), max_bytes=1024 * 1024)


def _members_without(name: str) -> list[tuple[str, bytes]]:
    return [m for m in sb3_members() if m[0] != name]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"this is not a zip at all", "not a zip"),
        (raw_zip(_members_without("policy.pth")), "missing member(s) policy.pth"),
        (raw_zip(_members_without("data")), "missing member(s) data"),
        (raw_zip([*sb3_members(), ("../evil", b"x")]), "'..' in path"),
        (raw_zip([*sb3_members(), ("/etc/cron.d/evil", b"x")]), "absolute path"),
        (raw_zip([*sb3_members(), ("a\\..\\b", b"x")]), "backslash"),
        (raw_zip([*sb3_members(), ("policy.pth", b"second")]), "appears twice"),
        (
            raw_zip([("data", b"\x80\x04pickle"), *_members_without("data")]),
            "not the JSON",
        ),
        (model_zip()[:-40], "not a zip"),  # truncated: the central directory is cut
    ],
)
def test_invalid_model_files_are_rejected(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        zipcheck.validate_model_zip(_write(tmp_path, data), max_bytes=1024 * 1024)
    assert caught.value.reason == "INVALID_MODEL_FILE"
    assert message in caught.value.message


def test_corrupted_member_bytes_fail_their_crc(tmp_path: Path) -> None:
    data = bytearray(model_zip("crc", policy_bytes=4096))
    offset = data.index(b"policy.pth") + 200  # inside policy.pth's stored bytes
    data[offset] ^= 0xFF
    with pytest.raises(InvalidArgument) as caught:
        zipcheck.validate_model_zip(_write(tmp_path, bytes(data)), max_bytes=1024 * 1024)
    assert "corrupt" in caught.value.message


def test_members_expanding_past_the_cap_are_too_large(tmp_path: Path) -> None:
    data = raw_zip(sb3_members(policy_bytes=64 * 1024))
    with pytest.raises(FailedPrecondition) as caught:
        zipcheck.validate_model_zip(_write(tmp_path, data), max_bytes=32 * 1024)
    assert caught.value.reason == "TOO_LARGE"


def test_a_zip_bomb_is_refused_by_its_compression_ratio(tmp_path: Path) -> None:
    bomb = raw_zip([*sb3_members(), ("padding.bin", b"\0" * (8 * 1024 * 1024))], deflate=True)
    assert len(bomb) < 100 * 1024
    with pytest.raises(FailedPrecondition) as caught:
        zipcheck.validate_model_zip(_write(tmp_path, bomb), max_bytes=64 * 1024 * 1024)
    assert "zip bomb" in caught.value.message


# -- ranking --------------------------------------------------------------------------

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _record(episodes: int, *, score: float | None = None, age_days: int = 0) -> ModelRecord:
    return ModelRecord(
        key=ModelKey(HASH_A, episodes),
        size_bytes=1,
        sha256=f"{episodes:064x}",
        created_at=T0 - timedelta(days=age_days),
        origin=Origin.UPLOADED,
        details=ModelDetails(evaluation_score=score),
    )


def test_evaluated_models_beat_unevaluated_ones_whatever_their_episodes() -> None:
    records = [_record(5000), _record(600, score=-3.0), _record(700, score=12.5)]
    assert ranking.best_compatible(HASH_A, records, 500).key.episodes == 700


def test_without_scores_more_episodes_win_then_the_newest() -> None:
    assert ranking.best_compatible(HASH_A, [_record(600), _record(900)], 500).key.episodes == 900
    older, newer = _record(800, age_days=3), _record(800, age_days=1)
    newer = ModelRecord(**{**newer.__dict__, "key": ModelKey(HASH_A, 800), "sha256": "f" * 64})
    assert ranking.best_compatible(HASH_A, [older, newer], 500) is newer


def test_not_found_says_why() -> None:
    with pytest.raises(NotFound) as none:
        ranking.best_compatible(HASH_A, [], 500)
    assert none.value.reason == "NO_MODEL_FOR_HASH"
    with pytest.raises(NotFound) as below:
        ranking.best_compatible(HASH_A, [_record(100), _record(499)], 500)
    assert below.value.reason == "BELOW_MIN_EPISODES"
    assert "under 500 episodes" in below.value.message and "largest has 499" in below.value.message
