"""The lineage tree drawn from a listing: branches, the asked model marked, an ancestor
that is no longer listed named above the oldest one that is."""

from __future__ import annotations

from glidepath.cli.lineage import MARK, lineage_names, lineage_tree
from glidepath.common.v1 import model_pb2

HASH = "0123456789abcdef"
OTHER = "fedcba9876543210"


def model(
    episodes: int, parent: tuple[str, int] | None = None, created: int = 0, model_hash: str = HASH
) -> model_pb2.ModelMetadata:
    m = model_pb2.ModelMetadata(
        ref=model_pb2.ModelRef(model_hash=model_hash, episodes=episodes),
        file_name=f"rl_model_{model_hash}_{episodes}ep.zip",
        kind=model_pb2.MODEL_KIND_PROFILE,
        owner="alice",
    )
    m.created_at.FromSeconds(1_700_000_000 + created)
    if parent is not None:
        m.parent.CopyFrom(model_pb2.ModelRef(model_hash=parent[0], episodes=parent[1]))
        m.episodes_added = episodes - parent[1]
    return m


def ref(episodes: int) -> model_pb2.ModelRef:
    return model_pb2.ModelRef(model_hash=HASH, episodes=episodes)


def test_a_parent_with_two_children_draws_two_branches_from_any_member() -> None:
    models = [
        model(1000, created=0),
        model(1200, (HASH, 1000), created=1),
        model(1500, (HASH, 1000), created=2),
        model(1300, (HASH, 1200), created=3),
        model(900, created=4),  # another tree: not shown
    ]
    tree = lineage_tree(models, ref(1300)).splitlines()
    assert [line[: line.index("ep.zip") + 6] for line in tree[:4]] == [
        f"rl_model_{HASH}_1000ep.zip",
        f"├── rl_model_{HASH}_1200ep.zip",
        f"│   └── rl_model_{HASH}_1300ep.zip",
        f"└── rl_model_{HASH}_1500ep.zip",
    ]
    assert tree[2].endswith(MARK) and sum(MARK in line for line in tree) == 1
    assert "(+100 fine-tuning)" in tree[2] and "owner alice" in tree[2]
    assert tree[-1].startswith("4 model(s) in this lineage")
    # The same tree whichever member is asked for; the mark moves.
    assert lineage_names(models, ref(1000)) == lineage_names(models, ref(1500))
    assert lineage_tree(models, ref(1000)).splitlines()[0].endswith(MARK)
    assert "900ep" not in lineage_tree(models, ref(1000))


def test_an_ancestor_no_longer_listed_is_named_above_the_tree() -> None:
    models = [model(300, (OTHER, 200)), model(400, (HASH, 300), created=1)]
    tree = lineage_tree(models, ref(400)).splitlines()
    assert tree[0] == f"(fine-tuned from rl_model_{OTHER}_200ep.zip, which is not listed)"
    assert tree[1].startswith(f"rl_model_{HASH}_300ep.zip  300 episodes (+100 fine-tuning)")
    assert tree[-1].startswith("2 model(s)")
    assert "not among the models" in lineage_tree(models, ref(7))
    assert lineage_names(models, ref(7)) == []
