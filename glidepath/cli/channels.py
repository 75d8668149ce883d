"""A channel to one peer, closed after use, whose failures become one clear line.

Every command follows the shape of grpc's small Python clients: open a channel, make the
call with an explicit deadline, close the channel. ``PeerConnection.guard`` wraps the call
(or the iteration of a stream) so that a failure names the peer and its address.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

import grpc

from glidepath.cli.errors import rpc_errors
from glidepath.cli.peers import Peer
from glidepath.rpc.channel import open_channel


@dataclass(frozen=True)
class PeerConnection:
    """An open channel to ``peer`` at ``address``."""

    peer: Peer
    address: str
    channel: grpc.Channel

    def guard(self, deadline: float) -> AbstractContextManager[None]:
        """Turn a failed call made with ``deadline`` into a CliError naming this peer."""
        return rpc_errors(self.peer, self.address, deadline)


@contextmanager
def connect(peer: Peer) -> Iterator[PeerConnection]:
    """A channel to the peer's address (from its environment variable or the default)."""
    address = peer.address()
    channel = open_channel(address)
    try:
        yield PeerConnection(peer, address, channel)
    finally:
        channel.close()
