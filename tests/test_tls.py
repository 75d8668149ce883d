"""Optional TLS, end to end, with a certificate authority made at test time (openssl).

Every service gets TLS from the shared bootstrap (``run_service`` reads
GLIDEPATH_TLS_CERT/KEY), so the three ``python -m`` entry points are tested as they run:
real processes, a TLS registry round trip, health checks over TLS; a plaintext client, or
a client trusting another CA, cannot talk to a TLS server; a half configuration stops
the service at start-up with a message naming the variable.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from process_support import ROOT, ServiceProcess
from registry_support import HASH_A, TIMEOUT, model_zip, ref, sha256_hex, upload_metadata

from glidepath.clients.registry import download_model, find_compatible_model, upload_model
from glidepath.registry.v1 import registry_pb2, registry_pb2_grpc
from glidepath.rpc.channel import open_channel, wait_until_serving
from glidepath.rpc.tls import CA_ENV, CERT_ENV, KEY_ENV, ClientTls
from model_registry_service.service import SERVICE_NAME as REGISTRY
from simulation_service.service import SERVICE_NAME as SIMULATION


@dataclass(frozen=True)
class Pki:
    ca: Path
    cert: Path
    key: Path
    other_ca: Path

    @property
    def client(self) -> ClientTls:
        return ClientTls(self.ca.read_bytes())

    @property
    def server_env(self) -> dict[str, str]:
        return {CERT_ENV: str(self.cert), KEY_ENV: str(self.key)}


def _openssl(*args: str, cwd: Path) -> None:
    # The test certificates come from the openssl command (Debian's, on every machine
    # of this project's kind); without it these tests fail rather than silently skip.
    assert shutil.which("openssl"), "the TLS tests need the openssl command"
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _make_ca(directory: Path, name: str) -> None:
    _openssl(
        *("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
        *("-nodes", "-days", "2", "-subj", f"/CN={name}"),
        *("-addext", "basicConstraints=critical,CA:TRUE"),
        *("-addext", "keyUsage=critical,keyCertSign,cRLSign"),
        *("-keyout", f"{name}.key", "-out", f"{name}.pem"),
        cwd=directory,
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A test CA, a server certificate for localhost/127.0.0.1 it signed, and a second CA."""
    d = tmp_path_factory.mktemp("pki")
    _make_ca(d, "ca")
    _make_ca(d, "other")
    _openssl(
        *("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"),
        *("-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr"),
        cwd=d,
    )
    (d / "server.ext").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
    )
    _openssl(
        *("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key"),
        *("-CAcreateserial", "-days", "2", "-extfile", "server.ext", "-out", "server.pem"),
        cwd=d,
    )
    return Pki(d / "ca.pem", d / "server.pem", d / "server.key", d / "other.pem")


@pytest.fixture(scope="module")
def tls_registry(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    workdir = tmp_path_factory.mktemp("tls_registry")
    env = {"RL_MODELS_DIR": str(workdir / "rl"), **pki.server_env}
    process = ServiceProcess(
        "model_registry_service", workdir, env, service_name=REGISTRY, tls=pki.client
    )
    yield process
    process.stop()


def _health(channel: grpc.Channel, service: str = "") -> int:
    reply = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=service), timeout=5
    )
    return int(reply.status)


def test_a_registry_round_trip_over_tls(
    tls_registry: ServiceProcess, pki: Pki, tmp_path: Path
) -> None:
    channel = tls_registry.channel  # TLS, verified against the test CA
    assert _health(channel, REGISTRY) == health_pb2.HealthCheckResponse.SERVING
    data = model_zip("over tls", 512 * 1024)
    source = tmp_path / "model.zip"
    source.write_bytes(data)
    meta = upload_metadata(HASH_A, 1000, data)
    assert upload_model(channel, source, meta, timeout=TIMEOUT).created
    found = find_compatible_model(channel, HASH_A, timeout=TIMEOUT)
    assert found.sha256 == sha256_hex(data)
    target = tmp_path / "back.zip"
    download_model(channel, ref(HASH_A, 1000), target, timeout=TIMEOUT)
    assert target.read_bytes() == data
    serving = [
        json.loads(line) for line in tls_registry.log().splitlines() if '"event":"serving"' in line
    ]
    assert serving and serving[0]["tls"] is True
    assert pki.key.read_text() not in tls_registry.log()


def test_a_plaintext_client_cannot_talk_to_a_tls_server(tls_registry: ServiceProcess) -> None:
    with open_channel(tls_registry.address, None) as plain:
        with pytest.raises(grpc.RpcError) as caught:
            _health(plain)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        with pytest.raises(grpc.RpcError):
            find_compatible_model(plain, HASH_A, timeout=5)
    assert _health(tls_registry.channel) == health_pb2.HealthCheckResponse.SERVING


def test_a_client_trusting_another_ca_is_refused(tls_registry: ServiceProcess, pki: Pki) -> None:
    with open_channel(tls_registry.address, ClientTls(pki.other_ca.read_bytes())) as wrong:
        with pytest.raises(grpc.RpcError) as caught:
            _health(wrong)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_clients_take_the_ca_from_the_environment(
    tls_registry: ServiceProcess, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CA_ENV, str(pki.ca))
    with open_channel(tls_registry.address) as from_env:
        stub = registry_pb2_grpc.ModelRegistryStub(from_env)
        assert _health(from_env) == health_pb2.HealthCheckResponse.SERVING
        assert stub is not None
    monkeypatch.delenv(CA_ENV)
    with open_channel(tls_registry.address) as plain, pytest.raises(grpc.RpcError):
        _health(plain)


def test_every_service_serves_tls_from_the_shared_bootstrap(
    tls_registry: ServiceProcess, pki: Pki, tmp_path: Path
) -> None:
    """Simulation and training, unchanged, serve TLS from the same two variables (training
    is also given GLIDEPATH_TLS_CA, as its registry client would need in a TLS deployment)."""
    services = {
        "simulation_service": (SIMULATION, {}),
        "training_service": (
            "glidepath.training.v1.TrainingService",
            {
                "TRAINING_DATA_DIR": str(tmp_path / "training"),
                "REGISTRY_ADDR": tls_registry.address,
                CA_ENV: str(pki.ca),
            },
        ),
    }
    for module, (service, extra) in services.items():
        process = ServiceProcess(
            module, tmp_path, {**pki.server_env, **extra}, service_name=service, tls=pki.client
        )
        try:
            assert _health(process.channel, service) == health_pb2.HealthCheckResponse.SERVING
            with open_channel(process.address, None) as plain, pytest.raises(grpc.RpcError):
                _health(plain)
        finally:
            assert process.stop() == 0


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({CERT_ENV: "CERT"}, f"{KEY_ENV} is not set"),
        ({KEY_ENV: "KEY"}, f"{CERT_ENV} is not set"),
        ({CERT_ENV: "/nonexistent/cert.pem", KEY_ENV: "KEY"}, f"{CERT_ENV}: cannot read"),
        ({CERT_ENV: "CERT", KEY_ENV: "NOT_PEM"}, f"{KEY_ENV}: "),
    ],
    ids=["cert only", "key only", "missing file", "not pem"],
)
def test_a_half_tls_configuration_stops_the_service(
    pki: Pki, tmp_path: Path, env: dict[str, str], words: str
) -> None:
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello")
    paths = {"CERT": str(pki.cert), "KEY": str(pki.key), "NOT_PEM": str(not_pem)}
    resolved = {name: paths.get(value, value) for name, value in env.items()}
    clean = {k: v for k, v in os.environ.items() if k not in (CERT_ENV, KEY_ENV)}
    result = subprocess.run(
        [sys.executable, "-m", "model_registry_service", "--port", "0"],
        cwd=ROOT,
        env={**clean, "RL_MODELS_DIR": str(tmp_path / "rl"), **resolved},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert words in result.stderr
    assert "model_registry_service" in result.stderr


def test_plaintext_stays_the_default(tmp_path: Path) -> None:
    """No TLS variables: the service speaks plaintext on loopback, as before."""
    clean = {k: "" for k in (CERT_ENV, KEY_ENV, CA_ENV)}
    process = ServiceProcess(
        "model_registry_service",
        tmp_path,
        {"RL_MODELS_DIR": str(tmp_path / "rl"), **clean},
        service_name=REGISTRY,
    )
    try:
        wait_until_serving(process.channel, REGISTRY, timeout=10)
        assert '"tls":false' in process.log()
    finally:
        process.stop()


def test_the_container_health_probe_speaks_tls_with_the_ca(
    tls_registry: ServiceProcess, pki: Pki
) -> None:
    probe = [sys.executable, "-m", "glidepath.healthcheck", tls_registry.address, REGISTRY]
    base = {k: v for k, v in os.environ.items() if k != CA_ENV}
    with_ca = subprocess.run(
        probe, cwd=ROOT, env={**base, CA_ENV: str(pki.ca)}, capture_output=True, text=True
    )
    assert with_ca.returncode == 0, with_ca.stdout + with_ca.stderr
    assert "SERVING" in with_ca.stdout
    without = subprocess.run(probe, cwd=ROOT, env=base, capture_output=True, text=True)
    assert without.returncode == 1


def test_the_server_name_can_be_set_apart_from_the_address(
    tls_registry: ServiceProcess, pki: Pki
) -> None:
    """The certificate names localhost and 127.0.0.1: checked against a name it lacks, the
    handshake fails; against one it has, it succeeds whatever the address says."""
    good = ClientTls(pki.ca.read_bytes(), server_name="localhost")
    with open_channel(tls_registry.address, good) as channel:
        assert _health(channel) == health_pb2.HealthCheckResponse.SERVING
    bad = ClientTls(pki.ca.read_bytes(), server_name="registry.example")
    with open_channel(tls_registry.address, bad) as channel, pytest.raises(grpc.RpcError):
        _health(channel)


def test_tls_over_a_list_of_two_replicas_checks_each_against_the_server_name(
    tls_registry: ServiceProcess, pki: Pki, tmp_path: Path
) -> None:
    """Two TLS registries dialled as one IP list: the channel has one name to check every
    certificate against (GLIDEPATH_TLS_SERVER_NAME; here "localhost", which the test
    certificate carries), and both replicas answer calls through it."""
    env = {"RL_MODELS_DIR": str(tmp_path / "rl"), **pki.server_env}
    other = ServiceProcess(
        "model_registry_service", tmp_path, env, service_name=REGISTRY, tls=pki.client
    )
    replicas = (tls_registry, other)
    listed = f"{tls_registry.address},{other.address}"
    method = "/glidepath.registry.v1.ModelRegistry/ListModels"

    def served(replica: ServiceProcess) -> int:
        return sum(method in line for line in replica.log().splitlines())

    try:
        before = [served(r) for r in replicas]
        with open_channel(listed, ClientTls(pki.ca.read_bytes(), "localhost")) as channel:
            wait_until_serving(channel, REGISTRY, timeout=TIMEOUT)
            stub = registry_pb2_grpc.ModelRegistryStub(channel)
            for _ in range(8):
                stub.ListModels(registry_pb2.ListModelsRequest(), timeout=TIMEOUT)
        assert all(served(r) > b for r, b in zip(replicas, before, strict=True))
        assert sum(served(r) - b for r, b in zip(replicas, before, strict=True)) == 8
        with open_channel(listed, ClientTls(pki.ca.read_bytes(), "elsewhere")) as wrong:
            with pytest.raises(grpc.RpcError) as caught:
                _health(wrong)
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        assert other.stop() == 0
