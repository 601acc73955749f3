"""An LTI 1.3 platform on loopback for the launch tests, built on ``lti1p3platform`` (PyPI).

lti1p3platform does the platform's side of the protocol: the third-party login initiation
URL, validating the tool's authentication request (``client_id``, ``redirect_uri``, nonce,
state), the RS256 id_token with the LTI claims (deployment, roles, context, custom,
deep-linking settings), and verifying the tool's signed deep-linking response against the
tool's JWKS. This module only serves it over HTTP (werkzeug on 127.0.0.1): ``/jwks``,
``/auth`` (the authorization endpoint; the user in ``next_launch`` has signed in to the LMS)
and ``/deep_link_return``. Its framework adapters (Django, FastAPI) are not used.
"""

from __future__ import annotations

import html
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.message_launch import LTIAdvantageMessageLaunchAbstract
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration
from lti1p3platform.request import Request as PlatformRequest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"


def _pem_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private.decode(), public.decode()


@dataclass
class NextLaunch:
    """Who launches from the LMS next, from where, and anything the test wants wrong with it."""

    sub: str = "lms-user-1"
    roles: list[str] = field(default_factory=lambda: [LEARNER])
    name: str | None = "Ola Nordmann"
    email: str | None = "ola@nord.example"
    context_id: str = "lms-course-7"
    context_title: str = "Biology 7A"
    custom: dict[str, str] = field(default_factory=dict)
    deep_link: bool = False
    expires_in: int = 300  # negative: an expired id_token
    extra_claims: dict[str, Any] = field(default_factory=dict)  # e.g. another "aud"
    deployment_id: str | None = None  # None: the registration's


class _Request(PlatformRequest):
    def build_metadata(self, request: Request):
        return {
            "method": request.method,
            "form_data": request.form.to_dict(),
            "get_data": request.args.to_dict(),
            "headers": request.headers,
            "content_type": request.content_type,
            "path": request.path,
            "json": None,
        }


class _Config(LTI1P3PlatformConfAbstract):
    def init_platform_config(self, **kwargs: Any) -> None:
        self._registration = kwargs["registration"]

    def get_registration_by_params(self, **kwargs: Any) -> Registration:
        return self._registration


class _Login(OIDCLoginAbstract):
    def set_lti_message_hint(self, **kwargs: Any) -> None:
        self._lti_message_hint = kwargs["hint"]

    def get_redirect(self, url: str) -> str:
        return url


class _Launch(LTIAdvantageMessageLaunchAbstract):
    def render_launch_form(self, launch_data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return launch_data


class LtiPlatform:
    """A learning platform with one tool registered (Kateder), serving one thread on 127.0.0.1."""

    def __init__(
        self,
        *,
        tool_base: str = "http://localhost",
        client_id: str = "kateder-client",
        deployment_id: str = "dep-1",
    ):
        """Bind to a free port; ``with`` starts serving."""
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.issuer = f"http://127.0.0.1:{self._server.server_port}"
        self.client_id, self.deployment_id = client_id, deployment_id
        self.private_key, self.public_key = _pem_pair()
        self.tool_login_url, self.tool_launch_url = (
            f"{tool_base}/lti/login",
            f"{tool_base}/lti/launch",
        )
        self.next_launch = NextLaunch()
        self.deep_link_items: list[dict[str, Any]] = []
        self.tool_jwks: dict[str, Any] = {"keys": []}
        self._thread: threading.Thread | None = None

    @property
    def auth_url(self) -> str:
        """The authorization endpoint (Kateder's ``auth_login_url``)."""
        return self.issuer + "/auth"

    @property
    def jwks_url(self) -> str:
        """The platform's key set (Kateder's ``key_set_url``)."""
        return self.issuer + "/jwks"

    @property
    def deep_link_return_url(self) -> str:
        """Where the tool posts its deep-linking response."""
        return self.issuer + "/deep_link_return"

    def _registration(self, deployment_id: str | None = None) -> Registration:
        return (
            Registration()
            .set_iss(self.issuer)
            .set_client_id(self.client_id)
            .set_deployment_id(deployment_id or self.deployment_id)
            .set_oidc_login_url(self.tool_login_url)
            .set_launch_url(self.tool_launch_url)
            .set_deeplink_launch_url(self.tool_launch_url)
            .set_platform_public_key(self.public_key)
            .set_platform_private_key(self.private_key)
            .set_tool_key_set(self.tool_jwks)
        )

    def login_initiation_url(self) -> str:
        """The third-party login initiation request the LMS sends the browser to (for
        ``next_launch``)."""
        config = _Config(registration=self._registration(self.next_launch.deployment_id))
        login = _Login(None, config)
        login.set_lti_message_hint(
            hint="deep-link" if self.next_launch.deep_link else "resource-link-1"
        )
        if self.next_launch.deep_link:
            login.set_deeplinking_launch_url()
        return login.initiate_login(self.next_launch.sub)

    # -- HTTP -------------------------------------------------------------------------
    @Request.application
    def _app(self, request: Request) -> Response:
        routes = {
            "/jwks": self._jwks,
            "/auth": self._auth,
            "/deep_link_return": self._deep_link_return,
        }
        handler = routes.get(request.path)
        return handler(request) if handler else Response("not found", status=404)

    def _jwks(self, request: Request) -> Response:
        config = _Config(registration=self._registration())
        config.get_registration()
        return Response(json.dumps(config.get_jwks()), mimetype="application/json")

    def _auth(self, request: Request) -> Response:
        nxt = self.next_launch
        config = _Config(registration=self._registration(nxt.deployment_id))
        launch = _Launch(_Request(request), config)
        if request.args.get("login_hint") != nxt.sub:
            return Response("login_hint is not the signed-in user", status=400)
        if request.args.get("redirect_uri") != self.tool_launch_url:
            return Response("redirect_uri is not the tool's registered launch URL", status=400)
        launch.set_user_data(nxt.sub, nxt.roles, full_name=nxt.name, email_address=nxt.email)
        launch.set_launch_context_claim(nxt.context_id, context_title=nxt.context_title)
        launch.set_resource_link_claim("resource-link-1", title="Kateder")
        if nxt.custom:
            launch.set_custom_parameters_claim(nxt.custom)
        if nxt.deep_link:
            launch.set_dl(
                self.deep_link_return_url, title="Add a tool", accept_types={"ltiResourceLink"}
            )
        if nxt.extra_claims:
            launch.set_extra_claims(nxt.extra_claims)
        launch.set_id_token_expiration(nxt.expires_in)
        try:
            data = launch.lti_launch()
        except Exception as exc:  # noqa: BLE001 - a bad authentication request from the tool
            return Response(f"invalid authentication request: {type(exc).__name__}", status=400)
        page = (
            f'<form method="POST" action="{html.escape(data["launch_url"])}">'
            f'<input type="hidden" name="id_token" value="{html.escape(data["id_token"])}">'
            f'<input type="hidden" name="state" value="{html.escape(data["state"])}"></form>'
        )
        return Response(page, mimetype="text/html")

    def _deep_link_return(self, request: Request) -> Response:
        config = _Config(registration=self._registration())
        config.get_registration()
        try:
            items = config.validate_deeplinking_resp({"JWT": request.form.get("JWT", "")})
        except Exception as exc:  # noqa: BLE001 - the tool's response did not verify
            return Response(f"deep linking response refused: {exc}", status=400)
        self.deep_link_items.extend(items)
        return Response("placed", status=200)

    # -- lifecycle --------------------------------------------------------------------
    def __enter__(self) -> LtiPlatform:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()


def form_fields(page: str, field: str) -> tuple[str, dict[str, str]]:
    """The action and hidden fields of the form on ``page`` that carries the hidden ``field``."""
    for match in re.finditer(r'<form[^>]*action="([^"]+)"[^>]*>(.*?)</form>', page, re.S):
        fields = {
            html.unescape(n): html.unescape(v)
            for n, v in re.findall(
                r'<input type="hidden" name="([^"]+)" value="([^"]*)"', match.group(2)
            )
        }
        if field in fields:
            return html.unescape(match.group(1)), fields
    raise AssertionError(f"no form with a hidden {field!r} on the page:\n{page[:2000]}")


def path_of(url: str) -> str:
    """The path and query of ``url`` (what Flask's test client requests)."""
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")
