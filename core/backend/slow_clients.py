"""Clients too slow to be anything but an attack (or a dead network) lose their connection.

uvicorn times out an idle keep-alive connection, but not one that sends its request headers a byte at a
time, nor a body that trickles in: a few hundred such connections would hold the server. Here the headers
of each request must be complete within HEADER_SECONDS of the connection (or of the previous response),
else a 408 and the connection closed (a body that trickles in meets core.backend.guards.SlowBodyMiddleware).
``config(app)`` is the uvicorn Config that does so; the app itself (create_app) never imports uvicorn.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_SECONDS = 10.0
_TIMEOUT_BODY = (b'{"error": {"message": "The request headers arrived too slowly.", '
                 b'"type": "invalid_request_error", "param": null, "code": "request_timeout"}}')


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on each request's headers."""

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        # asyncio sets TCP_NODELAY only on sockets created with proto IPPROTO_TCP, and the listening socket
        # `serve` makes has proto 0: without it each kept-alive request waits 40 ms for a delayed ACK
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._header_deadline: asyncio.TimerHandle | None = None
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._header_deadline = self.loop.call_later(HEADER_SECONDS, self._headers_too_slow)

    def _disarm(self) -> None:
        deadline = getattr(self, "_header_deadline", None)
        if deadline is not None:
            deadline.cancel()
            self._header_deadline = None

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the request line and headers are in
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request on this connection gets its own deadline

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        self.transport.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                             b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(_TIMEOUT_BODY), _TIMEOUT_BODY))
        self.transport.close()


def config(app, **kw):
    """The uvicorn Config `startune serve` (and the tests' server) runs the backend with."""
    import uvicorn

    return uvicorn.Config(app, http=GuardedH11Protocol, **kw)
