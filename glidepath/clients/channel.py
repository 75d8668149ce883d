"""What every client call shares: the channel, who the call speaks for, its deadline.

``connected(address)`` opens a channel with glidepath's message limits and, when
``GLIDEPATH_TLS_CA`` is set, TLS verified against that CA (``glidepath.rpc.channel``),
and closes it after use. A client class wraps one channel and is thread-safe; opening a
channel per request is cheap enough for the CLI, and a long-lived process (a service,
the web front end) keeps one per peer.

``Caller`` is the call metadata: ``authorization: Bearer <token>`` when a token is set,
and ``glidepath-on-behalf-of: <user>`` when a service acts for a user (the services
honour that header from a service credential only, so a user cannot claim another's
name). ``client.as_caller(other)`` gives a client on the same channel speaking for
someone else, which is how a service makes one call for a user and the next as itself.

``Deadlines``: seconds allowed per kind of call, settable per client; each method also
takes ``timeout=`` for one call. ``Stream`` is what a server-streaming method returns:
iterate it for the messages, ``cancel()`` it (from any thread) to stop.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, Self, TypeVar

import grpc

from glidepath.auth import ON_BEHALF_OF_METADATA
from glidepath.rpc.channel import LONG_DEADLINE, SHORT_DEADLINE, bearer, open_channel

Metadata = tuple[tuple[str, str], ...]
Message = TypeVar("Message", covariant=True)


class Stream(Protocol[Message]):
    """A server stream: its messages in order, and ``cancel()`` to stop it early."""

    def __iter__(self) -> Iterator[Message]: ...

    def __next__(self) -> Message: ...

    def cancel(self) -> bool: ...


@dataclass(frozen=True)
class Caller:
    """Who a call speaks for: the bearer ``token`` (None: no credential) and, for a
    service acting for a user, that user's name (``on_behalf_of``)."""

    token: str | None = None
    on_behalf_of: str = ""

    @property
    def metadata(self) -> Metadata:
        """The call metadata carrying both; empty for an anonymous caller."""
        pairs = bearer(self.token)
        if self.on_behalf_of:
            pairs += ((ON_BEHALF_OF_METADATA, self.on_behalf_of),)
        return pairs


@dataclass(frozen=True)
class Deadlines:
    """Seconds allowed for one call, by kind."""

    call: float = SHORT_DEADLINE  # a quick question: get, find, list, start, delete
    transfer: float = LONG_DEADLINE  # a call that moves a model file or runs a simulation
    stream: float = 1800.0  # a stream that follows a whole job (Optimize, WatchTraining)


@contextmanager
def connected(address: str) -> Iterator[grpc.Channel]:
    """A channel to ``host:port``, or to a list of replicas balanced round-robin
    (``glidepath.rpc.addresses``), with TLS from the environment, closed on leaving;
    ``glidepath.config.ConfigError`` for an address that does not parse or when
    GLIDEPATH_TLS_CA is unreadable."""
    channel = open_channel(address)
    try:
        yield channel
    finally:
        channel.close()


class Client:
    """One channel, who its calls speak for, and their deadlines; the base of the three
    service clients, which add one method per RPC."""

    def __init__(
        self, channel: grpc.Channel, caller: Caller = Caller(), deadlines: Deadlines = Deadlines()
    ) -> None:
        self.channel = channel
        self.caller = caller
        self.deadlines = deadlines
        self._stub = self._make_stub(channel)

    def _make_stub(self, channel: grpc.Channel) -> Any:
        raise NotImplementedError

    def as_caller(self, caller: Caller) -> Self:
        """A client on the same channel and stub, with the same deadlines, speaking for
        ``caller`` (cheap enough to make for every call)."""
        other = copy.copy(self)
        other.caller = caller
        return other

    def _call(self, timeout: float | None, default: float) -> dict[str, Any]:
        """The keyword arguments of one call: its deadline and the caller's metadata."""
        return {
            "timeout": default if timeout is None else timeout,
            "metadata": self.caller.metadata,
        }
