"""``notification.v1.NotificationService`` over grpc.aio: thin, async, one error translator."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from chats.selectors import chat_has_member
from messaging.batching import MAX_BATCH
from messaging.models import Message
from messaging.payloads import message_fields, message_payload
from messaging.signals import CommittedMessage
from neonchat.db import db_call
from neonchat.errors import (
    ApplicationError,
    Conflict,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServiceUnavailable,
)
from neonchat.ids import uuid_or_none
from neonchat.realtime import Here
from notifier import delivery, signing
from presence import store
from protos.notification.v1 import notification_pb2 as pb
from protos.notification.v1 import notification_pb2_grpc as pb_grpc

logger = logging.getLogger(__name__)

_STATUS: dict[type[ApplicationError], grpc.StatusCode] = {
    InvalidInput: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    NotAuthenticated: grpc.StatusCode.UNAUTHENTICATED,
    Conflict: grpc.StatusCode.FAILED_PRECONDITION,
    RateLimited: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ServiceUnavailable: grpc.StatusCode.UNAVAILABLE,
}

Req = TypeVar("Req")
Resp = TypeVar("Resp")
Handler = Callable[[Any, Req, grpc.aio.ServicerContext], Awaitable[Resp]]


def grpc_status(error: ApplicationError) -> grpc.StatusCode:
    for cls in type(error).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]  # type: ignore[index]
    return grpc.StatusCode.INTERNAL


def translate_errors(handler: Handler[Req, Resp]) -> Handler[Req, Resp]:
    """The gRPC translator of :class:`ApplicationError`; anything else is INTERNAL, logged."""

    @functools.wraps(handler)
    async def wrapper(self: Any, request: Req, context: grpc.aio.ServicerContext) -> Resp:
        try:
            return await handler(self, request, context)
        except ApplicationError as error:
            await context.abort(grpc_status(error), f"{error.code}: {error.message}")
        except Exception:
            logger.exception("%s failed", handler.__name__)
            await context.abort(grpc.StatusCode.INTERNAL, "internal error")
        raise AssertionError("unreachable")  # context.abort always raises

    return wrapper


def _uuid(value: str, field: str) -> str:
    parsed = uuid_or_none(value)
    if parsed is None:
        raise InvalidInput(f"{field} must be a UUID", code="invalid_id")
    return str(parsed)


def _stored_message(message_id: str) -> tuple[dict[str, Any], list[str]]:
    message = Message.objects.select_related("chat").filter(pk=message_id).first()
    if message is None:
        raise NotFound("message not found", code="message_not_found")
    return message_payload(message), message.chat.member_ids()


def _event(raw: str) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        event = json.loads(raw)
    except ValueError:
        raise InvalidInput("event_json must be a JSON object", code="invalid_event") from None
    if not isinstance(event, dict):
        raise InvalidInput("event_json must be a JSON object", code="invalid_event")
    return event


def _signed_message(request: pb.SendMessageRequest) -> tuple[dict[str, Any], list[str]] | None:
    """The request's own copy, if our api/gateway signed it (no database read)."""
    members = list(request.recipient_ids)
    message = message_fields(
        message_id=request.message_id, chat_id=request.chat_id, sender_id=request.sender_id, text=request.text,
        seq=request.seq, created_at=request.created_at, updated_at=request.updated_at, deleted_at=None,
        kind=request.kind or "text", event=_event(request.event_json),
    )  # fmt: skip
    if not signing.valid(request.metadata.get(signing.METADATA_KEY, ""), message, members):
        return None
    return message, members


async def _committed(request: pb.SendMessageRequest) -> CommittedMessage:
    """The message a request stands for. Only a stored message is ever delivered,
    to its chat's real members: a caller cannot put words in anyone's mouth."""
    message_id = _uuid(request.message_id, "message_id")
    _uuid(request.chat_id, "chat_id")
    _uuid(request.sender_id, "sender_id")
    message, members = _signed_message(request) or await db_call(_stored_message)(message_id)
    here = Here(request.delivered_by, tuple(request.delivered_connection_ids)) if request.delivered_by else None
    return CommittedMessage(message, members, request.metadata.get("origin", ""), here)


class NotificationServicer(pb_grpc.NotificationServiceServicer):
    @translate_errors
    async def SendMessage(
        self, request: pb.SendMessageRequest, context: grpc.aio.ServicerContext
    ) -> pb.SendMessageResponse:
        committed = await _committed(request)
        delivered, failed = (await delivery.deliver_messages([committed]))[0]
        return pb.SendMessageResponse(success=True, delivered_to=len(delivered), failed_users=failed)

    @translate_errors
    async def SendMessages(
        self, request: pb.SendMessagesRequest, context: grpc.aio.ServicerContext
    ) -> pb.SendMessagesResponse:
        if len(request.messages) > MAX_BATCH:
            raise InvalidInput(f"at most {MAX_BATCH} messages per call", code="too_many_messages")
        committed = [await _committed(item) for item in request.messages]
        answers = await delivery.deliver_messages(committed)
        return pb.SendMessagesResponse(
            results=[
                pb.SendMessageResponse(success=True, delivered_to=len(delivered), failed_users=failed)
                for delivered, failed in answers
            ]
        )

    @translate_errors
    async def ValidateChatAccess(
        self, request: pb.ValidateChatAccessRequest, context: grpc.aio.ServicerContext
    ) -> pb.ValidateChatAccessResponse:
        user_id = _uuid(request.user_id, "user_id")
        chat_id = _uuid(request.chat_id, "chat_id")
        allowed = await db_call(chat_has_member)(user_id=user_id, chat_id=chat_id)
        return pb.ValidateChatAccessResponse(has_access=allowed, error_message="" if allowed else "no access")

    @translate_errors
    async def GetUsersStatus(
        self, request: pb.GetUsersStatusRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetUsersStatusResponse:
        user_ids = delivery.parse_user_ids(list(request.user_ids))
        statuses = await store.aread_statuses(user_ids)
        return pb.GetUsersStatusResponse(
            statuses=[
                pb.UserStatus(user_id=s.user_id, status=s.status, last_seen=s.last_seen) for s in statuses.values()
            ]
        )

    @translate_errors
    async def BroadcastSystemMessage(
        self, request: pb.BroadcastSystemMessageRequest, context: grpc.aio.ServicerContext
    ) -> pb.BroadcastSystemMessageResponse:
        user_ids = delivery.parse_user_ids(list(request.user_ids))
        count = await delivery.deliver_system(request.text, user_ids, dict(request.metadata))
        return pb.BroadcastSystemMessageResponse(success=True, delivered_to=count)
