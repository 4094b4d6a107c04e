"""The local backend answering in Azure OpenAI's shapes, so startune's Azure path runs against the real
``AzureOpenAI`` client without an Azure subscription.

What differs from OpenAI's API, and is reproduced here:
- paths under ``/openai/`` with a required ``api-version`` query parameter, the key in an ``api-key`` header;
- completions through ``/openai/deployments/<deployment>/...``: a model answers only once deployed. Base
  models count as deployed under their own id; a fine-tuned model needs a deployment, which Azure makes on
  its control plane (portal, ``az``) and this backend through ``PUT /openai/deployments/<name>`` with
  ``{"model": id}``. An undeployed name gets Azure's 404 ``DeploymentNotFound``;
- job creation takes an optional ``trainingType`` (Standard, GlobalStandard, Developer), echoed on the job;
- job statuses ``created`` and ``pending`` where OpenAI says ``validating_files`` and ``queued``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from urllib.parse import parse_qs, unquote

import orjson

from core.choices import TRAINING_TYPES

STATUSES = {"validating_files": "created", "queued": "pending"}
DEPLOYMENT_NOT_FOUND = ("The API deployment for this resource does not exist. If you created the deployment "
                        "within the last 5 minutes, please wait a moment and try again.")


async def _read_body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replay(body: bytes):
    sent = False

    async def receive():
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _send_json(send, status: int, obj: dict) -> None:
    body = orjson.dumps(obj)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _error(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


class _JsonFile:
    """A small name -> value map kept in one JSON file (written atomically), shared by requests."""

    def __init__(self, path: Path) -> None:
        self.path, self.lock = path, threading.Lock()

    def get(self, key: str):
        return self.read().get(key)

    def read(self) -> dict:
        try:
            return orjson.loads(self.path.read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            return {}

    def set(self, key: str, value) -> None:
        from core.atomic import write_bytes

        with self.lock:
            data = self.read()
            data[key] = value
            write_bytes(self.path, orjson.dumps(data))


class AzureShapes:
    """ASGI middleware in front of the local backend's app: Azure's requests in, Azure's answers out."""

    def __init__(self, app, backend) -> None:
        self.app, self.backend = app, backend
        root = Path(backend.store.dir)
        self.deployments = _JsonFile(root / "azure-deployments.json")
        self.training_types = _JsonFile(root / "azure-training-types.json")

    def deployed_model(self, name: str) -> str | None:
        from core.backend import base_models

        if base_models.find(name) is not None:
            return name
        return self.deployments.get(name)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/openai/"):
            await self.app(scope, receive, send)
            return
        if "api-version" not in parse_qs(scope.get("query_string", b"").decode()):
            await _send_json(send, 404, _error("404", "Resource not found"))
            return
        headers = [(k, v) for k, v in scope["headers"] if k != b"api-key"]
        key = dict(scope["headers"]).get(b"api-key")
        if key and b"authorization" not in dict(headers):
            headers.append((b"authorization", b"Bearer " + key))
        rest = scope["path"][len("/openai"):]
        method = scope["method"]
        inner = dict(scope, headers=headers, path=f"/v1{rest}", raw_path=f"/v1{rest}".encode())

        if rest.startswith("/deployments/"):
            name, _, tail = rest[len("/deployments/"):].partition("/")
            name = unquote(name)
            if not tail and method == "PUT":
                await self._deploy(name, await _read_body(receive), send)
                return
            model = self.deployed_model(name)
            if model is None:
                await _send_json(send, 404, _error("DeploymentNotFound", DEPLOYMENT_NOT_FOUND))
                return
            body = await _read_body(receive)
            try:
                request = orjson.loads(body) if body else {}
            except orjson.JSONDecodeError:
                request = None
            if isinstance(request, dict):
                request["model"] = model  # the deployment decides the model, whatever the body says
                body = orjson.dumps(request)
            inner.update(path=f"/v1/{tail}", raw_path=f"/v1/{tail}".encode())
            inner["headers"] = [(k, v) for k, v in headers if k != b"content-length"] + [
                (b"content-length", str(len(body)).encode())]
            await self.app(inner, _replay(body), send)
            return

        if rest.startswith("/fine_tuning/jobs"):
            training_type = None
            if rest == "/fine_tuning/jobs" and method == "POST":
                body = await _read_body(receive)
                try:
                    request = orjson.loads(body)
                except orjson.JSONDecodeError:
                    request = None
                if isinstance(request, dict) and "trainingType" in request:
                    training_type = request.pop("trainingType")
                    known = {t.lower(): t for t in TRAINING_TYPES}
                    if not isinstance(training_type, str) or training_type.lower() not in known:
                        await _send_json(send, 400, _error("invalidPayload",
                                                           f"trainingType must be one of {', '.join(TRAINING_TYPES)}"))
                        return
                    training_type = known[training_type.lower()]
                    body = orjson.dumps(request)
                inner["headers"] = [(k, v) for k, v in headers if k != b"content-length"] + [
                    (b"content-length", str(len(body)).encode())]
                receive = _replay(body)
            await self.app(inner, receive, self._rewriting_jobs(send, training_type))
            return
        await self.app(inner, receive, send)

    async def _deploy(self, name: str, body: bytes, send) -> None:
        try:
            model = (orjson.loads(body) or {}).get("model")
        except (orjson.JSONDecodeError, AttributeError):
            model = None
        from core.backend import base_models

        if not isinstance(model, str) or (base_models.find(model) is None and self.backend.store.get_model(model) is None):
            await _send_json(send, 400, _error("InvalidResourceProperties",
                                               f"The model {model!r} cannot be deployed: no such model"))
            return
        self.deployments.set(name, model)
        await _send_json(send, 200, {"id": name, "model": model, "status": "succeeded", "object": "deployment"})

    def _rewriting_jobs(self, send, training_type: str | None):
        """A send that rewrites job objects in JSON answers into Azure's statuses (buffering the body)."""
        state: dict = {}

        def azure_job(job: dict) -> dict:
            if not isinstance(job, dict) or job.get("object") != "fine_tuning.job":
                return job
            job["status"] = STATUSES.get(str(job.get("status")), job.get("status"))
            if training_type and "id" in job:
                self.training_types.set(job["id"], training_type)
            known = training_type or self.training_types.get(job.get("id", ""))
            if known:
                job["trainingType"] = known
            return job

        async def wrapped(message) -> None:
            if message["type"] == "http.response.start":
                state["start"], state["chunks"] = message, []
                return
            if message["type"] != "http.response.body" or "start" not in state:
                await send(message)
                return
            state["chunks"].append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(state["chunks"])
            start = state["start"]
            try:
                obj = orjson.loads(body)
            except orjson.JSONDecodeError:
                obj = None
            if isinstance(obj, dict) and 200 <= start["status"] < 300:
                if obj.get("object") == "list":
                    obj["data"] = [azure_job(j) for j in obj.get("data") or []]
                else:
                    azure_job(obj)
                body = orjson.dumps(obj)
            headers = [(k, v) for k, v in start.get("headers", []) if k != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send(dict(start, headers=headers))
            await send({"type": "http.response.body", "body": body})

        return wrapped
