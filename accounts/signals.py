"""Domain events of accounts, sent after commit (see ``accounts.services``)."""

from django.dispatch import Signal

# kwargs: user_id (str), jti (str | None: None means every session of the user)
sessions_revoked = Signal()
