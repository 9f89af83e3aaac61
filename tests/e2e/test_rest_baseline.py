"""``make bench``'s REST baseline (``bench/restbaseline``) answers from NeonChat's own rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench import restwrk
from bench.suite import BaselineServer, _mint_token, rest_baseline
from tests.e2e.conftest import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def baseline(shared_stack: Stack, tmp_path: Path) -> Iterator[BaselineServer]:
    server = rest_baseline(shared_stack.env, tmp_path, workers=1, pool=True).start()
    yield server
    server.stop()


def test_the_tutorial_app_serves_the_same_user_chats_and_history(shared_stack: Stack, baseline: BaselineServer) -> None:
    seeded = restwrk.prepare(shared_stack.api.url, chats=3, messages=5)
    ours = {"Authorization": f"Bearer {seeded.token}"}
    theirs = {"Authorization": f"Bearer {_mint_token(baseline, seeded.user_id)}"}

    def get(base: str, path: str, headers: dict[str, str]) -> httpx.Response:
        reply = httpx.get(base + path.format(chat_id=seeded.chat_id), headers=headers, timeout=10)
        assert reply.status_code == 200, reply.text
        return reply

    api, tutorial = shared_stack.api.url, baseline.url
    assert get(tutorial, restwrk.ENDPOINTS["health"], {}).json() == {"status": "alive"}
    assert get(tutorial, restwrk.ENDPOINTS["me"], theirs).json()["id"] == seeded.user_id
    neonchat_chats = [c["id"] for c in get(api, restwrk.ENDPOINTS["chats"], ours).json()["chats"]]
    tutorial_chats = [c["id"] for c in get(tutorial, restwrk.ENDPOINTS["chats"], theirs).json()["results"]]
    assert sorted(tutorial_chats) == sorted(neonchat_chats) and len(tutorial_chats) == 3
    history = get(tutorial, restwrk.ENDPOINTS["history"], theirs).json()
    assert history["count"] == 5
    # A token without a valid signature is refused, as JWTAuthentication does.
    assert httpx.get(tutorial + restwrk.ENDPOINTS["me"], headers=ours, timeout=10).status_code == 401
