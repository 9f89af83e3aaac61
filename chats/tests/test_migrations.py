"""The groups migration on a populated table: direct chats come through unchanged."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("chats", "0003_hot_path_indexes"), ("messaging", "0003_hot_path_indexes")]


def _migrate(targets: list[tuple[str, str]]) -> Any:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_groups_migration_keeps_direct_chats_and_messages() -> None:
    leaves = MigrationExecutor(connection).loader.graph.leaf_nodes()
    old = _migrate(BEFORE)
    user = old.get_model("accounts", "User")
    low, high = sorted(
        (user.objects.create(id=uuid.uuid4(), username=f"m{n}", password="x") for n in range(2)),
        key=lambda u: u.pk,
    )
    chat = old.get_model("chats", "Chat").objects.create(user_low=low, user_high=high, last_seq=1)
    old.get_model("chats", "ChatMember").objects.create(chat=chat, user=low, partner=high)
    old.get_model("messaging", "Message").objects.create(
        chat_id=chat.pk, sender_id=low.pk, text="hi", seq=1, request_id=uuid.uuid4(), created_at=chat.created_at,
        updated_at=chat.created_at,
    )  # fmt: skip
    new = _migrate(leaves)
    migrated = new.get_model("chats", "Chat").objects.get(pk=chat.pk)
    assert (migrated.kind, migrated.title, migrated.members_count, migrated.members_version) == ("direct", "", 2, 0)
    assert new.get_model("chats", "ChatMember").objects.get(chat_id=chat.pk).role == "member"
    message = new.get_model("messaging", "Message").objects.get(chat_id=chat.pk)
    assert (message.kind, message.event, message.text) == ("text", None, "hi")
