"""neonchat.staticfiles: STATIC_URL served on the event loop, everything else to Django."""

from __future__ import annotations

from typing import Any

from neonchat.staticfiles import StaticFiles


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "reached", "path": scope["path"]})


async def _get(path: str) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "headers": [], "query_string": b""}
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
