"""ASGI entry point for every role: HTTP (Django) and WebSocket (Channels)."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "neonchat.settings")
django.setup(set_prefix=False)

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from messaging.routing import websocket_urlpatterns  # noqa: E402
from neonchat.handlers import PooledASGIHandler  # noqa: E402
from neonchat.staticfiles import StaticFiles  # noqa: E402

# Django's own handler, the comparison in docs/performance.md: bench/asgi.py.
django_asgi_app = PooledASGIHandler(threads=settings.REQUEST_THREADS)
application = ProtocolTypeRouter({"http": StaticFiles(django_asgi_app), "websocket": URLRouter(websocket_urlpatterns)})
