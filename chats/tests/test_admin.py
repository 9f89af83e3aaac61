"""Moderation through Django admin: ban, chat broadcast, message delete."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from accounts.models import User
from chats.models import Chat
from messaging.models import Message
from messaging.services import message_send
from messaging.signals import message_deleted

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(make_user) -> Client:
    root = User.objects.create_superuser("root", "correct-horse-battery")
    client = Client()
    client.force_login(root)
    return client


def test_changelists_render(admin_client: Client, chat: Chat, alice: User) -> None:
    message_send(sender_id=alice.pk, chat_id=chat.pk, text="hello", request_id=uuid.uuid4())
    for url in ("/admin/accounts/user/", "/admin/chats/chat/", "/admin/messaging/message/?q=hello"):
        assert admin_client.get(url).status_code == 200
    assert admin_client.get(f"/admin/chats/chat/{chat.pk}/change/").status_code == 200


def test_ban_action_disables_the_account(admin_client: Client, alice: User) -> None:
    reply = admin_client.post("/admin/accounts/user/", {"action": "ban_users", "_selected_action": [str(alice.pk)]})
    assert reply.status_code == 302
    alice.refresh_from_db()
    assert alice.status == User.Status.BANNED and not alice.is_active
    admin_client.post("/admin/accounts/user/", {"action": "unban_users", "_selected_action": [str(alice.pk)]})
    alice.refresh_from_db()
    assert alice.is_active


def test_moderator_delete_leaves_a_tombstone_and_notifies(
    admin_client: Client, chat: Chat, alice: User, django_capture_on_commit_callbacks
) -> None:
    message = message_send(sender_id=alice.pk, chat_id=chat.pk, text="spam", request_id=uuid.uuid4())[0]
    seen: list[dict] = []
    message_deleted.connect(lambda **kw: seen.append(kw), weak=False, dispatch_uid="test-admin-delete")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            admin_client.post(
                "/admin/messaging/message/", {"action": "delete_as_moderator", "_selected_action": [str(message.pk)]}
            )
    finally:
        message_deleted.disconnect(dispatch_uid="test-admin-delete")
    message.refresh_from_db()
    assert message.deleted_at is not None and message.text == ""
    assert seen and seen[0]["message_id"] == str(message.pk)
    assert Message.objects.filter(chat=chat).count() == 1


def test_chat_broadcast_action_asks_then_sends(admin_client: Client, chat: Chat) -> None:
    form = admin_client.post(
        "/admin/chats/chat/", {"action": "broadcast_to_members", "_selected_action": [str(chat.pk)]}
    )
    assert form.status_code == 200 and b"System message" in form.content
    sent = admin_client.post(
        "/admin/chats/chat/",
        {"action": "broadcast_to_members", "_selected_action": [str(chat.pk)], "apply": "1", "text": "hello members"},
        follow=True,
    )
    assert b"delivered to 0 connected user(s)" in sent.content
