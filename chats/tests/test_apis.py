"""REST of chats: create, list, detail, read watermark, unread counts."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import user_set_banned
from chats.models import Chat, ChatMember
from chats.services import chat_get_or_create
from neonchat.tests.support import assert_error, send

pytestmark = pytest.mark.django_db

CHATS = "/api/v1/chats"


def chat_url(chat: Chat | str, suffix: str = "") -> str:
    chat_id = chat if isinstance(chat, str) else chat.pk
    return f"{CHATS}/{chat_id}{suffix}"


def unread(client: APIClient, chat: Chat) -> int:
    return client.get(chat_url(chat)).json()["unread_count"]


# --- create ---------------------------------------------------------------------------------------------------


def test_create_then_existing_from_either_side(client_for, alice: User, bob: User) -> None:
    first = client_for(alice).post(CHATS, {"partner_id": str(bob.pk)}, format="json")
    assert first.status_code == 201, first.content
    again = client_for(alice).post(CHATS, {"partner_id": str(bob.pk)}, format="json")
    reverse = client_for(bob).post(CHATS, {"partner_id": str(alice.pk)}, format="json")
    assert again.status_code == 200 and reverse.status_code == 200
    assert first.json()["id"] == again.json()["id"] == reverse.json()["id"]
    assert Chat.objects.count() == 1
    assert ChatMember.objects.count() == 2
    body = first.json()
    assert set(body) == {
        "id",
        "kind",
        "title",
        "members_count",
        "partner",
        "last_message",
        "unread_count",
        "last_read_seq",
        "partner_last_read_seq",
        "last_seq",
        "updated_at",
    }
    assert body["partner"] == {"id": str(bob.pk), "username": "bob", "online": False}
    assert (body["kind"], body["title"], body["members_count"]) == ("direct", None, 2)
    assert body["last_message"] is None
    assert body["unread_count"] == 0 and body["last_seq"] == 0
    assert body["updated_at"].endswith("Z")
    assert reverse.json()["partner"]["id"] == str(alice.pk)


def test_create_with_unknown_partner_is_404(client_for, alice: User) -> None:
    assert_error(client_for(alice).post(CHATS, {"partner_id": str(uuid.uuid4())}, format="json"), 404)


def test_create_with_banned_partner_is_404(client_for, alice: User, bob: User) -> None:
    user_set_banned(user=bob, banned=True)
    assert_error(client_for(alice).post(CHATS, {"partner_id": str(bob.pk)}, format="json"), 404)


def test_create_with_self_is_400(client_for, alice: User) -> None:
    assert_error(client_for(alice).post(CHATS, {"partner_id": str(alice.pk)}, format="json"), 400, "self_chat")
    assert not Chat.objects.exists()


@pytest.mark.parametrize(
    "body", [{}, {"partner_id": "nope"}, {"partner_id": None}, {"partner_id": ""}, {"partner_id": [1]}]
)
def test_create_with_malformed_partner_is_400(client_for, alice: User, body: dict) -> None:
    error = assert_error(client_for(alice).post(CHATS, body, format="json"), 400, "validation_error")
    assert "partner_id" in error["details"]


def test_create_with_integer_partner_id_is_400(client_for, alice: User) -> None:
    assert_error(client_for(alice).post(CHATS, {"partner_id": 42}, format="json"), 400)


def test_create_malformed_json_is_400(client_for, alice: User) -> None:
    response = client_for(alice).post(CHATS, "{", content_type="application/json")
    assert_error(response, 400, "malformed_request")


def test_chats_need_auth() -> None:
    assert_error(APIClient().get(CHATS), 401)
    assert_error(APIClient().post(CHATS, {"partner_id": str(uuid.uuid4())}, format="json"), 401)


# --- list -----------------------------------------------------------------------------------------------------


def test_list_shape_and_newest_activity_first(client_for, make_user, alice: User, bob: User) -> None:
    with_bob = chat_get_or_create(user_id=alice.pk, partner_id=bob.pk)[0]
    carol = make_user("carol")
    with_carol = chat_get_or_create(user_id=alice.pk, partner_id=carol.pk)[0]
    client = client_for(alice)
    body = client.get(CHATS).json()
    assert set(body) == {"chats", "total", "has_more"}
    assert [c["id"] for c in body["chats"]] == [str(with_carol.pk), str(with_bob.pk)]
    assert body["total"] == 2 and body["has_more"] is False

    message = send(with_bob, bob, "hi alice")
    body = client.get(CHATS).json()
    assert [c["id"] for c in body["chats"]] == [str(with_bob.pk), str(with_carol.pk)]
    item = body["chats"][0]
    assert item["partner"] == {"id": str(bob.pk), "username": "bob", "online": False}
    assert item["last_message"]["id"] == str(message.pk)
    assert item["last_message"]["text"] == "hi alice"
    assert item["last_message"]["sender_id"] == str(bob.pk)
    assert item["last_message"]["created_at"].endswith("Z")
    assert item["unread_count"] == 1 and item["last_seq"] == 1

    send(with_carol, alice, "hi carol")
    assert [c["id"] for c in client.get(CHATS).json()["chats"]] == [str(with_carol.pk), str(with_bob.pk)]


def test_list_only_shows_own_chats(client_for, make_user, alice: User, bob: User, chat: Chat) -> None:
    carol = make_user("carol")
    assert client_for(carol).get(CHATS).json() == {"chats": [], "total": 0, "has_more": False}


def test_list_paging_offset_and_has_more(client_for, make_user, alice: User) -> None:
    for _ in range(5):
        chat_get_or_create(user_id=alice.pk, partner_id=make_user().pk)
    client = client_for(alice)
    every = [c["id"] for c in client.get(CHATS).json()["chats"]]
    assert len(every) == 5
    page = client.get(CHATS, {"limit": 2}).json()
    assert [c["id"] for c in page["chats"]] == every[:2]
    assert page["total"] == 5 and page["has_more"] is True
    page = client.get(CHATS, {"limit": 2, "offset": 2}).json()
    assert [c["id"] for c in page["chats"]] == every[2:4] and page["has_more"] is True
    page = client.get(CHATS, {"limit": 2, "offset": 4}).json()
    assert [c["id"] for c in page["chats"]] == every[4:] and page["has_more"] is False
    page = client.get(CHATS, {"offset": 50}).json()
    assert page["chats"] == [] and page["total"] == 5 and page["has_more"] is False


def test_list_limit_is_clamped_to_100(client_for, alice: User) -> None:
    partners = User.objects.bulk_create([User(username=f"p{i:03d}", password="!") for i in range(101)])
    for partner in partners:
        chat_get_or_create(user_id=alice.pk, partner_id=partner.pk)
    client = client_for(alice)
    page = client.get(CHATS, {"limit": 1000}).json()
    assert len(page["chats"]) == 100 and page["total"] == 101 and page["has_more"] is True
    page = client.get(CHATS).json()
    assert len(page["chats"]) == 20 and page["has_more"] is True


@pytest.mark.parametrize(
    ("param", "value"),
    [("limit", "abc"), ("limit", "-1"), ("limit", "0"), ("limit", "2.5"), ("offset", "-1"), ("offset", "x")],
)
def test_list_bad_paging_params_are_400(client_for, alice: User, param: str, value: str) -> None:
    assert_error(client_for(alice).get(CHATS, {param: value}), 400, f"invalid_{param}")


@pytest.mark.parametrize(("param", "value"), [("limit", "²"), ("offset", "³")])
def test_list_unicode_digit_params_are_400(alice: User, param: str, value: str) -> None:
    from conftest import token_for

    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(alice)}")
    assert_error(client.get(CHATS, {param: value}), 400, f"invalid_{param}")


def test_unread_only_filter(client_for, make_user, alice: User, bob: User, chat: Chat) -> None:
    quiet = chat_get_or_create(user_id=alice.pk, partner_id=make_user("carol").pk)[0]
    send(chat, bob, "ping")
    client = client_for(alice)
    for value in ("true", "1", "yes", "TRUE"):
        page = client.get(CHATS, {"unread_only": value}).json()
        assert [c["id"] for c in page["chats"]] == [str(chat.pk)], value
        assert page["total"] == 1
    for value in ("false", "0", "no"):
        page = client.get(CHATS, {"unread_only": value}).json()
        assert {c["id"] for c in page["chats"]} == {str(chat.pk), str(quiet.pk)}
    assert_error(client.get(CHATS, {"unread_only": "maybe"}), 400, "invalid_unread_only")
    # The sender has nothing unread.
    assert client_for(bob).get(CHATS, {"unread_only": "true"}).json()["total"] == 0


def test_list_query_count_does_not_grow_with_chats(client_for, make_user, alice: User, bob: User) -> None:
    first = chat_get_or_create(user_id=alice.pk, partner_id=bob.pk)[0]
    send(first, bob, "one")
    client = client_for(alice)
    client.get(CHATS)  # warm-up: anything cached per process
    with CaptureQueriesContext(connection) as one:
        assert len(client.get(CHATS).json()["chats"]) == 1
    for _ in range(29):
        other = chat_get_or_create(user_id=alice.pk, partner_id=make_user().pk)[0]
        send(other, alice, "hey")
    with CaptureQueriesContext(connection) as thirty:
        assert len(client.get(CHATS, {"limit": 100}).json()["chats"]) == 30
    assert len(thirty) == len(one), [q["sql"] for q in thirty.captured_queries]
    # One query for a page (the total rides along), none for authentication.
    assert len(one) == 1, [q["sql"] for q in one.captured_queries]


# --- detail ---------------------------------------------------------------------------------------------------


def test_detail_of_own_chat(client_for, alice: User, bob: User, chat: Chat) -> None:
    body = client_for(bob).get(chat_url(chat)).json()
    assert body["id"] == str(chat.pk)
    assert body["partner"]["id"] == str(alice.pk)


def test_detail_of_someone_elses_or_unknown_chat_is_404(client_for, make_user, chat: Chat) -> None:
    outsider = client_for(make_user("eve"))
    missing = assert_error(outsider.get(chat_url(chat)), 404)
    unknown = assert_error(outsider.get(chat_url(str(uuid.uuid4()))), 404)
    assert missing == unknown  # no existence leak
    assert_error(outsider.get(f"{CHATS}/not-a-uuid"), 404, "not_found")


# --- unread and read watermark --------------------------------------------------------------------------------


def test_unread_count_and_mark_read(client_for, alice: User, bob: User, chat: Chat) -> None:
    messages = [send(chat, bob, f"m{i}") for i in range(3)]
    alice_client, bob_client = client_for(alice), client_for(bob)
    assert unread(alice_client, chat) == 3
    assert unread(bob_client, chat) == 0

    response = alice_client.post(chat_url(chat, "/read"), {"message_id": str(messages[1].pk)}, format="json")
    assert response.status_code == 204
    assert unread(alice_client, chat) == 1
    # never backwards
    alice_client.post(chat_url(chat, "/read"), {"message_id": str(messages[0].pk)}, format="json")
    assert unread(alice_client, chat) == 1
    alice_client.post(chat_url(chat, "/read"), {"message_id": str(messages[2].pk)}, format="json")
    assert unread(alice_client, chat) == 0


def test_sending_moves_own_watermark(client_for, alice: User, bob: User, chat: Chat) -> None:
    for i in range(3):
        send(chat, bob, f"b{i}")
    client = client_for(alice)
    assert unread(client, chat) == 3
    response = client.post(
        chat_url(chat, "/messages"), {"text": "reply", "request_id": str(uuid.uuid4())}, format="json"
    )
    assert response.status_code == 201
    assert unread(client, chat) == 0
    assert ChatMember.objects.get(chat=chat, user=alice).last_read_seq == 4
    assert unread(client_for(bob), chat) == 1


def test_mark_read_of_message_in_another_chat_is_404(client_for, make_user, alice: User, bob: User, chat: Chat) -> None:
    other_chat = chat_get_or_create(user_id=alice.pk, partner_id=make_user("carol").pk)[0]
    foreign = send(other_chat, alice, "elsewhere")
    response = client_for(alice).post(chat_url(chat, "/read"), {"message_id": str(foreign.pk)}, format="json")
    assert_error(response, 404, "message_not_found")
    response = client_for(alice).post(chat_url(chat, "/read"), {"message_id": str(uuid.uuid4())}, format="json")
    assert_error(response, 404)


def test_mark_read_in_someone_elses_chat_is_404(client_for, make_user, bob: User, chat: Chat) -> None:
    message = send(chat, bob, "private")
    response = client_for(make_user("eve")).post(
        chat_url(chat, "/read"), {"message_id": str(message.pk)}, format="json"
    )
    assert_error(response, 404, "chat_not_found")


@pytest.mark.parametrize("body", [{}, {"message_id": "x"}, {"message_id": None}])
def test_mark_read_malformed_body_is_400(client_for, alice: User, chat: Chat, body: dict) -> None:
    assert_error(client_for(alice).post(chat_url(chat, "/read"), body, format="json"), 400, "validation_error")


@pytest.mark.django_db
def test_chat_shows_both_read_watermarks(client_for, alice: User, bob: User, chat: Chat) -> None:
    import uuid as _uuid

    from messaging.services import message_send

    sent = message_send(sender_id=alice.pk, chat_id=chat.pk, text="hi", request_id=_uuid.uuid4())[0]
    before = client_for(alice).get(f"/api/v1/chats/{chat.pk}").json()
    assert (before["last_read_seq"], before["partner_last_read_seq"]) == (1, 0)
    assert (
        client_for(bob).post(f"/api/v1/chats/{chat.pk}/read", {"message_id": str(sent.pk)}, format="json").status_code
        == 204
    )
    after = client_for(alice).get("/api/v1/chats").json()["chats"][0]
    assert after["partner_last_read_seq"] == 1


def test_partner_presence_is_read_from_the_store_without_the_notifier(
    settings, client_for, alice: User, bob: User, chat: Chat
) -> None:
    """No gRPC hop on the chat list: presence shows even with the notifier unreachable."""
    import asyncio

    from presence import store

    settings.NOTIFIER_ADDR = "127.0.0.1:9"  # nothing listens there
    asyncio.run(store.connection_opened(str(bob.pk), "bob-conn"))
    page = client_for(alice).get(CHATS).json()
    assert page["chats"][0]["partner"]["online"] is True
    assert client_for(alice).get(chat_url(chat)).json()["partner"]["online"] is True
    assert client_for(bob).get(CHATS).json()["chats"][0]["partner"]["online"] is False
