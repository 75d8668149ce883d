"""A channel to one peer, closed after use, whose failures become one clear line.

Every command follows the shape of grpc's small Python clients: open a channel, make the
call through the service's typed client (``PeerConnection.client``, which carries the
user's credential) with an explicit deadline, close the channel. ``PeerConnection.guard``
wraps the call (or the iteration of a stream) so that a failure names the peer and its
address.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import TypeVar

import grpc

from glidepath.cli.credentials import Credential, credential_from_env
from glidepath.cli.errors import EXIT_USAGE, CliError, rpc_errors
from glidepath.cli.peers import Peer
from glidepath.clients import Caller
from glidepath.clients.channel import Client
from glidepath.config import ConfigError
from glidepath.rpc.channel import open_channel

AnyClient = TypeVar("AnyClient", bound=Client)


@dataclass(frozen=True)
class PeerConnection:
    """An open channel to ``peer`` at ``address``, and who the calls speak for."""

    peer: Peer
    address: str
    channel: grpc.Channel
    credential: Credential

    def client(self, kind: type[AnyClient]) -> AnyClient:
        """The ``glidepath.clients`` client of ``kind`` on this channel, every call
        carrying the user's credential (when set)."""
        return kind(self.channel, Caller(self.credential.token))

    def guard(self, deadline: float) -> AbstractContextManager[None]:
        """Turn a failed call made with ``deadline`` into a CliError naming this peer."""
        return rpc_errors(self.peer, self.address, deadline, self.credential)


@contextmanager
def connect(peer: Peer) -> Iterator[PeerConnection]:
    """A channel to the peer's address (from its environment variable or the default)."""
    credential = credential_from_env()
    try:
        address = peer.address()
        channel = open_channel(address)
    except ConfigError as error:  # a bad address list; GLIDEPATH_TLS_CA unreadable
        raise CliError(str(error), EXIT_USAGE) from None
    try:
        yield PeerConnection(peer, address, channel, credential)
    finally:
        channel.close()
