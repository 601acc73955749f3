"""Sign-in with a school's OpenID Connect identity provider: which providers, and who signs in.

Providers are set up per school in a TOML file named by ``OIDC_PROVIDERS`` (docs/operations.md,
"Single sign-on"); ``OIDC_ISSUER`` / ``OIDC_CLIENT_ID`` / ``OIDC_CLIENT_SECRET`` remain a
shorthand for one provider, ``school``, that signs in existing accounts of any school with
the role they already have. The protocol itself (state, nonce, PKCE, the id_token's
signature, issuer, audience and expiry) is authlib's; this module only decides, from the
verified claims, which Kateder account signs in.
"""

from __future__ import annotations

import re
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.services import accounts
from core.errors import KatederError
from core.models import School, User

# roles an identity provider may grant; admin and DPO are given in Kateder only
GRANTABLE = ("student", "teacher")
_RANK = {"student": 0, "teacher": 1}
SHORTHAND = (
    "school"  # the id of the provider set by OIDC_ISSUER / OIDC_CLIENT_ID / OIDC_CLIENT_SECRET
)
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_KEYS = {
    "school",
    "issuer",
    "client_id",
    "client_secret",
    "client_secret_env",
    "scope",
    "username_claim",
    "role_claim",
    "roles",
    "create_users",
    "label",
}


class ProviderError(KatederError):
    """The provider file is wrong; the message says where.

    A fault of the server's configuration, not of a request (500, ``sso_providers_invalid``):
    it stops the app's start (app/security.py) and ``kateder`` prints it as one line.
    """

    code = "sso_providers_invalid"


@dataclass(frozen=True)
class IdentityProvider:
    """One school's OpenID Connect provider."""

    id: str
    issuer: str
    client_id: str
    client_secret: str = ""
    school: str | None = None  # the school's name; None: any school (the OIDC_* shorthand)
    label: str = ""
    scope: str = "openid profile"
    username_claim: str = "preferred_username"
    role_claim: str = ""  # empty: the account keeps the role it has
    roles: Mapping[str, str] = field(default_factory=dict)  # claim value -> student | teacher
    create_users: bool = False

    @property
    def metadata_url(self) -> str:
        """The discovery document."""
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"


@dataclass(frozen=True)
class SsoResult:
    """Who signs in (``user``), or why nobody does (``reason``)."""

    user: User | None = None
    reason: str = ""
    created: bool = False
    role_changed_from: str | None = None


def load_providers(
    config: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> dict[str, IdentityProvider]:
    """The configured providers by id: the ``OIDC_PROVIDERS`` file and the ``OIDC_*`` shorthand."""
    import os

    environ = os.environ if environ is None else environ
    providers: dict[str, IdentityProvider] = {}
    if config.get("OIDC_ISSUER") and config.get("OIDC_CLIENT_ID"):
        providers[SHORTHAND] = IdentityProvider(
            SHORTHAND,
            str(config["OIDC_ISSUER"]),
            str(config["OIDC_CLIENT_ID"]),
            str(config.get("OIDC_CLIENT_SECRET") or ""),
        )
    path = str(config.get("OIDC_PROVIDERS") or "")
    if path:
        for provider in parse_providers(Path(path), environ):
            if provider.id in providers:
                raise ProviderError(
                    f"{path}: provider {provider.id!r} is also set by OIDC_ISSUER; rename one"
                )
            providers[provider.id] = provider
    return providers


def parse_providers(path: Path, environ: Mapping[str, str]) -> list[IdentityProvider]:
    """Read ``[providers.<id>]`` tables from a TOML file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProviderError(f"OIDC_PROVIDERS: cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProviderError(f"{path}: not valid TOML: {exc}") from None
    tables = data.get("providers")
    if not isinstance(tables, dict) or not tables:
        raise ProviderError(f"{path}: no [providers.<id>] table")
    out = []
    for pid, spec in tables.items():
        where = f"{path}: [providers.{pid}]"
        if not _ID.match(pid):
            raise ProviderError(f"{where}: the id must be lower-case letters, digits and dashes")
        if not isinstance(spec, dict):
            raise ProviderError(f"{where}: must be a table")
        unknown = sorted(set(spec) - _KEYS)
        if unknown:
            raise ProviderError(
                f"{where}: unknown keys {', '.join(unknown)} (known: {', '.join(sorted(_KEYS))})"
            )
        for key in ("school", "issuer", "client_id"):
            if not isinstance(spec.get(key), str) or not spec[key].strip():
                raise ProviderError(f"{where}: {key} is required")
        secret = spec.get("client_secret", "")
        if spec.get("client_secret_env"):
            secret = environ.get(spec["client_secret_env"], "")
            if not secret:
                raise ProviderError(
                    f"{where}: the environment variable {spec['client_secret_env']} is not set"
                )
        roles = spec.get("roles", {})
        if not isinstance(roles, dict) or any(r not in GRANTABLE for r in roles.values()):
            raise ProviderError(
                f"{where}: roles maps claim values to one of {', '.join(GRANTABLE)}"
            )
        if roles and not spec.get("role_claim"):
            raise ProviderError(f"{where}: roles needs role_claim (the claim that carries them)")
        if spec.get("create_users") and not spec.get("role_claim"):
            raise ProviderError(
                f"{where}: create_users needs role_claim and roles (a new account needs a role)"
            )
        out.append(
            IdentityProvider(
                id=pid,
                issuer=spec["issuer"].strip(),
                client_id=spec["client_id"].strip(),
                client_secret=str(secret),
                school=spec["school"].strip(),
                label=str(spec.get("label", "")),
                scope=str(spec.get("scope", "openid profile")),
                username_claim=str(spec.get("username_claim", "preferred_username")),
                role_claim=str(spec.get("role_claim", "")),
                roles={str(k): v for k, v in roles.items()},
                create_users=bool(spec.get("create_users", False)),
            )
        )
    return out


def mapped_role(provider: IdentityProvider, claims: Mapping[str, Any]) -> str | None:
    """The Kateder role the claim grants (the highest if it carries several), or None."""
    value = claims.get(provider.role_claim)
    values = value if isinstance(value, list) else [value]
    granted = [provider.roles[v] for v in values if isinstance(v, str) and v in provider.roles]
    return max(granted, key=_RANK.__getitem__) if granted else None


def school_id(s: Session, provider: IdentityProvider) -> int | None:
    """The id of the provider's school (None for the shorthand provider, or an unknown name)."""
    if provider.school is None:
        return None
    return s.scalar(select(School.id).where(School.name == provider.school))


def resolve_user(s: Session, provider: IdentityProvider, claims: Mapping[str, Any]) -> SsoResult:
    """The account that the verified ``claims`` sign in to, following the provider's rules.

    An account is matched on ``username_claim`` within the provider's school. With
    ``role_claim`` the provider is authoritative for students and teachers: their role
    follows the claim at every sign-in, and a claim that maps to no role signs nobody in.
    Admin and DPO accounts keep their role. ``create_users`` adds a missing account with
    only the username (no name, no e-mail).
    """
    username = claims.get(provider.username_claim)
    if provider.id == SHORTHAND and not username:
        username = claims.get("email")  # as the single-provider settings always did
    if not isinstance(username, str) or not username.strip():
        return SsoResult(reason="no_username")
    username = username.strip()[:80]
    school = None
    if provider.school is not None:
        school = s.scalar(select(School).where(School.name == provider.school))
        if school is None:
            return SsoResult(reason="unknown_school")
    role = mapped_role(provider, claims) if provider.role_claim else None
    if provider.role_claim and role is None:
        return SsoResult(reason="role_not_mapped")
    user = s.scalar(select(User).where(User.username == username))
    if user is None:
        if not provider.create_users or school is None or role is None:
            return SsoResult(reason="not_set_up")
        user = accounts.create_user(s, school, username, secrets.token_urlsafe(32), role)
        return SsoResult(user=user, created=True)
    if school is not None and user.school_id != school.id:
        return SsoResult(reason="other_school")
    if not user.active:
        return SsoResult(reason="inactive")
    if role is not None and user.role in GRANTABLE and user.role != role:
        old = user.role
        accounts.set_role(s, user, role)
        return SsoResult(user=user, role_changed_from=old)
    return SsoResult(user=user)
