"""The JSON renderer's negotiation: DRF's answer, with the common case taken without parsing."""

from __future__ import annotations

import pytest
from django.http import Http404
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from neonchat.renderers import JSONFirstNegotiation, ORJSONRenderer

RENDERERS = [ORJSONRenderer(), BrowsableAPIRenderer()]


def _request(accept: str | None, query: str = "") -> Request:
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    return Request(APIRequestFactory().get(f"/api/v1/users/me{query}", **headers))


def _pick(negotiation: DefaultContentNegotiation, request: Request, suffix: str | None) -> tuple[type, str] | str:
    try:
        renderer, media_type = negotiation.select_renderer(request, RENDERERS, suffix)
    except NotAcceptable:
        return "406"
    except Http404:
        return "404"  # a ?format= no renderer has
    return type(renderer), media_type


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "*/*",
        "application/json",
        "text/html",
        "text/html,application/xhtml+xml,*/*;q=0.8",
        "application/json; indent=4",
        "application/*",
        "image/png",
        "",
        "application/json, text/html;q=0.9",
    ],
)
@pytest.mark.parametrize("query", ["", "?format=api", "?format=json", "?limit=5", "?format=xml"])
@pytest.mark.parametrize("suffix", [None, "api"])
def test_the_same_choice_as_drf(accept: str | None, query: str, suffix: str | None) -> None:
    ours = _pick(JSONFirstNegotiation(), _request(accept, query), suffix)
    assert ours == _pick(DefaultContentNegotiation(), _request(accept, query), suffix)


@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
def test_an_api_client_is_answered_without_drf_parsing(monkeypatch: pytest.MonkeyPatch, accept: str | None) -> None:
    def parse(*args: object, **kwargs: object) -> None:
        raise AssertionError("parsed")

    monkeypatch.setattr(DefaultContentNegotiation, "select_renderer", parse)
    renderer, media_type = JSONFirstNegotiation().select_renderer(_request(accept), RENDERERS)
    assert isinstance(renderer, ORJSONRenderer) and media_type == "application/json"
