"""messaging.selectors: the chat list's fixed statement gives the ORM queryset's rows."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from accounts.models import User
from chats.services import chat_get_or_create
from messaging.groups import group_create, group_member_remove, group_rename
from messaging.payloads import iso
from messaging.selectors import (
    _chat_item,
    _chat_page_orm,
    _chat_page_sql,
    _page_rows_orm,
    _page_rows_sql,
    chat_list,
)
from messaging.services import chat_mark_read, message_delete, message_send
from neonchat.errors import NotFound

pytestmark = pytest.mark.django_db(transaction=True)


def _send(sender: User, chat_id: uuid.UUID, text: str) -> Any:
    return message_send(sender_id=sender.pk, chat_id=chat_id, text=text, request_id=uuid.uuid4())[0]


@pytest.fixture
def me(make_user: Callable[..., User]) -> User:
    """A user with direct chats (read, unread, empty, a deleted last message) and groups with events."""
    user = make_user("me")
    others = [make_user(f"other{i}") for i in range(4)]
    read, unread, _empty, deleted = (chat_get_or_create(user_id=user.pk, partner_id=o.pk)[0] for o in others)
    last = _send(others[0], read.pk, "hello")
    chat_mark_read(user_id=user.pk, chat_id=read.pk, message_id=last.pk)
    for text in ("one", "two", "three"):
        _send(others[1], unread.pk, text)
    _send(user, unread.pk, "mine")
    _send(others[1], unread.pk, "after mine")
    gone = _send(others[3], deleted.pk, "regret")
    message_delete(user_id=others[3].pk, chat_id=deleted.pk, message_id=gone.pk)
    group = group_create(user_id=others[0].pk, title="team", member_ids=[user.pk, others[1].pk, others[2].pk])
    _send(others[1], group.pk, "in the group")
    group_rename(user_id=others[0].pk, chat_id=group.pk, title="the team")
    group_member_remove(user_id=others[0].pk, chat_id=group.pk, target_id=others[2].pk)
    mine = group_create(user_id=user.pk, title="mine", member_ids=[others[3].pk])
    _send(others[3], mine.pk, "hi")
    return user


@pytest.mark.parametrize("unread_only", [False, True])
@pytest.mark.parametrize(("limit", "offset"), [(20, 0), (2, 0), (2, 2), (3, 5), (5, 50)])
def test_the_statement_and_the_queryset_agree(me: User, limit: int, offset: int, unread_only: bool) -> None:
    orm = _chat_page_orm(me.pk, limit, offset, unread_only)
    assert _chat_page_sql(me.pk, limit, offset, unread_only) == [_as_text(row) for row in orm]
    assert [_chat_item(row, {}) for row in _chat_page_sql(me.pk, limit, offset, unread_only)] == [
        _chat_item(row, {}) for row in orm
    ]


def _as_text(row: dict[str, Any]) -> dict[str, Any]:
    """An ORM row as the statement gives it: ids and the two rendered times as their text."""
    rendered = {"chat__updated_at", "chat__last_message__created_at"}
    return {
        key: str(value) if isinstance(value, uuid.UUID) else iso(value) if key in rendered and value else value
        for key, value in row.items()
    }


def test_the_page_counts_what_a_reader_expects(me: User) -> None:
    page = chat_list(user_id=me.pk, limit=20, offset=0, unread_only=False)
    assert page["total"] == 6
    unread = {chat["title"] or chat["partner"]["username"]: chat["unread_count"] for chat in page["chats"]}
    # events (created, renamed, removed) are not unread; my own message moved my
    # watermark; a tombstone keeps its seq, so it still counts
    assert unread == {"other0": 0, "other1": 1, "other2": 0, "other3": 1, "the team": 1, "mine": 1}
    assert chat_list(user_id=me.pk, limit=20, offset=0, unread_only=True)["total"] == 4


def test_the_last_message_says_what_kind_it_is(me: User) -> None:
    page = chat_list(user_id=me.pk, limit=20, offset=0, unread_only=False)
    last = {chat["title"] or chat["partner"]["username"]: chat["last_message"] for chat in page["chats"]}
    removed = last["the team"]  # the group's newest message is the removal of other2
    assert (removed["kind"], removed["text"], removed["event"]["type"]) == ("event", "", "member_removed")
    assert removed["event"]["user_ids"] == [str(User.objects.get(username="other2").pk)]
    assert (last["mine"]["kind"], last["mine"]["event"], last["mine"]["text"]) == ("text", None, "hi")
    assert last["other2"] is None


def test_a_page_past_the_end_still_has_the_total(me: User) -> None:
    page = chat_list(user_id=me.pk, limit=5, offset=40, unread_only=True)
    assert page == {"chats": [], "total": 4, "has_more": False}


@pytest.fixture
def group_history(make_user: Callable[..., User]) -> tuple[User, uuid.UUID, list[uuid.UUID]]:
    """A group whose timeline mixes events (created, renamed) and text, one message deleted."""
    owner, member = make_user("owner"), make_user("member")
    group = group_create(user_id=owner.pk, title="history", member_ids=[member.pk])
    ids = [_send(owner if i % 2 else member, group.pk, f"message {i}").pk for i in range(7)]
    group_rename(user_id=owner.pk, chat_id=group.pk, title="history 2")
    ids.append(_send(member, group.pk, "last").pk)
    message_delete(user_id=member.pk, chat_id=group.pk, message_id=ids[0])
    return member, group.pk, ids


@pytest.mark.parametrize("rows", [3, 50])
@pytest.mark.parametrize("cursor", [None, ("before", 5), ("after", 1), ("before", 0), ("after", 7)])
def test_a_history_page_is_the_same_by_statement_and_by_queryset(
    group_history: tuple[User, uuid.UUID, list[uuid.UUID]], rows: int, cursor: tuple[str, int] | None
) -> None:
    member, chat_id, ids = group_history
    at = None if cursor is None else (cursor[0], ids[cursor[1]])
    page = _page_rows_sql(member.pk, chat_id, rows, at)
    assert page == _page_rows_orm(member.pk, chat_id, rows, at)
    assert all(isinstance(message["event"], dict | None) for message in page)


@pytest.mark.parametrize(
    ("who", "cursor", "code"),
    [
        ("stranger", None, "chat_not_found"),
        ("stranger", "mine", "chat_not_found"),
        ("member", "foreign", "message_not_found"),
    ],
)
def test_a_history_page_refuses_as_the_queryset_does(
    group_history: tuple[User, uuid.UUID, list[uuid.UUID]],
    make_user: Callable[..., User],
    who: str,
    cursor: str | None,
    code: str,
) -> None:
    member, chat_id, ids = group_history
    stranger = make_user("stranger")
    foreign = chat_get_or_create(user_id=member.pk, partner_id=stranger.pk)[0]
    at = {None: None, "mine": ("before", ids[3]), "foreign": ("after", _send(stranger, foreign.pk, "x").pk)}[cursor]
    user = member if who == "member" else stranger
    for rows_of in (_page_rows_sql, _page_rows_orm):
        with pytest.raises(NotFound) as refused:
            rows_of(user.pk, chat_id, 10, at)
        assert refused.value.code == code


def _prepared_here(fragment: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", [f"%{fragment}%"])
        return int(cursor.fetchone()[0])


def test_the_two_statements_are_planned_once_per_connection(me: User) -> None:
    assert settings.DB_PREPARE_THRESHOLD is not None
    for _ in range(settings.DB_PREPARE_THRESHOLD + 1):
        assert len(_chat_page_sql(me.pk, 20, 0, False)) == 6
        chat_id = _chat_page_sql(me.pk, 1, 0, False)[0]["chat_id"]
        assert _page_rows_sql(me.pk, chat_id, 50, None)
    assert _prepared_here("count(*) OVER ()") == 1  # the chat list, whatever its limit and offset
    assert _prepared_here("ORDER BY m.seq DESC LIMIT") == 1  # the newest history page


def test_without_prepared_statements_each_execution_is_planned(me: User) -> None:
    connection.ensure_connection()
    threshold, connection.connection.prepare_threshold = connection.connection.prepare_threshold, None
    try:
        for _ in range(6):
            assert len(_chat_page_sql(me.pk, 20, 0, False)) == 6
        assert _prepared_here("count(*) OVER ()") == 0
    finally:
        connection.connection.prepare_threshold = threshold
