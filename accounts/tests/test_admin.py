"""Deleting users in the admin ends their sessions, as a ban does."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client

from accounts.models import User
from accounts.signals import sessions_revoked

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("chief", "correct-horse-battery"))
    return client


@pytest.fixture
def revoked() -> Iterator[list[str]]:
    seen: list[str] = []

    def receiver(user_id: str, jti: str | None, **kwargs: object) -> None:
        assert jti is None  # every session of the user
        seen.append(user_id)

    sessions_revoked.connect(receiver)
    yield seen
    sessions_revoked.disconnect(receiver)


def test_deleting_a_user_closes_their_sessions(
    admin_client: Client, alice: User, revoked: list[str], django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        reply = admin_client.post(f"/admin/accounts/user/{alice.pk}/delete/", {"post": "yes"})
    assert reply.status_code == 302
    assert not User.objects.filter(pk=alice.pk).exists()
    assert revoked == [str(alice.pk)]


def test_the_bulk_delete_action_closes_every_deleted_users_sessions(
    admin_client: Client, alice: User, bob: User, revoked: list[str], django_capture_on_commit_callbacks
) -> None:
    selected = [str(alice.pk), str(bob.pk)]
    with django_capture_on_commit_callbacks(execute=True):
        reply = admin_client.post(
            "/admin/accounts/user/", {"action": "delete_selected", "_selected_action": selected, "post": "yes"}
        )
    assert reply.status_code == 302
    assert not User.objects.filter(pk__in=selected).exists()
    assert sorted(revoked) == sorted(selected)
