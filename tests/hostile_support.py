"""Hypothesis strategies that build arbitrary protobuf messages from their descriptors.

Nothing here knows a glidepath message: every field of every request type is walked
through its descriptor, so a field added to a ``.proto`` later is fuzzed without a change
here. Values are chosen to hurt: the extremes of each integer type, NaN, infinities and
negative zero, empty and very long strings, odd Unicode, random bytes, open enums with
unknown numbers, repeated fields and maps with several entries, nested messages a few
levels deep. ``sparse`` messages set few fields, so that merged into a valid request they
make a near-valid one that gets past the first check and deep into the service.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

FD = FieldDescriptor
M = TypeVar("M", bound=Message)
# What every hostile call may answer: OK or a clear, deliberate error. Never UNKNOWN or
# INTERNAL (an unhandled exception), never a hang (every call has a deadline, and
# DEADLINE_EXCEEDED is not in this set).
CLEAR_CODES = frozenset(
    {
        grpc.StatusCode.OK,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.DATA_LOSS,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.UNAUTHENTICATED,
    }
)

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_UINT32 = (0, 2**32 - 1)
_UINT64 = (0, 2**64 - 1)


def _integers(low: int, high: int) -> st.SearchStrategy[int]:
    edges = [low, high, 0, 1, -1, 2, high // 2, 500, 1000, 120, 16]
    return st.one_of(
        st.sampled_from([e for e in edges if low <= e <= high]),
        st.integers(low, high),
        st.integers(max(low, -1000), min(high, 1000)),
    )


_NONFINITE = (float("nan"), float("inf"), float("-inf"))
_DOUBLES = st.one_of(
    st.sampled_from(
        [0.0, -0.0, 1.0, -1.0, 0.5, 1e-300, 1e300, -1e300, 1e12, 50.0, 99.999, 100.0, *_NONFINITE]
    ),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-200.0, 200.0),
)
_FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=32)
_STRINGS = st.one_of(
    st.sampled_from(
        [
            *("", "0123456789abcdef", "0123456789ABCDEF", "../../etc/passwd", "\x00"),
            *("a" * 70_000, "é" * 300, "ppo", "merton", "own_plan", "optimum"),
            *("NaN", "{}", "[]", '{"a":1e999}'),
        ]
    ),
    st.text(max_size=40),
    st.from_regex(r"\A[0-9a-f]{16}\Z"),
)
_BYTES = st.one_of(st.binary(max_size=300), st.sampled_from([b"", b"PK\x03\x04", b"\x00" * 5000]))


def _scalar(field: Any) -> st.SearchStrategy[Any]:
    kind = field.type
    if kind in (FD.TYPE_INT32, FD.TYPE_SINT32, FD.TYPE_SFIXED32):
        return _integers(*_INT32)
    if kind in (FD.TYPE_INT64, FD.TYPE_SINT64, FD.TYPE_SFIXED64):
        return _integers(*_INT64)
    if kind in (FD.TYPE_UINT32, FD.TYPE_FIXED32):
        return _integers(*_UINT32)
    if kind in (FD.TYPE_UINT64, FD.TYPE_FIXED64):
        return _integers(*_UINT64)
    if kind == FD.TYPE_DOUBLE:
        return _DOUBLES
    if kind == FD.TYPE_FLOAT:
        return _FLOATS
    if kind == FD.TYPE_BOOL:
        return st.booleans()
    if kind == FD.TYPE_STRING:
        return _STRINGS
    if kind == FD.TYPE_BYTES:
        return _BYTES
    if kind == FD.TYPE_ENUM:
        known = [v.number for v in field.enum_type.values]
        return st.one_of(st.sampled_from(known), _integers(*_INT32))  # proto3 enums are open
    raise AssertionError(f"no strategy for {field.full_name} (type {kind})")


def _is_map(field: Any) -> bool:
    entry = field.message_type
    return entry is not None and entry.GetOptions().map_entry


def messages(
    message_type: type[M], *, depth: int = 3, presence: float = 0.5
) -> st.SearchStrategy[M]:
    """Arbitrary messages of ``message_type``; each field set with probability ~presence."""
    return _messages(message_type.DESCRIPTOR, message_type, depth, presence)


def sparse(message_type: type[M], depth: int = 3) -> st.SearchStrategy[M]:
    """Messages with only a few fields set: merged into a valid request, a near-valid one."""
    return messages(message_type, depth=depth, presence=0.12)


def _messages(
    descriptor: Any, cls: Callable[[], M], depth: int, presence: float
) -> st.SearchStrategy[M]:
    @st.composite
    def build(draw: st.DrawFn) -> M:
        message = cls()
        _fill(draw, message, descriptor, depth, presence)
        return message

    return build()


def _fill(draw: st.DrawFn, message: Message, descriptor: Any, depth: int, presence: float) -> None:
    oneof_taken: set[str] = set()
    for field in descriptor.fields:
        if not draw(st.floats(0, 1)) < presence:
            continue
        oneof = field.containing_oneof
        if oneof is not None and not oneof.name.startswith("_"):
            if oneof.name in oneof_taken:
                continue
            oneof_taken.add(oneof.name)
        _set_field(draw, message, field, depth, presence)


def _set_field(draw: st.DrawFn, message: Message, field: Any, depth: int, presence: float) -> None:
    target: Any = getattr(message, field.name)
    if _is_map(field):
        entry = field.message_type
        key_field, value_field = entry.fields_by_name["key"], entry.fields_by_name["value"]
        for _ in range(draw(st.integers(0, 4))):
            key = draw(_scalar(key_field))
            if value_field.type == FD.TYPE_MESSAGE:
                target[key].CopyFrom(draw(_sub(value_field, depth, presence)))
            else:
                target[key] = draw(_scalar(value_field))
        return
    is_repeated = field.is_repeated
    if field.type == FD.TYPE_MESSAGE:
        if depth <= 0:
            return
        if is_repeated:
            for _ in range(draw(st.integers(0, 3))):
                target.add().CopyFrom(draw(_sub(field, depth, presence)))
        else:
            target.SetInParent()
            target.MergeFrom(draw(_sub(field, depth, presence)))
        return
    if is_repeated:
        target.extend(draw(st.lists(_scalar(field), max_size=25)))
    else:
        setattr(message, field.name, draw(_scalar(field)))


def _sub(field: Any, depth: int, presence: float) -> st.SearchStrategy[Message]:
    message_class = message_factory.GetMessageClass(field.message_type)
    strategy: st.SearchStrategy[Message] = _messages(
        field.message_type, message_class, depth - 1, presence
    )
    return strategy


def near_valid(valid: M) -> st.SearchStrategy[M]:
    """``valid`` with a sparse random message merged into it (fields overridden or added)."""

    @st.composite
    def build(draw: st.DrawFn) -> M:
        message = type(valid)()
        message.CopyFrom(valid)
        message.MergeFrom(draw(sparse(type(valid))))
        return message

    return build()


def identity(data: bytes) -> bytes:
    return data


def raw_unary(channel: grpc.Channel, method: str) -> Any:
    """A unary-unary callable sending bytes as they are and returning the reply's bytes."""
    return channel.unary_unary(method, request_serializer=identity, response_deserializer=identity)


def raw_unary_stream(channel: grpc.Channel, method: str) -> Any:
    return channel.unary_stream(method, request_serializer=identity, response_deserializer=identity)


def raw_stream_unary(channel: grpc.Channel, method: str) -> Any:
    return channel.stream_unary(method, request_serializer=identity, response_deserializer=identity)


def outcome(call: Callable[[], Any]) -> tuple[grpc.StatusCode, str]:
    """The status code a call ends with (OK when it returns), and its details."""
    try:
        result = call()
        if hasattr(result, "__iter__") and not isinstance(result, bytes | Message):
            for _ in result:
                pass
    except grpc.RpcError as exc:
        return exc.code(), str(exc.details())
    return grpc.StatusCode.OK, ""
