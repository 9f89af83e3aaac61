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


# --- the admin as a moderation tool ---------------------------------------------------------------------------


def _seqs(page: bytes) -> list[int]:
    import re

    return [int(s) for s in re.findall(rb'<th class="field-seq"><a href="[^"]+">(\d+)</a>', page)]


def test_messages_are_listed_by_chat_then_newest_first(admin_client: Client, chat: Chat, alice: User) -> None:
    for text in ("one", "two", "three"):
        message_send(sender_id=alice.pk, chat_id=chat.pk, text=text, request_id=uuid.uuid4())
    page = admin_client.get("/admin/messaging/message/")
    assert _seqs(page.content) == [3, 2, 1]


def test_message_filters(admin_client: Client, chat: Chat, alice: User, bob: User) -> None:
    first = message_send(sender_id=alice.pk, chat_id=chat.pk, text="from alice", request_id=uuid.uuid4())[0]
    message_send(sender_id=bob.pk, chat_id=chat.pk, text="from bob", request_id=uuid.uuid4())
    from messaging.services import message_delete

    message_delete(user_id=alice.pk, chat_id=chat.pk, message_id=first.pk)
    page = admin_client.get(f"/admin/messaging/message/?sender__id__exact={bob.pk}")
    assert _seqs(page.content) == [2]
    assert _seqs(admin_client.get("/admin/messaging/message/?deleted=yes").content) == [1]
    assert _seqs(admin_client.get("/admin/messaging/message/?deleted=no").content) == [2]
    assert _seqs(admin_client.get(f"/admin/messaging/message/?chat__id__exact={chat.pk}").content) == [2, 1]


def test_chat_list_shows_members_by_name_with_search_and_filters(admin_client: Client, chat: Chat, make_user) -> None:
    page = admin_client.get("/admin/chats/chat/").content.decode()
    assert "User low" not in page and "User high" not in page
    assert "alice" in page and "bob" in page
    assert "activity" in page  # the filter
    assert str(chat.pk) in admin_client.get("/admin/chats/chat/?q=bob").content.decode()
    assert str(chat.pk) not in admin_client.get("/admin/chats/chat/?q=nobody").content.decode()
    assert str(chat.pk) not in admin_client.get("/admin/chats/chat/?activity=messages").content.decode()
    assert str(chat.pk) in admin_client.get("/admin/chats/chat/?activity=empty").content.decode()


def test_chat_page_shows_its_recent_messages(admin_client: Client, chat: Chat, alice: User) -> None:
    message_send(sender_id=alice.pk, chat_id=chat.pk, text="<b>hello</b> moderators", request_id=uuid.uuid4())
    page = admin_client.get(f"/admin/chats/chat/{chat.pk}/change/").content.decode()
    assert "&lt;b&gt;hello&lt;/b&gt; moderators" in page  # escaped
    assert f"?chat__id__exact={chat.pk}" in page


def test_a_group_shows_its_members_and_a_moderator_removes_one_through_the_service(
    admin_client: Client, alice: User, bob: User, make_user
) -> None:
    from chats.models import ChatMember
    from messaging.groups import group_create

    carol = make_user("carol")
    group = group_create(user_id=alice.pk, title="Book club", member_ids=[bob.pk, carol.pk])
    assert b"Book club" in admin_client.get("/admin/chats/chat/?kind__exact=group").content
    page = admin_client.get(f"/admin/chats/chat/{group.pk}/change/")
    assert page.status_code == 200 and b"Owner" in page.content
    rows = list(ChatMember.objects.filter(chat=group).order_by("id"))
    form = {
        "members-TOTAL_FORMS": str(len(rows)), "members-INITIAL_FORMS": str(len(rows)),
        "members-MIN_NUM_FORMS": "0", "members-MAX_NUM_FORMS": "1000",
    }  # fmt: skip
    for index, row in enumerate(rows):
        form[f"members-{index}-id"] = str(row.pk)
        form[f"members-{index}-chat"] = str(group.pk)
        if row.user_id == carol.pk:
            form[f"members-{index}-DELETE"] = "on"
    assert admin_client.post(f"/admin/chats/chat/{group.pk}/change/", form).status_code == 302
    group.refresh_from_db()
    assert group.members_count == 2 and not ChatMember.objects.filter(chat=group, user=carol).exists()
    event = Message.objects.filter(chat=group).order_by("-seq").first()
    assert event is not None and event.event == {"type": "member_removed", "user_ids": [str(carol.pk)], "title": None}
