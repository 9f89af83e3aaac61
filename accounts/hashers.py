"""bcrypt over SHA-256 (no 72-byte truncation), with configurable cost."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import hashers


class BCryptSHA256PasswordHasher(hashers.BCryptSHA256PasswordHasher):
    """Django's ``bcrypt_sha256`` with ``PASSWORD_BCRYPT_ROUNDS`` rounds.

    The algorithm name is unchanged, so stored hashes stay verifiable by the
    stock hasher and a cost change only affects new hashes.
    """

    def __init__(self) -> None:
        self.rounds = int(settings.PASSWORD_BCRYPT_ROUNDS)
