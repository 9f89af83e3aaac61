"""Prometheus metrics of the messaging path (spec section 7.2)."""

from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Gauge, Histogram

from neonchat.errors import ApplicationError

# Counted by the service layer, whichever transport sent the message (REST,
# WebSocket, a group's event message): status "created" once the message is
# committed, "duplicate" for a repeated request_id (answered with the original),
# both with the chat's kind ("direct" or "group"); "rejected" for a send the
# service refused before any chat was written (not a member, bad text, a
# request_id used for another chat, the WebSocket message rate), chat_type
# "unknown".
messages_sent = Counter("chat_messages_sent_total", "Messages sent", ["chat_type", "status"])
websocket_connections = Gauge(
    "websocket_connections_current", "Current number of WebSocket connections", multiprocess_mode="livesum"
)
delivery_latency = Histogram(
    "chat_message_delivery_seconds",
    "From commit to the frame handed to the recipient's socket",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
ws_errors = Counter("websocket_errors_total", "Error frames sent to clients", ["code"])
send_batch_size = Histogram(
    "chat_send_batch_size",
    "WebSocket sends stored per group commit (one round trip and one commit each)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)


def count_sent(chat_kind: str, status: str) -> None:
    messages_sent.labels(chat_kind, status).inc()


@contextmanager
def rejections_counted() -> Iterator[None]:
    """Count a send the service refuses (an ``ApplicationError``) once, whichever transport asked."""
    try:
        yield
    except ApplicationError:
        messages_sent.labels("unknown", "rejected").inc()
        raise
