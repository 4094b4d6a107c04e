"""Fault injection: a share of 429s, 500s, dropped connections and added latency on API routes.

For tests, and for users who want to rehearse how startune copes with a flaky backend:
``startune serve --faults "429=0.1,500=0.05,drop=0.02,latency=0.05"``.
"""

from __future__ import annotations

import asyncio
import math
import random
import threading
from dataclasses import dataclass

from core.errors import ConfigError


@dataclass(frozen=True)
class FaultConfig:
    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_drop: float = 0.0
    latency: float = 0.0          # seconds added to every API request
    retry_after: float = 0.05     # seconds announced in Retry-After on a 429
    seed: int | None = None

    @classmethod
    def parse(cls, spec: str | None) -> FaultConfig | None:
        if not spec:
            return None
        names = {"429": "rate_429", "500": "rate_500", "drop": "rate_drop", "latency": "latency",
                 "retry_after": "retry_after", "seed": "seed"}
        values: dict = {}
        for part in spec.split(","):
            key, _, value = part.partition("=")
            key = key.strip()
            if key not in names:
                raise ConfigError(f"unknown fault {key!r} in {spec!r}: use {', '.join(names)}")
            try:
                values[names[key]] = int(value) if key == "seed" else float(value)
            except ValueError:
                raise ConfigError(f"fault {key!r} needs a number, got {value!r}") from None
        for key, value in values.items():
            if key == "seed":
                continue
            share = key.startswith("rate_")
            if not math.isfinite(value) or value < 0 or (share and value > 1):
                raise ConfigError(f"fault {key.removeprefix('rate_')!r} is {value:g}: use "
                                  + ("a share from 0 to 1" if share else "0 or more seconds"))
        config = cls(**values)
        if config.rate_429 + config.rate_500 + config.rate_drop > 1:
            raise ConfigError("fault shares add up to more than 1")
        return config


def _dropped_type():
    import httpx2

    class DroppedConnection(httpx2.RemoteProtocolError):
        """The connection is cut mid-response. Over HTTP the server closes the socket; in process
        (ASGITransport) the client receives the transport error it would have seen on the wire."""

    return DroppedConnection


DroppedConnection = _dropped_type()


class FaultMiddleware:
    def __init__(self, app, config: FaultConfig) -> None:
        self.app = app
        self.config = config
        self.random = random.Random(config.seed)
        self.lock = threading.Lock()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        c = self.config
        if c.latency:
            await asyncio.sleep(c.latency)
        with self.lock:
            roll = self.random.random()
        if roll < c.rate_429:
            await _error(send, 429, "rate_limit_exceeded", "requests",
                         "Rate limit reached (injected fault). Please retry after a short wait.",
                         [(b"retry-after", str(c.retry_after).encode()),
                          (b"retry-after-ms", str(int(c.retry_after * 1000)).encode())])
            return
        if roll < c.rate_429 + c.rate_500:
            await _error(send, 500, "server_error", "server_error", "The server had an error (injected fault).")
            return
        if roll < c.rate_429 + c.rate_500 + c.rate_drop:
            # announce a body, send none of it: the client sees the connection cut mid-response
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", b"100")]})
            raise DroppedConnection("connection dropped (injected fault)")
        await self.app(scope, receive, send)


async def _error(send, status: int, code: str, type_: str, message: str, headers=()) -> None:
    import orjson

    body = orjson.dumps({"error": {"message": message, "type": type_, "param": None, "code": code}})
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})
