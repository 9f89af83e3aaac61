"""Schemathesis against the running api process and its own ``/api/schema/``.

Authenticated as a freshly registered user who owns a chat with a message, so
that path parameters are mostly real (every fourth case keeps the generated,
random ids: the 404 path). ``POST /auth/logout`` gets a token of its own each
time (it would revoke the shared one), ``DELETE`` a fresh message each time.

* ``test_api_conforms_to_its_schema`` (one test per operation, positive and
  negative data): no 5xx, every status documented, every body as documented.
* ``test_valid_data_per_schema_is_accepted``: data the schema calls valid is not
  rejected with 400 (schemathesis' ``positive_data_acceptance``), i.e. the schema
  states the server's constraints.

Deterministic (``derandomize``) and bounded (``MAX_EXAMPLES`` per operation).
The schema is generated at collection by the same generator and settings as the
served one (so each operation is a test item); ``test_served_schema_is_the_one_tested``
holds them equal.
"""

from __future__ import annotations

import itertools
import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    not_a_server_error,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.conftest import Account, Stack, open_chat, register

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

MAX_EXAMPLES = 25
ACCEPTANCE_EXAMPLES = 10
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
PASSWORD = "correct-horse-battery"
HYPOTHESIS = settings(
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def _spec() -> dict[str, Any]:
    document = SchemaGenerator().get_schema(request=None, public=True)
    return dict(json.loads(OpenApiJsonRenderer().render(document, renderer_context={})))


SPEC = _spec()
schema = schemathesis.openapi.from_dict(SPEC)
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=MAX_EXAMPLES, deterministic=True
)
# For acceptance: no NUL characters (DRF refuses them in any string, which a
# JSON schema cannot say short of a pattern on every string).
strict = schemathesis.openapi.from_dict(SPEC)
strict.config.generation.update(
    modes=[GenerationMode.POSITIVE], max_examples=ACCEPTANCE_EXAMPLES, deterministic=True, allow_x00=False
)


@dataclass
class Real:
    api: str
    me: Account
    partner: Account
    chat_id: str
    message_id: str
    counter: itertools.count[int]

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.me.token}"}

    def fresh_message(self) -> str:
        reply = httpx.post(
            f"{self.api}/api/v1/chats/{self.chat_id}/messages",
            json={"text": "to be deleted", "request_id": str(uuid.uuid4())},
            headers=self.auth(),
            timeout=10,
        )
        assert reply.status_code == 201, reply.text
        return str(reply.json()["id"])

    def fresh_token(self) -> str:
        reply = httpx.post(
            f"{self.api}/api/v1/auth/login",
            json={"username": self.partner.username, "password": PASSWORD},
            timeout=10,
        )
        assert reply.status_code == 200, reply.text
        return str(reply.json()["token"])

    def prepare(self, case: Any, *, always_real: bool = False) -> dict[str, str]:
        """Real ids into the case (mostly); the headers to send it with."""
        if case.path_parameters and (always_real or next(self.counter) % 4 != 3):
            if "chat_id" in case.path_parameters:
                case.path_parameters["chat_id"] = self.chat_id
            if "message_id" in case.path_parameters:
                fresh = case.method.upper() == "DELETE"
                case.path_parameters["message_id"] = self.fresh_message() if fresh else self.message_id
        token = self.fresh_token() if case.path.endswith("/auth/logout") else None
        return self.auth(token)


@pytest.fixture
def real(fuzz_stack: Stack) -> Real:
    api = fuzz_stack.api.url
    me, partner = register(api), register(api)
    chat_id = open_chat(api, me, partner)
    real = Real(api, me, partner, chat_id, "", itertools.count())
    real.message_id = real.fresh_message()
    return real


def test_served_schema_is_the_one_tested(fuzz_stack: Stack) -> None:
    reply = httpx.get(f"{fuzz_stack.api.url}/api/schema/", params={"format": "json"}, timeout=10)
    assert reply.status_code == 200
    assert reply.json() == SPEC


@schema.parametrize()
@settings(HYPOTHESIS, max_examples=MAX_EXAMPLES)
def test_api_conforms_to_its_schema(case: Any, real: Real) -> None:
    case.call_and_validate(base_url=real.api, headers=real.prepare(case), checks=CHECKS)


# Rejections a schema cannot express (documented as 400/401 already).
NOT_EXPRESSIBLE = {
    "auth_register": "Django's password validators (common, numeric, similar to the username)",
    "auth_login": "credentials that exist",
    # Groups: which body shape (partner_id, or title and member_ids), users that exist, and
    # "a group, not a direct chat" (not_a_group; the fixture's chat is direct) depend on stored state.
    "chats_create": "either partner_id or title and member_ids, of users that exist",
    "chats_update": "a group's title (not_a_group on a direct chat)",
    "chats_members_add": "a group (not_a_group on a direct chat), users that exist",
    "chats_members_set_role": "a group and one of its members",
    "chats_members_remove": "a group and one of its members",
}
OPERATIONS = [
    pytest.param(method.upper(), path, id=op["operationId"])
    for path, item in SPEC["paths"].items()
    for method, op in item.items()
    if op["operationId"] not in NOT_EXPRESSIBLE
]


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_valid_data_per_schema_is_accepted(method: str, path: str, real: Real) -> None:
    operation = strict[path][method]

    @settings(HYPOTHESIS, max_examples=ACCEPTANCE_EXAMPLES)
    @given(case=operation.as_strategy(GenerationMode.POSITIVE))
    def run(case: Any) -> None:
        if case.query and case.query.get("before_id") and case.query.get("after_id"):
            del case.query["after_id"]  # "before_id or after_id, not both": no way to say it in OpenAPI 3.0
        headers = real.prepare(case, always_real=True)
        case.call_and_validate(base_url=real.api, headers=headers, checks=[positive_data_acceptance])

    run()


def _query_params(name: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (op["operationId"], param.get("schema", {}))
        for item in SPEC["paths"].values()
        for op in item.values()
        for param in op.get("parameters", [])
        if param["in"] == "query" and param["name"] == name
    ]


def test_schema_states_paging_bounds() -> None:
    limits, offsets = _query_params("limit"), _query_params("offset")
    assert {op for op, _ in limits} == {
        "users_list",
        "chats_list",
        "chats_members_list",
        "messages_list",
        "messages_search",
    }
    assert [op for op, param in limits if param.get("minimum") != 1] == []
    assert [op for op, param in offsets if param.get("minimum") != 0] == []


def test_schema_states_registration_rules() -> None:
    body = SPEC["paths"]["/api/v1/auth/register"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    fields = SPEC["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]]["properties"]
    username, password = fields["username"], fields["password"]
    assert (username.get("minLength"), username.get("maxLength")) == (3, 50)
    assert username.get("pattern") in ("^[A-Za-z0-9_.-]+$", "^[A-Za-z0-9_.-]{3,50}$")
    assert password.get("minLength") == 6


def test_huge_limits_are_clamped_not_refused(real: Real) -> None:
    for path in ("/api/v1/users", "/api/v1/chats", f"/api/v1/chats/{real.chat_id}/messages"):
        reply = httpx.get(f"{real.api}{path}", params={"limit": "64087455416"}, headers=real.auth(), timeout=10)
        assert reply.status_code == 200, (path, reply.text)
    reply = httpx.get(f"{real.api}/api/v1/messages/search", params={"q": "x", "limit": "64087455416"},
                      headers=real.auth(), timeout=10)  # fmt: skip
    assert reply.status_code == 200, reply.text
    reply = httpx.get(f"{real.api}/api/v1/chats", params={"offset": "67059606777"}, headers=real.auth(), timeout=10)
    assert reply.status_code == 200 and reply.json()["chats"] == [], reply.text
