"""``glidepath models cleanup`` of thousands of models tells the truth about what it did.

A real registry process holds thousands of old model files (one real stable-baselines3
save, hard-linked under as many names, as an operator's directory of old models would
hold them). A fixed 5 s deadline cut the call short while the registry went on to delete
every one, and the client reported a deadline error: the deadline now grows with the
number of models the dry run found, and should it pass anyway, the client asks what is
left and reports how many were deleted.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import run_cli
from conftest import RegistrySb3Model
from process_support import ServiceProcess

from glidepath.cli.channels import connect
from glidepath.cli.errors import CliError
from glidepath.cli.models import cleanup, done_so_far
from glidepath.cli.peers import REGISTRY
from glidepath.common.v1 import model_pb2
from glidepath.registry.v1 import registry_pb2, registry_pb2_grpc

pytestmark = pytest.mark.slow

# Enough that deleting them all takes the registry longer than 5 s on the development
# machine (3,000 took 5.3 s there).
MANY = 4000
DAY = 24 * 3600.0


def model_hash(index: int) -> str:
    return f"{index:016x}"


def drop_old_models(directory: Path, source: Path, count: int, age_days: float = 40.0) -> None:
    """``count`` valid model files in ``directory``, all dated ``age_days`` ago."""
    stamp = time.time() - age_days * DAY
    os.utime(source, (stamp, stamp))
    for index in range(count):
        os.link(source, directory / f"rl_model_{model_hash(index)}_1000ep.zip")


def start_registry(work: Path, model: RegistrySb3Model, count: int) -> ServiceProcess:
    """A registry process that has adopted ``count`` old models dropped into its directory."""
    models = work / "rl"
    models.mkdir(parents=True)
    source = work / "source.zip"
    source.write_bytes(model.data)
    drop_old_models(models, source, count)
    registry = ServiceProcess("model_registry_service", work, {"RL_MODELS_DIR": str(models)})
    # Adoption happens on the first look at the directory; done here, outside the test.
    stub = registry_pb2_grpc.ModelRegistryStub(registry.channel)
    stub.ListModels(registry_pb2.ListModelsRequest(page_size=1), timeout=120)
    return registry


@pytest.fixture
def crowded_registry(
    tmp_path: Path, registry_sb3_model: RegistrySb3Model
) -> Iterator[tuple[Path, str]]:
    """A registry holding MANY old models: their directory and its address."""
    registry = start_registry(tmp_path, registry_sb3_model, MANY)
    try:
        yield tmp_path / "rl", registry.address
    finally:
        registry.stop()


def test_cleanup_of_thousands_of_models_reports_every_deletion_and_exit_0(
    crowded_registry: tuple[Path, str],
) -> None:
    models, address = crowded_registry
    result = run_cli("models", "cleanup", env={"REGISTRY_ADDR": address})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"Deleted {MANY} model(s) older than 30 days:"
    assert len(lines) == MANY + 1
    assert list(models.glob("*.zip")) == []
    listed = run_cli("models", "list", env={"REGISTRY_ADDR": address})
    assert listed.stdout.strip() == "No models stored."


def test_past_the_deadline_the_answer_counts_what_was_deleted(
    tmp_path: Path, registry_sb3_model: RegistrySb3Model, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = start_registry(tmp_path, registry_sb3_model, 6)
    monkeypatch.setenv(REGISTRY.env_var, registry.address)
    stub = registry_pb2_grpc.ModelRegistryStub(registry.channel)

    def delete(index: int) -> None:
        ref = model_pb2.ModelRef(model_hash=model_hash(index), episodes=1000)
        stub.DeleteModel(registry_pb2.DeleteModelRequest(ref=ref), timeout=10)

    try:
        with connect(REGISTRY) as peer:
            planned = cleanup(peer, 30, dry_run=True, deadline=30)
            assert len(planned.models) == 6
            for index in range(4):  # what the registry had deleted when the deadline passed
                delete(index)
            with pytest.raises(CliError) as unfinished:
                done_so_far(peer, 30, planned, deadline=12.5)
            assert unfinished.value.exit_code == 1
            assert unfinished.value.message == (
                f"the registry at {registry.address} did not finish the cleanup within 12.5 s: "
                "4 of 6 models older than 30 days deleted so far, 2 still stored (it may still "
                "be deleting; run `glidepath models cleanup` again)"
            )
            for index in range(4, 6):
                delete(index)
            finished = done_so_far(peer, 30, planned, deadline=12.5)
    finally:
        registry.stop()
    assert finished.deleted_count == 6
    assert list(finished.models) == list(planned.models)
