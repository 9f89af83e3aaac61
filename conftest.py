"""Shared fixtures. ``make test`` runs against real PostgreSQL and Redis (a
dedicated Redis db, flushed around each test; a unique channel-layer prefix)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import token_issue
from chats.models import Chat
from chats.services import chat_get_or_create
from neonchat import kv

PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """pytest-django's test database, and no session left on it when it is dropped.

    Now and then a pooled connection opened by ORM work of an async test
    (``db_call``, e.g. a consumer's disconnect) is still checked out at the
    end: asgiref runs the call in a copy of the task's context, and Channels'
    ``close_old_connections`` around it can see another Django connection
    object than the one the call used. Dropping the database then failed
    ("being accessed by other users") and left it behind.
    """
    yield
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )


@pytest.fixture(autouse=True)
def _clean_store() -> Iterator[None]:
    """Each test starts with an empty key-value store (rate limits, presence, revocations)."""
    if settings.REDIS_URL and settings.APP_ENV != "test":
        raise RuntimeError("refusing to flush a Redis that is not a test one (set APP_ENV=test)")
    kv.sync_client().flushdb()
    yield
    kv.sync_client().flushdb()


@pytest.fixture
def make_user(db: Any) -> Callable[..., User]:
    def make(username: str | None = None, password: str = PASSWORD) -> User:
        return User.objects.create_user(username or f"u{uuid.uuid4().hex[:10]}", password)

    return make


@pytest.fixture
def alice(make_user: Callable[..., User]) -> User:
    return make_user("alice")


@pytest.fixture
def bob(make_user: Callable[..., User]) -> User:
    return make_user("bob")


def token_for(user: User) -> str:
    return token_issue(user=user)[0]


@pytest.fixture
def client_for() -> Callable[[User | None], APIClient]:
    def make(user: User | None = None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user)}")
        return client

    return make


@pytest.fixture
def chat(alice: User, bob: User) -> Chat:
    return chat_get_or_create(user_id=alice.pk, partner_id=bob.pk)[0]
