"""Credentials become users the same way in every service (``glidepath.auth``)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from glidepath import auth
from glidepath.auth import Role, SingleToken, User, UsersFile
from glidepath.config import ConfigError
from glidepath.errors import FailedPrecondition, PermissionDenied, Unauthenticated

ZEROS = "0" * 64


def test_an_added_user_authenticates_with_the_token_printed_once(tmp_path: Path) -> None:
    users = tmp_path / "users.json"
    alice = auth.add_user(users, "alice")
    robot = auth.add_user(users, "trainer", Role.SERVICE)
    authenticator = UsersFile.load(users)
    assert authenticator.authenticate(alice) == User("alice", Role.USER)
    assert authenticator.authenticate(robot) == User("trainer", Role.SERVICE)
    assert authenticator.authenticate(None).anonymous
    with pytest.raises(Unauthenticated):
        authenticator.authenticate(alice + "x")


def test_the_users_file_keeps_hashes_never_tokens_and_is_private(tmp_path: Path) -> None:
    users = tmp_path / "users.json"
    token = auth.add_user(users, "alice")
    text = users.read_text()
    assert token not in text
    assert json.loads(text)["users"][0]["token_sha256"] == auth.token_digest(token)
    assert stat.S_IMODE(users.stat().st_mode) == 0o600


def test_a_user_cannot_be_added_twice(tmp_path: Path) -> None:
    users = tmp_path / "users.json"
    auth.add_user(users, "alice")
    with pytest.raises(FailedPrecondition, match="already has a user 'alice'"):
        auth.add_user(users, "alice")


@pytest.mark.parametrize(
    ("document", "complaint"),
    [
        ("not json", "cannot read"),
        ('{"people": []}', "'users' list"),
        ('{"users": [{"name": "Alice", "token_sha256": "' + "0" * 64 + '"}]}', "name must match"),
        (
            '{"users": [{"name": "bob", "role": "root", "token_sha256": "' + "0" * 64 + '"}]}',
            "role",
        ),
        ('{"users": [{"name": "bob", "token_sha256": "abc"}]}', "token_sha256"),
    ],
)
def test_a_broken_users_file_is_refused_naming_the_entry(
    tmp_path: Path, document: str, complaint: str
) -> None:
    users = tmp_path / "users.json"
    users.write_text(document)
    with pytest.raises(ConfigError, match=complaint):
        UsersFile.load(users)


def test_the_single_token_makes_its_holder_the_operator() -> None:
    authenticator = SingleToken("s3cret")
    assert authenticator.authenticate("s3cret").is_admin
    assert authenticator.authenticate(None).anonymous
    with pytest.raises(Unauthenticated):
        authenticator.authenticate("s3cre")


def test_only_services_may_act_for_another_user() -> None:
    service = User("trainer", Role.SERVICE)
    relayed = service.acting_for("alice")
    assert relayed == User("alice", Role.USER, via="trainer")
    assert relayed.verified
    alice = User("alice")
    assert alice.acting_for("bob") == alice
    assert not alice.verified


def test_owners_change_their_own_things_and_admins_everything() -> None:
    alice, bob, admin = User("alice"), User("bob"), User("root", Role.ADMIN)
    alice.require_owner("alice", "model m")
    admin.require_owner("alice", "model m")
    with pytest.raises(PermissionDenied):
        bob.require_owner("alice", "model m")
    assert bob.may_read("alice", shared=True)
    assert not bob.may_read("alice", shared=False)
    with pytest.raises(Unauthenticated):
        auth.ANONYMOUS.require_credential("DeleteModel")


def test_the_environment_chooses_the_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (auth.USERS_FILE_VARIABLE, auth.TOKEN_VARIABLE, auth.LEGACY_TOKEN_VARIABLE):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(auth.authenticator_from_env(), auth.OpenAccess)
    monkeypatch.setenv(auth.LEGACY_TOKEN_VARIABLE, "old")
    assert isinstance(auth.authenticator_from_env(), SingleToken)
    users = tmp_path / "users.json"
    auth.add_user(users, "alice")
    monkeypatch.setenv(auth.USERS_FILE_VARIABLE, str(users))
    assert isinstance(auth.authenticator_from_env(), UsersFile)


def test_the_add_command_prints_the_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    users = tmp_path / "users.json"
    assert auth.main(["add", "carol", "--role", "admin", "--file", str(users)]) == 0
    token = capsys.readouterr().out.strip()
    assert UsersFile.load(users).authenticate(token) == User("carol", Role.ADMIN)
    assert auth.main(["add", "carol", "--file", str(users)]) == 2
