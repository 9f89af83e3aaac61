"""The WebSocket gateway: ``/ws?token=<JWT>[&chat_id=<uuid>]`` (contract section WebSocket).

Thin by design: parse a frame, check its shape, call the same services as
REST (through ``neonchat.db.db_call``; a ``message`` through the group commit
of ``messaging.batching``, on the event loop), reply. Events from other
processes arrive through the user's channel-layer group and are filtered by scope.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any
from urllib.parse import parse_qs

import orjson
import redis
from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import DatabaseError

from accounts.selectors import user_from_token
from chats.selectors import chat_others, membership_get
from messaging.batching import message_send_async
from messaging.metrics import delivery_latency, websocket_connections, ws_errors
from messaging.presence import presence_changed, went_offline
from messaging.services import chat_mark_read
from messaging.stalls import stall_watch
from neonchat import jsonlimits
from neonchat.db import db_call
from neonchat.errors import ApplicationError
from neonchat.health import in_flight
from neonchat.ids import uuid_or_none
from neonchat.observability import request_id_var
from neonchat.origins import host_allowed, origin_allowed
from neonchat.ratelimit import take_token
from neonchat.realtime import (
    BROADCAST_GROUP,
    join_here,
    leave_here,
    origin_var,
    publish,
    release_channel,
    served_here,
    user_group,
)
from presence import store
from presence.heartbeat import registry

logger = logging.getLogger(__name__)

MAX_FRAME_BYTES = 64 * 1024
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_TOO_MANY_CONNECTIONS = 4429
CLOSE_TRY_AGAIN = 1013
CLOSE_INTERNAL_ERROR = 1011
PRESENCE_STATUSES = ("online", "away")
# Every frame type but ``message`` (which has WS_MESSAGES_PER_SECOND): a token
# bucket per user and type, at these multiples of WS_FRAMES_PER_SECOND (burst
# twice that). Presence changes fan out to every partner, hence the lowest rate.
FRAME_RATES = {"typing": 1.0, "read": 2.0, "ping": 1.0, "presence": 0.2}
INBOX_SIZE = 64  # client frames a connection may have waiting; then its socket waits

_open_connections = 0


class ClientGone(Exception):
    """The socket closed under a send (the ASGI server raises an ``OSError``); its
    disconnect is on its way, and there is nobody left to answer."""


class FrameError(Exception):
    def __init__(self, code: str, message: str, request_id: str | None = None):
        super().__init__(message)
        self.code, self.message, self.request_id = code, message, request_id


def _uuid_field(frame: dict[str, Any], name: str, request_id: str | None = None) -> uuid.UUID:
    value = frame.get(name)
    parsed = uuid_or_none(value) if isinstance(value, str) else None
    if parsed is None:
        raise FrameError("invalid_field", f"{name} must be a UUID string", request_id)
    return parsed


def _echo_id(value: Any) -> str | None:
    """The ``request_id`` to echo: as sent when it is a UUID, else ``None`` (the contract's
    "uuid or null"; an error frame must not reflect an arbitrary string back)."""
    if not isinstance(value, str) or len(value) > 45:  # "urn:uuid:" + 36
        return None
    return value if uuid_or_none(value) is not None else None


def _request_id_of(frame: Any) -> str | None:
    return _echo_id(frame.get("request_id")) if isinstance(frame, dict) else None


class ChatConsumer(AsyncWebsocketConsumer):
    user_id: str = ""
    jti: str | None = None
    scope_chat: str | None = None
    scope_partner: str | None = None
    conn_id: str = ""
    here_epoch: int = 0  # when this connection joined this process's local deliveries (realtime.join_here)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tasks: set[asyncio.Future[None]] = set()
        self.typing: dict[str, asyncio.TimerHandle] = {}
        # chat_id -> the other members (typing's audience), cached; dropped on chat_updated/chat_removed
        self.member_of: dict[str, list[str]] = {}
        self.registered = False
        self._expiry: asyncio.TimerHandle | None = None
        self._inbox: asyncio.Queue[str | bytes | None] | None = None
        self._main: asyncio.Task[Any] | None = None
        self._events: asyncio.Task[None] | None = None
        self._stalled = False
        self._writes = 0  # writes in progress (the frame task's and the event task's)
        self.write_waiting_since = 0.0
        self._came_online = False

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch without its ``aclose_old_connections()`` before every
        message: that is a hop to the one sync thread for each frame and each event.
        Nothing here uses the ORM on the event loop: ``db_call`` (a
        ``DatabaseSyncToAsync``) closes stale connections around each call, and the
        send path has its own pool."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # ---- lifecycle -------------------------------------------------------
    async def connect(self) -> None:
        self.conn_id = uuid.uuid4().hex
        request_id_var.set(f"ws-{self.conn_id[:12]}")
        if not origin_allowed(self._header("origin")) or not host_allowed(self._header("host")):
            await self.close()  # refuse the handshake (HTTP 403)
            return
        refusal = await self._refusal()
        if refusal is not None:
            await self.accept()  # close codes need an open socket
            await self.close(code=refusal)
            return
        self._register()  # presence holds this connection now: disconnect() releases it
        # Join the groups *before* the handshake completes, so nothing sent
        # right after connect is missed.
        await self.channel_layer.group_add(user_group(self.user_id), self.channel_name)
        await self.channel_layer.group_add(BROADCAST_GROUP, self.channel_name)
        await self.accept()
        if self._came_online:
            await presence_changed(self.user_id, "user_online")

    async def _refusal(self) -> int | None:
        """The close code that ends this handshake, or ``None`` to accept it."""
        if _open_connections >= settings.WS_MAX_CONNECTIONS:
            return CLOSE_TRY_AGAIN
        if not await self._authenticate():
            return CLOSE_UNAUTHORIZED
        if not await self._apply_scope():
            return CLOSE_FORBIDDEN
        try:  # last: takes one of the user's WS_MAX_CONNECTIONS_PER_USER slots, cluster-wide
            self._came_online = await store.connection_opened(self.user_id, self.conn_id, self._device_id())
        except store.TooManyConnections:
            return CLOSE_TOO_MANY_CONNECTIONS
        return None

    def _register(self) -> None:
        global _open_connections
        _open_connections += 1
        websocket_connections.inc()
        registry.add(self.conn_id, self.user_id)
        self.here_epoch = join_here(self.user_id, self.channel_name, self.conn_id)
        self.registered = True

    async def disconnect(self, code: int) -> None:
        """Idempotent: runs on the disconnect message and from ``__call__``'s cleanup."""
        global _open_connections
        if self._expiry is not None:
            self._expiry.cancel()
        for task in list(self._tasks):
            task.cancel()
        if not self.registered:
            return
        self.registered = False
        _open_connections -= 1
        websocket_connections.dec()
        registry.remove(self.conn_id)
        leave_here(self.user_id, self.channel_name)
        try:
            for chat_id in list(self.typing):
                await self._stop_typing(chat_id)
            await self.channel_layer.group_discard(user_group(self.user_id), self.channel_name)
            await self.channel_layer.group_discard(BROADCAST_GROUP, self.channel_name)
            if await store.connection_closed(self.user_id, self.conn_id):
                await went_offline(self.user_id)
        except Exception:
            logger.warning("connection cleanup failed; the presence reaper will finish it", exc_info=True)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Channels' ``AsyncConsumer.__call__`` with a leaner loop, and cleanup
        however the connection ends.

        Channels waits on the socket and the channel layer together with
        ``asyncio.wait`` and a new task per message; here each source has its own
        loop: the socket's in this task, the channel layer's in ``_events``
        (started once the handshake is decided, so no event is sent before
        ``accept``). Channels calls ``disconnect`` only for a disconnect message,
        not when the handshake's ``accept`` fails or the consumer raises, and a
        registered connection must never stay online.
        """
        self._main = asyncio.current_task()
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = await self.channel_layer.new_channel()
        self.base_send = send
        try:
            await self.dispatch(await receive())  # websocket.connect: the handshake
            if self.registered:  # accepted
                self._events = asyncio.create_task(self._pump_events(self.channel_layer.receive))
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass  # the client disconnected
        except asyncio.CancelledError:
            if not self._stalled:
                raise
            # Our own doing (see ``stalled``): returning lets the server drop the socket.
        except ClientGone:
            pass  # the socket closed under a send: nobody is left to answer
        finally:
            await self._stop_events()
            if self.registered:
                await self.disconnect(1006)

    async def _pump_events(self, receive: Callable[[str], Awaitable[dict[str, Any]]]) -> None:
        """Hand the channel layer's events for this connection to their handlers, in order."""
        channel = self.channel_name
        try:
            while True:
                await self.dispatch(await receive(channel))
        except ClientGone:
            return  # its disconnect is on the way to the socket loop
        except Exception:  # a bug: never leave the socket half served
            logger.exception("event handling crashed; closing the connection")
            with contextlib.suppress(Exception):
                await self.close(code=CLOSE_INTERNAL_ERROR)

    async def _stop_events(self) -> None:
        task, self._events = self._events, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # The layer forgets a channel when a pending receive is cancelled; if the
        # event loop was cancelled inside a handler instead (or never started), say so.
        await release_channel(self.channel_layer, self.channel_name)

    def stalled(self) -> None:
        """No write to the client progressed for ``WS_WRITE_TIMEOUT``: it stopped reading.
        The connection ends and the client resyncs from history when it comes
        back, instead of events piling up in this process."""
        if self._stalled:
            return
        self._stalled = True
        logger.warning("client stopped reading for %.0fs; dropping the connection", settings.WS_WRITE_TIMEOUT)
        if self._main is not None:
            self._main.cancel()  # its cleanup ends the other tasks of this connection

    def _header(self, name: str) -> str | None:
        wanted = name.encode()
        for key, value in self.scope.get("headers", []):
            if key.lower() == wanted:
                return str(value.decode("latin-1"))
        return None

    def _query(self) -> dict[str, list[str]]:
        return parse_qs(self.scope.get("query_string", b"").decode("latin-1"))

    def _device_id(self) -> str:
        return (self._query().get("device_id") or [""])[0][:64]

    async def _authenticate(self) -> bool:
        token = (self._query().get("token") or [""])[0]
        header = self._header("authorization") or ""
        if not token and header.lower().startswith("bearer "):
            token = header[7:].strip()
        try:
            user, claims = await db_call(user_from_token)(token)
        except ApplicationError:
            return False
        self.user_id, self.jti = str(user.pk), claims.get("jti")
        expires_in = float(claims.get("exp", 0)) - time.time()
        self._expiry = asyncio.get_running_loop().call_later(max(expires_in, 0), self._expire)
        return True

    def _expire(self) -> None:
        self._spawn(self.close(code=CLOSE_UNAUTHORIZED))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` in the background, keeping a reference until it is done."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _apply_scope(self) -> bool:
        chat_id = (self._query().get("chat_id") or [""])[0]
        if not chat_id:
            return True
        try:
            member = await db_call(membership_get)(user_id=self.user_id, chat_id=chat_id)
        except ApplicationError:
            return False
        # A direct chat's scope sees its partner's presence; a group's, its members' (see presence_event).
        partner = member.partner_id
        self.scope_chat, self.scope_partner = str(member.chat_id), None if partner is None else str(partner)
        return True

    # ---- client frames ---------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Queue the frame for this connection's own task.

        Frames are handled one after another, in the order sent, so replies
        (acks, errors, pongs) come back in that order too; and they are handled
        beside the consumer's event loop, so events for this user (the partner's
        messages, typing, reads) keep flowing while a send waits on PostgreSQL.
        A client that floods past ``INBOX_SIZE`` waiting frames is simply not
        read from until its queue drains.
        """
        if self._inbox is None:
            self._inbox = asyncio.Queue(maxsize=INBOX_SIZE)
            self._spawn(self._handle_in_order(self._inbox))
        await self._inbox.put(text_data if text_data is not None else bytes_data)

    async def _handle_in_order(self, inbox: asyncio.Queue[str | bytes | None]) -> None:
        origin_var.set(self.channel_name)  # this task's writes are not echoed to this connection
        try:
            while True:
                await self._handle(await inbox.get())
        except ClientGone:
            return  # the consumer is being ended (its disconnect is on the way)
        except Exception:  # a bug, not bad input: never leave the socket unanswered
            logger.exception("frame handling crashed; closing the connection")
            await self.close(code=CLOSE_INTERNAL_ERROR)

    async def _handle(self, raw: str | bytes | None) -> None:
        frame: Any = None
        try:
            frame = self._parse(raw)
            handler = self._HANDLERS.get(frame.get("type")) if isinstance(frame.get("type"), str) else None
            if handler is None:
                raise FrameError("unknown_type", f"unknown frame type {frame.get('type')!r}")
            await handler(self, frame)
        except FrameError as error:
            await self._send_error(error.code, error.message, error.request_id)
        except ApplicationError as error:
            await self._send_error(error.code, error.message, _request_id_of(frame))
        except (DatabaseError, redis.RedisError, OSError):
            # A dependency is down (e.g. PostgreSQL restarting): the socket stays
            # open and the client retries with the same request_id (idempotent).
            logger.warning("frame failed: dependency unavailable", exc_info=True)
            await self._send_error("service_unavailable", "try again shortly", _request_id_of(frame))

    def _parse(self, raw: str | bytes | None) -> dict[str, Any]:
        if raw is None:
            raise FrameError("invalid_frame", "empty frame")
        size = len(raw.encode("utf-8", "surrogatepass")) if isinstance(raw, str) else len(raw)
        if size > MAX_FRAME_BYTES:
            raise FrameError("frame_too_large", f"frames are limited to {MAX_FRAME_BYTES} bytes")
        try:
            frame = jsonlimits.loads(raw)
        except jsonlimits.JSONTooDeep as error:
            raise FrameError("invalid_json", str(error)) from None
        except orjson.JSONDecodeError:
            raise FrameError("invalid_json", "the frame is not valid JSON") from None
        if not isinstance(frame, dict):
            raise FrameError("invalid_frame", "a frame must be a JSON object with a type")
        return frame

    async def _send_json(self, payload: dict[str, Any]) -> None:
        """Send one frame. A write that waits (the client is not reading) is watched:
        see :mod:`messaging.stalls` and ``stalled``."""
        watch = stall_watch()
        if not self._writes:
            watch.watch(self)
        self._writes += 1
        try:
            await self.base_send({"type": "websocket.send", "text": orjson.dumps(payload).decode()})
        except OSError:  # the server's ClientDisconnected
            raise ClientGone from None
        finally:
            self._writes -= 1
            if self._writes:
                self.write_waiting_since = time.monotonic()  # progress: one of two writes went out
            else:
                watch.unwatch(self)

    async def _send_error(self, code: str, message: str, request_id: str | None = None) -> None:
        ws_errors.labels(code).inc()
        await self._send_json({"type": "error", "code": code, "message": message, "request_id": request_id})

    def _chat_of(self, frame: dict[str, Any], request_id: str | None = None) -> uuid.UUID:
        if frame.get("chat_id") is None and self.scope_chat:
            return uuid.UUID(self.scope_chat)
        return _uuid_field(frame, "chat_id", request_id)

    async def _others_in(self, chat_id: str) -> list[str]:
        """The other members of ``chat_id`` (cached per connection); 404 if not a member."""
        others = self.member_of.get(chat_id)
        if others is None:
            others = self.member_of[chat_id] = await db_call(chat_others)(user_id=self.user_id, chat_id=chat_id)
        return others

    async def on_message(self, frame: dict[str, Any]) -> None:
        echo = _echo_id(frame.get("request_id"))
        request_id = _uuid_field(frame, "request_id", echo)
        chat_id = self._chat_of(frame, echo)
        text = frame.get("text")
        if not isinstance(text, str):
            raise FrameError("invalid_field", "text must be a string", echo)
        with in_flight():  # a shutdown now waits for this ack
            try:
                message, _ = await message_send_async(
                    sender_id=uuid.UUID(self.user_id), chat_id=chat_id, text=text, request_id=request_id
                )
            except ApplicationError as error:  # counted by the service, as every outcome of a send
                raise FrameError(error.code, error.message, echo) from None
            ack = {"type": "message_sent", "request_id": echo, "status": "delivered", "message": message}
            await self._send_json(ack)

    async def _within_rate(self, kind: str) -> None:
        """The per-user limit of a frame type (see ``FRAME_RATES``); a flood gets ``rate_limited``."""
        if not await take_token(f"ws-{kind}", self.user_id, FRAME_RATES[kind] * settings.WS_FRAMES_PER_SECOND):
            raise FrameError("rate_limited", f"too many {kind} frames; slow down")

    async def on_typing(self, frame: dict[str, Any]) -> None:
        await self._within_rate("typing")
        chat_id = str(self._chat_of(frame))
        is_typing = frame.get("is_typing")
        if not isinstance(is_typing, bool):
            raise FrameError("invalid_field", "is_typing must be a boolean")
        others = await self._others_in(chat_id)
        if not is_typing:
            await self._stop_typing(chat_id)
            return
        handle = self.typing.pop(chat_id, None)
        if handle is None:  # a refresh only re-arms the timer; no new frame
            await self._publish_typing(others, chat_id, True)
        else:
            handle.cancel()
        loop = asyncio.get_running_loop()
        self.typing[chat_id] = loop.call_later(
            float(settings.TYPING_TTL), lambda: self._spawn(self._stop_typing(chat_id))
        )

    async def _stop_typing(self, chat_id: str) -> None:
        handle = self.typing.pop(chat_id, None)
        if handle is None:
            return
        handle.cancel()
        await self._publish_typing(self.member_of.get(chat_id, []), chat_id, False)

    async def _publish_typing(self, others: list[str], chat_id: str, is_typing: bool) -> None:
        if others:
            event = {"type": "typing.event", "user_id": self.user_id, "chat_id": chat_id, "is_typing": is_typing}
            await publish(others, event)

    async def on_read(self, frame: dict[str, Any]) -> None:
        await self._within_rate("read")
        chat_id = self._chat_of(frame)
        message_id = _uuid_field(frame, "message_id")
        await db_call(chat_mark_read)(user_id=uuid.UUID(self.user_id), chat_id=chat_id, message_id=message_id)

    async def on_presence(self, frame: dict[str, Any]) -> None:
        await self._within_rate("presence")
        status = frame.get("status")
        if status not in PRESENCE_STATUSES:
            raise FrameError("invalid_field", "status must be online or away")
        if await store.set_status(self.user_id, status):
            await presence_changed(self.user_id, "user_online" if status == "online" else "user_away")

    async def on_ping(self, frame: dict[str, Any]) -> None:
        await self._within_rate("ping")
        await self._send_json({"type": "pong"})

    _HANDLERS = {
        "message": on_message,
        "typing": on_typing,
        "read": on_read,
        "presence": on_presence,
        "ping": on_ping,
    }

    # ---- events from the channel layer -----------------------------------
    def _in_scope(self, chat_id: str) -> bool:
        return self.scope_chat is None or self.scope_chat == chat_id

    async def chat_message(self, event: dict[str, Any]) -> None:
        message = event["message"]
        if event.get("origin") == self.channel_name or not self._in_scope(message["chat_id"]):
            return
        if served_here(event, self.here_epoch):  # the notifier's copy of what this process delivered
            return
        await self._send_json({"type": "new_message", "message": message})
        if event.get("sent_at"):
            delivery_latency.observe(max(0.0, time.time() - float(event["sent_at"])))

    async def chat_message_updated(self, event: dict[str, Any]) -> None:
        if self._in_scope(event["message"]["chat_id"]):
            await self._send_json({"type": "message_updated", "message": event["message"]})

    async def chat_message_deleted(self, event: dict[str, Any]) -> None:
        if self._in_scope(event["chat_id"]):
            frame = {"type": "message_deleted", "chat_id": event["chat_id"], "message_id": event["message_id"]}
            await self._send_json({**frame, "seq": event["seq"]})

    async def chat_read(self, event: dict[str, Any]) -> None:
        if self._in_scope(event["chat_id"]):
            keys = ("chat_id", "user_id", "message_id", "seq")
            await self._send_json({"type": "read", **{k: event[k] for k in keys}})

    async def typing_event(self, event: dict[str, Any]) -> None:
        if self._in_scope(event["chat_id"]):
            frame = {"type": "typing", "user_id": event["user_id"], "chat_id": event["chat_id"]}
            await self._send_json({**frame, "is_typing": event["is_typing"]})

    async def presence_event(self, event: dict[str, Any]) -> None:
        if await self._presence_in_scope(event["user_id"]):
            keys = ("event", "user_id", "timestamp")
            await self._send_json({"type": "presence", **{k: event[k] for k in keys}})

    async def _presence_in_scope(self, user_id: str) -> bool:
        """Unscoped: everyone I share a chat with (the publisher's choice); scoped: that chat's other members."""
        if self.scope_chat is None:
            return True
        if self.scope_partner is not None:
            return self.scope_partner == user_id
        try:
            return user_id in await self._others_in(self.scope_chat)
        except ApplicationError:  # no longer a member: the 4403 close is on its way
            return False

    async def chat_created(self, event: dict[str, Any]) -> None:
        if self._in_scope(event["chat"]["id"]):
            await self._send_json({"type": "chat_created", "chat": event["chat"]})

    async def chat_updated(self, event: dict[str, Any]) -> None:
        self.member_of.pop(event["chat"]["id"], None)  # its members may have changed
        if self._in_scope(event["chat"]["id"]):
            await self._send_json({"type": "chat_updated", "chat": event["chat"]})

    async def chat_removed(self, event: dict[str, Any]) -> None:
        """I left or was removed: forget the chat; a connection scoped to it ends (4403)."""
        chat_id = event["chat_id"]
        self.member_of.pop(chat_id, None)
        handle = self.typing.pop(chat_id, None)
        if handle is not None:
            handle.cancel()
        if self._in_scope(chat_id):
            await self._send_json({"type": "chat_removed", "chat_id": chat_id})
        if self.scope_chat == chat_id:
            await self.close(code=CLOSE_FORBIDDEN)

    async def system_message(self, event: dict[str, Any]) -> None:
        await self._send_json({"type": "system", "text": event["text"], "metadata": event.get("metadata") or {}})

    async def session_revoked(self, event: dict[str, Any]) -> None:
        if event.get("jti") is None or event.get("jti") == self.jti:
            await self.close(code=CLOSE_UNAUTHORIZED)
