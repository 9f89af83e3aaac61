"""System broadcasts: the one entry point for admin, ``manage.py broadcast`` and gRPC."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from django.conf import settings

from neonchat.errors import ServiceUnavailable
from notifier import delivery
from notifier.client import notifier_client


def system_broadcast(*, text: str, user_ids: list[str], metadata: dict[str, str] | None = None) -> int:
    """Send a ``system`` frame; returns how many recipients had a live connection.

    Stack mode goes through the notifier's ``BroadcastSystemMessage``;
    embedded mode delivers in-process.
    """
    delivery.validate_system_text(text)
    ids = delivery.parse_user_ids(user_ids)
    if settings.NOTIFIER_ADDR:
        count = notifier_client().broadcast(text=text, user_ids=ids, metadata=metadata)
        if count is None:
            raise ServiceUnavailable("The notification service is unavailable.")
        return count
    return int(async_to_sync(delivery.deliver_system)(text, ids, metadata or {}))
