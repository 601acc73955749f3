"""Every error is answered in one place (app/errors.py): JSON for API clients, a page for the
browser."""

from __future__ import annotations

from core.errors import LimitReached, NotFound


def _routes(app):
    def missing():
        raise NotFound("no such thing here")

    def limited():
        raise LimitReached("enough for today", code="daily_limit")

    app.add_url_rule("/api/v1/test-missing", "test_api_missing", missing)
    app.add_url_rule("/test-missing", "test_page_missing", missing)
    app.add_url_rule("/api/v1/test-limited", "test_api_limited", limited)


def test_the_api_gets_the_code_and_the_message_as_json(app, client):
    _routes(app)
    r = client.get("/api/v1/test-missing")
    assert (r.status_code, r.get_json()) == (
        404,
        {"error": "not_found", "message": "no such thing here"},
    )
    r = client.get("/api/v1/test-limited")
    assert (r.status_code, r.get_json()) == (
        429,
        {"error": "daily_limit", "message": "enough for today"},
    )


def test_the_browser_gets_the_error_page_unless_it_asks_for_json(app, client):
    _routes(app)
    page = client.get("/test-missing", headers={"Accept": "text/html"})
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "no such thing here" in page.get_data(as_text=True) and "<h1>" in page.get_data(
        as_text=True
    )
    asked = client.get("/test-missing", headers={"Accept": "application/json"})
    assert (asked.status_code, asked.get_json()["error"]) == (404, "not_found")


def test_http_errors_keep_their_json_names_and_translated_pages(client):
    assert client.get("/api/v1/nothing-here").get_json()["error"] == "not_found"
    page = client.get("/nothing-here", headers={"Accept": "text/html", "Accept-Language": "sv"})
    assert page.status_code == 404 and "<h1>" in page.get_data(as_text=True)


def test_a_limit_with_a_retry_time_answers_retry_after_in_the_header_and_the_body(app, client):
    def blocked():
        raise LimitReached("try again later", code="too_many_attempts", retry_after=42)

    _routes(app)
    app.add_url_rule("/api/v1/test-blocked", "test_api_blocked", blocked)
    r = client.get("/api/v1/test-blocked")
    assert r.status_code == 429 and r.headers["Retry-After"] == "42"
    assert r.get_json() == {
        "error": "too_many_attempts",
        "message": "try again later",
        "retry_after": 42,
    }
    assert "Retry-After" not in client.get("/api/v1/test-limited").headers
