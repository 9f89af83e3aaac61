"""The admin login is throttled per account and per address, and the lock-out is logged."""

from __future__ import annotations

import logging

import pytest
from django.test import Client

from accounts.models import User
from neonchat.adminsite import ADMIN_LOGIN_ATTEMPTS

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"
LOGIN = "/admin/login/?next=/admin/"


@pytest.fixture
def staff() -> User:
    return User.objects.create_superuser("chief", PASSWORD)


def attempt(username: str, password: str, address: str = "203.0.113.7") -> int:
    return Client(REMOTE_ADDR=address).post(LOGIN, {"username": username, "password": password}).status_code


def test_the_right_password_after_a_burst_of_wrong_ones_is_refused(
    staff: User, caplog: pytest.LogCaptureFixture
) -> None:
    for index in range(ADMIN_LOGIN_ATTEMPTS):
        assert attempt("chief", f"wrong-{index}", address=f"198.51.100.{index}") == 200  # the form again
    with caplog.at_level(logging.WARNING, logger="neonchat.adminsite"):
        assert attempt("chief", PASSWORD, address="198.51.100.99") == 429
    assert "admin login locked out: name:chief" in caplog.text
    assert attempt("other", PASSWORD, address="198.51.100.99") == 200  # other accounts are unaffected


def test_one_address_trying_many_accounts_is_refused(staff: User) -> None:
    for index in range(ADMIN_LOGIN_ATTEMPTS):
        assert attempt(f"guess{index}", "wrong") == 200
    assert attempt("chief", PASSWORD) == 429
    assert attempt("chief", PASSWORD, address="192.0.2.1") == 302  # another address logs in


def test_a_normal_login_works(staff: User) -> None:
    client = Client()
    reply = client.post(LOGIN, {"username": "chief", "password": PASSWORD})
    assert reply.status_code == 302
    assert client.get("/admin/").status_code == 200
