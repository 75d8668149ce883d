"""Which stored model is "the best available" for a hash (docs/origins.md), and why none.

Compatible: the same hash, at least ``min_episodes`` episodes, and not quarantined. Best:
the highest verified evaluation score (computed by glidepath itself on the hash's
evaluation lives), a model with one ranking above every model without (a measured policy
beats an unmeasured one); then the most episodes; then the newest. A score an uploader
merely declared never ranks: anyone could declare 1e300.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from glidepath.errors import NotFound
from model_registry_service.records import ModelRecord


def rank_key(record: ModelRecord) -> tuple[bool, float, int, datetime, str]:
    """Sort key, larger is better; the checksum only makes exact ties deterministic."""
    score = record.details.evaluation_score
    return (
        score is not None,
        score if score is not None else 0.0,
        record.key.episodes,
        record.created_at,
        record.sha256,
    )


def best_compatible(
    model_hash: str, records: Sequence[ModelRecord], min_episodes: int
) -> ModelRecord:
    """The best compatible record among ``records`` (all of ``model_hash``), or NotFound."""
    return ranked_compatible(model_hash, records, min_episodes)[0]


def ranked_compatible(
    model_hash: str, records: Sequence[ModelRecord], min_episodes: int
) -> list[ModelRecord]:
    """Every compatible record, best first (never empty), or NotFound saying why none."""
    usable = [r for r in records if r.quarantine is None]
    candidates = [r for r in usable if r.key.episodes >= min_episodes]
    if candidates:
        return sorted(candidates, key=rank_key, reverse=True)
    if records and not usable:
        raise NotFound(
            f"every model stored for hash {model_hash} ({len(records)}) is quarantined: "
            f"train one (option A)",
            reason="NO_MODEL_FOR_HASH",
        )
    records = usable
    if not records:
        raise NotFound(
            f"no model is stored for hash {model_hash}: train one (option A)",
            reason="NO_MODEL_FOR_HASH",
        )
    largest = max(r.key.episodes for r in records)
    raise NotFound(
        f"hash {model_hash} only has models under {min_episodes} episodes "
        f"({len(records)} stored, the largest has {largest}): train one with more episodes "
        f"or lower min_episodes",
        reason="BELOW_MIN_EPISODES",
    )
