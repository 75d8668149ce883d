"""A household file's parse errors, said in the file's own words.

protobuf's JSON parser reports a typo as ``Failed to parse adults field: Message type
"glidepath.common.v1.Adult" has no field named "netIncom" at "Household.adults[0]".
Available Fields(except extensions): ...`` and a bad enum value as ``Invalid enum value
PENSION for enum type glidepath.common.v1.IncomeKind``: true, but written for the
parser's authors. A person editing the file wants the field as they spelt it, the name
they probably meant, and the values that are allowed. :func:`parse_problem` turns the
parser's message into that, from the message descriptors (so a field added to
``household.proto`` is suggested without a change here); :func:`in_file_words` respells
the field names a validation message mentions (``retirement_age = current_age``) as the
file writes them (``retirementAge = currentAge``).

Spelling: ``"camel"`` (the JSON mapping's lowerCamelCase, as ``household_to_json``
writes) or ``"snake"`` (the proto's original names, which the parser accepts too).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping

from google.protobuf import descriptor_pool
from google.protobuf.descriptor import Descriptor, EnumDescriptor

from glidepath.common.v1 import household_pb2 as pb
from glidepath.errors import FieldViolation
from glidepath.text import clip

ROOT = "household"
# How close a typed name must be to a real one to be suggested (difflib's ratio).
SIMILARITY = 0.6
# A typed name or value is echoed up to this many characters: the list of fields beside it
# must still fit the bound on a violation's length.
TYPED_LIMIT = 80

_UNKNOWN_FIELD = re.compile(
    r'Message type "(?P<type>[\w.]+)" has no field named "(?P<name>[^"]*)" '
    r'at "(?P<at>Household[\w.\[\]]*)"'
)
_BAD_ENUM = re.compile(
    r"Invalid enum value (?P<value>.*?) for enum type (?P<type>[\w.]+) "
    r"at (?P<at>Household[\w.\[\]]*?)\.*$"
)
_BAD_NUMBER = re.compile(
    r"Couldn't parse (?P<kind>integer|float|unsigned integer): (?P<value>.*?) "
    r"at (?P<at>Household[\w.\[\]]*?)\.*$"
)
_NOT_AN_INTEGER = re.compile(r"invalid literal for int\(\) with base 10: (?P<value>.*?)\.*$")
_CHAIN = re.compile(r"^(?:Failed to parse \w+ field: )+")
_SNAKE_WORD = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")


def parse_problem(
    message: str, field: str, spelling: str, aliases: Mapping[str, str] | None = None
) -> FieldViolation:
    """The violation a json_format ``message`` stands for, at ``field`` (already in the
    file's spelling). ``aliases`` maps a short spelling an enum field also accepts to
    its enum name (``"mortality"`` for ``LIFETIMES_MORTALITY``)."""
    unknown = _UNKNOWN_FIELD.search(message)
    if unknown:
        return FieldViolation(
            field, _unknown_field(unknown["type"], unknown["name"], unknown["at"], spelling)
        )
    enum = _BAD_ENUM.search(message)
    if enum:
        return FieldViolation(field, _bad_enum(enum["type"], enum["value"], aliases or {}))
    number = _BAD_NUMBER.search(message)
    if number:
        what = "a number" if number["kind"] == "float" else "a whole number"
        return FieldViolation(field, f"must be {what}, got {clip(number['value'], TYPED_LIMIT)}")
    integer = _NOT_AN_INTEGER.search(message)
    if integer:
        return FieldViolation(
            field, f"must be a whole number, got {clip(integer['value'], TYPED_LIMIT)}"
        )
    return FieldViolation(field, clip(_CHAIN.sub("", message).rstrip("."), 300))


def in_file_words(description: str, spelling: str) -> str:
    """``description`` with every household field name it mentions in the file's spelling."""
    if spelling == "snake":
        return description
    return _SNAKE_WORD.sub(
        lambda m: _camel(m.group(0)) if m.group(0) in _FIELD_NAMES else m.group(0), description
    )


def _unknown_field(type_name: str, typed: str, at: str, spelling: str) -> str:
    message_type = _message(type_name)
    names = [_spelt(f.name, spelling) for f in message_type.fields] if message_type else []
    where = "of the household" if at == "Household" else "here"
    text = f'unknown field "{clip(typed, TYPED_LIMIT)}"'
    guess = _closest(typed, names)
    if guess is not None:
        text += f'; did you mean "{guess}"?'
    if names:
        text += f" (the fields {where}: {', '.join(names)})"
    return text


def _bad_enum(type_name: str, typed: str, aliases: Mapping[str, str]) -> str:
    enum = _enum(type_name)
    values = [v.name for v in enum.values if not v.name.endswith("_UNSPECIFIED")] if enum else []
    accepted = [*aliases, *values]
    text = f'"{clip(typed, TYPED_LIMIT)}" is not one of the values allowed here'
    guess = _closest_value(typed, values, aliases)
    if guess is not None:
        text += f'; did you mean "{guess}"?'
    if accepted:
        text += f" (allowed: {', '.join(accepted)})"
    return text


def _closest(typed: str, names: list[str]) -> str | None:
    """The name nearest ``typed``, compared without case and underscores."""
    folded = {_fold(name): name for name in names}
    if _fold(typed) in folded:
        return folded[_fold(typed)]
    match = difflib.get_close_matches(_fold(typed), list(folded), n=1, cutoff=SIMILARITY)
    return folded[match[0]] if match else None


def _closest_value(typed: str, values: list[str], aliases: Mapping[str, str]) -> str | None:
    """The enum value meant by ``typed``: itself in another case, its name without the
    enum's prefix (``PENSION`` for ``INCOME_KIND_PENSION``), or the nearest of them."""
    prefix = _common_prefix(values)
    short = {value.removeprefix(prefix): value for value in values}
    candidates = {**{_fold(k): v for k, v in short.items()}, **{_fold(v): v for v in values}}
    candidates.update({_fold(alias): alias for alias in aliases})
    key = _fold(typed)
    if key in candidates:
        return candidates[key]
    match = difflib.get_close_matches(key, list(candidates), n=1, cutoff=SIMILARITY)
    return candidates[match[0]] if match else None


def _common_prefix(values: list[str]) -> str:
    """``INCOME_KIND_`` for the IncomeKind values: the words every value starts with."""
    if len(values) < 2:
        return ""
    words = [value.split("_") for value in values]
    common: list[str] = []
    for parts in zip(*words, strict=False):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    return "_".join(common) + "_" if common else ""


def _fold(name: str) -> str:
    return name.replace("_", "").lower()


def _spelt(name: str, spelling: str) -> str:
    return name if spelling == "snake" else _camel(name)


def _camel(name: str) -> str:
    return re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), name)


def _message(full_name: str) -> Descriptor | None:
    try:
        return descriptor_pool.Default().FindMessageTypeByName(full_name)
    except KeyError:
        return None


def _enum(full_name: str) -> EnumDescriptor | None:
    try:
        return descriptor_pool.Default().FindEnumTypeByName(full_name)
    except KeyError:
        return None


def _field_names(message: Descriptor, seen: set[str]) -> set[str]:
    """Every field name of ``message`` and of the messages it holds."""
    if message.full_name in seen:
        return set()
    seen.add(message.full_name)
    names = {field.name for field in message.fields}
    for field in message.fields:
        if field.message_type is not None:
            names |= _field_names(field.message_type, seen)
    return names


# The names of the household format, snake_case ones only (the others read the same).
_FIELD_NAMES = frozenset(n for n in _field_names(pb.Household.DESCRIPTOR, set()) if "_" in n)
