"""A peer's address as a person writes it, and the gRPC target that dials it.

A peer may run as several replicas. Its variable (``SIMULATION_ADDR`` and the others)
then holds either

- a comma-separated list of IP literals with their ports
  (``10.0.0.5:50051,10.0.0.6:50051``, or bracketed IPv6 ``[fd00::5]:50051``, one family
  per list), dialled as gRPC's static ``ipv4:``/``ipv6:`` target; or
- one host name and port (``simulation:50051``), dialled as ``dns:///simulation:50051``:
  every address the name resolves to (a compose service scaled to two, a Kubernetes
  headless service) is a backend.

Several distinct host names, or names mixed with IP literals, cannot be one gRPC target
without a resolver of our own, so they are refused with the variable named: give the IPs,
or one name with several records. Either way the channel spreads calls with gRPC's
``round_robin`` policy (``glidepath.rpc.channel.open_channel``); a single ``host:port``
is simply a list of one.

Parsing happens where a setting is read, so that a bad list stops a service (or the CLI)
at start-up with the variable as the user wrote it, not at its first call.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass

from glidepath.config import ConfigError

# A DNS host name (RFC 1123 labels; underscores too, as compose service names allow).
_HOST_NAME = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_-]+)*\.?$")


@dataclass(frozen=True)
class PeerAddresses:
    """What one peer variable says: the gRPC ``target`` and how many entries it listed.

    ``ip_list``: the entries are IP literals (the static resolver), so a TLS client cannot
    check each server against the address it dialled (see ``open_channel``).
    """

    written: str
    target: str
    entries: int
    ip_list: bool


def _entry(entry: str, where: str) -> tuple[str, int, int | None]:
    """``(host, port, ip_version)`` of one ``host:port``; ip_version None for a name."""
    if entry.startswith("["):
        host, closed, rest = entry[1:].partition("]")
        if not closed or not rest.startswith(":"):
            raise ConfigError(f"{where}: {entry!r} must read [IPv6]:port")
        port_text = rest[1:]
    else:
        host, colon, port_text = entry.rpartition(":")
        if not colon:
            raise ConfigError(f"{where}: {entry!r} has no port (write host:port)")
        if ":" in host:
            raise ConfigError(f"{where}: {entry!r}: an IPv6 address goes in brackets, [addr]:port")
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ConfigError(f"{where}: {entry!r} needs a port in [1, 65535]")
    try:
        version: int | None = ipaddress.ip_address(host).version
    except ValueError:
        version = None
    if entry.startswith("[") and version != 6:
        raise ConfigError(f"{where}: {entry!r}: only an IPv6 address goes in brackets")
    if version is None and not _HOST_NAME.match(host):
        raise ConfigError(f"{where}: {entry!r} is neither an IP address nor a host name")
    return host, int(port_text), version


def parse_addresses(written: str, variable: str | None = None) -> PeerAddresses:
    """The gRPC target for ``written``; ConfigError naming ``variable`` when it is unusable."""
    where = variable or f"address {written!r}"
    entries = [part.strip() for part in written.split(",")]
    if not written.strip() or any(not part for part in entries):
        raise ConfigError(f"{where}: {written!r} has an empty entry (write host:port[,host:port])")
    parsed = [_entry(part, where) for part in entries]
    versions = {version for _, _, version in parsed}
    if None in versions:
        if len(parsed) > 1:
            raise ConfigError(
                f"{where}: {written!r} lists {len(parsed)} entries with a host name among them;"
                " give either IP:port entries only, or one host name whose DNS records name"
                " every replica"
            )
        host, port, _ = parsed[0]
        return PeerAddresses(written, f"dns:///{host}:{port}", 1, ip_list=False)
    if len(versions) > 1:
        raise ConfigError(f"{where}: {written!r} mixes IPv4 and IPv6 addresses; use one family")
    scheme = "ipv6" if versions == {6} else "ipv4"
    listed = ",".join(f"[{h}]:{p}" if v == 6 else f"{h}:{p}" for h, p, v in parsed)
    return PeerAddresses(written, f"{scheme}:{listed}", len(parsed), ip_list=True)


def checked_address(written: str, variable: str) -> str:
    """``written`` (stripped) once it parses; ConfigError naming ``variable`` otherwise."""
    value = written.strip()
    parse_addresses(value, variable)
    return value


def env_address(name: str, default: str) -> str:
    """A peer's address from variable ``name`` (else ``default``), checked at start-up."""
    raw = os.environ.get(name, "").strip()
    return checked_address(raw, name) if raw else default
