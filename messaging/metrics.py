"""Prometheus metrics of the messaging path (spec section 7.2)."""

from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from messaging.signals import CommittedMessage, message_committed, messages_committed

# status "created": every stored message, whichever transport sent it (the
# receivers below); "duplicate" and "rejected": WebSocket sends (the consumer).
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


def count_committed(**_: Any) -> None:
    messages_sent.labels("direct", "created").inc()


async def count_committed_batch(*, messages: list[CommittedMessage], **_: Any) -> None:
    messages_sent.labels("direct", "created").inc(len(messages))


def connect() -> None:
    message_committed.connect(count_committed, dispatch_uid="messaging.metrics.committed")
    messages_committed.connect(count_committed_batch, dispatch_uid="messaging.metrics.committed_batch")
