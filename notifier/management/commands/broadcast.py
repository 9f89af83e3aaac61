"""``manage.py broadcast "text" [--user NAME ...]``: a system message to users or everyone."""

from __future__ import annotations

import logging
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from neonchat import kv
from neonchat.errors import ApplicationError
from neonchat.local import default_api_url
from notifier.relay import relay_broadcast
from notifier.services import system_broadcast


class Command(BaseCommand):
    help = "Send a system message to the given users (by username), or to everyone connected."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("text")
        parser.add_argument("--user", action="append", default=[], help="username (repeatable)")
        parser.add_argument(
            "--url", default=None, help="embedded mode: the running server (default: 127.0.0.1 on $PORT or 8080)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
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
            if kv.is_embedded():
                # The sockets live in the embedded server's process: it sends the broadcast (notifier/relay.py).
                logging.getLogger("httpx").setLevel(logging.WARNING)  # its request line is not the command's output
                url = options["url"] or default_api_url()
                count = relay_broadcast(url, text=options["text"], user_ids=list(users.values()))
            else:
                count = system_broadcast(text=options["text"], user_ids=list(users.values()))
        except ApplicationError as error:
            raise CommandError(error.message) from None
        self.stdout.write(f"delivered to {count} connected user(s)")
