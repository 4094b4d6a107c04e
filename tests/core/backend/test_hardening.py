"""What the fuzzer and hand-made requests broke: bad chat content, integrations, auth on every path, body
limits enforced while reading, inference off the event loop, list ids, 405s. Each test fails without its fix."""

from __future__ import annotations

import asyncio
import threading
import tracemalloc

import httpx2
import openai
import pytest

from core.backend.app import create_app
from tests.core.backend.fuzzing import IMPLEMENTED
from tests.fixtures.backend import write_chat_jsonl

BASE = "http://startune.local/v1"


@pytest.fixture
async def raw(tmp_path):
    """A bare HTTP client on an in-process backend, for requests the openai client would never send."""
    app = create_app(tmp_path / "backend", lease=2.0, max_upload=1 << 20, max_body=1 << 20)
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=BASE) as client:
        client.app = app
        yield client
    app.state.backend.runner.stop()


@pytest.mark.parametrize("content", [
    5, None, 1.5, True, {"text": "hi"}, [], [{"type": "text", "text": 5}], [{"type": "text", "text": None}],
    [{"type": "text"}], [{"type": "image_url", "image_url": "not-an-object"}], [{"type": "video"}], ["plain"],
])
async def test_bad_chat_content_is_a_400_not_a_500(api, content):
    with pytest.raises(openai.BadRequestError) as info:
        await api.chat.completions.create(model="startune-local", messages=[{"role": "user", "content": content}])
    assert info.value.body["param"].startswith("messages[0].content")


@pytest.mark.parametrize("body, param", [
    ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
    ({"messages": [{"role": "user", "content": "x"}], "temperature": 3}, "temperature"),
    ({"messages": [{"role": "user", "content": "x"}], "n": 0}, "n"),
    ({"messages": [{"role": "user", "content": "x"}], "logprobs": 1}, "logprobs"),
    ({"messages": [{"role": "user", "content": "x"}], "stop": ["a", "b", "c", "d", "e"]}, "stop"),
])
async def test_chat_parameters_are_checked(api, body, param):
    with pytest.raises(openai.BadRequestError) as info:
        await api.post("/chat/completions", cast_to=object, body={"model": "startune-local", **body})
    assert info.value.body["param"] == param


async def test_valid_requests_the_backend_used_to_refuse(api):
    # no user message: the model reads the last message with text
    answer = await api.chat.completions.create(model="startune-local",
                                               messages=[{"role": "developer", "content": "great app"}])
    assert answer.choices[0].message.content
    parts = await api.chat.completions.create(model="startune-local", messages=[
        {"role": "user", "content": [{"type": "text", "text": "love"}, {"type": "text", "text": " it"}]},
        {"role": "assistant", "content": None, "tool_calls": []}])
    assert parts.choices[0].finish_reason == "stop"
    for prompt in (None, [1212, 318, 257, 10**9], [[1212, 318], [13]], []):
        done = await api.post("/completions", cast_to=object, body={"model": "startune-local", "prompt": prompt})
        assert done["choices"], prompt


@pytest.mark.parametrize("integrations", [1, "x", {}, [{}], [{"type": "wandb"}], [{"type": "slack", "wandb": {}}],
                                          [{"type": "wandb", "wandb": {"project": 5}}],
                                          [{"type": "wandb", "wandb": {"project": "p", "tags": "t"}}]])
async def test_integrations_are_validated(api, tmp_path, integrations):
    train = await api.files.create(file=write_chat_jsonl(tmp_path / "t.jsonl", 12), purpose="fine-tune")
    with pytest.raises(openai.BadRequestError) as info:
        await api.post("/fine_tuning/jobs", cast_to=object, body={
            "model": "startune-local", "training_file": train.id, "integrations": integrations})
    assert info.value.body["param"].startswith("integrations")
    assert (await api.fine_tuning.jobs.list()).data == []


async def test_wandb_integration_is_kept_and_lists_stay_in_schema(api, tmp_path):
    train = await api.files.create(file=write_chat_jsonl(tmp_path / "t.jsonl", 12), purpose="fine-tune")
    wandb = [{"type": "wandb", "wandb": {"project": "reviews", "tags": ["a"]}}]
    job = await api.fine_tuning.jobs.create(model="startune-local", training_file=train.id, integrations=wandb)
    assert job.integrations[0].wandb.project == "reviews"
    assert (await api.fine_tuning.jobs.list()).data[0].integrations[0].type == "wandb"
    await api.fine_tuning.jobs.cancel(job.id)


async def test_empty_lists_have_string_ids(api):
    files = await api.get("/files", cast_to=object)
    assert files["data"] == [] and files["first_id"] == "" and files["last_id"] == ""


async def test_limits_below_one_are_refused_and_big_pages_capped(api):
    with pytest.raises(openai.BadRequestError):
        await api.fine_tuning.jobs.list(limit=0)
    with pytest.raises(openai.BadRequestError):
        await api.files.list(limit=10_001)
    assert (await api.fine_tuning.jobs.list(limit=10**15)).data == []


# -- authentication ----------------------------------------------------------------------------------------
def _concrete(path: str) -> str:
    return "/v1" + path.replace("{file_id}", "file-x").replace("{fine_tuning_job_id}", "ftjob-x").replace(
        "{model}", "startune-local")


@pytest.fixture
async def keyed(tmp_path):
    app = create_app(tmp_path / "keyed", api_key="sk-local-secret-1234", lease=2.0)
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://startune.local") as c:
        yield c
    app.state.backend.runner.stop()


@pytest.mark.parametrize("header", [None, "Bearer wrong-key", "Basic c2stbG9jYWw6", "sk-local-secret-1234",
                                    "Bearer", "Bearer sk-local-secret-12345"])
async def test_every_path_wants_the_key(keyed, header):
    headers = {"Authorization": header} if header else {}
    for path, methods in IMPLEMENTED.items():
        for method in methods:
            response = await keyed.request(method.upper(), _concrete(path), headers=headers, json={})
            assert response.status_code == 401, (method, path, response.text)
            error = response.json()["error"]
            assert error["code"] == "invalid_api_key" and error["type"] == "invalid_request_error"
            assert "sk-local-secret-1234" not in error["message"]


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
async def test_the_bearer_scheme_is_case_insensitive(keyed, scheme):
    response = await keyed.get("/v1/models", headers={"Authorization": f"{scheme} sk-local-secret-1234"})
    assert response.status_code == 200
    client = openai.AsyncOpenAI(api_key="sk-local-secret-1234", base_url="http://startune.local/v1",
                                http_client=keyed)
    answer = await client.chat.completions.create(model="startune-local", messages=[{"role": "user", "content": "ok"}])
    assert answer.choices[0].message.content


# -- body limits -----------------------------------------------------------------------------------------
class Counted:
    """A chunked request body of ``total`` bytes that records how much the server pulled."""

    def __init__(self, head: bytes, total: int, chunk: int = 64 * 1024, tail: bytes = b"") -> None:
        self.head, self.total, self.chunk, self.tail, self.pulled = head, total, chunk, tail, 0

    async def __aiter__(self):
        block = b"x" * self.chunk
        for piece in [self.head, *[block] * (self.total // self.chunk), self.tail]:
            self.pulled += len(piece)
            yield piece


async def test_a_chunked_upload_over_the_limit_is_cut_off_while_reading(raw, tmp_path):
    boundary = "startune-boundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nfine-tune\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.jsonl\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    body = Counted(head, 100 << 20, tail=f"\r\n--{boundary}--\r\n".encode())
    response = await raw.post("/files", content=body,
                              headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code == 413 and response.json()["error"]["code"] == "file_too_large"
    # 1 MB limit + 1 MB of form slack: the other 98 MB were never read, so never spooled
    assert body.pulled <= (2 << 20) + 2 * body.chunk + len(head)
    assert not any(raw.app.state.backend.store.file_path("x").parent.iterdir())


def test_over_real_http_a_chunked_upload_over_the_limit_gets_413(tmp_path):
    from tests.fixtures.backend import ServerThread

    server = ServerThread(tmp_path / "served", max_upload=1 << 20).start()
    try:
        def body():
            yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.jsonl"\r\n\r\n'
            yield from [b"x" * 65536] * 320  # 20 MB, no Content-Length
        response = httpx2.post(f"{server.base_url}/files", content=body(), timeout=30,
                               headers={"Content-Type": "multipart/form-data; boundary=b"})
        assert response.status_code == 413 and response.json()["error"]["code"] == "file_too_large"
        assert httpx2.get(f"{server.base_url}/models").status_code == 200
        assert not any(server.app.state.backend.store.file_path("x").parent.iterdir())
    finally:
        server.stop()


async def test_a_chunked_json_body_over_the_limit_is_cut_off_without_growing(raw):
    tracemalloc.start()
    try:
        body = Counted(b'{"model": "startune-local", "training_file": "', 64 << 20)
        response = await raw.post("/fine_tuning/jobs", content=body, headers={"Content-Type": "application/json"})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"
    assert body.pulled <= (1 << 20) + 2 * body.chunk
    assert peak < 8 << 20, f"peak {peak / 2**20:.1f} MB while refusing a 64 MB body"


async def test_a_declared_length_over_the_limit_is_refused_before_reading(raw):
    body = Counted(b"{", 4 << 20)
    response = await raw.post("/chat/completions", content=body,
                              headers={"Content-Type": "application/json", "Content-Length": str(4 << 20)})
    assert response.status_code == 413 and body.pulled == 0


async def test_uploads_under_the_limit_still_work(raw):
    response = await raw.post("/files", files={"file": ("t.jsonl", b"{}\n" * 1000)}, data={"purpose": "fine-tune"})
    assert response.status_code == 200 and response.json()["bytes"] == 3000
    # every purpose OpenAI takes is stored (a job then refuses a file not meant for fine-tuning)
    batch = await raw.post("/files", files={"file": ("b.jsonl", b"{}\n")}, data={"purpose": "batch"})
    assert batch.status_code == 200 and batch.json()["purpose"] == "batch"


ANCHOR, SECONDS = "expires_after[anchor]", "expires_after[seconds]"


@pytest.mark.parametrize("expires, ok", [
    ({ANCHOR: "created_at", SECONDS: "3600"}, True), ({ANCHOR: "created_at", SECONDS: "59"}, False),
    ({ANCHOR: "last_used", SECONDS: "3600"}, False), ({"expires_after": '{"anchor": "created_at", "seconds": 7200}'}, True),
    ({"expires_after": "soon"}, False), ({"colour": "red"}, False),
    ({"expires_after": ['{"anchor": "created_at", "seconds": 7200}'] * 2}, False),
])
async def test_upload_form_fields_are_checked(raw, expires, ok):
    response = await raw.post("/files", files={"file": ("t.jsonl", b"{}\n")}, data={"purpose": "fine-tune", **expires})
    assert response.status_code == (200 if ok else 400), response.text
    if ok:
        assert response.json()["expires_at"] > response.json()["created_at"]


# -- the event loop --------------------------------------------------------------------------------------
async def test_inference_does_not_block_other_requests(local_backend, monkeypatch):
    """While a chat completion is being computed, GET /v1/models is answered."""
    started, release = threading.Event(), threading.Event()

    class Slow:
        classes = ["1", "5"]

        def predict_proba(self, texts):
            started.set()
            release.wait(5)  # on the event loop, this would hold every request for 5 s
            return [[0.25, 0.75]]

    models = local_backend.app.state.backend.models
    real_get = models.get
    monkeypatch.setattr(models, "get", lambda model_id: Slow() if model_id == "ft:slow" else real_get(model_id))
    client = local_backend.client()
    chat = asyncio.create_task(client.chat.completions.create(
        model="ft:slow", messages=[{"role": "user", "content": "a long review"}]))
    try:
        assert await asyncio.to_thread(started.wait, 10)
        listed = await asyncio.wait_for(client.models.list(), 4)
        assert not chat.done(), "the models list waited for the chat completion"
        assert listed.data[0].id == "startune-local"
    finally:
        release.set()
    assert (await chat).choices[0].message.content == "5"


async def test_405_lists_the_allowed_methods(raw):
    response = await raw.request("PUT", "/files")
    assert response.status_code == 405 and set(response.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}
    assert response.json()["error"]["message"].startswith("Method PUT not allowed")
