"""ASGI entry point, as ``startproject`` writes it; served with ``uvicorn --workers N``."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.restbaseline.settings")

application = get_asgi_application()
