"""The OpenAPI description covers every /api route of the app, and nothing else."""

from __future__ import annotations

import re

from app.api.openapi import spec

_CONVERTER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def _api_routes(app) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = _CONVERTER.sub(r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((path, method.lower()))
    return routes


def _described() -> set[tuple[str, str]]:
    return {
        (path, method)
        for path, ops in spec()["paths"].items()
        for method in ops
        if method != "parameters"
    }


def test_every_api_route_is_described(app):
    missing = _api_routes(app) - _described()
    assert not missing, f"describe these routes in app/api/openapi.py: {sorted(missing)}"


def test_every_described_route_exists(app):
    stale = _described() - _api_routes(app)
    assert not stale, f"app/api/openapi.py describes routes the app does not have: {sorted(stale)}"


def test_served_document_is_valid_openapi(client):
    r = client.get("/api/openapi.json")
    assert r.status_code == 200
    doc = r.get_json()
    assert doc["openapi"].startswith("3.")
    from openapi_spec_validator import validate

    validate(doc)
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op.get("responses"), f"{method.upper()} {path} has no responses"
            params = set(re.findall(r"{([^}]+)}", path))
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert params == declared, (
                f"{method.upper()} {path}: path parameters {params} vs {declared}"
            )


def test_every_operation_documents_json_errors(app):
    for path, ops in spec()["paths"].items():
        for method, op in ops.items():
            if op.get("security") == [] and path.endswith("openapi.json"):
                continue
            codes = set(op["responses"])
            assert "400" in codes or "requestBody" not in op, (
                f"{method.upper()} {path} lacks a 400 response"
            )
            assert "503" in codes, f"{method.upper()} {path} lacks a 503 response"
