"""NotificationService over a real gRPC channel to the real servicer (port 0)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator

import grpc
import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from accounts.models import User
from accounts.services import token_issue
from chats.services import chat_get_or_create
from messaging.routing import websocket_urlpatterns
from messaging.services import message_send
from notifier.tests.conftest import ServerThread
from protos.notification.v1 import notification_pb2 as pb
from protos.notification.v1 import notification_pb2_grpc as pb_grpc

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def stub(notifier_server: ServerThread) -> Iterator[pb_grpc.NotificationServiceStub]:
    with grpc.insecure_channel(f"127.0.0.1:{notifier_server.port}") as channel:
        yield pb_grpc.NotificationServiceStub(channel)


def pair() -> tuple[User, User, str]:
    a = User.objects.create_user(f"a{uuid.uuid4().hex[:8]}", "correct-horse-battery")
    b = User.objects.create_user(f"b{uuid.uuid4().hex[:8]}", "correct-horse-battery")
    return a, b, str(chat_get_or_create(user_id=a.pk, partner_id=b.pk)[0].pk)


def code_of(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        call()  # type: ignore[operator]
    return info.value.code()


async def test_send_message_reaches_connected_members_once(stub: pb_grpc.NotificationServiceStub) -> None:
    a, b, chat_id = await database_sync_to_async(pair)()
    message, _ = await database_sync_to_async(message_send)(
        sender_id=a.pk, chat_id=uuid.UUID(chat_id), text="via grpc", request_id=uuid.uuid4()
    )
    token = (await database_sync_to_async(token_issue)(user=b))[0]
    comm = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws?token={token}")
    assert (await comm.connect(timeout=5))[0]
    # spec fields only: the notifier reads the stored message and members itself
    request = pb.SendMessageRequest(message_id=str(message.pk), chat_id=chat_id, sender_id=str(a.pk), text="via grpc")
    reply = await asyncio.to_thread(stub.SendMessage, request, timeout=5)
    assert (reply.success, reply.delivered_to, list(reply.failed_users)) == (True, 1, [])
    frame = json.loads(await comm.receive_from(timeout=3))
    assert frame["type"] == "new_message" and frame["message"]["seq"] == 1 and frame["message"]["id"] == str(message.pk)
    # a retried call does not deliver twice
    again = await asyncio.to_thread(stub.SendMessage, request, timeout=5)
    assert again.success
    assert await comm.receive_nothing(timeout=0.3)
    await comm.disconnect()


def test_send_message_reports_offline_recipients(stub: pb_grpc.NotificationServiceStub) -> None:
    a, b, chat_id = pair()
    message, _ = message_send(sender_id=a.pk, chat_id=uuid.UUID(chat_id), text="x", request_id=uuid.uuid4())
    request = pb.SendMessageRequest(message_id=str(message.pk), chat_id=chat_id, sender_id=str(a.pk), text="x")
    reply = stub.SendMessage(request, timeout=5)
    assert (reply.delivered_to, list(reply.failed_users)) == (0, [str(b.pk)])


def test_send_message_bad_input(stub: pb_grpc.NotificationServiceStub) -> None:
    bad = pb.SendMessageRequest(message_id="nope", chat_id=str(uuid.uuid4()), sender_id=str(uuid.uuid4()))
    assert code_of(lambda: stub.SendMessage(bad, timeout=5)) == grpc.StatusCode.INVALID_ARGUMENT
    unknown = pb.SendMessageRequest(
        message_id=str(uuid.uuid4()), chat_id=str(uuid.uuid4()), sender_id=str(uuid.uuid4())
    )
    assert code_of(lambda: stub.SendMessage(unknown, timeout=5)) == grpc.StatusCode.NOT_FOUND


def test_validate_chat_access(stub: pb_grpc.NotificationServiceStub) -> None:
    a, _, chat_id = pair()
    stranger = User.objects.create_user(f"s{uuid.uuid4().hex[:8]}", "correct-horse-battery")
    ask = stub.ValidateChatAccess
    assert ask(pb.ValidateChatAccessRequest(user_id=str(a.pk), chat_id=chat_id), timeout=5).has_access
    assert not ask(pb.ValidateChatAccessRequest(user_id=str(stranger.pk), chat_id=chat_id), timeout=5).has_access
    assert not ask(pb.ValidateChatAccessRequest(user_id=str(a.pk), chat_id=str(uuid.uuid4())), timeout=5).has_access
    bad = pb.ValidateChatAccessRequest(user_id="x", chat_id=chat_id)
    assert code_of(lambda: ask(bad, timeout=5)) == grpc.StatusCode.INVALID_ARGUMENT


def test_get_users_status(stub: pb_grpc.NotificationServiceStub) -> None:
    ids = [str(uuid.uuid4()) for _ in range(10_000)]
    reply = stub.GetUsersStatus(pb.GetUsersStatusRequest(user_ids=ids), timeout=10)
    assert len(reply.statuses) == 10_000
    assert {s.status for s in reply.statuses} == {"offline"} and reply.statuses[0].last_seen == 0
    assert stub.GetUsersStatus(pb.GetUsersStatusRequest(), timeout=5).statuses == []
    too_many = pb.GetUsersStatusRequest(user_ids=[*ids, str(uuid.uuid4())])
    assert code_of(lambda: stub.GetUsersStatus(too_many, timeout=10)) == grpc.StatusCode.INVALID_ARGUMENT
    malformed = pb.GetUsersStatusRequest(user_ids=["not-a-uuid"])
    assert code_of(lambda: stub.GetUsersStatus(malformed, timeout=5)) == grpc.StatusCode.INVALID_ARGUMENT


async def test_get_users_status_sees_a_live_connection(stub: pb_grpc.NotificationServiceStub) -> None:
    a, _, _ = await database_sync_to_async(pair)()
    token = (await database_sync_to_async(token_issue)(user=a))[0]
    comm = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws?token={token}")
    assert (await comm.connect(timeout=5))[0]
    reply = await asyncio.to_thread(stub.GetUsersStatus, pb.GetUsersStatusRequest(user_ids=[str(a.pk)]), timeout=5)
    assert reply.statuses[0].status == "online" and reply.statuses[0].last_seen > 0
    await comm.disconnect()


async def test_broadcast_system_message(stub: pb_grpc.NotificationServiceStub) -> None:
    a, b, _ = await database_sync_to_async(pair)()
    token = (await database_sync_to_async(token_issue)(user=a))[0]
    comm = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws?token={token}")
    assert (await comm.connect(timeout=5))[0]
    request = pb.BroadcastSystemMessageRequest(
        text="maintenance at 5", user_ids=[str(a.pk), str(b.pk)], metadata={"k": "v"}
    )
    reply = await asyncio.to_thread(stub.BroadcastSystemMessage, request, timeout=5)
    assert (reply.success, reply.delivered_to) == (True, 1)
    assert json.loads(await comm.receive_from(timeout=3)) == {
        "type": "system",
        "text": "maintenance at 5",
        "metadata": {"k": "v"},
    }
    everyone = await asyncio.to_thread(
        stub.BroadcastSystemMessage, pb.BroadcastSystemMessageRequest(text="all"), timeout=5
    )
    assert everyone.success and everyone.delivered_to >= 1
    assert json.loads(await comm.receive_from(timeout=3))["text"] == "all"
    for text in ("", "x" * 5000):
        bad = pb.BroadcastSystemMessageRequest(text=text)
        with pytest.raises(grpc.RpcError) as info:
            await asyncio.to_thread(stub.BroadcastSystemMessage, bad, timeout=5)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    await comm.disconnect()


def test_health_and_reflection(notifier_server: ServerThread) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{notifier_server.port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        reply = health.Check(health_pb2.HealthCheckRequest(service="notification.v1.NotificationService"), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
        answers = list(
            reflect.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
        )
        names = {s.name for s in answers[0].list_services_response.service}
        assert {"notification.v1.NotificationService", "grpc.health.v1.Health"} <= names


async def test_signed_requests_skip_the_database_and_forged_ones_are_refused(
    stub: pb_grpc.NotificationServiceStub,
) -> None:
    from notifier import signing

    a, b, chat_id = await database_sync_to_async(pair)()
    token = (await database_sync_to_async(token_issue)(user=b))[0]
    comm = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws?token={token}")
    assert (await comm.connect(timeout=5))[0]
    members = [str(a.pk), str(b.pk)]
    message = {"id": str(uuid.uuid4()), "chat_id": chat_id, "sender_id": str(a.pk), "text": "signed", "seq": 7,
               "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}  # fmt: skip
    fields = {"message_id": message["id"], "chat_id": chat_id, "sender_id": str(a.pk), "text": "signed", "seq": 7,
              "created_at": message["created_at"], "updated_at": message["updated_at"], "recipient_ids": members}  # fmt: skip
    signed = pb.SendMessageRequest(**fields, metadata={"signature": signing.sign(message, members)})
    reply = await asyncio.to_thread(stub.SendMessage, signed, timeout=5)
    assert reply.delivered_to == 1  # not stored, but signed by the service: delivered as is
    assert json.loads(await comm.receive_from(timeout=3))["message"]["text"] == "signed"
    forged = pb.SendMessageRequest(**{**fields, "message_id": str(uuid.uuid4()), "text": "forged"},
                                   metadata={"signature": signing.sign(message, members)})  # fmt: skip
    with pytest.raises(grpc.RpcError) as info:
        await asyncio.to_thread(stub.SendMessage, forged, timeout=5)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND  # unsigned copy: only stored messages
    assert await comm.receive_nothing(timeout=0.3)
    await comm.disconnect()


def test_validate_chat_access_of_a_group_is_for_current_members(stub: pb_grpc.NotificationServiceStub) -> None:
    from messaging.groups import group_create, group_member_remove

    a, b, _ = pair()
    c = User.objects.create_user(f"c{uuid.uuid4().hex[:8]}", "correct-horse-battery")
    group = group_create(user_id=a.pk, title="g", member_ids=[b.pk, c.pk])
    ask = stub.ValidateChatAccess
    for user in (a, b, c):
        assert ask(pb.ValidateChatAccessRequest(user_id=str(user.pk), chat_id=str(group.pk)), timeout=5).has_access
    group_member_remove(user_id=a.pk, chat_id=group.pk, target_id=c.pk)
    assert not ask(pb.ValidateChatAccessRequest(user_id=str(c.pk), chat_id=str(group.pk)), timeout=5).has_access


async def test_a_groups_event_message_travels_signed_with_every_member_as_recipient(
    stub: pb_grpc.NotificationServiceStub,
) -> None:
    from messaging.groups import group_create
    from messaging.models import Message
    from messaging.payloads import message_payload
    from notifier.client import send_request

    a, b, _ = await database_sync_to_async(pair)()
    group = await database_sync_to_async(group_create)(user_id=a.pk, title="g", member_ids=[b.pk])
    event = await database_sync_to_async(Message.objects.get)(chat=group)
    token = (await database_sync_to_async(token_issue)(user=b))[0]
    comm = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws?token={token}")
    assert (await comm.connect(timeout=5))[0]
    request = send_request(message_payload(event), [str(a.pk), str(b.pk)])
    assert list(request.recipient_ids) == [str(a.pk), str(b.pk)] and request.kind == "event"
    reply = await asyncio.to_thread(stub.SendMessage, request, timeout=5)
    assert reply.delivered_to == 1
    frame = json.loads(await comm.receive_from(timeout=3))
    assert frame["message"]["kind"] == "event" and frame["message"]["event"]["type"] == "chat_created"
    await comm.disconnect()
    from notifier import signing

    payload = message_payload(event)
    signature = signing.sign(payload, [str(a.pk), str(b.pk)])
    forged = {**payload, "event": {"type": "member_removed", "user_ids": [], "title": None}}
    assert not signing.valid(signature, forged, [str(a.pk), str(b.pk)])  # the event is signed too


async def test_a_copy_of_what_this_gateway_served_is_dropped_by_its_connections(
    stub: pb_grpc.NotificationServiceStub,
) -> None:
    """delivered_by travels from the request into the event: a connection of the gateway
    it names, joined by then, drops the notifier's copy; any other connection shows it."""
    from neonchat import realtime
    from notifier.client import send_request

    a, b, chat_id = await database_sync_to_async(pair)()
    token = (await database_sync_to_async(token_issue)(user=b))[0]
    comm = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws?token={token}")
    assert (await comm.connect(timeout=5))[0]
    members = [str(a.pk), str(b.pk)]
    for seq, by in enumerate([f"{realtime.GATEWAY_ID}:{realtime._epoch}", "gw:1"], start=1):
        message = {"id": str(uuid.uuid4()), "chat_id": chat_id, "sender_id": str(a.pk), "text": by, "seq": seq,
                   "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}  # fmt: skip
        request = send_request(message, members, "", realtime.Here(by, ()))  # signed: delivered as is
        assert (await asyncio.to_thread(stub.SendMessage, request, timeout=5)).delivered_to == 1
    assert json.loads(await comm.receive_from(timeout=3))["message"]["text"] == "gw:1"  # not the first
    assert await comm.receive_nothing(timeout=0.3)
    await comm.disconnect()
