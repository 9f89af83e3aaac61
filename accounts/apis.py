"""REST endpoints of accounts: thin views over services and selectors."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.authentication import AuthenticatedRequest, BearerProfileAuthentication, BrowsableAPISessionAuthentication
from accounts.models import User
from chats.selectors import visible_presence
from neonchat.apidocs import LIMIT_SCHEMA, error_responses
from neonchat.fields import StrictCharField, UsernameField
from neonchat.pagination import parse_limit
from neonchat.ratelimit import LoginRateThrottle, UserRateThrottle


def user_payload(user: User) -> dict[str, Any]:
    return {"id": str(user.pk), "username": user.username, "created_at": user.created_at}


class UserSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    username = serializers.CharField()
    created_at = serializers.DateTimeField()


class CredentialsSerializer(serializers.Serializer):
    username = StrictCharField(max_length=255, trim_whitespace=False)
    password = StrictCharField(max_length=4096, trim_whitespace=False)


class RegisterSerializer(serializers.Serializer):
    """The register body, with the username and password rules in the schema."""

    username = UsernameField(min_length=3, max_length=50, trim_whitespace=False, help_text="letters, digits, _ . -")
    password = StrictCharField(min_length=6, max_length=1024, trim_whitespace=False)


class LoginUserSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    username = serializers.CharField()


class LoginResponseSerializer(serializers.Serializer):
    token = serializers.CharField()
    expires_in = serializers.IntegerField()
    user = LoginUserSerializer()


class UserWithPresenceSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    username = serializers.CharField()
    online = serializers.BooleanField(
        allow_null=True, help_text="for users who share a chat with you; null for everyone else"
    )


class UserListSerializer(serializers.Serializer):
    users = UserWithPresenceSerializer(many=True)
    has_more = serializers.BooleanField()


class RegisterApi(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginRateThrottle]

    @extend_schema(
        operation_id="auth_register",
        request=RegisterSerializer,
        responses={201: UserSerializer, **error_responses(400, 409, 429)},
    )
    def post(self, request: Request) -> Response:
        data = RegisterSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_register(**data.validated_data)
        return Response(UserSerializer(user_payload(user)).data, status=status.HTTP_201_CREATED)


class LoginApi(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginRateThrottle]

    @extend_schema(
        operation_id="auth_login",
        request=CredentialsSerializer,
        responses={200: LoginResponseSerializer, **error_responses(400, 401, 429)},
    )
    def post(self, request: Request) -> Response:
        data = CredentialsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user, token, lifetime = services.user_login(**data.validated_data)
        return Response(
            {"token": token, "expires_in": lifetime, "user": {"id": str(user.pk), "username": user.username}}
        )


class LogoutApi(APIView):
    @extend_schema(operation_id="auth_logout", request=None, responses={204: None, **error_responses(401, 429)})
    def post(self, request: AuthenticatedRequest) -> Response:
        services.token_revoke(claims=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    authentication_classes = [BearerProfileAuthentication, BrowsableAPISessionAuthentication]

    @extend_schema(operation_id="users_me", responses={200: UserSerializer, **error_responses(401, 429)})
    def get(self, request: AuthenticatedRequest) -> Response:
        # Already in the response's shape (UUID and datetime rendered by the JSON renderer as the serializer would).
        return Response(selectors.caller_profile(caller=request.user))


class UserListApi(APIView):
    throttle_classes = [UserRateThrottle]

    @extend_schema(
        operation_id="users_list",
        parameters=[
            OpenApiParameter("search", str, description="Username prefix (case-insensitive)"),
            OpenApiParameter("limit", LIMIT_SCHEMA, description="default 20, max 100 (clamped)"),
        ],
        responses={200: UserListSerializer, **error_responses(400, 401, 429)},
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        limit = parse_limit(request.query_params.get("limit"), default=20, maximum=100)
        prefix = request.query_params.get("search", "")[:50]
        users, has_more = selectors.user_search(prefix=prefix, limit=limit, exclude_id=request.user.pk)
        online = visible_presence(viewer_id=request.user.pk, user_ids=[str(u.pk) for u in users])
        return Response(
            {
                "users": [{"id": str(u.pk), "username": u.username, "online": online[str(u.pk)]} for u in users],
                "has_more": has_more,
            }
        )
