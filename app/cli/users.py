"""``kateder user ...``: password, role and sign-out for one account
(each ends its sessions and tokens).
"""

from __future__ import annotations

import json

import click
from sqlalchemy import select

from app import create_app
from app.services import accounts, get_services
from core.models import User


def _services():
    services = get_services(create_app())
    services.db.migrate()
    return services


def _user(s, username: str) -> User:
    user = s.scalar(select(User).where(User.username == username))
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    return user


def _done(
    services, s, user: User, action: str, result: dict, as_json: bool, human: str, **details
) -> None:
    services.audit.record(s, action, user=user, details={"by": "cli", **details, **result})
    click.echo(json.dumps(result) if as_json else human.format(**result))


@click.group("user")
def user_group() -> None:
    """Accounts: change a password or role, or sign a user out everywhere."""


@user_group.command("password")
@click.argument("username")
@click.password_option(
    "--password", prompt="New password", help="The new password (asked for when not given)."
)
@click.option("--json", "as_json", is_flag=True)
def user_password(username: str, password: str, as_json: bool) -> None:
    """Set a new password; every session and API token of the user ends."""
    services = _services()
    with services.db.session() as s:
        user = _user(s, username)
        result = accounts.change_password(
            s, user, password, accounts.Throttle(pepper=services.audit.pseudonymizer.key)
        )
        _done(
            services,
            s,
            user,
            "password_changed",
            result,
            as_json,
            "password changed; {sessions_ended} session(s) ended, "
            "{tokens_revoked} token(s) revoked",
        )


@user_group.command("role")
@click.argument("username")
@click.argument("role", type=click.Choice(["student", "teacher", "admin", "dpo"]))
@click.option("--json", "as_json", is_flag=True)
def user_role(username: str, role: str, as_json: bool) -> None:
    """Give a user another role; every session and API token of the user ends."""
    services = _services()
    with services.db.session() as s:
        user = _user(s, username)
        old = user.role
        result = accounts.set_role(s, user, role)
        _done(
            services,
            s,
            user,
            "role_changed",
            result,
            as_json,
            "role changed; {sessions_ended} session(s) ended, {tokens_revoked} token(s) revoked",
            old=old,
            new=role,
        )


@user_group.command("sign-out")
@click.argument("username")
@click.option("--json", "as_json", is_flag=True)
def user_sign_out(username: str, as_json: bool) -> None:
    """Sign a user out everywhere: every browser session and API token ends."""
    services = _services()
    with services.db.session() as s:
        user = _user(s, username)
        result = {
            "sessions_ended": accounts.end_all_sessions(s, user.id),
            "tokens_revoked": accounts.revoke_all_tokens(s, user.id),
        }
        _done(
            services,
            s,
            user,
            "sessions_revoked",
            result,
            as_json,
            "{sessions_ended} session(s) ended, {tokens_revoked} token(s) revoked",
        )
