"""Domain events of chats (sent after commit)."""

from django.dispatch import Signal

# kwargs: chat_id (str), member_ids (list[str])
chat_created = Signal()
