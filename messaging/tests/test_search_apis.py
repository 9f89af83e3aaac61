"""REST of message search (contract "Search"): the same tests run on PostgreSQL
(the suite) and on SQLite, embedded mode (``test_search_sqlite.py`` runs this
module in a subprocess with the embedded settings)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from accounts.models import User
from chats.models import Chat, ChatMember
from chats.services import chat_get_or_create
from messaging.models import Message
from messaging.services import message_delete, message_edit
from neonchat.tests.support import assert_error, seed, send

pytestmark = pytest.mark.django_db

URL = "/api/v1/messages/search"
MESSAGE_KEYS = {"id", "chat_id", "sender_id", "text", "seq", "created_at", "updated_at", "deleted", "kind", "event"}


def search(client: Any, q: str | None, **params: Any) -> Any:
    query = {k: v for k, v in {"q": q, **params}.items() if v is not None}
    return client.get(URL, query)


def found(client: Any, q: str, **params: Any) -> list[str]:
    response = search(client, q, **params)
    assert response.status_code == 200, response.content[:500]
    return [r["message"]["text"] for r in response.json()["results"]]


# --- matching ---------------------------------------------------------------------------------------------------


def test_one_word_finds_the_message_with_its_shape_and_highlight(
    client_for, alice: User, bob: User, chat: Chat
) -> None:
    message = send(chat, bob, "Lunch at noon?")
    send(chat, alice, "something else")
    response = search(client_for(alice), "lunch")
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"results", "has_more"} and body["has_more"] is False
    [result] = body["results"]
    assert set(result) == {"message", "highlight"}
    assert set(result["message"]) == MESSAGE_KEYS
    assert result["message"]["id"] == str(message.pk) and result["message"]["seq"] == message.seq
    assert result["message"]["chat_id"] == str(chat.pk) and result["message"]["deleted"] is False
    assert result["highlight"] == "<mark>Lunch</mark> at noon?"


@pytest.mark.parametrize(
    ("text", "q"),
    [
        ("Hello World", "hello"),
        ("hello world", "WORLD"),
        ("Привет, МИР!", "мир"),
        ("привет мир", "ПРИВЕТ"),
        ("Ёлка и ёжик", "ЁЖИК"),
        ("Встреча в ОФИСЕ", "офис"),  # the last word is a prefix
        ("mixed Кириллица and Latin", "кириллица latin"),
    ],
)
def test_words_match_case_insensitively_in_latin_and_cyrillic(client_for, alice: User, chat: Chat, text, q) -> None:
    send(chat, alice, text)
    assert found(client_for(alice), q) == [text]


def test_every_word_must_match(client_for, alice: User, chat: Chat) -> None:
    send(chat, alice, "red apple")
    send(chat, alice, "green apple")
    send(chat, alice, "red car")
    client = client_for(alice)
    assert found(client, "red apple") == ["red apple"]
    assert found(client, "apple red") == ["red apple"]
    assert sorted(found(client, "apple")) == ["green apple", "red apple"]
    assert found(client, "blue apple") == []


def test_only_the_last_word_matches_as_a_prefix(client_for, alice: User, chat: Chat) -> None:
    send(chat, alice, "deployment finished")
    client = client_for(alice)
    assert found(client, "deploy") == ["deployment finished"]
    assert found(client, "deployment fin") == ["deployment finished"]
    assert found(client, "deploy finished") == []  # "deploy" is not the last word: a whole word
    assert found(client, "finished deploy") == ["deployment finished"]
    assert found(client, "deploymentx") == []


def test_punctuation_separates_words_in_text_and_query(client_for, alice: User, chat: Chat) -> None:
    send(chat, alice, "mail anna@example.com or see https://docs.example.org/a-b?x=1, v2.5 ready")
    client = client_for(alice)
    for q in ("example", "anna@example.com", "docs", "https://docs.example.org/a-b", "v2", "ready!", "a-b"):
        assert len(found(client, q)) == 1, q


def test_highlight_marks_every_matching_word_and_escapes_the_rest(client_for, alice: User, chat: Chat) -> None:
    send(chat, alice, "<script>alert(\"x\")</script> & Scripting <b>'a'</b>")
    [result] = search(client_for(alice), "script").json()["results"]
    assert result["highlight"] == (
        "&lt;<mark>script</mark>&gt;alert(&quot;x&quot;)&lt;/<mark>script</mark>&gt; &amp; "
        "<mark>Scripting</mark> &lt;b&gt;&#x27;a&#x27;&lt;/b&gt;"
    )


def test_highlight_marks_whole_words_only_for_the_earlier_words(client_for, alice: User, chat: Chat) -> None:
    send(chat, alice, "cat catalog cats")
    [result] = search(client_for(alice), "cat catal").json()["results"]
    assert result["highlight"] == "<mark>cat</mark> <mark>catalog</mark> cats"


# --- order and paging ---------------------------------------------------------------------------------------------


def test_newest_first_across_chats_and_paging_by_before_id(client_for, make_user, alice: User, chat: Chat) -> None:
    other = chat_get_or_create(user_id=alice.pk, partner_id=make_user().pk)[0]
    texts = [f"report {i}" for i in range(5)]
    for i, text in enumerate(texts):
        send(chat if i % 2 else other, alice, text)
    client = client_for(alice)
    first = search(client, "report", limit=2).json()
    assert [r["message"]["text"] for r in first["results"]] == ["report 4", "report 3"] and first["has_more"]
    second = search(client, "report", limit=2, before_id=first["results"][-1]["message"]["id"]).json()
    assert [r["message"]["text"] for r in second["results"]] == ["report 2", "report 1"] and second["has_more"]
    third = search(client, "report", limit=2, before_id=second["results"][-1]["message"]["id"]).json()
    assert [r["message"]["text"] for r in third["results"]] == ["report 0"] and third["has_more"] is False


def test_messages_with_the_same_timestamp_page_without_loss_or_repeat(client_for, alice: User, chat: Chat) -> None:
    seed(chat, alice, 7)  # one created_at for all: the id breaks the tie
    client, seen, before = client_for(alice), [], None
    while True:
        body = search(client, "bulk", limit=3, before_id=before).json()
        seen += [r["message"]["id"] for r in body["results"]]
        if not body["has_more"]:
            break
        before = seen[-1]
    assert len(seen) == len(set(seen)) == 7


def test_limit_defaults_to_20_and_is_clamped_to_100(client_for, alice: User, chat: Chat) -> None:
    seed(chat, alice, 101)
    client = client_for(alice)
    default = search(client, "bulk").json()
    assert len(default["results"]) == 20 and default["has_more"]
    clamped = search(client, "bulk", limit=100000).json()
    assert len(clamped["results"]) == 100 and clamped["has_more"]


# --- access ---------------------------------------------------------------------------------------------------------


def test_only_chats_i_am_a_member_of(client_for, make_user, alice: User, bob: User, chat: Chat) -> None:
    carol = make_user()
    foreign = chat_get_or_create(user_id=bob.pk, partner_id=carol.pk)[0]
    send(chat, bob, "secret plan for alice")
    send(foreign, bob, "secret plan for carol")
    assert found(client_for(alice), "secret plan") == ["secret plan for alice"]
    assert found(client_for(carol), "secret plan") == ["secret plan for carol"]
    assert sorted(found(client_for(bob), "secret plan")) == ["secret plan for alice", "secret plan for carol"]


def test_a_removed_member_stops_finding_the_chat_at_once(client_for, alice: User, bob: User, chat: Chat) -> None:
    send(chat, bob, "quarterly numbers")
    client = client_for(alice)
    assert found(client, "quarterly") == ["quarterly numbers"]
    ChatMember.objects.filter(chat=chat, user=alice).delete()
    assert found(client, "quarterly") == []


def test_chat_id_limits_the_search_to_that_chat(client_for, make_user, alice: User, chat: Chat) -> None:
    other = chat_get_or_create(user_id=alice.pk, partner_id=make_user().pk)[0]
    send(chat, alice, "invoice one")
    send(other, alice, "invoice two")
    client = client_for(alice)
    assert found(client, "invoice", chat_id=str(chat.pk)) == ["invoice one"]
    assert found(client, "invoice", chat_id=str(other.pk)) == ["invoice two"]


def test_a_foreign_or_unknown_chat_id_is_404(client_for, make_user, bob: User, alice: User) -> None:
    foreign = chat_get_or_create(user_id=bob.pk, partner_id=make_user().pk)[0]
    client = client_for(alice)
    assert_error(search(client, "x", chat_id=str(foreign.pk)), 404, "chat_not_found")
    assert_error(search(client, "x", chat_id=str(uuid.uuid4())), 404, "chat_not_found")
    # also when q holds no word at all
    assert_error(search(client, "!!!", chat_id=str(foreign.pk)), 404, "chat_not_found")


def test_a_foreign_before_id_is_404(client_for, make_user, alice: User, bob: User) -> None:
    foreign = chat_get_or_create(user_id=bob.pk, partner_id=make_user().pk)[0]
    hidden = send(foreign, bob, "hidden")
    assert_error(search(client_for(alice), "hidden", before_id=str(hidden.pk)), 404, "message_not_found")
    assert_error(search(client_for(alice), "hidden", before_id=str(uuid.uuid4())), 404, "message_not_found")


def test_deleted_messages_never_match_and_edits_reindex(client_for, alice: User, chat: Chat) -> None:
    gone = send(chat, alice, "password is hunter2")
    edited = send(chat, alice, "meeting on monday")
    message_delete(user_id=alice.pk, chat_id=chat.pk, message_id=gone.pk)
    message_edit(user_id=alice.pk, chat_id=chat.pk, message_id=edited.pk, text="meeting on tuesday")
    client = client_for(alice)
    assert found(client, "hunter2") == [] and found(client, "password") == []
    assert found(client, "monday") == []
    assert found(client, "tuesday") == ["meeting on tuesday"]
    # a deleted row that still had its text would not match either
    Message.objects.filter(pk=gone.pk).update(text="password is hunter2")
    assert found(client, "hunter2") == []


def test_messages_stored_in_bulk_are_found(client_for, alice: User, chat: Chat) -> None:
    now = datetime.now(tz=UTC)
    Message.objects.bulk_create(
        Message(chat=chat, sender=alice, text=f"imported {i}", seq=i + 1, request_id=uuid.uuid4(),
                created_at=now + timedelta(seconds=i), updated_at=now)
        for i in range(3)
    )  # fmt: skip
    assert found(client_for(alice), "imported") == ["imported 2", "imported 1", "imported 0"]


def test_requires_a_token(client_for) -> None:
    assert_error(search(client_for(None), "x"), 401)


# --- bad input ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, "invalid_q"),
        ({"q": ""}, "invalid_q"),
        ({"q": "a" * 201}, "invalid_q"),
        ({"q": " ".join(["word"] * 10_000)}, "invalid_q"),
        ({"q": "x", "limit": "-1"}, "invalid_limit"),
        ({"q": "x", "limit": "ten"}, "invalid_limit"),
        ({"q": "x", "limit": "0"}, "invalid_limit"),
        ({"q": "x", "before_id": "nope"}, "invalid_before_id"),
        ({"q": "x", "chat_id": "1 OR 1=1"}, "invalid_chat_id"),
    ],
)
def test_bad_parameters_are_400(client_for, alice: User, params, code) -> None:
    assert_error(client_for(alice).get(URL, params), 400, code)


def test_q_of_exactly_200_characters_is_accepted(client_for, alice: User, chat: Chat) -> None:
    send(chat, alice, "a" * 200)
    assert found(client_for(alice), "a" * 200) == ["a" * 200]


HOSTILE = [
    "   ",
    "\t\n",
    "'",
    '"',
    "&|!:*",
    "foo:* | bar",
    "!foo & (bar | baz)",
    "a <-> b",
    "'; DROP TABLE messages; --",
    '") OR 1=1 --',
    "NEAR(foo bar)",
    "foo AND OR NOT",
    "text:foo",
    "^foo",
    "-foo",
    "*",
    "foo*",
    "\\",
    "\x00",
    "%",
    "_",
    "😀 👍",
    " ".join(["w"] * 100),
    "a" * 199 + "*",
]


@pytest.mark.parametrize("q", HOSTILE)
def test_hostile_queries_answer_200_never_500(client_for, alice: User, chat: Chat, q) -> None:
    send(chat, alice, "foo bar and w")
    response = search(client_for(alice), q)
    assert response.status_code == 200, (q, response.content[:300])
    assert set(response.json()) == {"results", "has_more"}


def test_quotes_and_operators_in_q_are_just_separators(client_for, alice: User, chat: Chat) -> None:
    send(chat, alice, "foo bar and w")
    client = client_for(alice)
    assert found(client, "foo:* | bar") == ["foo bar and w"]
    assert found(client, "'foo' \"bar\" AND") == ["foo bar and w"]
    assert found(client, "!foo & -bar") == ["foo bar and w"]


# --- storage ----------------------------------------------------------------------------------------------------------


def _store_with_the_old_schema(chat: Chat, sender: User, text: str) -> None:
    """A message as the schema of messaging 0001 stores it (today's send path needs today's columns)."""

    def db(value: uuid.UUID) -> Any:
        return value.hex if connection.vendor == "sqlite" else value

    now = connection.ops.adapt_datetimefield_value(datetime.now(tz=UTC))
    with connection.cursor() as cursor:
        cursor.execute("UPDATE chats SET last_seq = last_seq + 1 WHERE id = %s", [db(chat.pk)])
        cursor.execute(
            "INSERT INTO messages (id, chat_id, sender_id, text, seq, request_id, created_at, updated_at) "
            "SELECT %s, id, %s, %s, last_seq, %s, %s, %s FROM chats WHERE id = %s",
            [db(uuid.uuid4()), db(sender.pk), text, db(uuid.uuid4()), now, now, db(chat.pk)],
        )


@pytest.mark.django_db(transaction=True)
def test_the_search_migration_indexes_messages_already_stored(client_for, alice: User, bob: User) -> None:
    chat = chat_get_or_create(user_id=alice.pk, partner_id=bob.pk)[0]
    try:
        call_command("migrate", "messaging", "0001", verbosity=0)
        _store_with_the_old_schema(chat, bob, "written before search existed")
        call_command("migrate", "messaging", verbosity=0)
    finally:
        call_command("migrate", verbosity=0)
    assert found(client_for(alice), "existed") == ["written before search existed"]
    send(chat, bob, "and after it existed")
    assert found(client_for(alice), "existed") == ["and after it existed", "written before search existed"]
    assert connection.vendor in {"postgresql", "sqlite"}
