"""Where this checkout's own servers answer, for the command-line clients (``chat_client``, ``broadcast``)."""

from __future__ import annotations

import os


def default_api_url() -> str:
    """The api this checkout serves: ``make stack``'s ``API_PORT`` or ``make run``'s ``PORT`` (8080)."""
    return f"http://127.0.0.1:{os.environ.get('API_PORT') or os.environ.get('PORT') or 8080}"
