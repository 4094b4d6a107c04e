"""ASGI guards in front of the routes: the bearer key, and request body limits enforced while reading."""

from __future__ import annotations

import asyncio
import hmac
import time

from starlette.datastructures import Headers

from core.backend.errors import ApiError, error_response

MULTIPART_SLACK = 1024 * 1024  # room for the form's boundaries and small fields around an uploaded file
# a body must keep up MIN_BODY_RATE bytes a second on average after its first BODY_GRACE seconds: a client
# trickling it in would otherwise hold its connection (and a worker) for as long as it likes
BODY_GRACE = 10.0
MIN_BODY_RATE = 16 * 1024


class HttpMiddleware:
    """An ASGI middleware for HTTP requests: ``http`` sees each one; lifespan and websocket scopes pass
    straight through (a guard has no business with the server's startup and shutdown)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
        else:
            await self.http(scope, receive, send)

    async def http(self, scope, receive, send) -> None:
        raise NotImplementedError


class AuthMiddleware:
    """Every /v1/ path wants ``Authorization: Bearer <key>`` (the scheme in any case, as HTTP has it);
    otherwise a 401 in OpenAI's error shape."""

    def __init__(self, app, api_key: str) -> None:
        self.app, self.expected = app, api_key.encode()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/"):
            given = Headers(scope=scope).get("authorization", "")
            scheme, _, token = given.strip().partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(errors="replace"),
                                                                     self.expected):
                from core.keys import mask_key

                shown = mask_key(token.strip()) if token.strip() else "none"
                message = (f"Incorrect API key provided: {shown}." if scheme.lower() == "bearer" else
                           "You didn't provide an API key. You need to provide your API key in an Authorization "
                           "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
                response = error_response(401, message, code="invalid_api_key",
                                          headers={"WWW-Authenticate": "Bearer"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodyLimitMiddleware(HttpMiddleware):
    """Stops reading a request body at its limit and answers 413: a Content-Length above it is refused
    before a byte is read, and a chunked body is cut off as soon as it passes the limit, so nothing beyond
    it is ever spooled to disk or held in memory."""

    def __init__(self, app, *, upload_path: str, max_upload: int, max_body: int) -> None:
        super().__init__(app)
        self.upload_path, self.max_upload, self.max_body = upload_path, max_upload, max_body

    def _limit(self, path: str) -> tuple[int, str, str]:
        if path.rstrip("/") == self.upload_path:
            return (self.max_upload + MULTIPART_SLACK, "file_too_large",
                    f"File too large: uploads are limited to {self.max_upload // 2**20} MB.")
        return self.max_body, "request_too_large", f"Request body too large: at most {self.max_body // 2**20} MB."

    async def http(self, scope, receive, send) -> None:
        limit, code, message = self._limit(scope["path"])
        length = Headers(scope=scope).get("content-length", "")
        if length.isdigit() and int(length) > limit:
            await error_response(413, message, code=code)(scope, receive, send)
            return
        seen = 0

        async def limited_receive():
            nonlocal seen
            message_ = await receive()
            if message_["type"] == "http.request":
                seen += len(message_.get("body", b""))
                if seen > limit:
                    raise ApiError(413, message, code=code)
            return message_

        await self.app(scope, limited_receive, send)


class RequestIdMiddleware(HttpMiddleware):
    """Every response carries ``x-request-id`` (``req_`` + 32 hex digits), as OpenAI's do: the SDKs expose it
    as ``request_id`` on results and errors, and users quote it when they report a problem."""

    async def http(self, scope, receive, send) -> None:
        import secrets

        header = (b"x-request-id", f"req_{secrets.token_hex(16)}".encode())

        async def send_with_id(message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), header]}
            await send(message)

        await self.app(scope, receive, send_with_id)


class SlowBodyMiddleware(HttpMiddleware):
    """A request body that falls behind MIN_BODY_RATE (after BODY_GRACE seconds) ends in a 408."""

    async def http(self, scope, receive, send) -> None:
        start, seen, done = time.monotonic(), 0, False

        async def paced_receive():
            nonlocal seen, done
            if done:  # the body is in: what follows is the wait for a disconnect, which may last
                return await receive()
            left = start + BODY_GRACE + seen / MIN_BODY_RATE - time.monotonic()
            try:
                message = await asyncio.wait_for(receive(), max(left, 0.001))
            except asyncio.TimeoutError:
                # connection: close, or uvicorn would keep reading the rest of the trickle after answering
                raise ApiError(408, "The request body arrived too slowly.", code="request_timeout",
                               headers={"connection": "close"}) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                done = not message.get("more_body", False)
            return message

        await self.app(scope, paced_receive, send)
