"""uvicorn's httptools protocol with a bound on request heads and on the time to read a request.

uvicorn (0.54) leaves both open with httptools: the request line and headers
are accumulated without any size limit (a 100 MB header line was parsed, for
9 s of a frozen event loop and hundreds of MB of RSS that stayed), and no
timer runs while a request is being received, only once a response is sent
(``timeout_keep_alive``). So a client that sends half a request, or trickles
it byte by byte, holds its socket for ever. h11 bounds the head
(``h11_max_incomplete_event_size``) but has no read timeout either, and is
slower. The two guards below are what nginx calls ``large_client_header_buffers``
and ``client_header_timeout``/``client_body_timeout``, in the one place that
sees the bytes before anything is parsed: the protocol.

* **Head size**: the bytes received before a request's headers are complete
  (request line, headers, and the blank line) are counted as they arrive;
  past ``HTTP_MAX_HEADER_BYTES`` the client gets ``431`` and the connection
  closes. The count is checked per chunk read from the socket (at most a
  few hundred KB), so the cost of refusing is small and fixed; a head that
  arrives whole in one read is measured once parsed, before any application
  code runs.
* **Read time**: from the connection's first byte (or its opening, for the
  first request) to the end of the request's body, at most
  ``HTTP_REQUEST_TIMEOUT`` seconds; then ``408`` and a close (or just a close
  when the application had already started answering). The time the
  application takes to answer is not limited here.

A WebSocket handshake is an HTTP request too: both bounds apply to it up to
the upgrade. Idle keep-alive connections are closed by uvicorn itself after
``timeout_keep_alive`` (5 s, set in ``serve``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from django.conf import settings
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from neonchat.errors import error_body


def _response(status: int, code: str, message: str) -> bytes:
    body = orjson.dumps(error_body(code, message))
    head = b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body)
    return STATUS_LINE[status] + head + body


HEAD_TOO_LARGE = _response(431, "headers_too_large", "The request line and headers are too large.")
REQUEST_TIMEOUT = _response(408, "request_timeout", "The request was not received in time.")


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """See the module docstring: ``HTTP_MAX_HEADER_BYTES`` and ``HTTP_REQUEST_TIMEOUT`` from settings.

    The limits are read per connection rather than baked into a subclass, so
    uvicorn's worker processes (``serve --workers``) can load the class by name.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_head: int = settings.HTTP_MAX_HEADER_BYTES
        self.read_timeout: float = settings.HTTP_REQUEST_TIMEOUT
        self._head_bytes = 0  # raw bytes received while the head is incomplete
        self._head_size = 0  # the parsed head (URL and headers) of the current request
        self._in_head = True  # until the current request's headers are complete
        self._refused = False
        self._read_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_read_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_read_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_head:
            self._head_bytes += len(data)
            self._arm_read_timer()
        super().data_received(data)
        too_large = self._head_size > self.max_head or (self._in_head and self._head_bytes > self.max_head)
        if too_large and not self.transport.is_closing():
            self._refuse(HEAD_TOO_LARGE)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_size = 0
        self._arm_read_timer()

    def on_url(self, url: bytes) -> None:
        self._head_size += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        if self._head_size > self.max_head:
            return  # a head that arrived in one read: refused after parsing (data_received), never run
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self._head_size <= self.max_head:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._head_size > self.max_head:
            return
        super().on_message_complete()
        self._in_head, self._head_bytes = True, 0
        self._cancel_read_timer()

    def handle_websocket_upgrade(self) -> None:
        # From here the WebSocket protocol (its pings, WS_READ_TIMEOUT) owns the connection.
        if self._head_size > self.max_head:
            return
        self._cancel_read_timer()
        super().handle_websocket_upgrade()

    def _arm_read_timer(self) -> None:
        if self._read_timer is None:
            self._read_timer = self.loop.call_later(self.read_timeout, self._read_timed_out)

    def _cancel_read_timer(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _read_timed_out(self) -> None:
        self._read_timer = None
        if self.transport.is_closing():
            return
        answering = self.cycle is not None and not self._in_head and self.cycle.response_started
        if answering:
            self.transport.close()
        else:
            self._refuse(REQUEST_TIMEOUT)

    def _refuse(self, response: bytes) -> None:
        self._refused = True
        self._cancel_read_timer()
        self.transport.write(response)
        self.transport.close()
