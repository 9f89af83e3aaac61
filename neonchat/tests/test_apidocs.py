"""The OpenAPI document: every operation that needs a token says so (Swagger UI's "Authorize" sends it)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

PUBLIC = {"auth_register", "auth_login"}
BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]


@pytest.mark.django_db
def test_every_operation_but_register_login_and_the_index_requires_the_bearer_scheme() -> None:
    schema = APIClient().get("/api/schema/", {"format": "json"}).json()
    operations = {
        operation["operationId"]: operation.get("security")
        for path in schema["paths"].values()
        for operation in path.values()
    }
    assert "users_me" in operations and operations.keys() >= PUBLIC
    for operation_id, security in operations.items():
        if operation_id in PUBLIC:
            assert security == [{}], operation_id
        elif operation_id == "api_root":  # the index answers with or without a token
            assert security == [*BEARER, {}]
        else:
            assert security == BEARER, operation_id
