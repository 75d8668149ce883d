"""Is this file a stable-baselines3 save we are willing to store? Decided without unpickling.

An SB3 ``model.save()`` zip holds ``data`` (JSON whose values may embed cloudpickled,
base64-encoded objects), ``policy.pth`` (the weights, a torch archive), and usually
``policy.optimizer.pth``, ``pytorch_variables.pth``, ``_stable_baselines3_version`` and
``system_info.txt``. The registry never loads any of it: it only checks the container,
because ``PPO.load`` on an untrusted file can run code and a hostile zip can exhaust a
disk or escape a directory when extracted by someone else later.

Checks: a real zip; a small central directory and at most ``MAX_MEMBERS`` members,
checked from the end record before ``zipfile`` parses anything (a zip of a million empty
members costs gigabytes as ``ZipInfo`` objects and minutes to read; no ZIP64); no
absolute, ``..``, backslash or duplicate member names; no encrypted members; the required
members present; declared uncompressed sizes within the cap and a bounded compression
ratio (zip bombs); every member then read through a size-capped stream, which also
verifies its CRC (a member whose header understates its size fails there, unexpanded);
``data`` parses as a JSON object. Members are opaque bytes: a zip inside a member is
never opened, so nesting cannot multiply anything.
"""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path, PurePosixPath
from typing import IO

from glidepath.errors import FailedPrecondition, InvalidArgument
from glidepath.text import clip_repr

REQUIRED_MEMBERS = ("data", "policy.pth")
# Real SB3 saves are stored uncompressed; deflate gets a few x on weights. Anything far
# beyond this on a sizeable member is a decompression bomb, not a model.
MAX_COMPRESSION_RATIO = 100
RATIO_CHECK_MIN_BYTES = 1024 * 1024
_READ_BLOCK = 256 * 1024
# An SB3 save has about six members; a few more (other optimizers) are fine.
MAX_MEMBERS = 64
# Room for MAX_MEMBERS entries with long names and extra fields; checked before parsing.
MAX_CENTRAL_DIRECTORY_BYTES = 64 * 1024
_END_RECORD = b"PK\x05\x06"
_END_RECORD_SIZE = 22
_ZIP64_LOCATOR = b"PK\x06\x07"


def invalid(message: str) -> InvalidArgument:
    """An INVALID_MODEL_FILE rejection; the field is the uploaded bytes themselves."""
    return InvalidArgument.field("chunk", message, reason="INVALID_MODEL_FILE")


def _quoted(name: str) -> str:
    """A member name as messages quote it: a hostile zip may carry a name of 64 KiB."""
    return clip_repr(name, 80)


def _too_large(message: str) -> FailedPrecondition:
    """Permanent while RL_MODELS_MAX_BYTES stays (not RESOURCE_EXHAUSTED: retrying won't help)."""
    return FailedPrecondition(message, reason="TOO_LARGE")


def _unsafe_name(name: str) -> str | None:
    """Why a member name is unsafe to ever extract, or None when it is fine."""
    if not name or "\x00" in name:
        return "empty or NUL in name"
    if "\\" in name:
        return "backslash in name"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "absolute path"
    if ".." in PurePosixPath(name).parts:
        return "'..' in path"
    return None


def _check_entries(infos: list[zipfile.ZipInfo], max_bytes: int) -> None:
    seen: set[str] = set()
    total = 0
    for info in infos:
        why = _unsafe_name(info.filename)
        if why is not None:
            raise invalid(f"zip member {_quoted(info.filename)} is unsafe: {why}")
        if info.filename in seen:
            raise invalid(f"zip member {_quoted(info.filename)} appears twice")
        seen.add(info.filename)
        if info.flag_bits & 0x1:
            raise invalid(f"zip member {_quoted(info.filename)} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise invalid(f"zip member {_quoted(info.filename)} uses an unsupported compression")
        total += info.file_size
        if total > max_bytes:
            raise _too_large(
                f"the zip's members expand to more than {max_bytes} bytes (RL_MODELS_MAX_BYTES)"
            )
        if info.file_size > RATIO_CHECK_MIN_BYTES and info.file_size > MAX_COMPRESSION_RATIO * max(
            info.compress_size, 1
        ):
            ratio = info.file_size // max(info.compress_size, 1)
            raise _too_large(
                f"zip member {_quoted(info.filename)} expands {ratio}x: refused as a possible "
                f"zip bomb"
            )
    missing = [name for name in REQUIRED_MEMBERS if name not in seen]
    if missing:
        raise invalid(
            f"not a stable-baselines3 save: missing member(s) {', '.join(missing)} "
            f"(expected {', '.join(REQUIRED_MEMBERS)}, ...)"
        )


def _read_capped(stream: IO[bytes], limit: int, name: str, keep: bool) -> bytes:
    """Read a member to its end, never more than ``limit`` bytes; keep them if asked."""
    kept = bytearray()
    count = 0
    while block := stream.read(_READ_BLOCK):
        count += len(block)
        if count > limit:
            raise _too_large(f"zip member {_quoted(name)} expands beyond its declared size")
        if keep:
            kept += block
    return bytes(kept)


def _check_end_record(path: Path) -> None:
    """Refuse a huge or ZIP64 central directory before ``zipfile`` reads it into memory.

    Finds the end record as ``zipfile`` does (at the very end, else the last one within
    the comment's reach); when there is none, ``zipfile`` reports "not a zip" itself.
    """
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            reach = min(size, _END_RECORD_SIZE + 0xFFFF)
            handle.seek(size - reach)
            tail = handle.read(reach)
    except OSError:
        return
    at = len(tail) - _END_RECORD_SIZE
    if not (at >= 0 and tail[at : at + 4] == _END_RECORD and tail[-2:] == b"\0\0"):
        at = tail.rfind(_END_RECORD)
    if at < 0 or at + _END_RECORD_SIZE > len(tail):
        return
    (comment_bytes,) = struct.unpack_from("<H", tail, at + 20)
    if at + _END_RECORD_SIZE + comment_bytes != len(tail):
        # Not the archive's own end record (its comment would reach the end of the file):
        # one inside a member, such as torch's policy.pth, exposed by a truncated file.
        raise invalid("not a zip file (truncated: its end-of-central-directory record is missing)")
    if at >= 20 and tail[at - 20 : at - 16] == _ZIP64_LOCATOR:
        raise invalid("ZIP64 archives are not accepted (a stable-baselines3 save never needs one)")
    (entries, directory_bytes) = struct.unpack_from("<HI", tail, at + 10)
    if entries > MAX_MEMBERS or directory_bytes > MAX_CENTRAL_DIRECTORY_BYTES:
        raise invalid(
            f"the zip declares {entries} members in a {directory_bytes}-byte directory; a "
            f"stable-baselines3 save has a handful (at most {MAX_MEMBERS} accepted)"
        )


def validate_model_zip(path: Path, max_bytes: int) -> None:
    """Raise InvalidArgument (INVALID_MODEL_FILE) or FailedPrecondition (TOO_LARGE), or pass."""
    _check_end_record(path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        raise invalid(f"not a zip file ({exc})") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:  # the end record's count understated them
            raise invalid(f"the zip has {len(infos)} members; at most {MAX_MEMBERS} accepted")
        _check_entries(infos, max_bytes)
        data = b""
        for info in infos:
            try:
                with archive.open(info) as member:
                    body = _read_capped(
                        member, info.file_size, info.filename, info.filename == "data"
                    )
            except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
                raise invalid(f"zip member {_quoted(info.filename)} is corrupt ({exc})") from None
            if info.filename == "data":
                data = body
    try:
        parsed = json.loads(data)
    except ValueError:
        raise invalid("member 'data' is not the JSON a stable-baselines3 save writes") from None
    if not isinstance(parsed, dict):
        raise invalid("member 'data' is not a JSON object")
