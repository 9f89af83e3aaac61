"""``serve --role``: the api serves HTTP, the gateway WebSocket plus its health and metrics."""

from __future__ import annotations

import httpx
import pytest
import websockets

from tests.e2e.conftest import Stack, register

pytestmark = pytest.mark.e2e


async def test_each_role_serves_its_own_surface(shared_stack: Stack) -> None:
    api, gateway = shared_stack.api, shared_stack.gateway
    account = register(api.url)
    # the gateway: WebSocket, health, metrics; no REST
    async with websockets.connect(f"{gateway.ws}?token={account.token}") as ws:
        await ws.send('{"type": "ping"}')
        assert "pong" in await ws.recv()
    assert httpx.get(f"{gateway.url}/health/ready", timeout=5).status_code == 200
    assert httpx.get(f"{gateway.url}/metrics", timeout=5).status_code == 200
    rest = httpx.get(f"{gateway.url}/api/v1/users/me", headers={"Authorization": f"Bearer {account.token}"}, timeout=5)
    assert rest.status_code == 404 and rest.json()["error"]["code"] == "not_found"
    # the api: REST; no WebSocket
    me = httpx.get(f"{api.url}/api/v1/users/me", headers={"Authorization": f"Bearer {account.token}"}, timeout=5)
    assert me.status_code == 200
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(f"ws://127.0.0.1:{api.port}/ws?token={account.token}"):
            pass
    assert refused.value.response.status_code == 403
