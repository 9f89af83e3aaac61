"""``manage.py run_notifier``: the gRPC notifier process (default :8081)."""

from __future__ import annotations

import asyncio
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from prometheus_client import start_http_server

from notifier.server import serve


class Command(BaseCommand):
    help = "Run the gRPC notification service (NotificationService, health, reflection)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--listen", default=None, help="address to bind (default NOTIFIER_LISTEN, 0.0.0.0:8081)")
        parser.add_argument(
            "--metrics-port", type=int, default=None, help="Prometheus port, on the --listen host (0 = off)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        listen = options["listen"] or settings.NOTIFIER_LISTEN
        metrics_port = (
            options["metrics_port"] if options["metrics_port"] is not None else settings.NOTIFIER_METRICS_PORT
        )
        if metrics_port:
            # On the gRPC listener's host: what binds 127.0.0.1 does not expose its metrics to the network.
            start_http_server(metrics_port, addr=listen.rsplit(":", 1)[0].strip("[]") or "0.0.0.0")

        def ready(port: int) -> None:
            self.stdout.write(f"neonchat notifier listening on {listen.rsplit(':', 1)[0]}:{port}")
            self.stdout.flush()

        # grpc.aio integrates with the default asyncio loop (not uvloop).
        asyncio.run(serve(listen, grace=float(settings.SHUTDOWN_GRACE), on_ready=ready))
