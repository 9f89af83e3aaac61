"""REST of messages: send, history paging, edit, delete."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from prometheus_client import REGISTRY

from accounts.models import User
from chats.models import Chat
from chats.services import chat_get_or_create
from messaging.models import Message
from neonchat.tests.support import assert_error, seed, send

pytestmark = pytest.mark.django_db

MESSAGE_KEYS = {"id", "chat_id", "sender_id", "text", "seq", "created_at", "updated_at", "deleted", "kind", "event"}


def messages_url(chat: Chat | str, message: Message | str | None = None) -> str:
    chat_id = chat if isinstance(chat, str) else chat.pk
    url = f"/api/v1/chats/{chat_id}/messages"
    if message is not None:
        url += f"/{message if isinstance(message, str) else message.pk}"
    return url


def post_message(client, chat: Chat | str, text: str = "hello", request_id: str | None = None):
    return client.post(messages_url(chat), {"text": text, "request_id": request_id or str(uuid.uuid4())}, format="json")


# --- send -----------------------------------------------------------------------------------------------------


def test_send_returns_201_with_the_message(client_for, alice: User, chat: Chat) -> None:
    response = post_message(client_for(alice), chat, "Привет, 👋")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == MESSAGE_KEYS
    assert body["chat_id"] == str(chat.pk) and body["sender_id"] == str(alice.pk)
    assert body["text"] == "Привет, 👋" and body["seq"] == 1 and body["deleted"] is False
    assert body["created_at"].endswith("Z") and body["created_at"] == body["updated_at"]
    assert Message.objects.get(pk=body["id"]).text == "Привет, 👋"


def test_same_request_id_again_is_200_with_the_same_message(client_for, alice: User, chat: Chat) -> None:
    client, request_id = client_for(alice), str(uuid.uuid4())
    first = post_message(client, chat, "once", request_id)
    second = post_message(client, chat, "once", request_id)
    different_text = post_message(client, chat, "twice?", request_id)
    assert (first.status_code, second.status_code, different_text.status_code) == (201, 200, 200)
    assert first.json() == second.json() == different_text.json()
    assert Message.objects.count() == 1
    chat.refresh_from_db()
    assert chat.last_seq == 1


def test_request_id_in_another_textual_form_is_the_same_request(client_for, alice: User, chat: Chat) -> None:
    request_id = uuid.uuid4()
    first = post_message(client_for(alice), chat, "x", str(request_id))
    again = post_message(client_for(alice), chat, "x", str(request_id).upper())
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]


def test_request_id_reused_for_another_chat_is_409(client_for, make_user, alice: User, chat: Chat) -> None:
    other = chat_get_or_create(user_id=alice.pk, partner_id=make_user().pk)[0]
    request_id = str(uuid.uuid4())
    assert post_message(client_for(alice), chat, "x", request_id).status_code == 201
    assert_error(post_message(client_for(alice), other, "x", request_id), 409, "request_id_reused")
    assert Message.objects.count() == 1


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "validation_error"),
        ("   ", "empty_text"),
        ("\n\t \u3000", "empty_text"),
        ("x" * 4097, "validation_error"),
        ("a\x00b", "validation_error"),
    ],
)
def test_bad_text_is_400(client_for, alice: User, chat: Chat, text: str, code: str) -> None:
    error = assert_error(post_message(client_for(alice), chat, text), 400, code)
    assert "text" in error["details"] or code == "empty_text"
    assert not Message.objects.exists()


def test_lone_surrogate_is_400(client_for, alice: User, chat: Chat) -> None:
    body = '{"text": "\\ud800", "request_id": "' + str(uuid.uuid4()) + '"}'
    response = client_for(alice).post(messages_url(chat), body, content_type="application/json")
    assert_error(response, 400)


def test_text_of_4096_characters_is_accepted(client_for, alice: User, chat: Chat) -> None:
    response = post_message(client_for(alice), chat, "ж" * 4096)
    assert response.status_code == 201
    assert len(response.json()["text"]) == 4096


@pytest.mark.parametrize(
    "body",
    [
        {"text": "hi"},
        {"text": "hi", "request_id": "not-a-uuid"},
        {"text": "hi", "request_id": ""},
        {"text": "hi", "request_id": None},
        {"request_id": "6f1f3c3e-8a57-4f7e-9b5b-2b1f5f1d7a11"},
        {"text": None, "request_id": "6f1f3c3e-8a57-4f7e-9b5b-2b1f5f1d7a11"},
        {"text": ["hi"], "request_id": "6f1f3c3e-8a57-4f7e-9b5b-2b1f5f1d7a11"},
    ],
)
def test_missing_or_malformed_fields_are_400(client_for, alice: User, chat: Chat, body: dict) -> None:
    assert_error(client_for(alice).post(messages_url(chat), body, format="json"), 400, "validation_error")


@pytest.mark.parametrize("body", [{"text": 42, "request_id": str(uuid.UUID(int=7))}, {"text": "hi", "request_id": 7}])
def test_numbers_for_text_or_request_id_are_400(client_for, alice: User, chat: Chat, body: dict) -> None:
    assert_error(client_for(alice).post(messages_url(chat), body, format="json"), 400)


def test_malformed_json_is_400(client_for, alice: User, chat: Chat) -> None:
    response = client_for(alice).post(messages_url(chat), '{"text": ', content_type="application/json")
    assert_error(response, 400, "malformed_request")


def test_sending_to_someone_elses_chat_is_404(client_for, make_user, chat: Chat) -> None:
    eve = client_for(make_user("eve"))
    in_theirs = assert_error(post_message(eve, chat), 404)
    unknown = assert_error(post_message(eve, str(uuid.uuid4())), 404)
    assert in_theirs == unknown
    assert not Message.objects.exists()


# --- history --------------------------------------------------------------------------------------------------


@pytest.fixture
def seven(alice: User, bob: User, chat: Chat) -> list[Message]:
    return [send(chat, alice if i % 2 else bob, f"m{i + 1}") for i in range(7)]


def page(client, chat: Chat, **params: object) -> dict:
    response = client.get(messages_url(chat), params)
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"messages", "has_previous", "has_next"}
    return body


def seqs(body: dict) -> list[int]:
    return [m["seq"] for m in body["messages"]]


def test_history_newest_page_and_walking_back(client_for, alice: User, chat: Chat, seven: list[Message]) -> None:
    client = client_for(alice)
    newest = page(client, chat, limit=3)
    assert seqs(newest) == [5, 6, 7]
    assert (newest["has_previous"], newest["has_next"]) == (True, False)
    assert set(newest["messages"][0]) == MESSAGE_KEYS
    assert [m["text"] for m in newest["messages"]] == ["m5", "m6", "m7"]

    older = page(client, chat, limit=3, before_id=newest["messages"][0]["id"])
    assert seqs(older) == [2, 3, 4]
    assert (older["has_previous"], older["has_next"]) == (True, True)

    oldest = page(client, chat, limit=3, before_id=older["messages"][0]["id"])
    assert seqs(oldest) == [1]
    assert (oldest["has_previous"], oldest["has_next"]) == (False, True)

    nothing = page(client, chat, limit=3, before_id=str(seven[0].pk))
    assert seqs(nothing) == [] and nothing["has_previous"] is False


def test_history_walking_forward(client_for, alice: User, chat: Chat, seven: list[Message]) -> None:
    client = client_for(alice)
    first = page(client, chat, limit=3, after_id=str(seven[0].pk))
    assert seqs(first) == [2, 3, 4]
    assert (first["has_previous"], first["has_next"]) == (True, True)
    last = page(client, chat, limit=3, after_id=first["messages"][-1]["id"])
    assert seqs(last) == [5, 6, 7]
    assert (last["has_previous"], last["has_next"]) == (True, False)
    caught_up = page(client, chat, limit=3, after_id=str(seven[-1].pk))
    assert seqs(caught_up) == [] and caught_up["has_next"] is False


def test_history_exact_fit_and_empty_chat(client_for, alice: User, chat: Chat) -> None:
    client = client_for(alice)
    empty = page(client, chat)
    assert empty == {"messages": [], "has_previous": False, "has_next": False}
    for i in range(3):
        send(chat, alice, f"x{i}")
    whole = page(client, chat, limit=3)
    assert seqs(whole) == [1, 2, 3] and whole["has_previous"] is False and whole["has_next"] is False


def test_history_limit_clamped_to_200(client_for, alice: User, chat: Chat) -> None:
    seed(chat, alice, 205)
    client = client_for(alice)
    body = page(client, chat, limit=1000)
    assert len(body["messages"]) == 200 and seqs(body)[0] == 6 and body["has_previous"] is True
    assert len(page(client, chat)["messages"]) == 50


@pytest.mark.parametrize("params", [{"limit": "abc"}, {"limit": "-1"}, {"limit": "0"}, {"before_id": "nope"}])
def test_history_bad_params_are_400(client_for, alice: User, chat: Chat, params: dict) -> None:
    assert_error(client_for(alice).get(messages_url(chat), params), 400)


def test_history_both_cursors_is_400(client_for, alice: User, chat: Chat, seven: list[Message]) -> None:
    params = {"before_id": str(seven[5].pk), "after_id": str(seven[1].pk)}
    assert_error(client_for(alice).get(messages_url(chat), params), 400, "conflicting_cursors")


def test_history_cursor_from_another_chat_is_404(client_for, make_user, alice: User, chat: Chat) -> None:
    other = chat_get_or_create(user_id=alice.pk, partner_id=make_user().pk)[0]
    foreign = send(other, alice, "elsewhere")
    send(chat, alice, "here")
    client = client_for(alice)
    assert_error(client.get(messages_url(chat), {"before_id": str(foreign.pk)}), 404, "message_not_found")
    assert_error(client.get(messages_url(chat), {"after_id": str(foreign.pk)}), 404, "message_not_found")
    assert_error(client.get(messages_url(chat), {"after_id": str(uuid.uuid4())}), 404)


def test_history_of_someone_elses_chat_is_404(client_for, make_user, chat: Chat, seven: list[Message]) -> None:
    assert_error(client_for(make_user("eve")).get(messages_url(chat)), 404, "chat_not_found")


def test_history_query_count_does_not_grow_with_page_size(client_for, alice: User, chat: Chat) -> None:
    seed(chat, alice, 60)
    client = client_for(alice)
    client.get(messages_url(chat), {"limit": 5})  # warm-up
    counts = {}
    for limit in (5, 50):
        with CaptureQueriesContext(connection) as queries:
            assert len(page(client, chat, limit=limit)["messages"]) == limit
        counts[limit] = len(queries)
    assert counts[5] == counts[50]
    cursor = Message.objects.get(chat=chat, seq=55)
    for limit in (5, 50):
        with CaptureQueriesContext(connection) as queries:
            assert len(page(client, chat, limit=limit, before_id=str(cursor.pk))["messages"]) == limit
        counts[limit] = len(queries)
    assert counts[5] == counts[50]


# --- edit -----------------------------------------------------------------------------------------------------


def test_edit_own_message(client_for, alice: User, bob: User, chat: Chat) -> None:
    original = post_message(client_for(alice), chat, "typo").json()
    response = client_for(alice).patch(messages_url(chat, original["id"]), {"text": "fixed"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["text"] == "fixed" and body["id"] == original["id"] and body["seq"] == original["seq"]
    assert body["created_at"] == original["created_at"]
    assert body["updated_at"] > original["updated_at"]
    assert page(client_for(bob), chat)["messages"][0]["text"] == "fixed"


def test_edit_someone_elses_message_is_403(client_for, alice: User, bob: User, chat: Chat) -> None:
    message = send(chat, bob, "bob's")
    response = client_for(alice).patch(messages_url(chat, message), {"text": "alice's now"}, format="json")
    assert_error(response, 403, "not_message_owner")
    assert Message.objects.get(pk=message.pk).text == "bob's"


def test_edit_deleted_message_is_409(client_for, alice: User, chat: Chat) -> None:
    message = send(chat, alice, "gone soon")
    assert client_for(alice).delete(messages_url(chat, message)).status_code == 204
    response = client_for(alice).patch(messages_url(chat, message), {"text": "back"}, format="json")
    assert_error(response, 409, "message_deleted")


@pytest.mark.parametrize("text", ["", "  ", "x" * 4097])
def test_edit_with_bad_text_is_400(client_for, alice: User, chat: Chat, text: str) -> None:
    message = send(chat, alice, "keep")
    assert_error(client_for(alice).patch(messages_url(chat, message), {"text": text}, format="json"), 400)
    assert Message.objects.get(pk=message.pk).text == "keep"


def test_edit_in_someone_elses_chat_or_unknown_message_is_404(client_for, make_user, alice: User, chat: Chat) -> None:
    message = send(chat, alice, "mine")
    eve = client_for(make_user("eve"))
    assert_error(eve.patch(messages_url(chat, message), {"text": "x"}, format="json"), 404)
    assert_error(eve.delete(messages_url(chat, message)), 404)
    unknown = messages_url(chat, str(uuid.uuid4()))
    assert_error(client_for(alice).patch(unknown, {"text": "x"}, format="json"), 404, "message_not_found")
    assert_error(client_for(alice).delete(unknown), 404, "message_not_found")


def test_message_of_another_chat_through_this_chats_url_is_404(client_for, make_user, alice: User, chat: Chat) -> None:
    other = chat_get_or_create(user_id=alice.pk, partner_id=make_user().pk)[0]
    foreign = send(other, alice, "elsewhere")
    assert_error(client_for(alice).patch(messages_url(chat, foreign), {"text": "x"}, format="json"), 404)
    assert_error(client_for(alice).delete(messages_url(chat, foreign)), 404)


# --- delete ---------------------------------------------------------------------------------------------------


def test_delete_own_leaves_a_tombstone(client_for, alice: User, bob: User, chat: Chat) -> None:
    before, target, after = send(chat, alice, "a"), send(chat, alice, "secret"), send(chat, bob, "c")
    response = client_for(alice).delete(messages_url(chat, target))
    assert response.status_code == 204 and response.content == b""
    history = page(client_for(bob), chat)["messages"]
    assert [m["seq"] for m in history] == [1, 2, 3]
    tomb = history[1]
    assert tomb["id"] == str(target.pk) and tomb["deleted"] is True and tomb["text"] == ""
    assert history[0]["deleted"] is False and history[0]["id"] == str(before.pk)
    assert history[2]["id"] == str(after.pk)
    assert "secret" not in str(client_for(bob).get(messages_url(chat)).content)


def test_deleted_last_message_shows_empty_in_chat_list(client_for, alice: User, bob: User, chat: Chat) -> None:
    message = send(chat, alice, "oops")
    client_for(alice).delete(messages_url(chat, message))
    last = client_for(bob).get(f"/api/v1/chats/{chat.pk}").json()["last_message"]
    assert last["id"] == str(message.pk) and last["text"] == "" and last["deleted"] is True


def test_delete_someone_elses_message_is_403(client_for, alice: User, bob: User, chat: Chat) -> None:
    message = send(chat, bob, "bob's")
    assert_error(client_for(alice).delete(messages_url(chat, message)), 403, "not_message_owner")
    assert not Message.objects.get(pk=message.pk).deleted


def test_replayed_request_after_delete_returns_the_tombstone(client_for, alice: User, chat: Chat) -> None:
    request_id = str(uuid.uuid4())
    created = post_message(client_for(alice), chat, "x", request_id).json()
    client_for(alice).delete(messages_url(chat, created["id"]))
    replay = post_message(client_for(alice), chat, "x", request_id)
    assert replay.status_code == 200
    assert replay.json()["id"] == created["id"] and replay.json()["deleted"] is True
    assert Message.objects.count() == 1


def _sent(status: str) -> float:
    return REGISTRY.get_sample_value("chat_messages_sent_total", {"chat_type": "direct", "status": status}) or 0.0


@pytest.mark.django_db(transaction=True)
def test_a_rest_send_counts_in_chat_messages_sent_total(client_for, alice: User, chat: Chat) -> None:
    before, client, request_id = _sent("created"), client_for(alice), str(uuid.uuid4())
    assert post_message(client, chat, "counted", request_id).status_code == 201
    assert post_message(client, chat, "counted", request_id).status_code == 200  # a replay stores nothing
    assert _sent("created") == before + 1
