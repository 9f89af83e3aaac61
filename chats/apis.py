"""REST endpoints of chats."""

from __future__ import annotations

import uuid

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import AuthenticatedRequest
from chats import services
from messaging.selectors import chat_detail, chat_list
from messaging.services import chat_mark_read
from neonchat.apidocs import LIMIT_SCHEMA, OFFSET_SCHEMA, error_responses
from neonchat.fields import StrictUUIDField
from neonchat.pagination import parse_bool, parse_limit, parse_offset


class ChatCreateSerializer(serializers.Serializer):
    partner_id = StrictUUIDField()


class MarkReadSerializer(serializers.Serializer):
    message_id = StrictUUIDField()


class PartnerSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    username = serializers.CharField()
    online = serializers.BooleanField()


class LastMessageSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    text = serializers.CharField(allow_blank=True)
    sender_id = serializers.UUIDField()
    created_at = serializers.DateTimeField()
    deleted = serializers.BooleanField()


class ChatSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    partner = PartnerSerializer()
    last_message = LastMessageSerializer(allow_null=True)
    unread_count = serializers.IntegerField()
    last_read_seq = serializers.IntegerField(help_text="my read watermark")
    partner_last_read_seq = serializers.IntegerField(help_text="the partner's read watermark (read marks)")
    last_seq = serializers.IntegerField()
    updated_at = serializers.DateTimeField()


class ChatListSerializer(serializers.Serializer):
    chats = ChatSerializer(many=True)
    total = serializers.IntegerField()
    has_more = serializers.BooleanField()


class ChatListCreateApi(APIView):
    @extend_schema(
        operation_id="chats_list",
        parameters=[
            OpenApiParameter("limit", LIMIT_SCHEMA, description="default 20, max 100 (larger values are clamped)"),
            OpenApiParameter("offset", OFFSET_SCHEMA, description="default 0"),
            OpenApiParameter("unread_only", bool, description="default false"),
        ],
        responses={200: ChatListSerializer, **error_responses(400, 401, 429)},
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        params = request.query_params
        page = chat_list(
            user_id=request.user.pk,
            limit=parse_limit(params.get("limit"), default=20, maximum=100),
            offset=parse_offset(params.get("offset")),
            unread_only=parse_bool("unread_only", params.get("unread_only")),
        )
        return Response(page)

    @extend_schema(
        operation_id="chats_create",
        request=ChatCreateSerializer,
        responses={200: ChatSerializer, 201: ChatSerializer, **error_responses(400, 401, 404, 429)},
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        data = ChatCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        chat, created = services.chat_get_or_create(
            user_id=request.user.pk, partner_id=data.validated_data["partner_id"]
        )
        body = chat_detail(user_id=request.user.pk, chat_id=chat.pk)
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class ChatDetailApi(APIView):
    @extend_schema(operation_id="chats_retrieve", responses={200: ChatSerializer, **error_responses(401, 404, 429)})
    def get(self, request: AuthenticatedRequest, chat_id: uuid.UUID) -> Response:
        return Response(chat_detail(user_id=request.user.pk, chat_id=chat_id))


class ChatReadApi(APIView):
    @extend_schema(
        operation_id="chats_mark_read",
        request=MarkReadSerializer,
        responses={204: None, **error_responses(400, 401, 404, 429)},
    )
    def post(self, request: AuthenticatedRequest, chat_id: uuid.UUID) -> Response:
        data = MarkReadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        chat_mark_read(
            user_id=request.user.pk,
            chat_id=chat_id,
            message_id=data.validated_data["message_id"],
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
