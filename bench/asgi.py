"""The ASGI app under Django's own handler (a new thread per request): the ``thread-per-request``
variant of bench/matrix.py, against ``neonchat.asgi``'s pooled handler."""

import os
from typing import cast

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
django.setup(set_prefix=False)

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402

from messaging.routing import websocket_urlpatterns  # noqa: E402
from neonchat.roles import ASGIApp  # noqa: E402
from neonchat.staticfiles import StaticFiles  # noqa: E402

application = ProtocolTypeRouter(
    {"http": StaticFiles(cast(ASGIApp, ASGIHandler())), "websocket": URLRouter(websocket_urlpatterns)}
)
