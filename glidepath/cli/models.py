"""``glidepath models list|show|tree|delete|cleanup``: the model management interface.

The original request (docs/origins.md) asked to list saved models and clean up old ones; these
commands are that interface, over the registry's RPCs (REGISTRY_ADDR). Every call
carries the user's credential (``glidepath.cli.credentials``); the registry decides which
calls need it (``delete`` and ``cleanup`` do whenever it runs with credentials).

A model is named as the registry names it: its file name (``rl_model_{hash}_{N}ep.zip``,
a path to it too) or its hash and episode count; anything else is refused in one line
that shows the form expected. ``list`` shows each model's kind (profile or generic), its
household's label when one is known, its owner and its parent, and passes its filters
(``--hash``, ``--kind``, ``--owner``, ``--parent``) to the registry, which applies them.
``tree`` prints a model's lineage (the ancestors it was fine-tuned from, and every model
fine-tuned from it or them), read from the listing, so it shows what the caller may read.

``cleanup`` first asks which models would go (a dry run), so that its deadline can grow
with their number, and, should the deadline pass anyway, tells how many were deleted.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc

from glidepath.cli.arguments import positive_int
from glidepath.cli.channels import PeerConnection, connect
from glidepath.cli.errors import EXIT_OK, EXIT_USAGE, CliError
from glidepath.cli.lineage import lineage_names, lineage_tree
from glidepath.cli.peers import REGISTRY
from glidepath.cli.render import cleanup_report, model_details, models_table, to_json
from glidepath.clients import RegistryClient
from glidepath.common.v1 import model_pb2
from glidepath.models import parse_model_file_name
from glidepath.registry.v1 import registry_pb2
from glidepath.rpc.channel import SHORT_DEADLINE

# What a model's file name looks like, for the line that refuses another one.
FILE_FORM = (
    "expected rl_model_{hash}_{episodes}ep.zip ({hash}: 16 lowercase hexadecimal "
    "characters, {episodes}: a whole number from 1), e.g. rl_model_0123456789abcdef_1000ep.zip"
    ", or a path to such a file"
)
# ``models list --kind`` as the request's ModelKind ("": every kind).
KINDS = {
    "": model_pb2.MODEL_KIND_UNSPECIFIED,
    "profile": model_pb2.MODEL_KIND_PROFILE,
    "generic": model_pb2.MODEL_KIND_GENERIC,
}
DEFAULT_MAX_AGE_DAYS = 30
# Deleting a model removes its file and its index row, each made durable with an fsync:
# about 1.7 ms a model on the development machine's disk (3,000 models in 5.3 s, which
# cut a fixed 5 s deadline short while the registry went on deleting). A cleanup's
# deadline grows by this much per model, a margin of about 30 for slow disks.
SECONDS_PER_DELETED_MODEL = 0.05
# A dry run only lists, but lists every old model; the registry may first have to adopt
# files dropped into its directory. Longer than a quick call, short of a hung peer.
PLAN_DEADLINE = 30.0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    models = commands.add_parser(
        "models",
        help="list, show, delete and clean up the saved RL models",
        description="Manage the saved RL models in the registry (REGISTRY_ADDR).",
    )
    actions = models.add_subparsers(dest="action", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="list stored models, newest first")
    listing.add_argument("--hash", default="", metavar="H", help="only models for this hash")
    listing.add_argument(
        "--kind",
        choices=sorted(k for k in KINDS if k),
        default="",
        help="only profile models (one household; those stored before kinds were recorded "
        "too) or generic ones (a family of households)",
    )
    listing.add_argument("--owner", default="", metavar="USER", help="only this user's models")
    listing.add_argument(
        "--parent",
        action=ModelArgument,
        default=None,
        metavar="MODEL",
        help="only models fine-tuned directly from MODEL (its file name, or a path to it)",
    )
    listing.add_argument("--json", action="store_true", help="print the response as JSON")
    listing.set_defaults(run=run_list)

    show = actions.add_parser("show", help="everything known about one model")
    _add_ref(show)
    show.set_defaults(run=run_show)

    tree = actions.add_parser("tree", help="a model's lineage: parents and fine-tunings")
    _add_ref(tree)
    tree.set_defaults(run=run_tree)

    delete = actions.add_parser("delete", help="delete one model (file and metadata)")
    _add_ref(delete)
    delete.set_defaults(run=run_delete)

    cleanup = actions.add_parser("cleanup", help="delete models older than N days")
    cleanup.add_argument(
        "--max-age-days",
        type=positive_int,
        default=DEFAULT_MAX_AGE_DAYS,
        metavar="N",
        help=f"delete models stored more than N days ago (default {DEFAULT_MAX_AGE_DAYS})",
    )
    cleanup.add_argument("--dry-run", action="store_true", help="only list what would go")
    cleanup.add_argument("--json", action="store_true", help="print the response as JSON")
    cleanup.set_defaults(run=run_cleanup)


def _add_ref(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model",
        nargs="+",
        action=ModelArgument,
        metavar="MODEL",
        help="the model's file name (rl_model_{hash}_{episodes}ep.zip), or HASH EPISODES",
    )
    parser.add_argument("--json", action="store_true", help="print the response as JSON")


class ModelArgument(argparse.Action):
    """MODEL as a ModelRef, checked while parsing. A bad one is a usage error (exit 2) in
    one line that names the argument and the form expected, not a usage page: the name
    is what the user got wrong, and the line says how to write it."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        words = [values] if isinstance(values, str) else [str(v) for v in values or []]
        where = parser.prog.removeprefix("glidepath ")
        try:
            if option_string is None:
                ref = model_ref(words)
            else:
                where = f"{where} {option_string}"
                ref = model_file_ref(words[0])
        except argparse.ArgumentTypeError as error:
            raise CliError(f"{where}: {error}", EXIT_USAGE) from None
        setattr(namespace, self.dest, ref)


def _ref(args: argparse.Namespace) -> model_pb2.ModelRef:
    ref: model_pb2.ModelRef = args.model
    return ref


def model_file_ref(text: str) -> model_pb2.ModelRef:
    """A model's file name, or a path to one (only its last part is read); otherwise
    ArgumentTypeError saying the form expected."""
    key = parse_model_file_name(Path(text).name)
    if key is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a model's file name: {FILE_FORM}")
    return model_pb2.ModelRef(model_hash=key.model_hash, episodes=key.episodes)


def model_ref(words: list[str]) -> model_pb2.ModelRef:
    """A file name (or a path to one), or a hash and an episode count; ArgumentTypeError
    otherwise. A malformed hash goes to the registry as written: its answer names the
    field."""
    if len(words) == 1:
        try:
            return model_file_ref(words[0])
        except argparse.ArgumentTypeError as error:
            raise argparse.ArgumentTypeError(f"{error}; or give HASH EPISODES") from None
    if len(words) == 2:
        try:
            episodes = positive_int(words[1])
        except argparse.ArgumentTypeError as error:
            raise argparse.ArgumentTypeError(f"EPISODES {error}") from None
        return model_pb2.ModelRef(model_hash=words[0], episodes=episodes)
    raise argparse.ArgumentTypeError("name one model: its file name, or HASH EPISODES")


def list_all(
    peer: PeerConnection, query: registry_pb2.ListModelsRequest
) -> registry_pb2.ListModelsResponse:
    """Every page of ListModels for ``query`` (its filters), gathered into one response
    (next_page_token empty)."""
    with peer.guard(SHORT_DEADLINE):
        return peer.client(RegistryClient).list_all(query, timeout=SHORT_DEADLINE)


def list_request(args: argparse.Namespace) -> registry_pb2.ListModelsRequest:
    """``models list``'s filters as the request's fields (the registry applies them)."""
    request = registry_pb2.ListModelsRequest(
        model_hash=args.hash, kind=KINDS[args.kind], owner=args.owner
    )
    if args.parent is not None:
        request.parent.CopyFrom(args.parent)
    return request


def run_list(args: argparse.Namespace) -> int:
    with connect(REGISTRY) as peer:
        response = list_all(peer, list_request(args))
    print(to_json(response) if args.json else models_table(response.models))
    return EXIT_OK


def run_show(args: argparse.Namespace) -> int:
    with connect(REGISTRY) as peer, peer.guard(SHORT_DEADLINE):
        model = peer.client(RegistryClient).get(_ref(args), timeout=SHORT_DEADLINE)
    response = registry_pb2.GetModelResponse(model=model)
    print(to_json(response) if args.json else model_details(response.model))
    return EXIT_OK


def run_tree(args: argparse.Namespace) -> int:
    ref = _ref(args)
    with connect(REGISTRY) as peer:
        with peer.guard(SHORT_DEADLINE):
            peer.client(RegistryClient).get(ref, timeout=SHORT_DEADLINE)  # NOT_FOUND
        response = list_all(peer, registry_pb2.ListModelsRequest())
    models = list(response.models)
    print(to_json(lineage_response(models, ref)) if args.json else lineage_tree(models, ref))
    return EXIT_OK


def lineage_response(
    models: list[model_pb2.ModelMetadata], ref: model_pb2.ModelRef
) -> registry_pb2.ListModelsResponse:
    """The models of ``ref``'s tree, as a listing (for ``--json``)."""
    names = set(lineage_names(models, ref))
    return registry_pb2.ListModelsResponse(models=[m for m in models if m.file_name in names])


def run_delete(args: argparse.Namespace) -> int:
    with connect(REGISTRY) as peer, peer.guard(SHORT_DEADLINE):
        model = peer.client(RegistryClient).delete(_ref(args), timeout=SHORT_DEADLINE)
    response = registry_pb2.DeleteModelResponse(model=model)
    print(to_json(response) if args.json else f"Deleted {response.model.file_name}.")
    return EXIT_OK


def run_cleanup(args: argparse.Namespace) -> int:
    with connect(REGISTRY) as peer:
        planned = cleanup(peer, args.max_age_days, dry_run=True, deadline=PLAN_DEADLINE)
        response = planned if args.dry_run else delete_old(peer, args.max_age_days, planned)
    if args.json:
        print(to_json(response))
    else:
        print(cleanup_report(response, args.dry_run, args.max_age_days))
    return EXIT_OK


def cleanup(
    peer: PeerConnection, max_age_days: int, *, dry_run: bool, deadline: float
) -> registry_pb2.CleanupModelsResponse:
    """One CleanupModels call; a failure (deadline included) is a CliError naming the peer."""
    with peer.guard(deadline):
        return peer.client(RegistryClient).cleanup(max_age_days, dry_run=dry_run, timeout=deadline)


def cleanup_deadline(models: int) -> float:
    """Seconds allowed to delete ``models`` models: a quick call plus a share per model."""
    return SHORT_DEADLINE + SECONDS_PER_DELETED_MODEL * models


def delete_old(
    peer: PeerConnection, max_age_days: int, planned: registry_pb2.CleanupModelsResponse
) -> registry_pb2.CleanupModelsResponse:
    """Delete what the dry run ``planned``; past the deadline, report what was done.

    The registry goes on deleting after the client stops waiting, so a deadline says
    nothing about the outcome: the client then asks which of the planned models are
    still there, and reports success only when none is.
    """
    deadline = cleanup_deadline(len(planned.models))
    with peer.guard(deadline):
        try:
            registry = peer.client(RegistryClient)
            return registry.cleanup(max_age_days, dry_run=False, timeout=deadline)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
                raise
    return done_so_far(peer, max_age_days, planned, deadline)


def done_so_far(
    peer: PeerConnection,
    max_age_days: int,
    planned: registry_pb2.CleanupModelsResponse,
    deadline: float,
) -> registry_pb2.CleanupModelsResponse:
    """The planned models that are gone, as a cleanup's answer; CliError if any is left."""
    left = cleanup(peer, max_age_days, dry_run=True, deadline=PLAN_DEADLINE)
    still_stored = {_key(ref) for ref in left.models}
    gone = [ref for ref in planned.models if _key(ref) not in still_stored]
    remaining = len(planned.models) - len(gone)
    if remaining:
        raise CliError(
            f"the {REGISTRY.title} at {peer.address} did not finish the cleanup within "
            f"{deadline:g} s: {len(gone)} of {len(planned.models)} models older than "
            f"{max_age_days} days deleted so far, {remaining} still stored (it may still be "
            "deleting; run `glidepath models cleanup` again)"
        )
    return registry_pb2.CleanupModelsResponse(models=gone, deleted_count=len(gone))


def _key(ref: model_pb2.ModelRef) -> tuple[str, int]:
    return ref.model_hash, ref.episodes
