"""Which stored profile models are near a household: the registry's side of near matches.

A household without an exact model may still be served by the model of a household like
it (a birthday later, one income raised by 100). Every profile model is stored with the
feature vector of its household (:mod:`glidepath.rl.features`); the near ones are those
within ``max_distance`` of the asked vector. One model per household (hash) is offered,
its best (:func:`ranking.rank_key`), so that a few households near by are tried rather
than several trainings of one; the nearest households come first, ties broken by the
better verified score. The registry only proposes: the simulation service scores every
candidate on the new household's own lives and keeps one only if it passes the gate.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from glidepath.models import GENERIC_KIND
from glidepath.rl.features import FEATURES_VERSION, distance
from model_registry_service import ranking
from model_registry_service.records import ModelRecord


@dataclass(frozen=True)
class NearQuery:
    features: tuple[float, ...]
    max_distance: float
    max_candidates: int
    min_episodes: int
    exclude_hash: str = ""


@dataclass(frozen=True)
class Near:
    record: ModelRecord
    distance: float


def _usable(record: ModelRecord, query: NearQuery) -> bool:
    d = record.details
    return (
        record.quarantine is None
        and d.kind != GENERIC_KIND
        and d.features_version == FEATURES_VERSION
        and len(d.features) == len(query.features)
        and record.key.episodes >= query.min_episodes
        and record.key.model_hash != query.exclude_hash
    )


def nearest(records: Iterable[ModelRecord], query: NearQuery) -> list[Near]:
    """The near models, nearest household first, at most ``query.max_candidates``."""
    best: dict[str, ModelRecord] = {}
    for record in records:
        if not _usable(record, query):
            continue
        held = best.get(record.key.model_hash)
        if held is None or ranking.rank_key(record) > ranking.rank_key(held):
            best[record.key.model_hash] = record
    found = [Near(r, distance(r.details.features, query.features)) for r in best.values()]
    near = [n for n in found if n.distance <= query.max_distance]
    near.sort(key=lambda n: (n.distance, _not_better(n.record)))
    return near[: query.max_candidates]


def _not_better(record: ModelRecord) -> tuple[bool, float]:
    """Sorts a verified, higher score first among households at the same distance."""
    score = record.details.evaluation_score
    return (score is None, -(score if score is not None else 0.0))
