"""A model's lineage as a tree: the models it was fine-tuned from, up to the first trained
from scratch, and every model fine-tuned from any of them.

Fine-tuning records a parent in each model's metadata, so the lineage is a tree (a model
may be the parent of many) read from one listing: no RPC of its own. Only the models the
caller may read are in a listing; an ancestor that is gone (deleted, or another user's
private model) is named on a line of its own, above the oldest one still listed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from glidepath.common.v1 import model_pb2
from glidepath.models import model_file_name

MARK = "  <- this model"


def _name(ref: model_pb2.ModelRef) -> str:
    return model_file_name(ref.model_hash, ref.episodes)


def _parent_name(model: model_pb2.ModelMetadata) -> str:
    return _name(model.parent) if model.HasField("parent") else ""


def _root(by_name: dict[str, model_pb2.ModelMetadata], name: str) -> str:
    """The oldest listed ancestor of ``name`` (``name`` itself when it has none listed)."""
    seen = {name}
    while True:
        parent = _parent_name(by_name[name])
        if not parent or parent not in by_name or parent in seen:
            return name
        seen.add(parent)
        name = parent


def _children(models: Sequence[model_pb2.ModelMetadata]) -> dict[str, list[str]]:
    """Each parent's children, oldest first (ties by name): the order they were made."""
    children: dict[str, list[model_pb2.ModelMetadata]] = {}
    for model in models:
        parent = _parent_name(model)
        if parent:
            children.setdefault(parent, []).append(model)
    return {
        parent: [
            m.file_name
            for m in sorted(kids, key=lambda m: (m.created_at.ToNanoseconds(), m.file_name))
        ]
        for parent, kids in children.items()
    }


def _walk(
    children: dict[str, list[str]], name: str, prefix: str, last: bool, top: bool, seen: set[str]
) -> Iterator[tuple[str, str]]:
    """(drawing prefix, name) for ``name`` and its descendants, depth first."""
    seen.add(name)
    yield ("" if top else prefix + ("└── " if last else "├── ")), name
    below = prefix if top else prefix + ("    " if last else "│   ")
    kids = [kid for kid in children.get(name, []) if kid not in seen]
    for i, kid in enumerate(kids):
        yield from _walk(children, kid, below, i == len(kids) - 1, False, seen)


def lineage_names(models: Sequence[model_pb2.ModelMetadata], ref: model_pb2.ModelRef) -> list[str]:
    """The file names of ``ref``'s tree, in the order :func:`lineage_tree` prints them."""
    by_name = {m.file_name: m for m in models}
    name = _name(ref)
    if name not in by_name:
        return []
    return [n for _, n in _walk(_children(models), _root(by_name, name), "", True, True, set())]


def describe(model: model_pb2.ModelMetadata) -> str:
    """One line of the tree: name, episodes (those added by fine-tuning), kind, owner."""
    kind = model_pb2.ModelKind.Name(model.kind).removeprefix("MODEL_KIND_").lower()
    episodes = f"{model.ref.episodes:,} episodes"
    if model.HasField("parent") and model.episodes_added:
        episodes += f" (+{model.episodes_added:,} fine-tuning)"
    parts = [episodes, "profile" if kind == "unspecified" else kind]
    parts.append(f"owner {model.owner}" if model.owner else "no owner")
    if model.HasField("evaluation"):
        gate = "passed" if model.evaluation.passed_gate else "not passed"
        parts.append(f"score {model.evaluation.score:,.0f}, gate {gate}")
    if model.quarantine_reason:
        parts.append("quarantined")
    return f"{model.file_name}  {', '.join(parts)}"


def lineage_tree(models: Sequence[model_pb2.ModelMetadata], ref: model_pb2.ModelRef) -> str:
    """The tree of ``ref`` (marked), drawn with box characters, one model a line."""
    by_name = {m.file_name: m for m in models}
    name = _name(ref)
    if name not in by_name:
        return f"{name} is not among the models you may list."
    root = _root(by_name, name)
    lines = []
    gone = _parent_name(by_name[root])
    if gone:
        lines.append(f"(fine-tuned from {gone}, which is not listed)")
    for prefix, each in _walk(_children(models), root, "", True, True, set()):
        lines.append(prefix + describe(by_name[each]) + (MARK if each == name else ""))
    count = len(lines) - (1 if gone else 0)
    lines += ["", f"{count} model(s) in this lineage; +N: the episodes a fine-tuning added."]
    return "\n".join(lines)
