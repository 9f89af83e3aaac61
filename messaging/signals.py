"""Domain events of messaging, sent from ``transaction.on_commit`` only.

Each carries JSON-ready payloads (``messaging.payloads``) and the chat's
``member_ids``, so the realtime side never queries the database to fan out.
"""

from django.dispatch import Signal

# kwargs: message (dict), member_ids (list[str]), origin (str: the sending connection, or "")
message_committed = Signal()
# kwargs: message (dict), member_ids (list[str])
message_updated = Signal()
# kwargs: chat_id, message_id (str), seq (int), member_ids (list[str])
message_deleted = Signal()
# kwargs: chat_id, user_id, message_id (str), seq (int), member_ids (list[str])
chat_read = Signal()
