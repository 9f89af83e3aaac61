"""``manage.py seed_demo``: demo users (and a chat with a few messages) for a first look."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from accounts.models import User
from chats.services import chat_get_or_create
from messaging.services import message_send

DEMO_USERS = (("alice", "wonderland-42"), ("bob", "builder-2024"))
DEMO_LINES = ("Hi Bob! Welcome to NeonChat.", "Hi Alice! Realtime works.", "Open a second window and say hello.")


class Command(BaseCommand):
    help = "Create the demo users alice and bob with a chat (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--quiet", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        users = []
        for name, password in DEMO_USERS:
            user = User.objects.filter(username__lower=name.lower()).first()
            if user is None:
                user = User.objects.create_user(name, password)
            users.append(user)
        chat, created = chat_get_or_create(user_id=users[0].pk, partner_id=users[1].pk)
        if created:
            namespace = uuid.UUID("7a1f0c1e-4e55-4a52-9c53-6e656f6e6368")
            for index, text in enumerate(DEMO_LINES):
                sender = users[index % 2]
                message_send(sender_id=sender.pk, chat_id=chat.pk, text=text, request_id=uuid.uuid5(namespace, text))
        if not options["quiet"]:
            self.stdout.write("Demo users (username / password):")
            for name, password in DEMO_USERS:
                self.stdout.write(f"  {name} / {password}")
