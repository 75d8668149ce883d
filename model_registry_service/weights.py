"""Does a model file work the way a consumer will load it? Checked before it is stored.

The container checks (``zipcheck``) only say that a file is a safe stable-baselines3
zip. A consumer (``glidepath.rl.model_io``) then rebuilds the policy from trusted
configuration and loads ``policy.pth`` with ``weights_only``: a file of another layout,
with NaN weights, or with finite weights whose actions overflow to NaN, passes the
container checks and still fails every household it is served to. So the registry runs
the consumer's own check (``model_io.check_model``) on every upload and every file it
adopts, and refuses what fails with INVALID_ARGUMENT, reason INVALID_MODEL, one line.

torch costs seconds to import: :func:`warm_up` does it when the service starts, before
it serves. Each server thread keeps one policy of the trusted layout to load
weights into, so a check costs a load and a forward pass, not a network's construction.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from glidepath import log
from glidepath.errors import InvalidArgument
from glidepath.text import one_line

if TYPE_CHECKING:
    from stable_baselines3.common.policies import ActorCriticPolicy

_local = threading.local()


def _policy() -> ActorCriticPolicy:
    from glidepath.rl.model_io import build_policy

    policy: ActorCriticPolicy | None = getattr(_local, "policy", None)
    if policy is None:
        policy = build_policy()
        _local.policy = policy
    return policy


def check_model_bytes(data: bytes) -> None:
    """Raise InvalidArgument (field ``chunk``, reason INVALID_MODEL) unless usable."""
    from glidepath.rl import model_io

    try:
        model_io.check_model(data, _policy())
    except InvalidArgument as exc:
        why = "; ".join(v.description for v in exc.violations) or exc.message
        raise InvalidArgument.field("chunk", why, reason="INVALID_MODEL") from None
    except Exception as exc:  # torch raising on bytes it was never meant to see
        raise InvalidArgument.field(
            "chunk",
            f"the weights cannot be run: {one_line(f'{type(exc).__name__}: {exc}')}",
            reason="INVALID_MODEL",
        ) from None


def check_model_file(path: Path) -> None:
    """:func:`check_model_bytes` on a file (already size-checked by ``zipcheck``)."""
    check_model_bytes(path.read_bytes())


def warm_up() -> None:
    """Import torch and build this thread's policy now, before the service serves: an
    upload that arrives first must not wait seconds for torch within its deadline."""
    started = time.monotonic()
    _policy()
    log.event("weights_check_ready", seconds=round(time.monotonic() - started, 2))
