"""``manage.py serve``: run NeonChat's ASGI app under uvicorn with graceful shutdown.

On SIGTERM/SIGINT: readiness answers 503 at once, then (after
``SHUTDOWN_DRAIN``) WebSocket sends in flight are answered, the listener
closes, WebSockets close with 1012, and in-flight requests get
``SHUTDOWN_GRACE`` seconds to finish; exit code 0.
"""

from __future__ import annotations

import socket
import threading
from types import FrameType
from typing import Any

import uvicorn
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils.module_loading import import_string

from neonchat.health import is_draining, settle, start_draining
from neonchat.httpguard import GuardedHttpToolsProtocol
from neonchat.roles import ROLES, serving


class DrainingServer(uvicorn.Server):
    """uvicorn with a drain window and a clean exit code.

    The first SIGTERM/SIGINT flips readiness to 503, then after
    ``SHUTDOWN_DRAIN`` seconds starts uvicorn's graceful shutdown. Unlike
    uvicorn's own handler it does not re-raise the signal afterwards, so a
    graceful stop exits 0. A second signal forces the exit.
    """

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if is_draining():
            self.force_exit = True
            self.should_exit = True
            return
        start_draining()
        timer = threading.Timer(float(settings.SHUTDOWN_DRAIN), self._begin_shutdown)
        timer.daemon = True
        timer.start()

    def _begin_shutdown(self) -> None:
        self.should_exit = True

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # A send stored at this moment is acknowledged before its socket closes.
        await settle(float(settings.SHUTDOWN_GRACE))
        await super().shutdown(sockets)


class Command(BaseCommand):
    help = "Serve NeonChat (REST, WebSocket, metrics, health) with uvicorn."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8080)
        parser.add_argument(
            "--role",
            choices=ROLES,
            default="all",
            help="all; api: HTTP; gateway: WebSocket, health, metrics",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        heartbeat = float(settings.WS_HEARTBEAT_INTERVAL)
        config = uvicorn.Config(
            serving(import_string(settings.ASGI_APPLICATION), options["role"]),
            host=options["host"],
            port=options["port"],
            loop="uvloop",
            # httptools with a bound on request heads and read time (neonchat/httpguard.py).
            http=GuardedHttpToolsProtocol.configured(
                max_head=settings.HTTP_MAX_HEADER_BYTES, read_timeout=settings.HTTP_REQUEST_TIMEOUT
            ),
            timeout_keep_alive=5,  # an idle keep-alive connection closes after 5 s (uvicorn's own timer)
            ws="websockets-sansio",
            ws_max_size=2 * 1024 * 1024,
            ws_per_message_deflate=False,
            ws_ping_interval=heartbeat,
            ws_ping_timeout=max(1.0, float(settings.WS_READ_TIMEOUT) - heartbeat),
            lifespan="off",
            # X-Forwarded-For is trusted only from TRUSTED_PROXIES (neonchat.ratelimit.client_ip).
            proxy_headers=False,
            access_log=False,
            log_config=None,
            timeout_graceful_shutdown=int(settings.SHUTDOWN_GRACE) or None,
            backlog=4096,
        )
        self.stdout.write(f"neonchat {options['role']} listening on http://{options['host']}:{options['port']}")
        self.stdout.flush()
        DrainingServer(config).run()
