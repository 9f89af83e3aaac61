"""The broadcast relay outside embedded mode (embedded: tests/e2e/test_embedded.py)."""

from __future__ import annotations

import pytest
from django.test import Client

from notifier import relay


@pytest.mark.django_db
def test_the_relay_is_not_served_in_stack_mode_even_with_the_key(client: Client) -> None:
    reply = client.post(
        "/internal/broadcast",
        {"text": "hello"},
        content_type="application/json",
        headers={relay.HEADER: relay.relay_key()},
    )
    assert reply.status_code == 404 and reply.json()["error"]["code"] == "not_found"
