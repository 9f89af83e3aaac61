"""neonchat.staticfiles: STATIC_URL served on the event loop, everything else to Django."""

from __future__ import annotations

from typing import Any

from neonchat.staticfiles import StaticFiles


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "reached", "path": scope["path"]})


async def _get(path: str, headers: list[tuple[bytes, bytes]] | None = None) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "headers": headers or [], "query_string": b"v=1"}
    await StaticFiles(_app)(scope, receive, send)
    return sent


async def test_a_static_file_is_served_without_django() -> None:
    start, *body = await _get("/static/app.js")
    assert start["type"] == "http.response.start"
    assert start["status"] == 200
    headers = dict(start["headers"])
    assert headers[b"content-type"].startswith(b"text/javascript")
    assert headers[b"x-content-type-options"] == b"nosniff"  # as SecurityMiddleware would
    assert headers[b"referrer-policy"] == b"same-origin"
    assert b"WebSocket" in b"".join(part.get("body", b"") for part in body)


async def test_the_admin_static_files_come_from_the_finders() -> None:
    start, *_ = await _get("/static/admin/css/base.css")
    assert start["status"] == 200


async def test_other_paths_and_missing_files_go_to_django() -> None:
    assert await _get("/api/v1/chats") == [{"type": "reached", "path": "/api/v1/chats"}]
    assert await _get("/static/no-such-file.js") == [{"type": "reached", "path": "/static/no-such-file.js"}]


async def test_production_transport_security_reaches_static_files(settings: Any) -> None:
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    start, *_ = await _get("/static/app.css")
    assert dict(start["headers"])[b"strict-transport-security"] == b"max-age=3600; includeSubDomains"


async def test_a_plain_http_request_for_a_static_file_is_sent_to_https(settings: Any) -> None:
    settings.SECURE_SSL_REDIRECT = True
    settings.ALLOWED_HOSTS = ["chat.example.com"]
    start, body = await _get("/static/app.js", [(b"host", b"chat.example.com")])
    assert start["status"] == 301
    assert dict(start["headers"])[b"location"] == b"https://chat.example.com/static/app.js?v=1"
    assert body == {"type": "http.response.body", "body": b""}


async def test_a_secure_request_for_a_static_file_is_served(settings: Any) -> None:
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.ALLOWED_HOSTS = ["chat.example.com"]
    start, *_ = await _get("/static/app.js", [(b"host", b"chat.example.com"), (b"x-forwarded-proto", b"https")])
    assert start["status"] == 200


async def test_a_static_request_for_a_host_not_allowed_is_400_not_a_redirect_there(settings: Any) -> None:
    settings.SECURE_SSL_REDIRECT = True
    settings.ALLOWED_HOSTS = ["chat.example.com"]
    start, *_ = await _get("/static/app.js", [(b"host", b"evil.example.net")])
    assert start["status"] == 400
    assert b"location" not in dict(start["headers"])


async def test_the_redirect_exemptions_hold_for_static_files(settings: Any) -> None:
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = [r"^static/"]
    settings.ALLOWED_HOSTS = ["chat.example.com"]
    start, *_ = await _get("/static/app.js", [(b"host", b"chat.example.com")])
    assert start["status"] == 200
