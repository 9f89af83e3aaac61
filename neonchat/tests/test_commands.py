"""Operator commands: seed_demo, createdb, broadcast, createsuperuser."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from accounts.models import User
from chats.models import Chat
from messaging.models import Message

pytestmark = pytest.mark.django_db


def test_seed_demo_is_idempotent_and_prints_the_credentials() -> None:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    call_command("seed_demo", stdout=io.StringIO())
    assert "alice / wonderland-42" in out.getvalue()
    assert User.objects.filter(username__in=["alice", "bob"]).count() == 2
    assert Chat.objects.count() == 1
    assert list(Message.objects.order_by("seq").values_list("seq", flat=True)) == [1, 2, 3]


def test_createdb_is_a_no_op_when_the_database_exists() -> None:
    out = io.StringIO()
    call_command("createdb", stdout=out)
    assert "created" not in out.getvalue()


def test_broadcast_command(make_user) -> None:
    make_user("carol")
    out = io.StringIO()
    call_command("broadcast", "maintenance tonight", "--user", "CAROL", stdout=out)
    assert "delivered to 0 connected user(s)" in out.getvalue()
    with pytest.raises(CommandError, match="unknown user"):
        call_command("broadcast", "hi", "--user", "nobody-here")
    with pytest.raises(CommandError):
        call_command("broadcast", "   ")


def test_broadcast_command_in_embedded_mode_relays_to_the_server_and_says_when_none_answers(
    settings, make_user
) -> None:
    # The relay itself, to a running embedded server: tests/e2e/test_embedded.py.
    settings.REDIS_URL = ""
    settings.NOTIFIER_ADDR = ""
    with pytest.raises(CommandError, match=r"no NeonChat server answers at http://127.0.0.1:9 .*make run"):
        call_command("broadcast", "maintenance tonight", "--url", "http://127.0.0.1:9")


def test_createsuperuser_works_with_the_custom_user() -> None:
    call_command("createsuperuser", "--noinput", "--username", "root-admin", stdout=io.StringIO())
    admin = User.objects.get(username="root-admin")
    assert admin.is_superuser and admin.is_staff and admin.is_active
