"""Groups over REST (contract addendum): create, list, members, roles, events in the timeline."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from chats.models import Chat, ChatMember
from neonchat.tests.support import assert_error

pytestmark = pytest.mark.django_db

CHATS = "/api/v1/chats"


@pytest.fixture
def carol(make_user: Callable[..., User]) -> User:
    return make_user("carol")


@pytest.fixture
def dave(make_user: Callable[..., User]) -> User:
    return make_user("dave")


def create(client: APIClient, title: str, *members: User) -> dict[str, Any]:
    response = client.post(CHATS, {"title": title, "member_ids": [str(m.pk) for m in members]}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def history(client: APIClient, chat_id: str) -> list[dict[str, Any]]:
    response = client.get(f"{CHATS}/{chat_id}/messages")
    assert response.status_code == 200, response.content
    return response.json()["messages"]


def say(client: APIClient, chat_id: str, text: str) -> Any:
    return client.post(f"{CHATS}/{chat_id}/messages", {"text": text, "request_id": str(uuid.uuid4())}, format="json")


def members(client: APIClient, chat_id: str) -> dict[str, str]:
    response = client.get(f"{CHATS}/{chat_id}/members")
    assert response.status_code == 200, response.content
    return {m["username"]: m["role"] for m in response.json()["members"]}


def test_create_a_group_with_its_shape_members_and_chat_created_event(client_for, alice, bob, carol) -> None:
    chat = create(client_for(alice), "Trip", bob, carol, bob, alice)  # duplicates and myself are ignored
    assert (chat["kind"], chat["title"], chat["members_count"], chat["partner"]) == ("group", "Trip", 3, None)
    assert chat["unread_count"] == 0 and chat["last_seq"] == 1
    assert members(client_for(bob), chat["id"]) == {"alice": "owner", "bob": "member", "carol": "member"}
    [event] = history(client_for(carol), chat["id"])
    assert (event["kind"], event["text"], event["seq"], event["sender_id"]) == ("event", "", 1, str(alice.pk))
    assert event["event"] == {"type": "chat_created", "user_ids": [str(bob.pk), str(carol.pk)], "title": "Trip"}
    listed = client_for(bob).get(CHATS).json()["chats"]
    assert [(c["id"], c["kind"], c["unread_count"]) for c in listed] == [(chat["id"], "group", 0)]


def test_text_messages_carry_kind_text_and_unread_counts_other_members_only(client_for, alice, bob, carol) -> None:
    chat = create(client_for(alice), "Trip", bob, carol)
    sent = say(client_for(bob), chat["id"], "hi all")
    assert sent.status_code == 201 and sent.json()["kind"] == "text" and sent.json()["event"] is None
    say(client_for(carol), chat["id"], "hey")
    unread = {
        u.username: client_for(u).get(f"{CHATS}/{chat['id']}").json()["unread_count"] for u in (alice, bob, carol)
    }
    assert unread == {"alice": 2, "bob": 1, "carol": 0}
    only = client_for(carol).get(CHATS, {"unread_only": "true"}).json()
    assert only["total"] == 0


def test_events_are_not_unread(client_for, alice, bob, carol, dave) -> None:
    chat = create(client_for(alice), "Trip", bob)
    client_for(alice).patch(f"{CHATS}/{chat['id']}", {"title": "Trip 2"}, format="json")
    client_for(alice).post(f"{CHATS}/{chat['id']}/members", {"user_ids": [str(carol.pk)]}, format="json")
    bob_view = client_for(bob).get(f"{CHATS}/{chat['id']}").json()
    assert bob_view["last_seq"] == 3 and bob_view["unread_count"] == 0
    assert client_for(bob).get(CHATS, {"unread_only": "true"}).json()["chats"] == []
    say(client_for(alice), chat["id"], "welcome carol")
    assert client_for(bob).get(f"{CHATS}/{chat['id']}").json()["unread_count"] == 1
    assert client_for(carol).get(f"{CHATS}/{chat['id']}").json()["unread_count"] == 1  # from the join on


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"title": "x", "member_ids": []}, (400, "too_few_members")),
        ({"title": "   ", "member_ids": ["<bob>"]}, (400, "invalid_title")),
        ({"title": "x" * 101, "member_ids": ["<bob>"]}, (400, "validation_error")),
        ({"title": "x", "member_ids": [str(uuid.uuid4())]}, (404, "user_not_found")),
        ({"title": "x", "member_ids": ["nope"]}, (400, "validation_error")),
        ({"member_ids": ["<bob>"]}, (400, "validation_error")),
        ({"title": "x", "partner_id": "<bob>", "member_ids": ["<bob>"]}, (400, "validation_error")),
    ],
)
def test_create_refuses_bad_groups(client_for, alice, bob, body, expected) -> None:
    def fill(value: Any) -> Any:
        return [fill(v) for v in value] if isinstance(value, list) else str(bob.pk) if value == "<bob>" else value

    response = client_for(alice).post(CHATS, {k: fill(v) for k, v in body.items()}, format="json")
    assert_error(response, *expected)
    assert not Chat.objects.filter(kind="group").exists()


def test_a_group_holds_256_members_at_most(client_for, make_user, alice) -> None:
    users = [User(username=f"m{i:03d}") for i in range(256)]
    User.objects.bulk_create(users)
    ids = [str(u.pk) for u in users]
    assert_error(
        client_for(alice).post(CHATS, {"title": "big", "member_ids": ids}, format="json"), 400, "too_many_members"
    )
    chat = client_for(alice).post(CHATS, {"title": "big", "member_ids": ids[:255]}, format="json").json()
    assert chat["members_count"] == 256
    extra = make_user()
    add = client_for(alice).post(f"{CHATS}/{chat['id']}/members", {"user_ids": [str(extra.pk)]}, format="json")
    assert_error(add, 409, "group_full")
    page = client_for(alice).get(f"{CHATS}/{chat['id']}/members", {"limit": 1000}).json()
    assert page["total"] == 256 and len(page["members"]) == 256
    assert len(client_for(alice).get(f"{CHATS}/{chat['id']}/members").json()["members"]) == 100


def test_rename_by_owner_or_admin_with_a_title_changed_event(client_for, alice, bob, carol) -> None:
    chat = create(client_for(alice), "Trip", bob, carol)
    url = f"{CHATS}/{chat['id']}"
    assert_error(client_for(bob).patch(url, {"title": "Mine"}, format="json"), 403, "not_chat_admin")
    client_for(alice).patch(f"{url}/members/{bob.pk}", {"role": "admin"}, format="json")
    renamed = client_for(bob).patch(url, {"title": "Ours"}, format="json")
    assert renamed.status_code == 200 and renamed.json()["title"] == "Ours"
    last = history(client_for(carol), chat["id"])[-1]
    assert last["event"] == {"type": "title_changed", "user_ids": [], "title": "Ours"}
    assert last["sender_id"] == str(bob.pk)


def test_member_management_on_a_direct_chat_is_not_a_group(client_for, alice, bob, chat) -> None:
    url = f"{CHATS}/{chat.pk}"
    assert_error(client_for(alice).patch(url, {"title": "x"}, format="json"), 400, "not_a_group")
    assert_error(
        client_for(alice).post(f"{url}/members", {"user_ids": [str(bob.pk)]}, format="json"), 400, "not_a_group"
    )
    assert_error(client_for(alice).delete(f"{url}/members/{alice.pk}"), 400, "not_a_group")
    assert_error(
        client_for(alice).patch(f"{url}/members/{bob.pk}", {"role": "admin"}, format="json"), 400, "not_a_group"
    )
    listed = client_for(alice).get(f"{url}/members").json()
    assert listed["total"] == 2 and {m["role"] for m in listed["members"]} == {"member"}
    assert set(listed["members"][0]) == {"id", "username", "role", "online", "last_read_seq"}


def test_add_members_no_op_for_members_and_events_for_the_added(client_for, alice, bob, carol, dave) -> None:
    chat = create(client_for(alice), "Trip", bob)
    url = f"{CHATS}/{chat['id']}/members"
    assert_error(client_for(bob).post(url, {"user_ids": [str(carol.pk)]}, format="json"), 403, "not_chat_admin")
    added = client_for(alice).post(url, {"user_ids": [str(carol.pk), str(bob.pk), str(dave.pk)]}, format="json")
    assert added.status_code == 200
    assert sorted(m["username"] for m in added.json()["members"]) == ["carol", "dave"]
    again = client_for(alice).post(url, {"user_ids": [str(carol.pk)]}, format="json")
    assert again.status_code == 200 and again.json() == {"members": []}
    events = [m["event"] for m in history(client_for(dave), chat["id"])]
    assert [e["type"] for e in events] == ["chat_created", "member_added"]
    assert events[1]["user_ids"] == [str(carol.pk), str(dave.pk)]
    assert client_for(alice).get(f"{CHATS}/{chat['id']}").json()["members_count"] == 4
    stranger = client_for(carol).post(f"{CHATS}/{uuid.uuid4()}/members", {"user_ids": [str(dave.pk)]}, format="json")
    assert_error(stranger, 404, "chat_not_found")


def test_a_removed_member_loses_history_and_sends_at_once(client_for, alice, bob, carol) -> None:
    chat = create(client_for(alice), "Trip", bob, carol)
    assert client_for(alice).delete(f"{CHATS}/{chat['id']}/members/{carol.pk}").status_code == 204
    assert_error(client_for(carol).get(f"{CHATS}/{chat['id']}/messages"), 404, "chat_not_found")
    assert_error(say(client_for(carol), chat["id"], "still here?"), 404, "chat_not_found")
    assert client_for(carol).get(CHATS).json()["chats"] == []
    last = history(client_for(bob), chat["id"])[-1]
    assert last["event"] == {"type": "member_removed", "user_ids": [str(carol.pk)], "title": None}
    assert members(client_for(bob), chat["id"]) == {"alice": "owner", "bob": "member"}


def test_admins_cannot_remove_the_owner_or_admins_and_members_remove_nobody(
    client_for, alice, bob, carol, dave
) -> None:
    chat = create(client_for(alice), "Trip", bob, carol, dave)
    url = f"{CHATS}/{chat['id']}/members"
    for user in (bob, carol):
        client_for(alice).patch(f"{url}/{user.pk}", {"role": "admin"}, format="json")
    assert_error(client_for(bob).delete(f"{url}/{alice.pk}"), 403, "not_chat_owner")
    assert_error(client_for(bob).delete(f"{url}/{carol.pk}"), 403, "not_chat_owner")
    assert_error(client_for(dave).delete(f"{url}/{bob.pk}"), 403, "not_chat_admin")
    assert_error(client_for(bob).delete(f"{url}/{uuid.uuid4()}"), 404, "member_not_found")
    assert client_for(bob).delete(f"{url}/{dave.pk}").status_code == 204


def test_roles_are_the_owners_to_change(client_for, alice, bob, carol) -> None:
    chat = create(client_for(alice), "Trip", bob, carol)
    url = f"{CHATS}/{chat['id']}/members"
    promoted = client_for(alice).patch(f"{url}/{bob.pk}", {"role": "admin"}, format="json")
    assert promoted.status_code == 200 and promoted.json()["role"] == "admin"
    assert_error(client_for(bob).patch(f"{url}/{carol.pk}", {"role": "admin"}, format="json"), 403, "not_chat_owner")
    assert_error(client_for(alice).patch(f"{url}/{bob.pk}", {"role": "owner"}, format="json"), 400)
    assert_error(client_for(alice).patch(f"{url}/{alice.pk}", {"role": "member"}, format="json"), 400, "invalid_role")
    assert members(client_for(carol), chat["id"]) == {"alice": "owner", "bob": "admin", "carol": "member"}


def test_ownership_passes_to_the_oldest_admin_then_the_oldest_member(client_for, alice, bob, carol, dave) -> None:
    chat = create(client_for(alice), "Trip", bob, carol, dave)
    url = f"{CHATS}/{chat['id']}/members"
    client_for(alice).patch(f"{url}/{carol.pk}", {"role": "admin"}, format="json")
    assert client_for(alice).delete(f"{url}/{alice.pk}").status_code == 204
    assert members(client_for(bob), chat["id"]) == {"carol": "owner", "bob": "member", "dave": "member"}
    assert history(client_for(bob), chat["id"])[-1]["event"]["type"] == "member_left"
    client_for(carol).delete(f"{url}/{carol.pk}")
    assert members(client_for(bob), chat["id"])["bob"] == "owner"
    client_for(bob).delete(f"{url}/{bob.pk}")
    client_for(dave).delete(f"{url}/{dave.pk}")
    group = Chat.objects.get(pk=chat["id"])  # the last one out: the chat stays, reachable by no one
    assert group.members_count == 0 and not ChatMember.objects.filter(chat=group).exists()


def test_event_messages_cannot_be_edited_or_deleted(client_for, alice, bob) -> None:
    chat = create(client_for(alice), "Trip", bob)
    [event] = history(client_for(alice), chat["id"])
    url = f"{CHATS}/{chat['id']}/messages/{event['id']}"
    assert_error(client_for(alice).patch(url, {"text": "rewritten"}, format="json"), 403, "event_message")
    assert_error(client_for(alice).delete(url), 403, "event_message")


def test_owner_and_admins_delete_any_message_members_only_their_own(client_for, alice, bob, carol) -> None:
    chat = create(client_for(alice), "Trip", bob, carol)
    by_bob = say(client_for(bob), chat["id"], "spam").json()
    by_carol = say(client_for(carol), chat["id"], "hello").json()
    url = f"{CHATS}/{chat['id']}/messages"
    assert_error(client_for(bob).delete(f"{url}/{by_carol['id']}"), 403, "not_message_owner")
    assert_error(client_for(alice).patch(f"{url}/{by_bob['id']}", {"text": "edited"}, format="json"), 403)
    assert client_for(alice).delete(f"{url}/{by_bob['id']}").status_code == 204
    tomb = next(m for m in history(client_for(carol), chat["id"]) if m["id"] == by_bob["id"])
    assert tomb["deleted"] is True and tomb["text"] == ""
