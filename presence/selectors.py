"""Batched presence reads for the REST side."""

from __future__ import annotations

import logging

from django.conf import settings

from neonchat import kv
from notifier.client import notifier_client
from presence import store

logger = logging.getLogger(__name__)


def online_map(user_ids: list[str]) -> dict[str, bool]:
    """``{user_id: online}`` in one round trip; all ``False`` if presence is unreachable.

    Stack mode asks the notifier (one ``GetUsersStatus`` per page); embedded
    mode reads the in-process store.
    """
    if not user_ids:
        return {}
    if settings.NOTIFIER_ADDR:
        statuses = notifier_client().users_status(user_ids)
        if statuses is not None:
            return {uid: statuses.get(uid, "offline") != "offline" for uid in user_ids}
        return dict.fromkeys(user_ids, False)
    try:
        return {uid: s.status != "offline" for uid, s in store.read_statuses(user_ids).items()}
    except kv.STORE_ERRORS:
        logger.warning("presence store unreachable; reporting everyone offline")
        return dict.fromkeys(user_ids, False)
