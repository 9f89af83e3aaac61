"""neonchat.roles: what each ``serve --role`` lets through to the application."""

from __future__ import annotations

import json
from typing import Any

import pytest

from neonchat.roles import serving


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "reached", "path": scope.get("path")})


async def _call(role: str, scope: dict[str, Any]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await serving(_app, role)(scope, receive, send)
    return sent


@pytest.mark.parametrize(
    ("role", "scope", "reached"),
    [
        ("all", {"type": "http", "path": "/api/v1/chats"}, True),
        ("all", {"type": "websocket", "path": "/ws"}, True),
        ("api", {"type": "http", "path": "/api/v1/chats"}, True),
        ("api", {"type": "websocket", "path": "/ws"}, False),
        ("gateway", {"type": "websocket", "path": "/ws"}, True),
        ("gateway", {"type": "http", "path": "/health/ready"}, True),
        ("gateway", {"type": "http", "path": "/metrics"}, True),
        ("gateway", {"type": "http", "path": "/api/v1/chats"}, False),
        ("gateway", {"type": "http", "path": "/admin/"}, False),
    ],
)
async def test_a_role_serves_its_surface_only(role: str, scope: dict[str, Any], reached: bool) -> None:
    sent = await _call(role, scope)
    assert (sent[0]["type"] == "reached") is reached


async def test_refusals_speak_the_protocol() -> None:
    closed = await _call("api", {"type": "websocket", "path": "/ws"})
    assert closed == [{"type": "websocket.close", "code": 1008}]
    start, body = await _call("gateway", {"type": "http", "path": "/api/v1/chats"})
    assert start["status"] == 404
    assert json.loads(body["body"])["error"]["code"] == "not_found"


def test_an_unknown_role_is_refused() -> None:
    with pytest.raises(ValueError, match="role"):
        serving(_app, "worker")
