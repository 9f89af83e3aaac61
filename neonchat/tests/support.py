"""Helpers shared by the REST and service tests of every app."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.db import connection

from accounts.models import User
from chats.models import Chat
from messaging.models import Message
from messaging.services import message_send


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The contract's error shape with ``status`` (and ``code`` when given); returns the error object."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert isinstance(error["code"], str) and error["code"], error
    assert isinstance(error["message"], str) and error["message"], error
    assert isinstance(error["details"], dict), error
    if code is not None:
        assert error["code"] == code, error
    return error


def send(chat: Chat, sender: User, text: str = "hello", request_id: uuid.UUID | None = None) -> Message:
    """Store a message through the service (fast seeding for REST tests)."""
    return message_send(sender_id=sender.pk, chat_id=chat.pk, text=text, request_id=request_id or uuid.uuid4())[0]


def run_parallel(count: int, work: Callable[[int], Any], *, timeout: float = 30) -> list[Any]:
    """Run ``work(i)`` in ``count`` threads released together; results in order.

    Each thread closes its own database connection when done, so the pool and
    the test database's teardown are not left with stray sessions.
    """
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def target(index: int) -> None:
        try:
            barrier.wait(timeout=timeout)
            results[index] = work(index)
        except BaseException as error:  # reported to the test below
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(thread.is_alive() for thread in threads), "a worker thread hung"
    return results


def seed(chat: Chat, sender: User, count: int) -> list[Message]:
    """Bulk-insert ``count`` messages continuing the chat's seq (for size-only tests)."""
    now = datetime.now(tz=UTC)
    start = chat.last_seq
    rows = [
        Message(
            chat=chat,
            sender=sender,
            text=f"bulk {start + i + 1}",
            seq=start + i + 1,
            request_id=uuid.uuid4(),
            created_at=now,
            updated_at=now,
        )
        for i in range(count)
    ]
    Message.objects.bulk_create(rows)
    Chat.objects.filter(pk=chat.pk).update(last_seq=start + count, last_message=rows[-1], updated_at=now)
    chat.refresh_from_db()
    return rows
