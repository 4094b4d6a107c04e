"""`startune web` for real: the command as a subprocess, textual-serve's page, and an app process per
websocket session speaking textual-serve's protocol (what the browser's script does)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time

import pytest

pytest.importorskip("textual_serve")
aiohttp = pytest.importorskip("aiohttp")

ANSI = re.compile(rb"\x1b\[[0-9;?$]*[A-Za-z]|\x1b\][^\x07]*\x07")


def _start(*args: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-c", "from tui.cli import main; main()", "web", "--port", "0", *args],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    line = proc.stderr.readline()
    match = re.search(r"http://\S+", line)
    if match is None:
        proc.kill()
        pytest.fail(f"startune web did not start: {line}{proc.stderr.read()}")
    return proc, match.group(0)


@pytest.fixture
def keyed_web():
    proc, url = _start("--host", "0.0.0.0")
    yield url
    proc.terminate()
    proc.wait(timeout=20)


async def _screen_text(ws_url: str, until: str, bound: float = 45.0) -> str:
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_url + "?width=120&height=40") as ws:
        raw, start = b"", time.monotonic()
        while time.monotonic() - start < bound:
            try:
                msg = await ws.receive(timeout=5)
            except TimeoutError:
                continue
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                break
            raw += msg.data if isinstance(msg.data, bytes) else str(msg.data).encode()
            text = ANSI.sub(b"", raw).decode(errors="replace")
            if until in text:
                return text
        return ANSI.sub(b"", raw).decode(errors="replace")


def test_beyond_loopback_the_page_and_its_socket_need_the_key_and_the_app_runs_per_session(keyed_web):
    assert "?key=" in keyed_web
    bare = keyed_web.split("?", 1)[0]

    async def go():
        async with aiohttp.ClientSession() as session:
            assert (await session.get(bare)).status == 403
            assert (await session.get(bare + "?key=wrong")).status == 403
            assert (await session.get(bare + "ws")).status in (403, 404)
            page = await (await session.get(keyed_web)).text()
        assert "fonts.googleapis.com" not in page  # renders with no internet
        socket_url = re.search(r'data-session-websocket-url="([^"]+)"', page).group(1)
        assert socket_url.endswith("/ws/" + keyed_web.split("key=", 1)[1])
        first, second = await asyncio.gather(_screen_text(socket_url, "Welcome to startune"),
                                             _screen_text(socket_url, "Welcome to startune"))
        assert "Welcome to startune" in first and "Welcome to startune" in second

    asyncio.run(go())


def test_a_taken_port_is_one_line_and_the_help_shows_the_tunnel(run_cli):
    import socket

    import tui.cli  # noqa: F401  (registers the app's commands, web among them)

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = run_cli("web", "--port", str(taken.getsockname()[1]))
    assert result.exit_code != 0 and "another --port" in result.output and "Traceback" not in result.output
    help_text = run_cli("web", "--help").output
    assert "ssh -N -L 8766:127.0.0.1:8766" in help_text
