"""OpenAI's Batch API on the local backend: ``/v1/batches`` create, retrieve, cancel, list.

A batch is an uploaded JSONL of ``/v1/chat/completions`` (or ``/v1/completions``) requests. A worker
thread in the process that holds the backend claims it through a lease in the store (as the job
runner claims jobs), validates the file, then answers the requests a chunk at a time: each chunk's
texts are scored by one ``predict_proba`` call per model, and every request's response is built by
the same function that answers it over HTTP, so a batch answers exactly what direct requests do.
After each chunk the outputs written so far and the count of requests done are committed together;
a worker that dies leaves a batch the next one continues from that point. Cancelling stops at the
next chunk and ends with the partial output, as OpenAI's does.
"""

from __future__ import annotations

import os
import time
from contextlib import nullcontext
from collections.abc import Callable
from pathlib import Path

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core.backend.requests import json_body
from core.backend.background import LeaseLoop
from core.backend.errors import ApiError, bad_request, found
from core.backend.ids import new_id
from core.backend.store import Leases, Store, process_owner
from core.memory import collector_paused

ENDPOINTS = ("/v1/chat/completions", "/v1/completions")
SPEC_ENDPOINTS = ("/v1/responses", "/v1/chat/completions", "/v1/embeddings", "/v1/completions", "/v1/moderations",
                  "/v1/images/generations", "/v1/images/edits", "/v1/videos")
MAX_REQUESTS = 50_000            # OpenAI's limits on one batch's input file
MAX_INPUT_BYTES = 200 * 1024 * 1024
WINDOW_SECONDS = 24 * 3600
EXPIRY_SECONDS = (3600, 2_592_000)
MAX_LISTED_ERRORS = 100
ACTIVE = ("validating", "in_progress", "finalizing", "cancelling")
TERMINAL = ("failed", "completed", "expired", "cancelled")
# fields the API returns only once set: the spec types them as integers (or an object), never null
_OPTIONAL = ("output_file_id", "error_file_id", "in_progress_at", "finalizing_at", "completed_at", "failed_at",
             "expired_at", "cancelling_at", "cancelled_at", "errors", "model")


class BatchStopped(Exception):
    """The worker must let go of the batch now (shutting down, lease lost)."""


# -- the store's batches table --------------------------------------------------------------------
class Batches:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.leases = Leases(store, "batches")

    def add(self, obj: dict) -> None:
        with self.store.tx() as c:
            c.execute("INSERT INTO batches (id, created_at, status, obj) VALUES (?,?,?,?)",
                      (obj["id"], obj["created_at"], obj["status"], orjson.dumps(obj)))

    def get(self, batch_id: str) -> dict | None:
        row = self.store._conn().execute("SELECT obj FROM batches WHERE id=?", (batch_id,)).fetchone()
        return orjson.loads(row[0]) if row else None

    def list(self) -> list[dict]:
        rows = self.store._conn().execute("SELECT obj FROM batches ORDER BY created_at DESC, rowid DESC")
        return [orjson.loads(r[0]) for r in rows]

    def update(self, batch_id: str, allowed_from: tuple[str, ...] | None = None, **changes) -> dict | None:
        """Apply ``changes`` (a new ``status`` among them, maybe) if the batch is in one of ``allowed_from``
        (any status when None); the batch as it now is, or None when it was not allowed."""
        with self.store.tx() as c:
            row = c.execute("SELECT obj FROM batches WHERE id=?", (batch_id,)).fetchone()
            if row is None:
                return None
            obj = orjson.loads(row[0])
            if allowed_from is not None and obj["status"] not in allowed_from:
                return None
            obj.update(changes)
            c.execute("UPDATE batches SET obj=?, status=? WHERE id=?", (orjson.dumps(obj), obj["status"], batch_id))
        return obj


def public(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if not k.startswith("_") and not (k in _OPTIONAL and v is None)}


# -- answering many requests at once ---------------------------------------------------------------
def _rows(proba) -> list[list[float]]:
    import numpy as np

    return np.asarray(proba, dtype=np.float64).tolist()


class _Prescored:
    """A model whose answers for some texts are already known (scored together, in one call); any
    other text is scored by the model itself. Answers are rows of probabilities as Python floats."""

    def __init__(self, model, scored: dict[str, list[float]]) -> None:
        self._model, self._scored = model, scored
        self.classes = model.classes

    def predict_proba(self, texts) -> list[list[float]]:
        missing = [t for t in texts if t not in self._scored]
        if missing:
            self._scored.update(zip(missing, _rows(self._model.predict_proba(missing))))
        return [self._scored[t] for t in texts]

    def __getattr__(self, name: str):
        return getattr(self._model, name)


class _PrescoredModels:
    def __init__(self, models, scored: dict[str, _Prescored]) -> None:
        self._models, self._scored = models, scored

    def get(self, model_id: str):
        return self._scored.get(model_id) or self._models.get(model_id)

    def __getattr__(self, name: str):
        return getattr(self._models, name)


def _checked(endpoint: str, body: dict) -> tuple[str | list[str] | None, list[str]]:
    """The request checked as its endpoint checks it (the chat text, or the prompts), and the texts its
    answer is scored from; (None, []) when it is invalid (its own call then says why)."""
    from core.backend.inference import _decode
    from core.backend.requests import message_texts
    from core.backend.limits import check_context
    from core.backend.requests import check_chat_request, check_completion_request
    from core.records.formats import DEFAULT_SEPARATOR

    try:
        if endpoint == "/v1/chat/completions":
            text = check_chat_request(body)
            check_context(message_texts(body["messages"]), "messages", "messages")
            return text, [text]
        prompts = check_completion_request(body, _decode)
        check_context(prompts, "prompt", "prompt")
        return prompts, [p.removesuffix(DEFAULT_SEPARATOR) for p in prompts]
    except ApiError:
        return None, []


def answer_many(models, endpoint: str, bodies: list[dict]) -> list[tuple[int, dict]]:
    """(status, body) for each request, as the endpoint answers it one by one, with the texts of all
    of them scored in one call per model (and each request checked once)."""
    from core.backend.inference import chat_completion, completion

    by_model: dict[str, list[str]] = {}
    checked = []
    with collector_paused():   # quick work that makes many objects and no cycles (core.memory)
        for body in bodies:
            request, texts = _checked(endpoint, body)
            checked.append(request)
            if texts:
                by_model.setdefault(body["model"], []).extend(texts)
    scored: dict[str, _Prescored] = {}
    for model_id, texts in by_model.items():
        try:
            model = models.get(model_id)
        except ApiError:
            continue  # each of its requests answers the error
        if not callable(getattr(model, "predict_proba", None)) or not hasattr(model, "classes"):
            continue  # a model that does not score labels answers request by request
        unique = list(dict.fromkeys(texts))
        scored[model_id] = _Prescored(model, dict(zip(unique, _rows(model.predict_proba(unique)))))
    view = _PrescoredModels(models, scored)
    out: list[tuple[int, dict]] = []
    # answers from scores already made are quick; a model that generates answers request by request (an LLM)
    # may take minutes, which the collector is not kept off for
    quick = all(body.get("model") in scored for body in bodies)
    with collector_paused() if quick else nullcontext():
        for body, request in zip(bodies, checked):
            try:
                # a request that failed its check is checked again by its own call, which says why
                if endpoint == "/v1/chat/completions":
                    answered = chat_completion(view, body, request if isinstance(request, str) else None)
                else:
                    answered = completion(view, body, request if isinstance(request, list) else None)
                out.append((200, answered))
            except ApiError as exc:
                out.append((exc.status, {"error": {"message": exc.message, "type": exc.type, "param": exc.param,
                                                   "code": exc.code}}))
    return out


# -- reading the input file -------------------------------------------------------------------------
def _lines(f, path: Path, error):
    from core.records.jsonl import MAX_LINE, iter_lines
    from core.errors import DataError

    lines = iter_lines(f, path)
    while True:
        try:
            yield next(lines)
        except StopIteration:
            return
        except DataError as exc:
            error(exc.row, "line_too_long", f"Line {exc.row} is longer than {MAX_LINE // 2**20} MB.")
            return


def read_requests(path: Path, endpoint: str) -> tuple[list[dict], list[dict]]:
    """The input file's requests, and the errors that fail the batch (OpenAI's BatchError shape)."""
    requests: list[dict] = []
    errors: list[dict] = []
    seen: set[str] = set()

    def error(line: int, code: str, message: str, param: str | None = None) -> None:
        if len(errors) < MAX_LISTED_ERRORS:
            errors.append({"code": code, "message": message, "param": param, "line": line})

    with path.open("rb") as f:
        for number, raw in _lines(f, path, error):
            if not raw.strip():
                continue
            try:
                item = orjson.loads(raw)
            except orjson.JSONDecodeError:
                error(number, "invalid_json_line", f"Line {number} is not valid JSON.")
                continue
            if not isinstance(item, dict):
                error(number, "invalid_request", f"Line {number} must be a JSON object.")
                continue
            custom_id = item.get("custom_id")
            if not isinstance(custom_id, str) or not custom_id:
                error(number, "missing_required_parameter", "Each request needs a string 'custom_id'.", "custom_id")
                continue
            if custom_id in seen:
                error(number, "duplicate_custom_id", f"The custom_id '{custom_id[:64]}' is used more than once; "
                      "each request in a batch needs its own.", "custom_id")
                continue
            seen.add(custom_id)
            if item.get("method") != "POST":
                error(number, "invalid_method", "The 'method' of each request must be 'POST'.", "method")
                continue
            if item.get("url") != endpoint:
                error(number, "mismatched_endpoint", f"The 'url' of each request must be the batch's endpoint "
                      f"{endpoint}, not {str(item.get('url'))[:80]!r}.", "url")
                continue
            if not isinstance(item.get("body"), dict):
                error(number, "invalid_request", "The 'body' of each request must be a JSON object.", "body")
                continue
            requests.append({"custom_id": custom_id, "body": item["body"]})
    if not requests and not errors:
        error(1, "empty_file", "The input file has no requests.")
    if len(requests) > MAX_REQUESTS:
        error(MAX_REQUESTS + 1, "too_many_requests", f"A batch holds at most {MAX_REQUESTS:,} requests; "
              f"this file has {len(requests):,}. Split it into several batches.")
    return requests, errors


# -- the worker -------------------------------------------------------------------------------------
class BatchWorker(LeaseLoop):
    """Runs batches, a chunk of requests at a time, in a thread of the process that holds the backend."""

    thread_name = "startune-local-batches"

    def __init__(self, store: Store, models, *, pace: float = 0.0, lease: float = 15.0, chunk: int = 512,
                 poll: float = 0.1) -> None:
        self.store, self.models = store, models
        self.batches = Batches(store)
        self.leases, self.statuses, self.stopped = self.batches.leases, ACTIVE, BatchStopped
        self.pace, self.lease, self.chunk, self.poll = pace, lease, chunk, poll
        self.owner = process_owner()
        super().__init__()

    def work(self, item: dict) -> None:
        self.run(item)

    def crashed(self, item_id: str, exc: Exception) -> None:
        self._fail(item_id, [{"code": "server_error", "line": None, "param": None,
                              "message": f"internal error: {exc.__class__.__name__}: {exc}"}])

    # -- one batch ---------------------------------------------------------------------------
    def _part(self, batch_id: str, kind: str) -> Path:
        return self.store.files_dir / f"{batch_id}.{kind}.part"

    def _fail(self, batch_id: str, errors: list[dict]) -> None:
        self.batches.update(batch_id, ACTIVE, status="failed", failed_at=int(time.time()),
                            errors={"object": "list", "data": errors})
        for kind in ("output", "error"):
            self._part(batch_id, kind).unlink(missing_ok=True)

    def _check(self, batch_id: str, renewed: list[float]) -> str:
        if self._stop.is_set():
            raise BatchStopped
        now = time.monotonic()
        if now - renewed[0] > self.lease / 3:
            if not self.leases.renew(batch_id, self.owner, self.lease):
                raise BatchStopped
            renewed[0] = now
        return self._now(batch_id)["status"]

    def _now(self, batch_id: str) -> dict:
        """The batch as stored. Batches are never deleted, so one that is gone (its store replaced under a
        running worker) stops the work as a lost lease does."""
        found = self.batches.get(batch_id)
        if found is None:
            raise BatchStopped
        return found

    def _saved(self, batch_id: str, **changes) -> dict:
        found = self.batches.update(batch_id, None, **changes)
        if found is None:
            raise BatchStopped
        return found

    def run(self, batch: dict) -> None:
        batch_id = batch["id"]
        renewed = [time.monotonic()]
        if batch["status"] in ("validating", "in_progress") and time.time() > batch["expires_at"]:
            self._finish(batch, "expired")
            return
        if batch["status"] == "cancelling" and batch.get("in_progress_at") is None:
            self._finish(batch, "cancelled")
            return
        path = self.store.file_path(batch["input_file_id"])
        if self.store.get_file(batch["input_file_id"]) is None or not path.exists():
            self._fail(batch_id, [{"code": "invalid_file", "message": f"File {batch['input_file_id']} was deleted.",
                                   "param": "input_file_id", "line": None}])
            return
        with collector_paused():
            requests, errors = read_requests(path, batch["endpoint"])
        if batch["status"] == "validating":
            if errors:
                self._fail(batch_id, errors)
                return
            model = next((r["body"].get("model") for r in requests if isinstance(r["body"].get("model"), str)), None)
            started = self.batches.update(batch_id, ("validating",), status="in_progress",
                                          in_progress_at=int(time.time()),
                                          request_counts={"total": len(requests), "completed": 0, "failed": 0},
                                          model=model, _done=0, _bytes={"output": 0, "error": 0})
            if started is None:  # cancelled while validating
                batch = self._now(batch_id)
                if batch["status"] == "cancelling":
                    self._finish(batch, "cancelled")
                return
            batch = started
        if batch["status"] == "finalizing":
            self._finish(batch, "completed")
            return
        parts = {}
        for kind in ("output", "error"):
            part = self._part(batch_id, kind)
            with part.open("ab") as f:  # what a dead worker wrote after its last commit is cut off
                f.truncate(batch["_bytes"][kind])
            parts[kind] = part
        done, counts, usage = batch["_done"], dict(batch["request_counts"]), dict(batch.get("_usage") or {})
        while done < len(requests):
            status = self._check(batch_id, renewed)
            if status == "cancelling":
                break
            chunk = requests[done:done + self.chunk]
            lines: dict[str, list[bytes]] = {"output": [], "error": []}
            answers = answer_many(self.models, batch["endpoint"], [r["body"] for r in chunk])
            with collector_paused():
                for request, (code, body) in zip(chunk, answers):
                    ok = code == 200
                    counts["completed" if ok else "failed"] += 1
                    if ok:
                        for key in ("prompt_tokens", "completion_tokens"):
                            usage[key] = usage.get(key, 0) + ((body.get("usage") or {}).get(key) or 0)
                    lines["output" if ok else "error"].append(orjson.dumps({
                        "id": new_id("batch_req_"), "custom_id": request["custom_id"],
                        "response": {"status_code": code, "request_id": new_id("req_"), "body": body},
                        "error": None}))
            sizes = dict(batch["_bytes"])
            for kind, written in lines.items():
                if written:
                    with parts[kind].open("ab") as f:
                        f.write(b"\n".join(written) + b"\n")
                        f.flush()
                        os.fsync(f.fileno())
                    sizes[kind] = parts[kind].stat().st_size
            done += len(chunk)
            batch = self._saved(batch_id, request_counts=dict(counts), _done=done, _bytes=sizes, _usage=usage,
                                usage=_usage(usage))
            if self.pace:
                time.sleep(self.pace)
        self._finish(batch, "cancelled" if self._now(batch_id)["status"] == "cancelling" else "completed")

    def _finish(self, batch: dict, status: str) -> None:
        """Turn the partial outputs into the output and error files, and end the batch as ``status``."""
        batch_id, now = batch["id"], int(time.time())
        if status == "completed":
            final = self.batches.update(batch_id, ("in_progress", "finalizing"), status="finalizing",
                                        finalizing_at=batch.get("finalizing_at") or now)
            if final is None:  # cancelled meanwhile: the next claim ends it as cancelled
                return
            batch = final
        files = {}
        expires = batch.get("_output_expires_after")
        for kind in ("output", "error"):
            part = self._part(batch_id, kind)
            if part.exists() and part.stat().st_size:
                file_id = new_id("file-")
                part.replace(self.store.file_path(file_id))
                import hashlib

                content = self.store.file_path(file_id).read_bytes()
                obj = {"object": "file", "id": file_id, "purpose": "batch_output",
                       "filename": f"{batch_id}_{kind}.jsonl", "bytes": len(content), "created_at": now,
                       "status": "processed"}
                if expires:
                    obj["expires_at"] = now + expires
                self.store.add_file(obj, hashlib.sha256(content).hexdigest())
                files[f"{kind}_file_id"] = file_id
            part.unlink(missing_ok=True)
        stamp = {"completed": "completed_at", "cancelled": "cancelled_at", "expired": "expired_at"}[status]
        self.batches.update(batch_id, None, status=status, **{stamp: now}, **files)


def _usage(usage: dict) -> dict:
    inputs, outputs = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
    return {"input_tokens": inputs, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": outputs,
            "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": inputs + outputs}


# -- routes -------------------------------------------------------------------------------------------
def _state(request: Request):
    backend = request.app.state.backend
    return backend.store, backend.batch_worker


def check_create_batch(body: dict, get_file: Callable[[str], dict | None]) -> dict:
    unknown = sorted(set(body) - {"input_file_id", "endpoint", "completion_window", "metadata", "output_expires_after"})
    if unknown:
        raise bad_request(f"Unrecognized request argument supplied: {', '.join(unknown)}", param=unknown[0])
    for field in ("input_file_id", "endpoint", "completion_window"):
        if not isinstance(body.get(field), str) or not body[field]:
            raise bad_request(f"Missing required parameter: '{field}'.", param=field)
    endpoint = body["endpoint"]
    if endpoint not in SPEC_ENDPOINTS:
        raise bad_request(f"Invalid 'endpoint': {endpoint[:100]!r}. Expected one of {', '.join(SPEC_ENDPOINTS)}.",
                          param="endpoint")
    if endpoint not in ENDPOINTS:
        raise bad_request(f"The local backend runs batches of {' and '.join(ENDPOINTS)}, not {endpoint}.",
                          param="endpoint", code="unsupported_endpoint")
    if body["completion_window"] != "24h":
        raise bad_request(f"Invalid 'completion_window': {body['completion_window'][:40]!r}. Only '24h' is supported.",
                          param="completion_window")
    metadata = body.get("metadata")
    if metadata is not None and (not isinstance(metadata, dict) or len(metadata) > 16 or not all(
            isinstance(k, str) and len(k) <= 64 and isinstance(v, str) and len(v) <= 512 for k, v in metadata.items())):
        raise bad_request("'metadata' must map at most 16 string keys (64 chars) to strings (512 chars)",
                          param="metadata")
    expires = body.get("output_expires_after")
    seconds = None
    if expires is not None:
        lo, hi = EXPIRY_SECONDS
        if (not isinstance(expires, dict) or set(expires) != {"anchor", "seconds"} or expires["anchor"] != "created_at"
                or not isinstance(expires["seconds"], int) or isinstance(expires["seconds"], bool)
                or not lo <= expires["seconds"] <= hi):
            raise bad_request(f"Invalid 'output_expires_after': expected anchor 'created_at' and seconds between "
                              f"{lo} and {hi}.", param="output_expires_after")
        seconds = expires["seconds"]
    file = found(get_file(body["input_file_id"]), f"No such File object: {body['input_file_id']}",
                 param="input_file_id")
    if file["purpose"] != "batch":
        raise bad_request(f"The input file {file['id']} has purpose '{file['purpose']}'; a batch's input file must "
                          "be uploaded with purpose 'batch'.", param="input_file_id", code="invalid_file_purpose")
    if file["bytes"] > MAX_INPUT_BYTES:
        raise bad_request(f"The input file is {file['bytes'] // 2**20} MB; a batch's input file may be at most "
                          f"{MAX_INPUT_BYTES // 2**20} MB.", param="input_file_id", code="file_too_large")
    return {"input_file_id": file["id"], "endpoint": endpoint, "metadata": metadata, "output_expires_after": seconds}


async def create_batch(request: Request) -> Response:
    store, worker = _state(request)
    req = check_create_batch(await json_body(request), store.get_file)
    now = int(time.time())
    obj = {"id": new_id("batch_"), "object": "batch", "endpoint": req["endpoint"], "errors": None,
           "input_file_id": req["input_file_id"], "completion_window": "24h", "status": "validating",
           "created_at": now, "expires_at": now + WINDOW_SECONDS,
           "request_counts": {"total": 0, "completed": 0, "failed": 0}, "metadata": req["metadata"],
           "_output_expires_after": req["output_expires_after"]}
    worker.batches.add(obj)
    worker.wake()
    return JSONResponse(public(obj))


def _batch(worker: BatchWorker, batch_id: str) -> dict:
    return found(worker.batches.get(batch_id), f"No batch found with id '{batch_id}'.", param="batch_id")


async def get_batch(request: Request) -> Response:
    _, worker = _state(request)
    return JSONResponse(public(_batch(worker, request.path_params["batch_id"])))


async def cancel_batch(request: Request) -> Response:
    _, worker = _state(request)
    batch_id = request.path_params["batch_id"]
    obj = _batch(worker, batch_id)
    done = worker.batches.update(batch_id, ("validating", "in_progress"), status="cancelling",
                                 cancelling_at=int(time.time()))
    if done is None:
        if obj["status"] in ("cancelling", "cancelled"):
            return JSONResponse(public(obj))
        raise bad_request(f"Cannot cancel a batch with status '{obj['status']}'.", code="invalid_state")
    worker.wake()
    return JSONResponse(public(done))


async def list_batches(request: Request) -> Response:
    from core.backend.paging import limit_param, page_of

    _, worker = _state(request)
    items = await run_in_threadpool(worker.batches.list)
    after = request.query_params.get("after")
    if after:
        ids = [b["id"] for b in items]
        items = items[ids.index(after) + 1:] if after in ids else []
    return JSONResponse(page_of([public(b) for b in items], limit_param(request, 20, 100, strict=True)))


ROUTES = [
    Route("/v1/batches", create_batch, methods=["POST"]),
    Route("/v1/batches", list_batches, methods=["GET"]),
    Route("/v1/batches/{batch_id}", get_batch, methods=["GET"]),
    Route("/v1/batches/{batch_id}/cancel", cancel_batch, methods=["POST"]),
]
