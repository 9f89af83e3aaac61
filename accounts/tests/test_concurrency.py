"""Registration races on real PostgreSQL: the case-insensitive unique index decides."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from conftest import PASSWORD
from neonchat.tests.support import run_parallel

pytestmark = pytest.mark.django_db(transaction=True)


def test_ten_parallel_registrations_of_one_name_create_one_user() -> None:
    names = ["racer", "RACER", "Racer", "rAcEr", "racer"] * 2

    def register(index: int) -> int:
        response = APIClient().post(
            "/api/v1/auth/register",
            {"username": names[index], "password": PASSWORD},
            format="json",
            REMOTE_ADDR=f"10.0.0.{index + 1}",
        )
        return response.status_code

    statuses = run_parallel(10, register)
    assert sorted(statuses) == [201] + [409] * 9, statuses
    assert User.objects.filter(username__iexact="racer").count() == 1
