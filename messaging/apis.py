"""REST endpoints of messages."""

from __future__ import annotations

import uuid

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import AuthenticatedRequest
from messaging import search, selectors, services
from messaging.payloads import message_payload
from neonchat.apidocs import LIMIT_SCHEMA, error_responses, message_event_field, message_kind_field
from neonchat.fields import MessageTextField, StrictUUIDField
from neonchat.pagination import parse_limit, parse_uuid
from neonchat.text import TEXT_MAX


class MessageSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    chat_id = serializers.UUIDField()
    sender_id = serializers.UUIDField()
    text = serializers.CharField(allow_blank=True)
    seq = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    deleted = serializers.BooleanField()
    kind = message_kind_field()
    event = message_event_field()


class MessagePageSerializer(serializers.Serializer):
    messages = MessageSerializer(many=True)
    has_previous = serializers.BooleanField()
    has_next = serializers.BooleanField()


class SearchResultSerializer(serializers.Serializer):
    message = MessageSerializer()
    highlight = serializers.CharField(help_text="the text HTML-escaped, matched words wrapped in <mark>...</mark>")


class SearchPageSerializer(serializers.Serializer):
    results = SearchResultSerializer(many=True)
    has_more = serializers.BooleanField()


class MessageSendSerializer(serializers.Serializer):
    text = MessageTextField(max_length=TEXT_MAX)
    request_id = StrictUUIDField()


class MessageEditSerializer(serializers.Serializer):
    text = MessageTextField(max_length=TEXT_MAX)


class MessageListCreateApi(APIView):
    @extend_schema(
        operation_id="messages_list",
        parameters=[
            OpenApiParameter("limit", LIMIT_SCHEMA, description="default 50, max 200 (larger values are clamped)"),
            OpenApiParameter("before_id", uuid.UUID, description="page of messages older than this one"),
            OpenApiParameter("after_id", uuid.UUID, description="page of newer messages (not with before_id)"),
        ],
        responses={200: MessagePageSerializer, **error_responses(400, 401, 404, 429)},
    )
    def get(self, request: AuthenticatedRequest, chat_id: uuid.UUID) -> Response:
        params = request.query_params
        page = selectors.message_page(
            user_id=request.user.pk,
            chat_id=chat_id,
            limit=parse_limit(params.get("limit"), default=50, maximum=200),
            before_id=parse_uuid("before_id", params.get("before_id")),
            after_id=parse_uuid("after_id", params.get("after_id")),
        )
        return Response(page)

    @extend_schema(
        operation_id="messages_send",
        request=MessageSendSerializer,
        responses={200: MessageSerializer, 201: MessageSerializer, **error_responses(400, 401, 404, 409, 429)},
    )
    def post(self, request: AuthenticatedRequest, chat_id: uuid.UUID) -> Response:
        data = MessageSendSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        message, created = services.message_send(sender_id=request.user.pk, chat_id=chat_id, **data.validated_data)
        return Response(message_payload(message), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class MessageDetailApi(APIView):
    @extend_schema(
        operation_id="messages_edit",
        request=MessageEditSerializer,
        responses={200: MessageSerializer, **error_responses(400, 401, 403, 404, 409, 429)},
    )
    def patch(self, request: AuthenticatedRequest, chat_id: uuid.UUID, message_id: uuid.UUID) -> Response:
        data = MessageEditSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        message = services.message_edit(
            user_id=request.user.pk, chat_id=chat_id, message_id=message_id, text=data.validated_data["text"]
        )
        return Response(message_payload(message))

    @extend_schema(operation_id="messages_delete", responses={204: None, **error_responses(401, 403, 404, 429)})
    def delete(self, request: AuthenticatedRequest, chat_id: uuid.UUID, message_id: uuid.UUID) -> Response:
        services.message_delete(user_id=request.user.pk, chat_id=chat_id, message_id=message_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MessageSearchApi(APIView):
    @extend_schema(
        operation_id="messages_search",
        summary="Search my messages",
        description=(
            "Every word of q must match (case-insensitive, Latin and Cyrillic); the last word also matches as a "
            "prefix. Only chats I am a member of; deleted messages never match. Newest first."
        ),
        parameters=[
            OpenApiParameter(
                "q",
                {"type": "string", "minLength": 1, "maxLength": search.QUERY_MAX},
                required=True,
                description=f"1-{search.QUERY_MAX} characters; without a letter or digit nothing matches",
            ),
            OpenApiParameter("chat_id", uuid.UUID, description="only this chat (one of mine)"),
            OpenApiParameter("limit", LIMIT_SCHEMA, description="default 20, max 100 (larger values are clamped)"),
            OpenApiParameter("before_id", uuid.UUID, description="next page: results older than this message"),
        ],
        responses={200: SearchPageSerializer, **error_responses(400, 401, 404, 429, 503)},
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        params = request.query_params
        page = search.message_search(
            user_id=request.user.pk,
            q=params.get("q"),
            chat_id=parse_uuid("chat_id", params.get("chat_id")),
            limit=parse_limit(params.get("limit"), default=20, maximum=100),
            before_id=parse_uuid("before_id", params.get("before_id")),
        )
        return Response(page)
