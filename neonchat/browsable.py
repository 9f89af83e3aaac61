"""The browsable API's front door: the API root and a session login for its pages.

The login is Django's ``LoginView`` with DRF's template, under the same
per-IP and per-username limit as ``POST /api/v1/auth/login``. The session it
opens is accepted only by pages of the browsable API (see
``accounts.authentication.BrowsableAPISessionAuthentication``); JSON clients
stay Bearer-only.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.views import LoginView, LogoutView
from django.http import HttpRequest, HttpResponse
from django.urls import path, reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from neonchat import kv
from neonchat.ratelimit import client_ip, hit_window

ENDPOINTS = {
    "register": "auth-register",
    "login": "auth-login",
    "logout": "auth-logout",
    "me": "users-me",
    "users": "users-list",
    "chats": "chats",
}


class ApiRootApi(APIView):
    """Lists the API's collections; the rest hang off them (``/chats/{id}/messages``)."""

    permission_classes = [AllowAny]
    throttle_classes: list[type] = []

    @extend_schema(
        operation_id="api_root",
        responses={
            200: inline_serializer("ApiRoot", {"endpoints": serializers.DictField(child=serializers.URLField())})
        },
    )
    def get(self, request: Request) -> Response:
        return Response(
            {"endpoints": {key: request.build_absolute_uri(reverse(name)) for key, name in ENDPOINTS.items()}}
        )


def _login_wait(request: HttpRequest) -> float:
    limit = int(settings.LOGIN_RATE_LIMIT_PER_MINUTE)
    idents = [f"ip:{client_ip(request)}"]
    username = request.POST.get("username", "")
    if username:
        idents.append(f"name:{username.lower()[:64]}")
    try:
        return max(hit_window("login", ident, limit) for ident in idents)
    except kv.STORE_ERRORS:
        return 0.0  # fails open, like the API's login throttle


class BrowsableLoginView(LoginView):
    template_name = "rest_framework/login.html"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        wait = _login_wait(request)
        if wait:
            text = f"Too many login attempts; try again in {round(wait)} s."
            return HttpResponse(text, status=429, content_type="text/plain", headers={"Retry-After": str(round(wait))})
        return super().post(request, *args, **kwargs)


app_name = "rest_framework"  # the names DRF's templates link to
urlpatterns = [
    path("login/", BrowsableLoginView.as_view(), name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),
]
