"""The local backend's HTTP API: OpenAI's files, fine-tuning, models and completions paths.

``create_app`` returns a Starlette app; ``startune serve`` runs it under uvicorn, and
``EmbeddedBackend`` puts it behind ``httpx2.ASGITransport`` inside the calling process.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Match, Route

from core.backend import LOCAL_BASE_MODEL, LOCAL_ORG, base_models
from core.backend.errors import ApiError, bad_request, error_response, found, not_found
from core.backend.paging import limit_param, order_param, page_of
from core.backend.batches import ROUTES as BATCH_ROUTES, BatchWorker
from core.backend.faults import DroppedConnection, FaultConfig, FaultMiddleware
from core.backend.guards import AuthMiddleware, BodyLimitMiddleware, RequestIdMiddleware, SlowBodyMiddleware
from core.backend.ids import new_id
from core.backend.inference import ModelCache, chat_completion, completion
from core.backend.leftovers import part_path
from core.backend.limits import LONG_BODY
from core.backend.requests import check_create_job, json_body
from core.backend.runner import JobRunner, event
from core.backend.store import Store
from core.status import CANCELLABLE, PAUSABLE, RESUMABLE

MAX_UPLOAD = 512 * 1024 * 1024
MAX_BODY = 32 * 1024 * 1024  # any other request body (JSON); a chat request this big is already absurd
UPLOAD_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
FORM_FIELDS = ("file", "purpose", "expires_after", "expires_after[anchor]", "expires_after[seconds]")
EXPIRY_SECONDS = (3600, 2_592_000)
TRAINING_NOT_AVAILABLE = (
    "Fine-tuning is no longer available for your organization. OpenAI stopped new fine-tuning jobs for "
    "organizations without recent fine-tuning on 2026-07-02, and for all organizations on 2027-01-06."
)


class Backend:
    """What the routes share: the store, the runner, loaded models, options."""

    def __init__(self, data_dir: Path, *, api_key: str | None, pace: float, deny_training: bool,
                 max_upload: int = MAX_UPLOAD, max_body: int = MAX_BODY, lease: float = 15.0,
                 devices: str | int | None = None) -> None:
        self.store = Store(data_dir)
        self.runner = JobRunner(self.store, pace=pace, lease=lease, devices=devices)
        self.models = ModelCache(self.store)
        self.batch_worker = BatchWorker(self.store, self.models, lease=lease)
        self.runner.on_stop.append(self.batch_worker.stop)  # whoever stops the backend stops both threads
        self.api_key = api_key
        self.deny_training = deny_training
        self.max_upload = max_upload
        self.max_body = max_body


def _public(job: dict) -> dict:
    return {k: v for k, v in job.items() if not k.startswith("_")}


def _backend(request: Request) -> Backend:
    return request.app.state.backend


# -- files ----------------------------------------------------------------------------------
async def upload_file(request: Request) -> Response:
    b = _backend(request)
    try:
        # the body limit middleware stops this read at the upload limit, so the spool never grows past it
        form = await request.form(max_files=1, max_fields=10)
    except ApiError:
        raise
    except Exception as exc:
        raise bad_request(f"Could not parse the multipart form: {exc}", param="file") from None
    try:
        purpose, upload, expires_after = _check_form(form)
        file_id = new_id("file-")
        target = b.store.file_path(file_id)
        digest, size = hashlib.sha256(), 0
        tmp = part_path(target)  # a kill leaves it; the next backend to start removes it (leftovers.py)
        try:
            with tmp.open("wb") as out:
                while chunk := await upload.read(1 << 20):
                    size += len(chunk)
                    if size > b.max_upload:
                        raise ApiError(413, f"File too large: uploads are limited to {b.max_upload // 2**20} MB.",
                                       param="file", code="file_too_large")
                    digest.update(chunk)
                    out.write(chunk)
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)
    finally:
        await form.close()
    # the name is kept as a label only; the file on disk is named by its id
    filename = Path(upload.filename or "upload.jsonl").name[:255] or "upload.jsonl"
    now = int(time.time())
    obj = {"object": "file", "id": file_id, "purpose": purpose, "filename": filename, "bytes": size,
           "created_at": now, "status": "processed"}
    if expires_after is not None:
        obj["expires_at"] = now + expires_after
    b.store.add_file(obj, digest.hexdigest())
    return JSONResponse(obj)


def _check_form(form) -> tuple[str, UploadFile, int | None]:
    unknown = sorted(set(form.keys()) - set(FORM_FIELDS))
    if unknown:
        raise bad_request(f"Unrecognized request argument supplied: {', '.join(unknown)}", param=unknown[0])
    repeated = sorted(k for k in set(form.keys()) if len(form.getlist(k)) > 1)
    if repeated:
        raise bad_request(f"'{repeated[0]}' was given more than once.", param=repeated[0])
    purpose = form.get("purpose")
    upload = form.get("file")
    if not isinstance(purpose, str):
        raise bad_request("Missing required parameter: 'purpose'.", param="purpose")
    if purpose not in UPLOAD_PURPOSES:
        raise bad_request(f"Invalid purpose '{purpose}'. Expected one of: {', '.join(UPLOAD_PURPOSES)}.",
                          param="purpose")
    if not isinstance(upload, UploadFile):
        raise bad_request("Missing required parameter: 'file'.", param="file")
    return purpose, upload, _expires_after(form)


def _expires_after(form) -> int | None:
    """Seconds after creation at which the file expires: OpenAI's client sends ``expires_after[anchor]`` and
    ``expires_after[seconds]`` fields; a JSON ``expires_after`` part means the same."""
    if "expires_after" in form:
        try:
            value = orjson.loads(form["expires_after"]) if isinstance(form["expires_after"], str) else None
        except orjson.JSONDecodeError:
            value = None
    elif "expires_after[anchor]" in form or "expires_after[seconds]" in form:
        value = {"anchor": form.get("expires_after[anchor]"), "seconds": form.get("expires_after[seconds]")}
        if isinstance(value["seconds"], str) and value["seconds"].isdigit():
            value["seconds"] = int(value["seconds"])
    else:
        return None
    lo, hi = EXPIRY_SECONDS
    if (not isinstance(value, dict) or set(value) - {"anchor", "seconds"} or value.get("anchor") != "created_at"
            or not isinstance(value.get("seconds"), int) or isinstance(value["seconds"], bool)
            or not lo <= value["seconds"] <= hi):
        raise bad_request(f"Invalid 'expires_after': expected anchor 'created_at' and seconds between {lo} and {hi}.",
                          param="expires_after")
    return value["seconds"]


async def list_files(request: Request) -> Response:
    b = _backend(request)
    files = b.store.list_files(request.query_params.get("purpose"))
    if order_param(request) == "asc":
        files.reverse()
    after = request.query_params.get("after")
    if after:
        ids = [f["id"] for f in files]
        files = files[ids.index(after) + 1:] if after in ids else []
    return JSONResponse(page_of(files, limit_param(request, 10_000, strict=True)))


def _file(b: Backend, file_id: str) -> dict:
    return found(b.store.get_file(file_id), f"No such File object: {file_id}", param="id")


async def get_file(request: Request) -> Response:
    return JSONResponse(_file(_backend(request), request.path_params["file_id"]))


async def delete_file(request: Request) -> Response:
    b = _backend(request)
    file_id = request.path_params["file_id"]
    _file(b, file_id)
    b.store.delete_file(file_id)
    return JSONResponse({"object": "file", "id": file_id, "deleted": True})


async def file_content(request: Request) -> Response:
    b = _backend(request)
    file_id = request.path_params["file_id"]
    _file(b, file_id)
    return Response(b.store.file_path(file_id).read_bytes(), media_type="application/octet-stream")


# -- fine-tuning jobs -------------------------------------------------------------------------
async def create_job(request: Request) -> Response:
    b = _backend(request)
    body = await json_body(request)
    req = check_create_job(body)
    if b.deny_training:
        raise ApiError(403, TRAINING_NOT_AVAILABLE, type_="invalid_request_error", code="training_not_available")
    base = base_models.find(req["model"])
    if base is None:
        raise bad_request(f"Model {req['model']} is not available for fine-tuning or does not exist. "
                          f"The local backend trains: {', '.join(base_models.trainable_ids())}.", param="model",
                          code="model_not_available")
    if missing := base.missing():
        raise bad_request(missing, param="model", code="model_not_available")
    for param in ("training_file", "validation_file"):
        file_id = req[param]
        if file_id is None:
            continue
        obj = b.store.get_file(file_id)
        if obj is None:
            raise bad_request(f"invalid {param}: {file_id} does not exist", param=param, code="invalid_file_id")
        if obj["purpose"] != "fine-tune":
            raise bad_request(f"invalid {param}: {file_id} has purpose '{obj['purpose']}', expected 'fine-tune'",
                              param=param, code="invalid_file_purpose")
    now = int(time.time())
    seed = req["seed"] if req["seed"] is not None else int.from_bytes(hashlib.sha256(new_id("").encode()).digest()[:3])
    job = {
        "object": "fine_tuning.job", "id": new_id("ftjob-"), "model": req["model"], "created_at": now,
        "finished_at": None, "fine_tuned_model": None, "organization_id": f"org-{LOCAL_ORG}",
        "result_files": [], "status": "validating_files", "validation_file": req["validation_file"],
        "training_file": req["training_file"], "hyperparameters": req["method"]["supervised"]["hyperparameters"],
        "trained_tokens": None, "error": None, "user_provided_suffix": req["suffix"], "suffix": req["suffix"],
        "seed": seed, "estimated_finish": None, "integrations": req["integrations"], "metadata": req["metadata"],
        "method": req["method"], "_requested": req["requested"],
    }
    b.store.add_job(job)
    b.store.add_event(job["id"], event("info", f"Created fine-tuning job: {job['id']}"))
    b.runner.wake()
    return JSONResponse(_public(job))


async def list_jobs(request: Request) -> Response:
    b = _backend(request)
    jobs = b.store.list_jobs()
    wanted = {k[len("metadata["):-1]: v for k, v in request.query_params.items()
              if k.startswith("metadata[") and k.endswith("]")}
    bare = request.query_params.get("metadata")
    if bare is not None and bare != "null":
        raise bad_request("Invalid metadata filter: use metadata[key]=value, or metadata=null.", param="metadata")
    if "" in wanted:
        # what a client sends for a metadata filter that is not an object (metadata[]=5)
        raise bad_request("Invalid metadata filter: use metadata[key]=value with a non-empty key.", param="metadata")
    if wanted:
        jobs = [j for j in jobs if all((j.get("metadata") or {}).get(k) == v for k, v in wanted.items())]
    elif request.query_params.get("metadata") == "null":
        jobs = [j for j in jobs if not j.get("metadata")]
    after = request.query_params.get("after")
    if after:
        ids = [j["id"] for j in jobs]
        jobs = jobs[ids.index(after) + 1:] if after in ids else []
    limit = limit_param(request, 20)
    return JSONResponse({"object": "list", "data": [_public(j) for j in jobs[:limit]], "has_more": len(jobs) > limit})


def _job(b: Backend, job_id: str) -> dict:
    return found(b.store.get_job(job_id), f"Could not find fine tune: {job_id}", param="fine_tune_id",
                 code="fine_tune_not_found")


async def get_job(request: Request) -> Response:
    return JSONResponse(_public(_job(_backend(request), request.path_params["job_id"])))


def _move_job(request: Request, allowed_from: tuple[str, ...], status: str, said: str, refused: str,
              **fields) -> dict:
    """The job of the path moved to ``status`` with the event ``said``, or the 400 ``refused`` (formatted
    with the job's ``id`` and ``status``) when its state does not allow it."""
    b = _backend(request)
    job_id = request.path_params["job_id"]
    job = _job(b, job_id)
    done = b.store.transition(job_id, allowed_from, status, event=event("info", said), **fields)
    if done is None:
        raise bad_request(refused.format(id=job_id, status=job["status"]), code="invalid_state")
    return done


async def cancel_job(request: Request) -> Response:
    done = _move_job(request, CANCELLABLE, "cancelled", "Fine-tuning job cancelled",
                     "Job {id} has already {status} and cannot be cancelled.",
                     finished_at=int(time.time()), estimated_finish=None)
    return JSONResponse(_public(done))


async def pause_job(request: Request) -> Response:
    done = _move_job(request, PAUSABLE, "paused", "Fine-tuning job paused",
                     "Job {id} is {status}; only a running job can be paused.", estimated_finish=None)
    return JSONResponse(_public(done))


async def resume_job(request: Request) -> Response:
    done = _move_job(request, RESUMABLE, "running", "Fine-tuning job resumed",
                     "Job {id} is {status}; only a paused job can be resumed.")
    _backend(request).runner.wake()
    return JSONResponse(_public(done))


async def job_events(request: Request) -> Response:
    b = _backend(request)
    job_id = request.path_params["job_id"]
    _job(b, job_id)
    after = request.query_params.get("after")
    events, has_more = found(b.store.list_events(job_id, after, limit_param(request, 20, 1000)),
                             f"No event {after} in job {job_id}", param="after")
    return JSONResponse({"object": "list", "data": events, "has_more": has_more})


async def job_checkpoints(request: Request) -> Response:
    b = _backend(request)
    job_id = request.path_params["job_id"]
    _job(b, job_id)
    items = [obj for obj, _ in b.store.list_checkpoints(job_id)]
    after = request.query_params.get("after")
    if after:
        ids = [c["id"] for c in items]
        items = items[ids.index(after) + 1:] if after in ids else []
    return JSONResponse(page_of(items, limit_param(request, 10, 100)))


# -- models and completions -------------------------------------------------------------------


async def list_models(request: Request) -> Response:
    b = _backend(request)
    bases = [m.object() for m in base_models.BASE_MODELS.values()]
    return JSONResponse({"object": "list", "data": [*bases, *b.store.list_models()]})


async def get_model(request: Request) -> Response:
    b = _backend(request)
    model_id = request.path_params["model"]
    base = base_models.find(model_id)
    if base is not None:
        return JSONResponse(base.object())
    obj, _ = found(b.store.get_model(model_id), f"The model '{model_id}' does not exist", param="model",
                   code="model_not_found")
    return JSONResponse(obj)


async def delete_model(request: Request) -> Response:
    b = _backend(request)
    model_id = request.path_params["model"]
    if base_models.find(model_id) is not None:
        raise ApiError(403, "You cannot delete a base model.", param="model", code="model_not_deletable")
    if not b.store.delete_model(model_id):
        raise not_found(f"The model '{model_id}' does not exist", param="model", code="model_not_found")
    b.models.forget(model_id)
    return JSONResponse({"id": model_id, "object": "model", "deleted": True})


# Inference (featurising a long text, scoring it) runs in a worker thread: a big request must not hold up the
# event loop, and with it every other request.
def _answer(response: dict, body: dict, chunks) -> Response:
    """The response whole, or with stream=True as OpenAI's server-sent events (core.backend.streaming)."""
    from core.backend.generation import take_pieces

    pieces = take_pieces(response)
    if body.get("stream") is True:
        return StreamingResponse(chunks(response, body, pieces), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})
    return JSONResponse(response)


def _check_stream(body: dict) -> None:
    if body.get("stream") not in (None, True, False):
        raise bad_request("Invalid 'stream': expected a boolean.", param="stream")
    if body.get("stream_options") is not None and (body.get("stream") is not True
                                                    or not isinstance(body["stream_options"], dict)):
        raise bad_request("The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                          param="stream_options")


async def _infer(request: Request, answer, body: dict) -> dict:
    # on a worker thread: a transformer's forward pass (or first load) must not hold up the event loop, and
    # concurrent requests then share batches (TransformerModel.predict_proba). A long body waits for the long
    # lane, so long requests cannot take every worker thread while a short one waits behind them.
    b = _backend(request)
    if len(await request.body()) > LONG_BODY:
        import asyncio
        import functools

        from core.backend.limits import long_lane

        return await asyncio.get_running_loop().run_in_executor(long_lane(), functools.partial(answer, b.models, body))
    return await run_in_threadpool(answer, b.models, body)


async def chat_completions(request: Request) -> Response:
    from core.backend.streaming import chat_chunks

    body = await json_body(request)
    _check_stream(body)
    return _answer(await _infer(request, chat_completion, body), body, chat_chunks)


async def completions(request: Request) -> Response:
    from core.backend.streaming import completion_chunks

    body = await json_body(request)
    _check_stream(body)
    return _answer(await _infer(request, completion, body), body, completion_chunks)


# -- the app ----------------------------------------------------------------------------------
ROUTES = [
    Route("/v1/files", upload_file, methods=["POST"]),
    Route("/v1/files", list_files, methods=["GET"]),
    Route("/v1/files/{file_id}", get_file, methods=["GET"]),
    Route("/v1/files/{file_id}", delete_file, methods=["DELETE"]),
    Route("/v1/files/{file_id}/content", file_content, methods=["GET"]),
    Route("/v1/fine_tuning/jobs", create_job, methods=["POST"]),
    Route("/v1/fine_tuning/jobs", list_jobs, methods=["GET"]),
    Route("/v1/fine_tuning/jobs/{job_id}", get_job, methods=["GET"]),
    Route("/v1/fine_tuning/jobs/{job_id}/cancel", cancel_job, methods=["POST"]),
    Route("/v1/fine_tuning/jobs/{job_id}/pause", pause_job, methods=["POST"]),
    Route("/v1/fine_tuning/jobs/{job_id}/resume", resume_job, methods=["POST"]),
    Route("/v1/fine_tuning/jobs/{job_id}/events", job_events, methods=["GET"]),
    Route("/v1/fine_tuning/jobs/{job_id}/checkpoints", job_checkpoints, methods=["GET"]),
    Route("/v1/models", list_models, methods=["GET"]),
    Route("/v1/models/{model:path}", get_model, methods=["GET"]),
    Route("/v1/models/{model:path}", delete_model, methods=["DELETE"]),
    Route("/v1/chat/completions", chat_completions, methods=["POST"]),
    Route("/v1/completions", completions, methods=["POST"]),
    *BATCH_ROUTES,
]


async def _api_error(request: Request, exc: ApiError) -> Response:
    return exc.response()


async def _http_error(request: Request, exc: HTTPException) -> Response:
    if exc.status_code == 404:
        return error_response(404, f"Invalid URL ({request.method} {request.url.path})")
    if exc.status_code == 405:
        # the path's routes are split by method: list them all, as Allow must
        allowed = sorted({m for r in request.app.routes if isinstance(r, Route) and r.methods
                          and r.matches(request.scope)[0] != Match.NONE for m in r.methods})
        return error_response(405, f"Method {request.method} not allowed for {request.url.path}",
                              headers={"Allow": ", ".join(allowed)})
    return error_response(exc.status_code, str(exc.detail))


async def _client_gone(request: Request, exc: ClientDisconnect) -> Response:
    # the client left while sending its body: nobody reads an answer, and it is no error of the server's
    return Response(status_code=400)


async def _storage_error(request: Request, exc: OSError) -> Response:
    """A full or read-only data folder: a clear error the SDKs do not retry (x-should-retry: false); any
    other OSError is the generic 500 below."""
    from core.errors import storage_error

    found = storage_error(exc)
    if found is None:
        raise exc
    import errno
    import logging

    full = found.errno in (errno.ENOSPC, errno.EDQUOT)
    logging.getLogger("startune.backend").error("%s %s: %s", request.method, request.url.path, found)
    return error_response(507, f"The local backend cannot write to its data folder: {found.message}. "
                               f"{'Free some disk space' if full else 'Make the folder writable'} and try again.",
                          "server_error", code="insufficient_storage" if full else "storage_not_writable",
                          headers={"x-should-retry": "false"})


async def _server_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, DroppedConnection):
        raise exc  # an injected fault: the response has started, nothing more may be sent
    # never a traceback on the wire; the operator's log keeps it
    import logging

    logging.getLogger("startune.backend").exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "The server had an error while processing your request.", "server_error",
                          code="server_error")


def create_app(data_dir: Path, *, api_key: str | None = None, pace: float = 0.0,
               faults: FaultConfig | None = None, deny_training: bool = False, lease: float = 15.0,
               max_upload: int = MAX_UPLOAD, max_body: int = MAX_BODY, start_runner: bool = True,
               azure: bool = False, start_batches: bool | None = None,
               devices: str | int | None = None) -> Starlette:
    """``start_batches`` (default: as ``start_runner``): this process answers pending batches. ``devices``:
    what a transformer job trains on (core/backend/devices.py; None: STARTUNE_DEVICES)."""
    backend = Backend(Path(data_dir), api_key=api_key, pace=pace, deny_training=deny_training,
                      max_upload=max_upload, max_body=max_body, lease=lease, devices=devices)
    # each handler takes its own exception type; Starlette's annotation wants them all to take Exception
    handlers: dict[Any, Any] = {ApiError: _api_error, HTTPException: _http_error, ClientDisconnect: _client_gone,
                                OSError: _storage_error, Exception: _server_error}
    app = Starlette(routes=ROUTES, exception_handlers=handlers)
    app.state.backend = backend
    app.add_middleware(BodyLimitMiddleware, upload_path="/v1/files", max_upload=max_upload, max_body=max_body)
    app.add_middleware(SlowBodyMiddleware)
    if faults is not None:
        app.add_middleware(FaultMiddleware, config=faults)
    if api_key:
        app.add_middleware(AuthMiddleware, api_key=api_key)
    if azure:  # outermost: turns Azure's paths and api-key header into the OpenAI ones the rest expects
        from core.backend.azure import AzureShapes

        app.add_middleware(AzureShapes, backend=backend)
    app.add_middleware(RequestIdMiddleware)  # outermost: a refused key or body has an id too
    if start_runner:
        backend.runner.start()
    if start_runner if start_batches is None else start_batches:
        backend.batch_worker.start()
    return app


__all__ = ["create_app", "LOCAL_BASE_MODEL"]
