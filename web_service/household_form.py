"""The household form's posted fields, to and from the household file's JSON.

The form posts one input per field, named by its path in the file's own spelling
(``incomes[1].claiming.earliestAge``, see ``form_schema``); :func:`from_form` builds the
file's JSON object from them and :func:`value_at` reads one back for the template, so
that a form filled from an imported file, a form posted back with errors and a form
exported as a file are the same object. An empty input is an unset field (the format's
default applies); a value that is not a number is passed on as typed, so that the
validator's own message says what is wrong with it, next to the field.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping
from typing import Any

from glidepath.errors import InvalidArgument
from glidepath.household.convert import household_from_json
from glidepath.household.model import Household
from web_service.form_schema import ANNUITIES, GROUPS, REPEATED, Field, Group

Document = dict[str, Any]
# Set when the household offers annuities (an empty offer is an offer: every default).
ANNUITIES_OFFERED = "annuities.offered"
_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def count_name(group: Group) -> str:
    return f"count.{group.key}"


def full_name(group: Group, index: int | None, field: Field) -> str:
    """The input's name: the field's path in the household file."""
    if not group.key:
        return field.path
    if index is None:
        return f"{group.key}.{field.path}"
    return f"{group.key}[{index}].{field.path}"


def _parse(field: Field, raw: str) -> Any:
    """The JSON value of one input; None for an empty one (unset)."""
    text = raw.strip()
    if not text:
        return None
    if field.kind == "text":
        return text
    if field.kind == "choice":
        if text in ("true", "false"):
            return text == "true"
        return int(text) if text.isdigit() else text
    if field.kind == "numbers":
        return [_number(part, whole=False) for part in re.split(r"[,\s;]+", text) if part]
    return _number(text, whole=field.kind == "int")


def _number(text: str, *, whole: bool) -> Any:
    try:
        value = float(text)
    except ValueError:
        return text  # the validator names the field and says it is not a number
    if whole and value.is_integer():
        return int(value)
    return value


def _put(document: Document, path: str, value: Any) -> None:
    keys: list[str | int] = [a if a else int(b) for a, b in _TOKEN.findall(path)]
    node: Any = document
    for key, following in itertools.pairwise(keys):
        blank: Any = [] if isinstance(following, int) else {}
        if isinstance(key, int):
            while len(node) <= key:
                node.append({})
            node = node[key]
        else:
            node = node.setdefault(key, blank)
    node[keys[-1]] = value


def rows(form: Mapping[str, str], group: Group) -> int:
    """How many rows of a repeated group the form holds (at least its fewest)."""
    try:
        count = int(form.get(count_name(group), group.fewest))
    except ValueError:
        count = group.fewest
    return max(group.fewest, min(group.most, count))


def from_form(form: Mapping[str, str]) -> Document:
    """The household file's object for the posted form, every row kept (even empty)."""
    document: Document = {}
    for group in GROUPS:
        if group is ANNUITIES and not form.get(ANNUITIES_OFFERED):
            continue
        indices: list[int | None] = list(range(rows(form, group))) if group.repeated else [None]
        if group.repeated:
            document[group.key] = [{} for _ in indices]
        elif group.key:
            document.setdefault(group.key, {})
        for index in indices:
            for field in group.fields:
                value = _parse(field, form.get(full_name(group, index, field), ""))
                if value is not None:
                    _put(document, full_name(group, index, field), value)
    return document


def compact(document: Document) -> Document:
    """``document`` without empty rows, objects or lists (as a file would be written),
    annuities kept even when empty (an offer with every default)."""

    def clean(value: Any, keep: bool = False) -> Any:
        if isinstance(value, dict):
            out = {k: c for k, v in value.items() if (c := clean(v, k == "annuities")) is not None}
            return out if out or keep else None
        if isinstance(value, list):
            items = [c for v in value if (c := clean(v)) is not None]
            return items or None
        return value

    return clean(document, keep=True) or {}


def to_json(document: Document) -> str:
    return json.dumps(compact(document), indent=2, ensure_ascii=False) + "\n"


def validate(document: Document) -> tuple[Household | None, dict[str, str]]:
    """The household, or the validator's messages by field path (the inputs' names)."""
    try:
        return household_from_json(json.dumps(compact(document))), {}
    except InvalidArgument as error:
        messages: dict[str, str] = {}
        for violation in error.violations:
            field = violation.field
            messages[field] = (
                f"{messages[field]}; {violation.description}"
                if field in messages
                else violation.description
            )
        return None, messages


def value_at(document: Document, path: str) -> str:
    """The text an input shows for ``path`` ('' when unset)."""
    node: Any = document
    for name, index in _TOKEN.findall(path):
        if name:
            node = node.get(name) if isinstance(node, dict) else None
        else:
            node = node[int(index)] if isinstance(node, list) and int(index) < len(node) else None
        if node is None:
            return ""
    if isinstance(node, bool):
        return "true" if node else "false"
    if isinstance(node, list):
        return ", ".join(_shown(v) for v in node)
    return _shown(node)


def _shown(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def row_count(document: Document, group: Group) -> int:
    """Rows to draw for a repeated group: the document's, at least the group's fewest."""
    items = document.get(group.key)
    return max(group.fewest, len(items) if isinstance(items, list) else 0)


def edit_rows(document: Document, action: str) -> Document:
    """``add:incomes`` appends an empty income; ``remove:incomes:2`` drops the third."""
    parts = action.split(":")
    group = REPEATED.get(parts[1]) if len(parts) >= 2 else None
    if group is None:
        return document
    items = list(document.get(group.key) or [])
    while len(items) < group.fewest:
        items.append({})
    if parts[0] == "add" and len(items) < group.most:
        items.append({})
    elif parts[0] == "remove" and len(parts) == 3 and parts[2].isdigit():
        index = int(parts[2])
        if index < len(items) and len(items) > group.fewest:
            del items[index]
    document[group.key] = items
    return document


def _camel(key: str) -> str:
    return re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), key)


def camel_case(value: Any) -> Any:
    """A household file's object in the form's spelling: snake_case keys (a file may use
    the proto's own names) in camelCase, and ``LIFETIMES_MORTALITY`` as ``mortality``,
    so that an imported file fills the same inputs whichever way it was written."""
    if isinstance(value, dict):
        out = {
            re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), k): camel_case(v)
            for k, v in value.items()
        }
        mode = out.get("lifetimes")
        if isinstance(mode, str) and mode.startswith("LIFETIMES_"):
            out["lifetimes"] = mode.removeprefix("LIFETIMES_").lower()
        return out
    if isinstance(value, list):
        return [camel_case(v) for v in value]
    return value
