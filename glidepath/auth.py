"""Who is calling: credentials turned into users, the same way in every service.

Three setups, chosen in one place (:func:`authenticator_from_env`):

- **Users file** (``GLIDEPATH_USERS_FILE``): a JSON file of users, each with a name, a
  role and the SHA-256 of their token (never the token itself). A shared deployment uses
  this. Add a user with ``python -m glidepath.auth add NAME [--role ROLE] --file PATH``,
  which prints the new token once.
- **One token** (``GLIDEPATH_TOKEN``, or the older ``REGISTRY_TOKEN``): whoever presents
  it is the operator, who may do everything; without it a caller may only read shared
  data. The simplest protected setup, and today's single-token registry.
- **Open** (neither set): a local, single-user stack. Every caller is the local operator;
  the service says so in its log when it starts.

Roles:
- ``user`` owns the models and jobs they create and sees only their own and shared ones;
- ``service`` is a glidepath service acting for users (the training service storing a
  model it trained, the simulation service recording a score it computed): it may act on
  behalf of a named user and its evaluations count as verified;
- ``admin`` may read, delete and clean up anything.

Why token hashes: a token is 32 random bytes (256 bits), so a plain SHA-256 of it cannot
be reversed by guessing, and a stolen users file grants nothing. Comparisons are made in
constant time.

A credential travels as gRPC metadata ``authorization: Bearer <token>``. A call that
presents a credential nobody holds is refused even where no credential is needed, so a
mistyped token is noticed at once instead of silently acting as nobody.
"""

from __future__ import annotations

import argparse
import enum
import hashlib
import hmac
import json
import os
import re
import secrets
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from glidepath.config import ConfigError
from glidepath.errors import FailedPrecondition, PermissionDenied, Unauthenticated

USERS_FILE_VARIABLE = "GLIDEPATH_USERS_FILE"
TOKEN_VARIABLE = "GLIDEPATH_TOKEN"
LEGACY_TOKEN_VARIABLE = "REGISTRY_TOKEN"
SERVICE_TOKEN_VARIABLE = "GLIDEPATH_SERVICE_TOKEN"
USER_NAME_PATTERN = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
# What a service acting for a user names them with (gRPC metadata), honoured from
# services only.
ON_BEHALF_OF_METADATA = "glidepath-on-behalf-of"


class Role(enum.Enum):
    USER = "user"
    SERVICE = "service"
    ADMIN = "admin"


@dataclass(frozen=True)
class User:
    """The caller of one request. ``name`` is empty for an anonymous caller.

    ``via`` names the service that acts for this user (empty for a direct call): the
    training service storing the model it trained for Alice calls as Alice via itself.
    """

    name: str
    role: Role = Role.USER
    via: str = ""

    @property
    def anonymous(self) -> bool:
        return not self.name

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def is_service(self) -> bool:
        """Services and the operator of a single-token or open stack."""
        return self.role in (Role.SERVICE, Role.ADMIN)

    @property
    def verified(self) -> bool:
        """Whether what this caller reports (an evaluation score) was computed by
        glidepath itself: a service, the operator, or a user's call relayed by a service."""
        return self.is_service or bool(self.via)

    def acting_for(self, name: str) -> User:
        """The user a service names (``ON_BEHALF_OF_METADATA``); others cannot delegate."""
        if not self.is_service or USER_NAME_PATTERN.fullmatch(name) is None:
            return self
        keeps_admin = self.role is Role.ADMIN and name == self.name
        return User(name, Role.ADMIN if keeps_admin else Role.USER, via=self.name)

    def may_read(self, owner: str, shared: bool) -> bool:
        """Shared things are everyone's to read; private ones their owner's (and admins')."""
        return shared or self.is_admin or self.is_service or (bool(owner) and owner == self.name)

    def may_change(self, owner: str) -> bool:
        return self.is_admin or (not self.anonymous and owner == self.name)

    def require_credential(self, action: str) -> None:
        if self.anonymous:
            raise Unauthenticated(
                f"{action} needs a credential: send 'authorization: Bearer <token>' "
                f"(the CLI reads it from {TOKEN_VARIABLE})"
            )

    def require_owner(self, owner: str, what: str) -> None:
        if not self.may_change(owner):
            raise PermissionDenied(f"{what} belongs to another user; only its owner may change it")


ANONYMOUS = User("")
OPERATOR = User("operator", Role.ADMIN)
LOCAL = User("local", Role.ADMIN)


class Authenticator(Protocol):
    """Turns the credential a call presents (None: none) into its user."""

    #: A line for the start-up log saying who may do what.
    description: str

    def authenticate(self, credential: str | None) -> User: ...


class OpenAccess:
    """No credentials at all: every caller is the local operator (single-user stack)."""

    description = (
        "no credentials configured: every caller may do everything (set "
        f"{USERS_FILE_VARIABLE} or {TOKEN_VARIABLE} for a shared stack)"
    )

    def authenticate(self, credential: str | None) -> User:
        return LOCAL


class SingleToken:
    """One token: its holder is the operator; everyone else reads shared data only."""

    description = "one token: its holder may do everything, others may only read shared data"

    def __init__(self, token: str) -> None:
        if not token:
            raise ConfigError(f"{TOKEN_VARIABLE} must not be empty")
        self._digest = token_digest(token)

    def authenticate(self, credential: str | None) -> User:
        if credential is None:
            return ANONYMOUS
        if hmac.compare_digest(token_digest(credential), self._digest):
            return OPERATOR
        raise Unauthenticated("the bearer token presented is not this service's token")


class UsersFile:
    """Users with their token hashes, read from a JSON file at start-up."""

    def __init__(self, users: dict[str, tuple[User, str]]) -> None:
        # token digest -> user; name -> (user, digest) kept for describing the file.
        self._by_digest = {digest: user for user, digest in users.values()}
        self.description = f"users file with {len(users)} user(s); writes need a credential"

    @classmethod
    def load(cls, path: Path) -> UsersFile:
        return cls(read_users(path))

    def authenticate(self, credential: str | None) -> User:
        if credential is None:
            return ANONYMOUS
        presented = token_digest(credential)
        found: User | None = None
        for digest, user in self._by_digest.items():
            if hmac.compare_digest(presented, digest):
                found = user
        if found is None:
            raise Unauthenticated("the bearer token presented belongs to no user of this service")
        return found


def token_digest(token: str) -> str:
    return hashlib.sha256(token.strip().encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def read_users(path: Path) -> dict[str, tuple[User, str]]:
    """The users of a file; ConfigError naming the file and the entry that is wrong."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{USERS_FILE_VARIABLE}: no such file {path}") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{USERS_FILE_VARIABLE}: cannot read {path}: {exc}") from None
    entries = document.get("users") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: expected an object with a 'users' list")
    users: dict[str, tuple[User, str]] = {}
    for number, entry in enumerate(entries):
        where = f"{path}: users[{number}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} is not an object")
        name, role, digest = entry.get("name"), entry.get("role", "user"), entry.get("token_sha256")
        if not isinstance(name, str) or USER_NAME_PATTERN.fullmatch(name) is None:
            raise ConfigError(f"{where}.name must match {USER_NAME_PATTERN.pattern}")
        if role not in {r.value for r in Role}:
            raise ConfigError(f"{where}.role must be one of user, service, admin")
        if not isinstance(digest, str) or re.fullmatch(r"[0-9a-f]{64}", digest) is None:
            raise ConfigError(f"{where}.token_sha256 must be 64 lowercase hexadecimal characters")
        if name in users:
            raise ConfigError(f"{where}: user {name!r} appears twice")
        users[name] = (User(name, Role(role)), digest)
    return users


def add_user(path: Path, name: str, role: Role = Role.USER) -> str:
    """Add ``name`` to the users file (created when missing); the new token, shown once."""
    if USER_NAME_PATTERN.fullmatch(name) is None:
        raise FailedPrecondition(f"user names must match {USER_NAME_PATTERN.pattern}")
    users = read_users(path) if path.exists() else {}
    if name in users:
        raise FailedPrecondition(f"{path} already has a user {name!r}")
    token = new_token()
    users[name] = (User(name, role), token_digest(token))
    entries = [
        {"name": user.name, "role": user.role.value, "token_sha256": digest}
        for user, digest in users.values()
    ]
    _write_atomically(path, json.dumps({"users": entries}, indent=2) + "\n")
    return token


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=".users-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def build_authenticator(token: str | None, users_file: Path | None) -> Authenticator:
    """The setup a service's settings name: a users file wins over a single token."""
    if users_file is not None:
        return UsersFile.load(users_file)
    if token:
        return SingleToken(token)
    return OpenAccess()


def users_file_from_env() -> Path | None:
    users_file = os.environ.get(USERS_FILE_VARIABLE, "").strip()
    return Path(users_file).expanduser() if users_file else None


def token_from_env() -> str | None:
    """GLIDEPATH_TOKEN, else the older REGISTRY_TOKEN: the single token a server accepts
    and the credential a client (the CLI) presents."""
    token = os.environ.get(TOKEN_VARIABLE, "").strip()
    return token or os.environ.get(LEGACY_TOKEN_VARIABLE, "").strip() or None


def service_token_from_env() -> str | None:
    """The credential a service presents to its peers: GLIDEPATH_SERVICE_TOKEN (a user of
    role ``service`` in the users file), else the single token."""
    token = os.environ.get(SERVICE_TOKEN_VARIABLE, "").strip()
    return token or token_from_env()


def authenticator_from_env() -> Authenticator:
    """The setup the environment names (see the module docstring); ConfigError if broken."""
    return build_authenticator(token_from_env(), users_file_from_env())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m glidepath.auth", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="add a user and print their new token once")
    add.add_argument("name")
    add.add_argument("--role", choices=[r.value for r in Role], default=Role.USER.value)
    add.add_argument(
        "--file", type=Path, required=True, help=f"the users file ({USERS_FILE_VARIABLE})"
    )
    args = parser.parse_args(argv)
    try:
        token = add_user(args.file, args.name, Role(args.role))
    except (ConfigError, FailedPrecondition) as exc:
        print(f"glidepath.auth: {exc}", file=sys.stderr)
        return 2
    print(token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
