"""Keeps the REST token check's ban keys and the stored profiles in step with the database."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from typing import Any

from django.apps import AppConfig
from django.db import transaction
from django.db.models.signals import post_delete, post_migrate, post_save

from accounts.models import User
from accounts.selectors import PROFILE_FIELDS
from accounts.services import bans_sync, profile_refresh, user_deleted
from neonchat import kv

logger = logging.getLogger(__name__)


def on_user_deleted(*, instance: User, **_: Any) -> None:
    user_deleted(user_id=str(instance.pk))


def on_user_saved(*, instance: User, created: bool, update_fields: Iterable[str] | None, **_: Any) -> None:
    # A login saves last_login only, a ban the status (refused before the profile is read).
    if created or (update_fields is not None and PROFILE_FIELDS.isdisjoint(update_fields)):
        return
    transaction.on_commit(functools.partial(profile_refresh, user_id=instance.pk), robust=True)


def on_migrated(**_: Any) -> None:
    # Every start (make run, make stack, compose) migrates: the ban keys are
    # rebuilt from the database there, e.g. after the store lost its data.
    try:
        bans_sync()
    except kv.STORE_ERRORS:
        logger.warning("could not sync bans to the key-value store; banned users' old tokens work until it is")


def connect(app: AppConfig) -> None:
    post_save.connect(on_user_saved, sender=User, dispatch_uid="accounts.profile_refresh")
    post_delete.connect(on_user_deleted, sender=User, dispatch_uid="accounts.user_deleted")
    post_migrate.connect(on_migrated, sender=app, dispatch_uid="accounts.bans_sync")
