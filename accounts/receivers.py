"""Keeps the REST token check's ban keys in step with the database."""

from __future__ import annotations

import logging
from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_delete, post_migrate

from accounts.models import User
from accounts.services import bans_sync, user_deleted
from neonchat import kv

logger = logging.getLogger(__name__)


def on_user_deleted(*, instance: User, **_: Any) -> None:
    user_deleted(user_id=str(instance.pk))


def on_migrated(**_: Any) -> None:
    # Every start (make run, make stack, compose) migrates: the ban keys are
    # rebuilt from the database there, e.g. after the store lost its data.
    try:
        bans_sync()
    except kv.STORE_ERRORS:
        logger.warning("could not sync bans to the key-value store; banned users' old tokens work until it is")


def connect(app: AppConfig) -> None:
    post_delete.connect(on_user_deleted, sender=User, dispatch_uid="accounts.user_deleted")
    post_migrate.connect(on_migrated, sender=app, dispatch_uid="accounts.bans_sync")
