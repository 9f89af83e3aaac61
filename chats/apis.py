"""REST endpoints of chats."""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import AuthenticatedRequest
from chats import selectors, services
from chats.models import GROUP_MAX_MEMBERS, TITLE_MAX, ChatMember
from messaging import groups
from messaging.selectors import chat_detail, chat_list
from messaging.services import chat_mark_read
from neonchat.apidocs import LIMIT_SCHEMA, OFFSET_SCHEMA, error_responses, message_event_field, message_kind_field
from neonchat.errors import InvalidInput
from neonchat.fields import StrictCharField, StrictUUIDField
from neonchat.pagination import parse_bool, parse_limit, parse_offset

# A request naming more users than this is refused before any lookup.
USER_IDS_MAX = 2 * GROUP_MAX_MEMBERS


class UserIdsField(serializers.ListField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=StrictUUIDField(), **kwargs)

    def to_internal_value(self, data: Any) -> list[Any]:
        if isinstance(data, list) and len(data) > USER_IDS_MAX:
            raise InvalidInput(f"A group has at most {GROUP_MAX_MEMBERS} members.", code="too_many_members")
        return super().to_internal_value(data)


class ChatCreateSerializer(serializers.Serializer):
    """``{partner_id}``: a direct chat; ``{title, member_ids}``: a group."""

    partner_id = StrictUUIDField(required=False, help_text="a direct chat with this user")
    title = StrictCharField(required=False, max_length=TITLE_MAX, trim_whitespace=False, help_text="a group's title")
    member_ids = UserIdsField(required=False, help_text="a group's other members (1-255; deduplicated, not me)")

    def validate(self, attrs: dict[str, object]) -> dict[str, object]:
        direct = "partner_id" in attrs
        group = "title" in attrs or "member_ids" in attrs
        if not direct and not group:
            raise serializers.ValidationError({"partner_id": ["This field is required (or title and member_ids)."]})
        if direct == group or (group and not ("title" in attrs and "member_ids" in attrs)):
            raise serializers.ValidationError("Send either partner_id, or title and member_ids.")
        return attrs


class ChatUpdateSerializer(serializers.Serializer):
    title = StrictCharField(max_length=TITLE_MAX, trim_whitespace=False)


class MembersAddSerializer(serializers.Serializer):
    user_ids = UserIdsField(allow_empty=False)


class RoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=[ChatMember.Role.ADMIN, ChatMember.Role.MEMBER])


class MemberSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    username = serializers.CharField()
    role = serializers.ChoiceField(choices=ChatMember.Role.choices)
    online = serializers.BooleanField()
    last_read_seq = serializers.IntegerField()


class MemberListSerializer(serializers.Serializer):
    members = MemberSerializer(many=True)
    total = serializers.IntegerField()


class MembersAddedSerializer(serializers.Serializer):
    members = MemberSerializer(many=True, help_text="the members added (already members are left out)")


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
    kind = message_kind_field()
    event = message_event_field()


class ChatSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=["direct", "group"])
    title = serializers.CharField(allow_null=True, help_text="a group's title; null for direct chats")
    members_count = serializers.IntegerField()
    partner = PartnerSerializer(allow_null=True, help_text="null for groups")
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
        description="`{partner_id}`: the direct chat with that user (200 if it exists); "
        "`{title, member_ids}`: a new group (201) owned by the caller.",
        request=ChatCreateSerializer,
        responses={200: ChatSerializer, 201: ChatSerializer, **error_responses(400, 401, 404, 429)},
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        data = ChatCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        if "partner_id" in fields:
            chat, created = services.chat_get_or_create(user_id=request.user.pk, partner_id=fields["partner_id"])
        else:
            chat, created = (
                groups.group_create(user_id=request.user.pk, title=fields["title"], member_ids=fields["member_ids"]),
                True,
            )
        body = chat_detail(user_id=request.user.pk, chat_id=chat.pk)
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class ChatDetailApi(APIView):
    @extend_schema(operation_id="chats_retrieve", responses={200: ChatSerializer, **error_responses(401, 404, 429)})
    def get(self, request: AuthenticatedRequest, chat_id: uuid.UUID) -> Response:
        return Response(chat_detail(user_id=request.user.pk, chat_id=chat_id))

    @extend_schema(
        operation_id="chats_update",
        description="Rename a group (owner or admin); members get a title_changed event and chat_updated.",
        request=ChatUpdateSerializer,
        responses={200: ChatSerializer, **error_responses(400, 401, 403, 404, 429)},
    )
    def patch(self, request: AuthenticatedRequest, chat_id: uuid.UUID) -> Response:
        data = ChatUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        groups.group_rename(user_id=request.user.pk, chat_id=chat_id, title=data.validated_data["title"])
        return Response(chat_detail(user_id=request.user.pk, chat_id=chat_id))


class ChatMembersApi(APIView):
    @extend_schema(
        operation_id="chats_members_list",
        parameters=[
            OpenApiParameter("limit", LIMIT_SCHEMA, description="default 100, max 256 (larger values are clamped)"),
            OpenApiParameter("offset", OFFSET_SCHEMA, description="default 0"),
        ],
        responses={200: MemberListSerializer, **error_responses(400, 401, 404, 429)},
    )
    def get(self, request: AuthenticatedRequest, chat_id: uuid.UUID) -> Response:
        params = request.query_params
        page = selectors.chat_members_page(
            user_id=request.user.pk,
            chat_id=chat_id,
            limit=parse_limit(params.get("limit"), default=100, maximum=GROUP_MAX_MEMBERS),
            offset=parse_offset(params.get("offset")),
        )
        return Response(page)

    @extend_schema(
        operation_id="chats_members_add",
        description="Add users to a group (owner or admin); already members are a no-op. 409 group_full past 256.",
        request=MembersAddSerializer,
        responses={200: MembersAddedSerializer, **error_responses(400, 401, 403, 404, 409, 429)},
    )
    def post(self, request: AuthenticatedRequest, chat_id: uuid.UUID) -> Response:
        data = MembersAddSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        added = groups.group_members_add(
            user_id=request.user.pk, chat_id=chat_id, user_ids=data.validated_data["user_ids"]
        )
        return Response({"members": added})


class ChatMemberApi(APIView):
    @extend_schema(
        operation_id="chats_members_set_role",
        description="Make a member an admin, or an admin a member (the owner only).",
        request=RoleSerializer,
        responses={200: MemberSerializer, **error_responses(400, 401, 403, 404, 429)},
    )
    def patch(self, request: AuthenticatedRequest, chat_id: uuid.UUID, user_id: uuid.UUID) -> Response:
        data = RoleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        member = groups.group_member_set_role(
            user_id=request.user.pk, chat_id=chat_id, target_id=user_id, role=data.validated_data["role"]
        )
        return Response(member)

    @extend_schema(
        operation_id="chats_members_remove",
        description="Remove a member (owner or admin; admins remove members only), or leave (my own id).",
        responses={204: None, **error_responses(400, 401, 403, 404, 429)},
    )
    def delete(self, request: AuthenticatedRequest, chat_id: uuid.UUID, user_id: uuid.UUID) -> Response:
        groups.group_member_remove(user_id=request.user.pk, chat_id=chat_id, target_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


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
