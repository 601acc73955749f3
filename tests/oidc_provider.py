"""A small OpenID Connect provider on loopback for the sign-in tests: real HTTP, real signed
id_tokens.

It serves discovery, JWKS, the authorization endpoint (the user set with ``sign_in_as`` has
already authenticated and consented) and the token endpoint (authorization code with PKCE,
client_secret_basic or client_secret_post). id_tokens are RS256 JWTs signed with joserfc.
``tamper`` changes the next id_tokens (another nonce, audience, issuer, expiry, or a
foreign signing key) so the tests can show that Kateder refuses them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from typing import Any
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.jwk import RSAKey
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


def _key(kid: str) -> RSAKey:
    return RSAKey.generate_key(
        2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"}, private=True
    )


class OidcProvider:
    """An authorization-code OpenID provider serving one thread on 127.0.0.1."""

    def __init__(self) -> None:
        """Bind to a free port; ``with`` starts serving."""
        self.key = _key("provider-key")
        self.clients: dict[str, dict[str, str]] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.claims: dict[str, Any] = {}
        self.tamper: dict[str, Any] = {}
        self.foreign_key: RSAKey | None = None
        self.token_requests = 0
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.issuer = f"http://127.0.0.1:{self._server.server_port}"
        self._thread: threading.Thread | None = None

    def register(self, client_id: str, client_secret: str, redirect_uri: str) -> None:
        """Register a relying party."""
        self.clients[client_id] = {"secret": client_secret, "redirect_uri": redirect_uri}

    def sign_in_as(self, sub: str, **claims: Any) -> None:
        """The user who authenticates at the next authorization request."""
        self.claims = {"sub": sub, **claims}

    def sign_with_foreign_key(self) -> None:
        """Sign the next id_tokens with a key that is not in the JWKS."""
        self.foreign_key = _key("provider-key")  # same kid: only the signature tells

    # -- HTTP -------------------------------------------------------------------------
    @Request.application
    def _app(self, request: Request) -> Response:
        routes = {
            "/.well-known/openid-configuration": self._discovery,
            "/jwks": self._jwks,
            "/authorize": self._authorize,
            "/token": self._token,
        }
        handler = routes.get(request.path)
        if handler is None:
            return Response("not found", status=404)
        return handler(request)

    @staticmethod
    def _json(data: dict, status: int = 200) -> Response:
        return Response(
            json.dumps(data),
            status=status,
            mimetype="application/json",
            headers={"Cache-Control": "no-store"},
        )

    def _discovery(self, request: Request) -> Response:
        return self._json(
            {
                "issuer": self.issuer,
                "authorization_endpoint": self.issuer + "/authorize",
                "token_endpoint": self.issuer + "/token",
                "jwks_uri": self.issuer + "/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
            }
        )

    def _jwks(self, request: Request) -> Response:
        return self._json({"keys": [self.key.as_dict(private=False)]})

    def _authorize(self, request: Request) -> Response:
        q = request.args
        client = self.clients.get(q.get("client_id", ""))
        if client is None or q.get("redirect_uri") != client["redirect_uri"]:
            return Response(
                "unknown client or redirect_uri", status=400
            )  # never redirect to an unregistered URI
        if q.get("response_type") != "code" or "openid" not in q.get("scope", "").split():
            return Response("unsupported request", status=400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "client_id": q["client_id"],
            "redirect_uri": q["redirect_uri"],
            "nonce": q.get("nonce"),
            "challenge": q.get("code_challenge"),
            "method": q.get("code_challenge_method"),
            "claims": dict(self.claims),
        }
        target = q["redirect_uri"] + "?" + urlencode({"code": code, "state": q.get("state", "")})
        return Response(status=302, headers={"Location": target})

    def _client_auth(self, request: Request) -> str | None:
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        else:
            client_id, secret = (
                request.form.get("client_id", ""),
                request.form.get("client_secret", ""),
            )
        client = self.clients.get(client_id)
        return (
            client_id
            if client is not None and secrets.compare_digest(client["secret"], secret)
            else None
        )

    def _token(self, request: Request) -> Response:
        self.token_requests += 1
        client_id = self._client_auth(request)
        if client_id is None:
            return self._json({"error": "invalid_client"}, 401)
        grant = self.codes.pop(request.form.get("code", ""), None)  # single use
        if (
            request.form.get("grant_type") != "authorization_code"
            or grant is None
            or grant["client_id"] != client_id
            or grant["redirect_uri"] != request.form.get("redirect_uri")
        ):
            return self._json({"error": "invalid_grant"}, 400)
        if grant["challenge"]:
            verifier = request.form.get("code_verifier", "")
            digest = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
                .rstrip(b"=")
                .decode()
            )
            if grant["method"] != "S256" or digest != grant["challenge"]:
                return self._json({"error": "invalid_grant", "error_description": "PKCE"}, 400)
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": client_id,
            "iat": now,
            "exp": now + 300,
            "auth_time": now,
            **grant["claims"],
        }
        if grant["nonce"]:
            claims["nonce"] = grant["nonce"]
        claims.update(self.tamper)
        id_token = jwt.encode(
            {"alg": "RS256", "kid": "provider-key"}, claims, self.foreign_key or self.key
        )
        return self._json(
            {
                "access_token": secrets.token_urlsafe(24),
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": "openid profile",
                "id_token": id_token,
            }
        )

    # -- lifecycle --------------------------------------------------------------------
    def __enter__(self) -> OidcProvider:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
