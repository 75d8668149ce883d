"""Shipped models: installed with their metadata when the registry starts on an empty
directory, never over a directory that holds models (model_registry_service.shipped)."""

from __future__ import annotations

import importlib.util
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import RegistryHarness, RegistrySb3Model
from family_support import short_family, write_short_family
from registry_support import TIMEOUT

from glidepath.common.v1 import model_pb2
from glidepath.models import GENERIC_KIND
from glidepath.registry.v1 import registry_pb2
from glidepath.rl.family import family_canonical_json, family_hash
from glidepath.rl.recipe import POLICY_LAYOUT_VERSION
from model_registry_service import shipped
from model_registry_service.config import RegistrySettings

ROOT = Path(__file__).resolve().parent.parent
EPISODES = 16  # 2 households x 4 lives x 2 batches


def _make(out: Path, family: Path, *extra: str, episodes: int = EPISODES) -> None:
    """The real command (its main, in this process: torch is imported already)."""
    script = ROOT / "scripts" / "make_generic_model.py"
    loaded = importlib.util.spec_from_file_location("make_generic_model", script)
    assert loaded is not None and loaded.loader is not None
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    status = module.main(
        [
            f"--episodes={episodes}",
            "--households-per-batch=2",
            "--lives-per-household=4",
            f"--family={family}",
            "--eval-households=2",
            "--eval-lives=50",
            f"--out={out}",
            *extra,
        ]
    )
    assert status == 0


@pytest.fixture(scope="module")
def shipped_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A shipped directory made by the real command, for the short family."""
    work = tmp_path_factory.mktemp("shipped")
    out = work / "shipped"
    _make(out, write_short_family(work / "short.json"))
    return out


def _listed(harness: RegistryHarness) -> list[model_pb2.ModelMetadata]:
    response = harness.stub.ListModels(registry_pb2.ListModelsRequest(), timeout=TIMEOUT)
    return list(response.models)


def test_the_command_writes_a_model_and_metadata_the_registry_reads(shipped_dir: Path) -> None:
    name = f"rl_model_{family_hash(short_family())}_{EPISODES}ep"
    assert sorted(p.name for p in shipped_dir.iterdir()) == [f"{name}.json", f"{name}.zip"]
    record, made_by = shipped.read_metadata(shipped_dir / f"{name}.json")
    assert record.details.kind == GENERIC_KIND
    assert record.details.label == "short family"
    assert record.details.policy_layout_version == POLICY_LAYOUT_VERSION
    assert record.details.canonical_parameters_json == family_canonical_json(short_family())
    assert record.details.training_seconds > 0 and record.details.library_versions
    assert made_by["seed"] and len(made_by["evaluation"]["households"]) == 2
    assert record.details.evaluation_score == made_by["evaluation"]["mean_share_of_best_other"]


def test_a_new_model_of_the_family_replaces_the_older_and_the_flags_are_recorded(
    tmp_path: Path,
) -> None:
    family = write_short_family(tmp_path / "short.json")
    out = tmp_path / "shipped"
    _make(out, family)
    _make(out, family, "--label=short ones", "--no-optimum", "--seed=9", episodes=8)
    name = f"rl_model_{family_hash(short_family())}_8ep"
    assert sorted(p.name for p in out.iterdir()) == [f"{name}.json", f"{name}.zip"]
    record, made_by = shipped.read_metadata(out / f"{name}.json")
    assert record.details.label == "short ones"
    assert made_by["seed"] == 9
    assert made_by["evaluation"]["include_optimum"] is False


def test_a_registry_on_an_empty_directory_installs_the_shipped_model_with_its_metadata(
    registry_start: Callable[..., RegistryHarness], shipped_dir: Path
) -> None:
    harness = registry_start(shipped_dir=shipped_dir)
    (model,) = _listed(harness)
    assert model.kind == model_pb2.MODEL_KIND_GENERIC
    assert model.label == "short family"
    assert model.ref.model_hash == family_hash(short_family())
    assert model.ref.episodes == EPISODES
    assert model.policy_layout_version == POLICY_LAYOUT_VERSION
    assert model.origin == model_pb2.MODEL_ORIGIN_ADOPTED
    found = harness.stub.FindCompatibleModel(
        registry_pb2.FindCompatibleModelRequest(model_hash=model.ref.model_hash, min_episodes=1),
        timeout=TIMEOUT,
    )
    assert found.model.sha256 == model.sha256
    # Installed, not moved: the shipped directory is as it was.
    assert len(list(shipped_dir.iterdir())) == 2


def test_a_directory_that_holds_a_model_gets_no_shipped_model(
    registry_start: Callable[..., RegistryHarness],
    registry_sb3_model: RegistrySb3Model,
    shipped_dir: Path,
    tmp_path: Path,
) -> None:
    models = tmp_path / "models" / "rl"
    models.mkdir(parents=True)
    own = models / "rl_model_0123456789abcdef_500ep.zip"
    own.write_bytes(registry_sb3_model.data)
    harness = registry_start(shipped_dir=shipped_dir)
    assert [m.file_name for m in _listed(harness)] == [own.name]


def test_a_deleted_shipped_model_stays_deleted_while_other_models_remain(
    registry_start: Callable[..., RegistryHarness],
    registry_sb3_model: RegistrySb3Model,
    shipped_dir: Path,
) -> None:
    first = registry_start(shipped_dir=shipped_dir)
    (model,) = _listed(first)
    (first.directory / "rl_model_0123456789abcdef_500ep.zip").write_bytes(registry_sb3_model.data)
    (first.directory / model.file_name).unlink()
    second = registry_start(shipped_dir=shipped_dir)
    assert [m.ref.model_hash for m in _listed(second)] == ["0123456789abcdef"]


def test_no_shipped_directory_installs_nothing(
    registry_start: Callable[..., RegistryHarness],
) -> None:
    assert _listed(registry_start(shipped_dir=None)) == []


def _copy(shipped_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(shipped_dir, copy)
    return copy


def test_a_shipped_zip_its_metadata_does_not_describe_is_skipped(
    shipped_dir: Path, tmp_path: Path
) -> None:
    source = _copy(shipped_dir, tmp_path)
    (zip_path,) = source.glob("*.zip")
    zip_path.write_bytes(zip_path.read_bytes() + b"\0")
    assert shipped.install(source, tmp_path / "rl", check_model=None) == []
    (json_path,) = source.glob("*.json")
    json_path.unlink()
    assert shipped.install(source, tmp_path / "rl", check_model=None) == []
    assert not list((tmp_path / "rl").glob("rl_model_*"))


def test_a_shipped_model_that_fails_the_consumer_check_is_skipped(
    shipped_dir: Path, tmp_path: Path
) -> None:
    from glidepath.errors import InvalidArgument

    def refuse(_: Path) -> None:
        raise InvalidArgument.field("model", "another policy layout", reason="INVALID_MODEL")

    assert shipped.install(shipped_dir, tmp_path / "rl", check_model=refuse) == []
    assert not list((tmp_path / "rl").glob("rl_model_*"))


def test_the_installed_sidecar_is_dated_at_installation(shipped_dir: Path, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    when = datetime(2031, 1, 2, tzinfo=UTC)
    (key,) = shipped.install(shipped_dir, tmp_path / "rl", check_model=None, now=lambda: when)
    document = json.loads((tmp_path / "rl" / shipped.metadata_name(key)).read_text())
    assert document["created_at"] == when.isoformat()
    assert shipped.SHIPPED_SECTION not in document  # the registry's own sidecar


def test_the_setting_defaults_to_the_repository_and_an_empty_value_disables_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("RL_SHIPPED_MODELS_DIR", raising=False)
    assert RegistrySettings.from_env().shipped_dir == ROOT / "models" / "shipped"
    monkeypatch.setenv("RL_SHIPPED_MODELS_DIR", "")
    assert RegistrySettings.from_env().shipped_dir is None
    monkeypatch.setenv("RL_SHIPPED_MODELS_DIR", "/somewhere/else")
    assert RegistrySettings.from_env().shipped_dir == Path("/somewhere/else")


def test_the_service_process_installs_the_repository_s_shipped_model(tmp_path: Path) -> None:
    """``python -m model_registry_service`` on an empty directory serves models/shipped."""
    from process_support import ServiceProcess

    from glidepath.registry.v1 import registry_pb2_grpc
    from glidepath.rl.family import load_family
    from model_registry_service.service import SERVICE_NAME

    env = {
        "RL_MODELS_DIR": str(tmp_path / "rl"),
        "RL_SHIPPED_MODELS_DIR": str(ROOT / "models" / "shipped"),
    }
    service = ServiceProcess("model_registry_service", tmp_path, env, service_name=SERVICE_NAME)
    try:
        stub = registry_pb2_grpc.ModelRegistryStub(service.channel)
        listed = stub.ListModels(registry_pb2.ListModelsRequest(), timeout=TIMEOUT).models
        default = family_hash(load_family())
        (model,) = [m for m in listed if m.ref.model_hash == default]
        assert (model.kind, model.label) == (model_pb2.MODEL_KIND_GENERIC, "default family")
    finally:
        assert service.stop() == 0
