"""Issue 29 item 6: slow clients lose their connection, and one that leaves mid-body is no error in the log.
Raw sockets against the served backend (uvicorn with startune's protocol, as `startune serve` runs it), with
the deadlines shortened so each case takes a second or two."""

from __future__ import annotations

import logging
import socket
import time

import openai
import pytest

from core.backend import guards, slow_clients
from tests.fixtures.backend import ServerThread


@pytest.fixture
def server(tmp_path, monkeypatch):
    monkeypatch.setattr(slow_clients, "HEADER_SECONDS", 1.0)
    monkeypatch.setattr(guards, "BODY_GRACE", 1.0)
    monkeypatch.setattr(guards, "MIN_BODY_RATE", 1000)
    running = ServerThread(tmp_path / "served").start()
    yield running
    running.stop()


def _connect(server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=6)
    return sock


def _trickle_until_closed(sock: socket.socket, pieces, every: float = 0.1, limit: float = 6.0) -> tuple[bytes, float]:
    """Send a piece every ``every`` seconds until the server answers and closes; (answer, seconds taken)."""
    start, answer = time.monotonic(), b""
    sock.settimeout(every)
    for piece in pieces:
        try:
            sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            break
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            chunk = None
        except ConnectionResetError:
            # closed while we still sent: the kernel resets, and may drop the 408 it had received
            return answer or b"reset", time.monotonic() - start
        if chunk == b"":
            break
        answer += chunk or b""
        assert time.monotonic() - start < limit, "the slow client was never cut off"
    sock.settimeout(limit)
    try:
        while chunk := sock.recv(65536):
            answer += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    return answer, time.monotonic() - start


def _forever(piece: bytes):
    while True:
        yield piece


def test_headers_sent_a_byte_at_a_time_are_cut_off(server):
    with _connect(server) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
        answer, took = _trickle_until_closed(sock, _forever(b"x"))
    assert answer == b"reset" or answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert took < 4


def test_a_connection_that_sends_nothing_is_closed(server):
    with _connect(server) as sock:
        answer, took = _trickle_until_closed(sock, [b""] * 100)
    assert answer.startswith(b"HTTP/1.1 408") and took < 4, answer[:200]


def test_a_trickling_body_is_cut_off_with_a_408(server):
    with _connect(server) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100000\r\n\r\n")
        answer, took = _trickle_until_closed(sock, _forever(b" " * 10))
    assert answer == b"reset" or answer.startswith(b"HTTP/1.1 408") and b"request_timeout" in answer, answer[:300]
    assert took < 5


def test_normal_clients_are_untouched(server):
    client = openai.OpenAI(api_key="x", base_url=server.base_url, max_retries=0)
    for _ in range(3):  # a kept-alive connection gets a new header deadline per request
        answer = client.chat.completions.create(model="startune-local",
                                                messages=[{"role": "user", "content": "love it"}])
        assert answer.choices[0].message.content == "5"
        time.sleep(0.6)


def test_a_client_that_leaves_mid_body_leaves_no_traceback(server):
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    keep = Keep(logging.WARNING)
    loggers = [logging.getLogger(name) for name in ("uvicorn.error", "startune.backend", "uvicorn")]
    for logger in loggers:
        logger.addHandler(keep)
    try:
        for path in (b"/v1/chat/completions", b"/v1/files", b"/v1/fine_tuning/jobs"):
            with _connect(server) as sock:
                sock.sendall(b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             b"Content-Length: 5000\r\n\r\n{\"model\": ")
            time.sleep(0.3)
        client = openai.OpenAI(api_key="x", base_url=server.base_url, max_retries=0)
        assert client.models.list().data
    finally:
        for logger in loggers:
            logger.removeHandler(keep)
    assert not records, [r.getMessage() for r in records]


def test_serves_socket_sends_without_waiting_for_acks(tmp_path):
    """`serve` listens on a socket of its own (proto 0), on which asyncio leaves Nagle on: each kept-alive
    request then waited 40 ms for a delayed ACK."""
    import threading

    import httpx2
    import uvicorn

    from core.backend.app import create_app
    from core.cli.serve_cmd import _listen
    from tests.fixtures.backend import free_port

    app = create_app(tmp_path / "b", lease=2.0)
    port = free_port()
    sock = _listen("127.0.0.1", port)
    server = uvicorn.Server(slow_clients.config(app, log_level="error"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        with httpx2.Client() as client:
            assert client.get(f"http://127.0.0.1:{port}/v1/models").status_code == 200
            [connection] = server.server_state.connections
            accepted = connection.transport.get_extra_info("socket")
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        app.state.backend.runner.stop()
