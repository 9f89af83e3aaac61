"""REST read path at scale: a chat with 100,000 messages and a user with 1,000 chats.

Seeds the database behind a running api directly (bulk inserts through the
ORM, the same rows ``message_send`` would write), then times real HTTP
requests against the api and prints p50/p95 per request kind.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/neonchat_bench \\
      .venv/bin/python -m bench.history --api http://127.0.0.1:8110 --messages 100000 --chats 1000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench.hist import Histogram

PASSWORD = "bench-password-123"  # noqa: S105 - a throwaway benchmark account


def seed(messages: int, chats: int) -> dict[str, str]:
    """Create ``heavy`` (``chats`` chats, the first with ``messages`` messages)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "neonchat.settings")
    import django

    django.setup()
    from accounts.models import User
    from chats.models import Chat, ChatMember
    from messaging.models import Message

    tag = uuid.uuid4().hex[:6]
    heavy = User.objects.create_user(f"heavy{tag}", PASSWORD)
    partners = User.objects.bulk_create(
        [User(username=f"p{tag}{i}", password=heavy.password) for i in range(chats)], batch_size=1000
    )
    now = datetime.now(tz=UTC)
    chat_rows = []
    for index, partner in enumerate(partners):
        low, high = sorted((heavy.pk, partner.pk))
        chat_rows.append(Chat(user_low_id=low, user_high_id=high, updated_at=now - timedelta(seconds=index)))
    Chat.objects.bulk_create(chat_rows, batch_size=1000)
    members = []
    for chat, partner in zip(chat_rows, partners, strict=True):
        members += [
            ChatMember(chat=chat, user=heavy, partner=partner),
            ChatMember(chat=chat, user=partner, partner=heavy),
        ]
    ChatMember.objects.bulk_create(members, batch_size=2000)
    big = chat_rows[0]
    start = now - timedelta(seconds=messages)
    batch: list[Message] = []
    for seq in range(1, messages + 1):
        sender = heavy.pk if seq % 2 else partners[0].pk
        moment = start + timedelta(seconds=seq)
        batch.append(
            Message(chat=big, sender_id=sender, text=f"message {seq}", seq=seq, request_id=uuid.uuid4(),
                    created_at=moment, updated_at=moment)
        )  # fmt: skip
        if len(batch) == 5000:
            Message.objects.bulk_create(batch)
            batch = []
    Message.objects.bulk_create(batch)
    last = Message.objects.get(chat=big, seq=messages)
    Chat.objects.filter(pk=big.pk).update(last_seq=messages, last_message=last, updated_at=now)
    middle = Message.objects.get(chat=big, seq=messages // 2)
    first = Message.objects.get(chat=big, seq=1)
    return {"username": heavy.username, "chat": str(big.pk), "middle": str(middle.pk), "first": str(first.pk)}


async def measure(api: str, seeded: dict[str, str], requests: int) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=api, timeout=30) as client:
        login = await client.post("/api/v1/auth/login", json={"username": seeded["username"], "password": PASSWORD})
        login.raise_for_status()
        client.headers["Authorization"] = f"Bearer {login.json()['token']}"
        chat = seeded["chat"]
        kinds = {
            "chat list (limit 20)": ("/api/v1/chats", {"limit": "20"}),
            "chat list (limit 100, offset 500)": ("/api/v1/chats", {"limit": "100", "offset": "500"}),
            "history newest page (50)": (f"/api/v1/chats/{chat}/messages", {"limit": "50"}),
            "history middle (before_id, 50)": (f"/api/v1/chats/{chat}/messages", {"before_id": seeded["middle"]}),
            "history after_id from start (200)": (
                f"/api/v1/chats/{chat}/messages",
                {"after_id": seeded["first"], "limit": "200"},
            ),
        }
        results: dict[str, Any] = {}
        for name, (path, params) in kinds.items():
            hist = Histogram()
            for _ in range(requests):
                started = time.perf_counter()
                reply = await client.get(path, params=params)
                hist.record(time.perf_counter() - started)
                reply.raise_for_status()
            results[name] = hist.summary_ms()
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api", default="http://127.0.0.1:8080")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--chats", type=int, default=1_000)
    parser.add_argument("--requests", type=int, default=200, help="requests per kind")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    started = time.perf_counter()
    seeded = seed(args.messages, args.chats)
    print(f"seeded {args.messages} messages and {args.chats} chats in {time.perf_counter() - started:.1f}s")
    results = asyncio.run(measure(args.api, seeded, args.requests))
    print(f"{'request':<38}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    for name, row in results.items():
        print(f"{name:<38}{row['p50_ms']:>9}{row['p95_ms']:>9}{row['p99_ms']:>9}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"messages": args.messages, "chats": args.chats, "results": results}, handle, indent=2)


if __name__ == "__main__":
    main()
