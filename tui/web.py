"""`startune web`: the terminal app in a browser, through textual-serve. Each browser session (one
websocket) gets its own app process, started with this process's environment, so every session reads
and writes the same registry. Beyond loopback the page and its websocket need the key in the URL."""

from __future__ import annotations

import hmac
import re
import secrets
import shlex
import sys
from pathlib import Path

from aiohttp import web
from textual_serve.server import Server

# textual-serve's page links a web font; with no internet the link only fails, but the page should
# not reach out at all (remote boxes are often offline): the terminal falls back to a local monospace.
_FONT_LINK = re.compile(r'\s*<link\s+rel="stylesheet"\s+href="https://fonts\.googleapis\.com[^"]*"\s*/>', re.DOTALL)


def offline_page() -> str:
    import textual_serve

    page = (Path(textual_serve.__file__).parent / "templates" / "app_index.html").read_text(encoding="utf-8")
    return _FONT_LINK.sub("", page)


def app_command(args: list[str]) -> str:
    """The shell command that starts one app process (textual-serve runs it per session)."""
    code = "from tui.cli import main; main(sys.argv[1:])"
    return " ".join(shlex.quote(a) for a in (sys.executable, "-c", f"import sys; {code}", "tui", *args))


class WebServer(Server):
    def __init__(self, command: str, *, key: str | None, title: str = "startune") -> None:
        super().__init__(command, title=title)
        self.key = key

    @web.middleware
    async def _guard(self, request: web.Request, handler):
        if self.key is not None and not request.path.startswith("/static/"):
            given = request.query.get("key", "") if request.path == "/" else request.match_info.get("token", "")
            if not hmac.compare_digest(given.encode(), self.key.encode()):
                raise web.HTTPForbidden(text="startune web: open the URL with its ?key=... (printed at start)\n")
        return await handler(request)

    async def _make_app(self) -> web.Application:
        import aiohttp_jinja2
        import jinja2

        app = web.Application(middlewares=[self._guard])
        aiohttp_jinja2.setup(app, loader=jinja2.DictLoader({"app_index.html": offline_page()}))
        ws = "/ws/{token}" if self.key is not None else "/ws"
        app.add_routes([web.get("/", self.handle_index, name="index"),
                        web.get(ws, self.handle_websocket, name="websocket"),
                        web.get("/download/{key}", self.handle_download, name="download"),
                        web.static("/static", self.statics_path, name="static")])
        return app

    async def handle_index(self, request: web.Request):
        import aiohttp_jinja2

        # URLs from the address the browser used, so an SSH tunnel on any local port works
        base = f"{request.scheme}://{request.host}"
        socket_url = ("wss" if request.scheme == "https" else "ws") + f"://{request.host}/ws"
        if self.key is not None:
            socket_url += f"/{self.key}"
        from textual_serve.server import to_int

        context = {"font_size": to_int(request.query.get("fontsize", "16"), 16), "app_websocket_url": socket_url,
                   "config": {"static": {"url": f"{base}/static/"}}, "application": {"name": self.title}}
        return aiohttp_jinja2.render_template("app_index.html", request, context)

    def run(self, sock) -> None:
        web.run_app(self._make_app(), sock=sock, print=lambda *a: None)


def new_key() -> str:
    return secrets.token_urlsafe(24)
