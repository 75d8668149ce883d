"""Which stored model is "the best available" for a hash (the note's promise), and why none.

Compatible: the same hash and at least ``min_episodes`` episodes. Best: the highest
evaluation score, a model with an evaluation ranking above every model without one
(a measured policy beats an unmeasured one); then the most episodes; then the newest.
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
    candidates = [r for r in records if r.key.episodes >= min_episodes]
    if candidates:
        return max(candidates, key=rank_key)
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
