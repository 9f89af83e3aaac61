"""Batched presence reads for the REST side."""

from __future__ import annotations

import logging

from neonchat import kv
from presence import store

logger = logging.getLogger(__name__)


def online_map(user_ids: list[str]) -> dict[str, bool]:
    """``{user_id: online}`` in one store round trip; all ``False`` if presence is unreachable.

    Read straight from the presence store (one ``MGET``), in every mode: the
    same read the notifier's ``GetUsersStatus`` serves to other callers,
    without waking a second process for every page of chats.
    """
    if not user_ids:
        return {}
    try:
        return {uid: s.status != "offline" for uid, s in store.read_statuses(user_ids).items()}
    except kv.STORE_ERRORS:
        logger.warning("presence store unreachable; reporting everyone offline")
        return dict.fromkeys(user_ids, False)
