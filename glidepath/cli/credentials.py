"""Who the client speaks for: the bearer credential from the environment, on every call.

``GLIDEPATH_TOKEN`` holds the credential; ``REGISTRY_TOKEN``, which the client read for
registry writes before every service took credentials, is the fallback so that existing
setups keep working. The credential goes with every call to every service as the
metadata ``authorization: Bearer <token>``, reads included: the services decide what a
call needs, and what a read shows can depend on who asks (a private model is its
owner's). A service that runs without credentials ignores it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from glidepath.cli.errors import EXIT_USAGE, CliError

TOKEN_VARIABLE = "GLIDEPATH_TOKEN"
FALLBACK_TOKEN_VARIABLE = "REGISTRY_TOKEN"
# What an HTTP/2 header value may hold (visible ASCII and inner spaces): anything else
# would make grpc refuse the call's metadata with a traceback instead of sending it.
_TOKEN_CHARACTERS = re.compile(r"[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?")


@dataclass(frozen=True)
class Credential:
    """The token to send (None: none set) and the variable it came from."""

    token: str | None
    variable: str | None

    def refused_hint(self) -> str:
        """What to do when a service does not accept who we are (UNAUTHENTICATED)."""
        if self.token is None:
            return f"set {TOKEN_VARIABLE} to your token"
        return f"the token in {self.variable} was not accepted; set {TOKEN_VARIABLE} to a valid one"

    def denied_hint(self) -> str:
        """What to do when who we are may not do this (PERMISSION_DENIED)."""
        if self.token is None:
            return f"set {TOKEN_VARIABLE} to the token of a user allowed to do this"
        return (
            f"the user of the token in {self.variable} may not do this; set "
            f"{TOKEN_VARIABLE} to the token of a user who may"
        )


def credential_from_env(environ: Mapping[str, str] | None = None) -> Credential:
    """GLIDEPATH_TOKEN, else REGISTRY_TOKEN, else none; CliError (exit 2) for a bad value.

    Surrounding white space is dropped (a token pasted with its newline); an empty
    variable counts as unset.
    """
    environ = os.environ if environ is None else environ
    for variable in (TOKEN_VARIABLE, FALLBACK_TOKEN_VARIABLE):
        token = environ.get(variable, "").strip()
        if token:
            if not _TOKEN_CHARACTERS.fullmatch(token):
                raise CliError(
                    f"{variable} holds characters a token cannot have (only visible ASCII)",
                    EXIT_USAGE,
                )
            return Credential(token, variable)
    return Credential(None, None)
