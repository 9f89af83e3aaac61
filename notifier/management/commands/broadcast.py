"""``manage.py broadcast "text" [--user NAME ...]``: a system message to users or everyone."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from neonchat.errors import ApplicationError
from notifier.services import system_broadcast


class Command(BaseCommand):
    help = "Send a system message to the given users (by username), or to everyone connected."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("text")
        parser.add_argument("--user", action="append", default=[], help="username (repeatable)")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.NOTIFIER_ADDR and not settings.REDIS_URL:
            # Embedded mode: the server's WebSockets live in the server's own process, out of this one's reach.
            raise CommandError(
                "broadcast needs stack mode (REDIS_URL, NOTIFIER_ADDR); in embedded mode, send it from the admin: "
                "/admin/chats/chat/, select chats, action 'Send a system message to the members of the selected chats'"
            )
        names: list[str] = options["user"]
        users = (
            {u.username.lower(): str(u.pk) for u in User.objects.filter(username__lower__in=[n.lower() for n in names])}
            if names
            else {}
        )
        missing = [n for n in names if n.lower() not in users]
        if missing:
            raise CommandError(f"unknown user(s): {', '.join(missing)}")
        try:
            count = system_broadcast(text=options["text"], user_ids=list(users.values()))
        except ApplicationError as error:
            raise CommandError(error.message) from None
        self.stdout.write(f"delivered to {count} connected user(s)")
