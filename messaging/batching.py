"""The WebSocket send path: group commit on the event loop (PostgreSQL).

Sends waiting at the same moment go to PostgreSQL together, through psycopg's
async pool, without a thread hop: one round trip and one commit per batch.
There is no timer: a lone send goes at once; under load the next batch grows
by itself while the previous one is in flight (``DB_SEND_CONNECTIONS`` at
once, on separate connections; one by default, which measured best: larger
batches, and no two batches of one gateway waiting on the same chats'
locks). After the commit each sender is answered and the batch's new
messages leave for fan-out (``messages_committed``): this gateway's own
connections get them at once, the others through one notifier call.

The invariants are those of :func:`messaging.services.message_send`, whose
one-statement send this mirrors for many rows:

* the ack comes only after the commit;
* per chat, ``seq`` is gap-free and follows arrival order within a batch;
* a repeated ``(sender, request_id)`` (in the batch, across batches, across
  gateways, or through REST) returns the original and is neither stored nor
  fanned out twice;
* a bad row (not a member, ``request_id`` used for another chat) fails alone;
* the sender's read watermark moves to their message.

Embedded mode (SQLite, one writer) sends through ``message_send`` on the
database thread instead.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson
import psycopg
import psycopg.errors
from django.conf import settings
from psycopg.conninfo import make_conninfo
from psycopg_pool import AsyncConnectionPool

from messaging.metrics import count_sent, rejections_counted, send_batch_size
from messaging.models import Message
from messaging.payloads import message_fields, message_payload
from messaging.services import message_send, validate_text
from messaging.signals import CommittedMessage, messages_committed
from neonchat.db import db_call
from neonchat.errors import Conflict, NotFound, RateLimited, ServiceUnavailable
from neonchat.ratelimit import take_token, take_tokens
from neonchat.realtime import origin_var

logger = logging.getLogger(__name__)

MAX_BATCH = 256
ATTEMPTS = 3

# 1. Lock the batch's chats in one order (id): batches in flight on several
#    connections then never deadlock, and the next statement's snapshot is
#    taken after the locks, so it sees every send committed before them.
_LOCK_CHATS = "SELECT 1 FROM chats WHERE id = ANY(%(chats)s::uuid[]) ORDER BY id FOR UPDATE"

# 2. The send of every accepted row. A row is accepted if its sender is a member
#    of its chat and its (sender, request_id) is not stored yet. The rows take
#    the seqs after the chat's last_seq in arrival order (ord): the chats are
#    locked since statement 1, so this statement's snapshot holds their latest
#    last_seq, which then moves by the number of accepted rows. The senders'
#    watermarks move to their newest. chats.last_message_id points at a row
#    inserted in the same statement (Django's foreign keys are DEFERRABLE
#    INITIALLY DEFERRED).
_SEND_BATCH = """
WITH input AS (
    SELECT (r->>0)::uuid AS id, (r->>1)::uuid AS chat_id, (r->>2)::uuid AS sender_id, r->>3 AS text,
           (r->>4)::uuid AS request_id, (r->>5)::timestamptz AS created_at, ord
    FROM json_array_elements(%(rows)s::json) WITH ORDINALITY AS t(r, ord)
), accepted AS (
    SELECT i.*, c.last_seq + row_number() OVER (PARTITION BY i.chat_id ORDER BY i.ord) AS seq
    FROM input i
    JOIN chat_members cm ON cm.user_id = i.sender_id AND cm.chat_id = i.chat_id
    JOIN chats c ON c.id = i.chat_id
    WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.sender_id = i.sender_id AND m.request_id = i.request_id)
), per_chat AS (
    SELECT chat_id, max(seq) AS last_seq, max(created_at) AS newest, (array_agg(id ORDER BY seq DESC))[1] AS last_id
    FROM accepted GROUP BY chat_id
), bumped AS (
    UPDATE chats c SET last_seq = p.last_seq, updated_at = GREATEST(c.updated_at, p.newest), last_message_id = p.last_id
    FROM per_chat p WHERE c.id = p.chat_id
), inserted AS (
    INSERT INTO messages (id, chat_id, sender_id, text, seq, request_id, created_at, updated_at)
    SELECT id, chat_id, sender_id, text, seq, request_id, created_at, created_at FROM accepted
)
UPDATE chat_members cm SET last_read_seq = w.seq
FROM (SELECT chat_id, sender_id, max(seq) AS seq FROM accepted GROUP BY chat_id, sender_id) w
WHERE cm.chat_id = w.chat_id AND cm.user_id = w.sender_id AND cm.last_read_seq < w.seq
"""

# 3. What each (sender, request_id) of the batch now stands for: the row just
#    inserted or the original of a repeat (same transaction, so both show).
_FETCH_SENT = """
SELECT m.id, m.chat_id, m.sender_id, m.text, m.seq, m.request_id, m.created_at, m.updated_at, m.deleted_at
FROM json_array_elements(%(rows)s::json) AS r
JOIN messages m ON m.sender_id = (r->>2)::uuid AND m.request_id = (r->>4)::uuid
"""

# 4. The recipients: every member of the batch's chats, direct or group, read
#    once per chat and batch (not per message), behind the locks: a membership
#    change committed before is seen, a later one waits for this commit and its
#    event message follows these messages in seq. No cache to invalidate.
_FETCH_MEMBERS = (
    "SELECT c.id, c.kind, ARRAY(SELECT cm.user_id FROM chat_members cm WHERE cm.chat_id = c.id) "
    "FROM chats c WHERE c.id = ANY(%(chats)s::uuid[])"
)

# The send path's connections run only the statements above, over at most
# MAX_BATCH rows: index lookups row by row are their right plan. The planner
# cannot know an array's length (nor, for a prepared statement, its value) and
# may pick hash joins that read whole tables, which grow without bound; so
# these connections plan with nested loops over indexes only.
_PLANNER = "-c enable_hashjoin=off -c enable_mergejoin=off -c enable_seqscan=off -c enable_bitmapscan=off"

# Errors a retry of the batch resolves: a concurrent send of the same
# (sender, request_id) to another chat commits first, under another chat's lock.
_RETRYABLE = (psycopg.errors.UniqueViolation, psycopg.errors.DeadlockDetected)


class SendResult(NamedTuple):
    message: dict[str, Any]  # the payload
    member_ids: list[str]
    created: bool  # False: the original of a repeated request_id
    chat_kind: str


Key = tuple[uuid.UUID, uuid.UUID]  # (sender_id, request_id)


@dataclass(slots=True)
class Send:
    sender_id: uuid.UUID
    chat_id: uuid.UUID
    text: str
    request_id: uuid.UUID
    origin: str
    future: asyncio.Future[SendResult]
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    created_at: datetime = field(default_factory=lambda: datetime.now(tz=UTC))

    @property
    def key(self) -> Key:
        return self.sender_id, self.request_id


def _resolve(send: Send, outcome: SendResult | BaseException) -> None:
    if send.future.done():  # the sender went away (its task was cancelled)
        return
    if isinstance(outcome, BaseException):
        send.future.set_exception(outcome)
    else:
        send.future.set_result(outcome)


def _outcome(send: Send, row: Sequence[Any] | None) -> SendResult | BaseException:
    if row is None:
        return NotFound("Chat not found.", code="chat_not_found")
    if row[1] != send.chat_id:
        return Conflict("This request_id was already used for another chat.", code="request_id_reused")
    message_id, chat_id, sender_id, text, seq, _, created_at, updated_at, deleted_at, members, chat_kind = row
    payload = message_fields(
        message_id=message_id, chat_id=chat_id, sender_id=sender_id, text=text, seq=seq,
        created_at=created_at, updated_at=updated_at, deleted_at=deleted_at,
    )  # fmt: skip
    return SendResult(payload, members, message_id == send.id, chat_kind)


def conninfo(options: str = "") -> str:
    """libpq connection string of the default database (what the ORM uses)."""
    db = settings.DATABASES["default"]
    return make_conninfo(
        dbname=db["NAME"], user=db.get("USER") or None, password=db.get("PASSWORD") or None,
        host=db.get("HOST") or None, port=db.get("PORT") or None, options=f"-c TimeZone=UTC {options}".strip(),
    )  # fmt: skip


async def _store(pool: AsyncConnectionPool, batch: list[Send]) -> dict[Key, Sequence[Any]]:
    """One pipeline (one round trip, one implicit transaction, one commit)."""
    # One JSON parameter (orjson encodes UUIDs and datetimes in C) instead of an
    # array per column, which psycopg dumps element by element in Python.
    rows = orjson.dumps([(s.id, s.chat_id, s.sender_id, s.text, s.request_id, s.created_at) for s in batch]).decode()
    send_batch_size.observe(len(batch))
    locked = sorted({s.chat_id for s in batch})
    async with pool.connection() as conn, conn.pipeline():
        await conn.execute(_LOCK_CHATS, {"chats": locked})
        await conn.execute(_SEND_BATCH, {"rows": rows})
        cursor = await conn.execute(_FETCH_SENT, {"rows": rows})
        members = await conn.execute(_FETCH_MEMBERS, {"chats": locked})
    chats = {chat_id: ([str(uid) for uid in ids], kind) for chat_id, kind, ids in await members.fetchall()}
    return {(row[2], row[5]): (*row, *chats.get(row[1], ([], ""))) for row in await cursor.fetchall()}


class SendBatcher:
    """Group commit of WebSocket sends for one event loop."""

    def __init__(self, pool: AsyncConnectionPool, *, connections: int) -> None:
        self.pool = pool
        self._waiting: list[Send] = []
        self._slots = asyncio.Semaphore(connections)
        self._wake = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()

    async def submit(self, send: Send) -> SendResult:
        self._waiting.append(send)
        self._wake.set()
        if self._dispatcher is None:
            self._dispatcher = asyncio.create_task(self._dispatch(), name="send-batcher")
        return await send.future

    async def _dispatch(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._waiting:
                await self._slots.acquire()  # meanwhile, the next batch grows
                batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                task = asyncio.create_task(self._run(batch))
                self._running.add(task)
                task.add_done_callback(self._running.discard)

    async def _run(self, batch: list[Send]) -> None:
        try:
            outcomes = await self._commit(batch)
        except (psycopg.Error, OSError) as error:
            logger.warning("send batch of %d failed: database unavailable (%s)", len(batch), type(error).__name__)
            outcomes = [ServiceUnavailable("try again shortly", code="service_unavailable") for _ in batch]
        except Exception as error:  # a bug: answer every sender rather than leave them waiting
            logger.exception("send batch of %d crashed", len(batch))
            outcomes = [error for _ in batch]
        finally:
            self._slots.release()
        committed = []
        for send, outcome in zip(batch, outcomes, strict=True):
            _resolve(send, outcome)
            if isinstance(outcome, BaseException):
                continue
            count_sent(outcome.chat_kind, "created" if outcome.created else "duplicate")
            if outcome.created:
                committed.append(CommittedMessage(outcome.message, outcome.member_ids, send.origin))
        if committed:
            await _announce(committed)

    async def _commit(self, batch: list[Send]) -> list[SendResult | BaseException]:
        allowed = await _within_rate_limit(batch)
        admitted = [send for send, ok in zip(batch, allowed, strict=True) if ok]
        rows = await self._store_with_retries(admitted) if admitted else {}
        return [
            _outcome(send, rows.get(send.key)) if ok else RateLimited("too many messages; slow down")
            for send, ok in zip(batch, allowed, strict=True)
        ]

    async def _store_with_retries(self, batch: list[Send]) -> dict[Key, Sequence[Any]]:
        unique: dict[Key, Send] = {}  # a repeat within the batch is answered by the first
        for send in batch:
            unique.setdefault(send.key, send)
        for attempt in range(ATTEMPTS):
            try:
                return await _store(self.pool, list(unique.values()))
            except _RETRYABLE:
                if attempt == ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    async def close(self) -> None:
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        if self._dispatcher is not None:
            self._dispatcher.cancel()
        await self.pool.close()


async def _within_rate_limit(batch: list[Send]) -> list[bool]:
    """Which sends their senders' rate limit admits (one Redis call for the batch):
    each sender's granted tokens go to its first sends in arrival order."""
    wanted: dict[str, int] = {}
    for send in batch:
        wanted[str(send.sender_id)] = wanted.get(str(send.sender_id), 0) + 1
    granted = await take_tokens("ws", wanted, float(settings.WS_MESSAGES_PER_SECOND))
    allowed = []
    for send in batch:
        ident = str(send.sender_id)
        allowed.append(granted[ident] > 0)
        granted[ident] -= 1
    return allowed


async def _announce(committed: list[CommittedMessage]) -> None:
    """Hand the batch's new messages to fan-out (the notifier app listens). Never raises."""
    try:
        await messages_committed.asend(sender=Message, messages=committed)
    except Exception:
        logger.exception("fan-out of %d committed message(s) failed; clients recover from history", len(committed))


_batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SendBatcher] = weakref.WeakKeyDictionary()


def _batcher() -> SendBatcher:
    loop = asyncio.get_running_loop()
    batcher = _batchers.get(loop)
    if batcher is None:
        connections = int(settings.DB_SEND_CONNECTIONS)
        pool = AsyncConnectionPool(
            conninfo(_PLANNER), min_size=1, max_size=connections, open=False, timeout=10,
            kwargs={"autocommit": True, "prepare_threshold": settings.DB_PREPARE_THRESHOLD}, name="send-batch",
        )  # fmt: skip
        batcher = _batchers[loop] = SendBatcher(pool, connections=connections)
    return batcher


async def close_batcher() -> None:
    """Finish the batches in flight and close the pool of the running loop."""
    batcher = _batchers.pop(asyncio.get_running_loop(), None)
    if batcher is not None:
        await batcher.close()


async def message_send_async(
    *, sender_id: uuid.UUID, chat_id: uuid.UUID, text: str, request_id: uuid.UUID
) -> tuple[dict[str, Any], bool]:
    """Store a message once per ``(sender, request_id)`` from async code, within
    the sender's WebSocket rate limit; ``(payload, created)``.

    The connection it came from (``realtime.origin_var``) is not sent its own message.
    """
    with rejections_counted():
        validate_text(text)
        # Not ``connection.vendor``: Django's connection proxy on the event loop goes
        # through asgiref's context-local lookup, a measurable cost on every send.
        if settings.EMBEDDED_DATABASE and not await take_token(
            "ws", str(sender_id), float(settings.WS_MESSAGES_PER_SECOND)
        ):
            raise RateLimited("too many messages; slow down")
    if settings.EMBEDDED_DATABASE:  # message_send counts its own outcome
        message, created = await db_call(message_send)(
            sender_id=sender_id, chat_id=chat_id, text=text, request_id=request_id
        )
        return message_payload(message), created
    batcher = _batcher()
    if batcher.pool.closed:
        await batcher.pool.open(wait=False)
    send = Send(sender_id, chat_id, text, request_id, origin_var.get(), asyncio.get_running_loop().create_future())
    with rejections_counted():  # the batch counts what it stored or replayed
        result = await batcher.submit(send)
    return result.message, result.created
