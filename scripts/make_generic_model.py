"""Train, evaluate and write the shipped generic model: ``make generic-model``.

Seeded and reproducible: the same family, budget and seeds give the same weights (one
torch thread, batches drawn from the seed, ``glidepath.rl.generic``) and the same
evaluation. Writes into ``--out`` (``models/shipped``, committed) the model
``rl_model_{family_hash}_{episodes}ep.zip`` and its metadata
``rl_model_{family_hash}_{episodes}ep.json`` (``model_registry_service.shipped``): kind
GENERIC, the family's label and canonical specification, the evaluation on held-out
households of the family (``glidepath.rl.generic_evaluation``), library versions,
training seconds and the seeds. Other shipped models of the same family are removed:
the registry should be offered one generic model per family.

    .venv/bin/python scripts/make_generic_model.py --episodes 40960
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from glidepath.models import DEFAULT_POLICY_FAMILY, GENERIC_KIND, ModelKey
from glidepath.rl.family import (
    DEFAULT_FAMILY_PATH,
    family_canonical_json,
    family_hash,
    load_family,
)
from glidepath.rl.generic import GenericSpec, train_generic
from glidepath.rl.generic_evaluation import evaluate_generic
from glidepath.rl.recipe import POLICY_LAYOUT_VERSION
from glidepath.rl.training import TrainingProgress
from model_registry_service import shipped
from model_registry_service.records import ModelDetails, ModelRecord, Origin
from model_registry_service.storage import sha256_of

ROOT = Path(__file__).resolve().parent.parent
# 160 batches of 256 lives. Training runs on one torch thread: 16 to 22 s per 1,000 lives
# of the default family on the 2-core development machine (22 s with other work on it),
# so 11 to 15 minutes, plus about a minute of evaluation.
DEFAULT_EPISODES = 40_960
DEFAULT_SEED = 20_261_202
DEFAULT_EVALUATION_SEED = 12


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=DEFAULT_EPISODES, help="lives trained")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="the training's seed")
    parser.add_argument("--family", type=Path, default=DEFAULT_FAMILY_PATH, help="family JSON")
    parser.add_argument("--label", default="", help="the registry's label (default: NAME family)")
    parser.add_argument("--households-per-batch", type=int, default=16)
    parser.add_argument("--lives-per-household", type=int, default=16)
    parser.add_argument("--eval-households", type=int, default=24, help="held-out households")
    parser.add_argument("--eval-lives", type=int, default=1000, help="lives per household")
    parser.add_argument("--eval-seed", type=int, default=DEFAULT_EVALUATION_SEED)
    parser.add_argument("--no-optimum", action="store_true", help="leave the optimum out")
    parser.add_argument("--out", type=Path, default=ROOT / "models" / "shipped")
    return parser.parse_args(argv)


def _relative(path: Path) -> str:
    resolved = path.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(resolved)


def main(argv: list[str] | None = None) -> int:
    started = time.monotonic()
    args = _arguments(argv)
    family = load_family(args.family)
    spec = GenericSpec(
        family,
        episodes=args.episodes,
        seed=args.seed,
        households_per_batch=args.households_per_batch,
        lives_per_household=args.lives_per_household,
    )
    model_hash = family_hash(family)
    last_shown = [0.0]

    def show(progress: TrainingProgress) -> None:
        if (
            progress.elapsed_seconds - last_shown[0] >= 30
            or progress.episodes_done == spec.episodes
        ):
            last_shown[0] = progress.elapsed_seconds
            print(
                f"  {progress.episodes_done:,} / {spec.episodes:,} lives, "
                f"{progress.elapsed_seconds:.0f} s, "
                f"mean reward {progress.mean_episode_reward:+.4f}",
                flush=True,
            )

    print(
        f"training the generic model of family {family.name!r} ({model_hash}), "
        f"{spec.episodes:,} lives, seed {spec.seed}",
        flush=True,
    )
    trained = train_generic(spec, show, lambda: False)
    per_thousand = trained.training_seconds / spec.episodes * 1000
    print(f"trained in {trained.training_seconds:.1f} s ({per_thousand:.1f} s per 1,000 lives)")

    began = time.monotonic()
    evaluation = evaluate_generic(
        trained.model_zip,
        family,
        households=args.eval_households,
        lives=args.eval_lives,
        seed=args.eval_seed,
        include_optimum=not args.no_optimum,
    )
    evaluation_seconds = time.monotonic() - began
    print(
        f"evaluated on {args.eval_households} held-out households x {args.eval_lives:,} lives "
        f"in {evaluation_seconds:.1f} s: CE {evaluation.mean_share:.2%} of the best other "
        f"strategy on average, {evaluation.worst_share:.2%} at worst"
    )

    key = ModelKey(model_hash, spec.episodes)
    for old in sorted(args.out.glob(f"rl_model_{model_hash}_*ep.*")) if args.out.is_dir() else []:
        if old.name not in (key.file_name, shipped.metadata_name(key)):
            old.unlink()
            print(f"removed the older shipped {old.name}")
    args.out.mkdir(parents=True, exist_ok=True)
    zip_path = args.out / key.file_name
    zip_path.write_bytes(trained.model_zip)
    record = ModelRecord(
        key=key,
        size_bytes=len(trained.model_zip),
        sha256=sha256_of(zip_path),
        created_at=datetime.now(UTC),
        origin=Origin.ADOPTED,
        details=ModelDetails(
            algorithm="PPO",
            library_versions=trained.library_versions,
            evaluation_score=evaluation.mean_share,
            canonical_parameters_json=family_canonical_json(family),
            timesteps=trained.timesteps,
            hyperparameters_json=json.dumps(trained.hyperparameters, sort_keys=True),
            training_seconds=trained.training_seconds,
            kind=GENERIC_KIND,
            episodes_added=spec.episodes,
            policy_family=DEFAULT_POLICY_FAMILY,
            policy_layout_version=POLICY_LAYOUT_VERSION,
            label=args.label or f"{family.name} family",
        ),
    )
    made_by = {
        "command": "scripts/make_generic_model.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "family_file": _relative(args.family),
        "seed": spec.seed,
        "households_per_batch": spec.households_per_batch,
        "lives_per_household": spec.lives_per_household,
        "evaluation": evaluation.as_dict(),
        "evaluation_seconds": evaluation_seconds,
    }
    _, json_path = shipped.write(args.out, record, trained.model_zip, made_by)
    print(f"wrote {_relative(zip_path)} and {_relative(json_path)}")
    print(f"make generic-model took {time.monotonic() - started:.1f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
