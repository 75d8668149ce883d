"""Optional TLS for every glidepath server and client, configured by environment variables.

Off by default: the services bind 127.0.0.1 and speak plaintext gRPC on loopback. To
serve TLS, give every server a certificate and its private key (PEM files); to reach a
TLS server, give the client the certificate authority that signed it:

- ``GLIDEPATH_TLS_CERT``, ``GLIDEPATH_TLS_KEY``: the server's certificate chain and key.
  Both or neither; read once at start-up, and a missing or unreadable file stops the
  service with a message naming the variable.
- ``GLIDEPATH_TLS_CA``: the CA certificate(s) a client trusts; when set, every channel
  ``open_channel`` makes is a TLS channel that verifies the server against it (a
  plaintext server is then unreachable, and a TLS server refuses plaintext clients).
- ``GLIDEPATH_TLS_SERVER_NAME``: optional; the name the server's certificate is checked
  against when it differs from the host in the address (e.g. dialling an IP address or a
  compose service name with a certificate issued for another name).

A service that is both a server and a client (training reaches the registry) reads both.
The key's bytes never reach a log line; only the paths do.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from glidepath.config import ConfigError

CERT_ENV = "GLIDEPATH_TLS_CERT"
KEY_ENV = "GLIDEPATH_TLS_KEY"
CA_ENV = "GLIDEPATH_TLS_CA"
SERVER_NAME_ENV = "GLIDEPATH_TLS_SERVER_NAME"


@dataclass(frozen=True)
class ServerTls:
    """A server's certificate chain and private key, as PEM bytes."""

    certificate_chain: bytes
    private_key: bytes
    certificate_path: Path

    def __repr__(self) -> str:  # never the key
        return f"ServerTls(certificate_path={str(self.certificate_path)!r})"


@dataclass(frozen=True)
class ClientTls:
    """The CA certificates a client trusts, and an optional name to check the server by."""

    root_certificates: bytes
    server_name: str | None = None


def _read_pem(variable: str, path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{variable}: cannot read {path} ({exc.strerror or exc})") from None
    if b"-----BEGIN " not in data:
        raise ConfigError(f"{variable}: {path} is not a PEM file")
    return data


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def load_server_tls(certificate: Path, key: Path) -> ServerTls:
    return ServerTls(_read_pem(CERT_ENV, certificate), _read_pem(KEY_ENV, key), certificate)


def server_tls_from_env() -> ServerTls | None:
    """The server's TLS files from GLIDEPATH_TLS_CERT/KEY, or None (plaintext)."""
    cert, key = _env(CERT_ENV), _env(KEY_ENV)
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        missing = CERT_ENV if cert is None else KEY_ENV
        raise ConfigError(f"{CERT_ENV} and {KEY_ENV} go together: {missing} is not set")
    return load_server_tls(Path(cert).expanduser(), Path(key).expanduser())


def client_tls_from_env() -> ClientTls | None:
    """The CA from GLIDEPATH_TLS_CA (and GLIDEPATH_TLS_SERVER_NAME), or None (plaintext)."""
    ca = _env(CA_ENV)
    if ca is None:
        return None
    return ClientTls(_read_pem(CA_ENV, Path(ca).expanduser()), _env(SERVER_NAME_ENV))
