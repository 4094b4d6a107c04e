"""Issue 29: requests that cost far more than they look, against the served backend with the real openai
client over real HTTP. Each test bounds its own time (the client's timeout) so a regression fails, not hangs."""

from __future__ import annotations

import asyncio
import os
import sys
import threading

import openai
import pytest

from core.backend import zero_shot
from core.backend.limits import CONTEXT_TOKENS, LONG_BODY, LONG_LANE, LONG_NICE


@pytest.fixture
async def served(backend_server):
    client = openai.AsyncOpenAI(api_key="unused", base_url=backend_server.base_url, max_retries=0, timeout=20)
    yield client
    await client.close()


def _chat(text: str) -> dict:
    return {"model": "startune-local", "messages": [{"role": "user", "content": text}]}


@pytest.fixture
def encoded(monkeypatch):
    """Every character the backend hands the o200k encoder."""
    from core.validation.tokens import get_encoding

    enc = get_encoding("o200k_base")
    real, seen = enc.encode_ordinary, []

    def spy(text):
        seen.append(len(text))
        return real(text)

    monkeypatch.setattr(enc, "encode_ordinary", spy)
    return seen


async def test_a_prompt_over_the_context_limit_is_openais_400(served):
    over = "word " * (CONTEXT_TOKENS + 10)
    for call in (lambda: served.chat.completions.create(**_chat(over)),
                 lambda: served.completions.create(model="startune-local", prompt=over),
                 lambda: served.completions.create(model="startune-local", prompt=[over[:len(over) // 2]] * 2)):
        with pytest.raises(openai.BadRequestError) as info:
            await call()
        assert info.value.code == "context_length_exceeded", info.value.body
        assert f"maximum context length is {CONTEXT_TOKENS} tokens" in info.value.message
    under = await served.chat.completions.create(**_chat("great app " * 2000))
    assert under.choices[0].message.content == "5"


async def test_a_ten_million_character_request_is_refused_after_a_bounded_count(served, encoded):
    with pytest.raises(openai.BadRequestError) as info:
        await served.chat.completions.create(**_chat("word " * 1_980_000))
    assert info.value.code == "context_length_exceeded"
    assert sum(encoded) < 40 * CONTEXT_TOKENS, "the whole text was tokenised to refuse it"


def test_the_lexicon_scores_a_long_text_in_windows(monkeypatch):
    analyzer = zero_shot._vader()
    real, words = analyzer.polarity_scores, []

    def spy(text):
        words.append(len(text.split()))
        return real(text)

    monkeypatch.setattr(analyzer, "polarity_scores", spy)
    zero_shot.BASE.predict_proba(["Love it, works great but the ads are annoying"])
    assert words == [9], "a short text is scored whole"
    words.clear()
    proba = zero_shot.BASE.predict_proba(["I love this app, it is wonderful. " * 3000])
    assert max(words) <= zero_shot.WINDOW and sum(words) == 21_000
    assert proba[0].argmax() == 4


async def test_long_requests_cannot_take_every_worker_thread(served, monkeypatch):
    # a long request blocks until released: with every one holding a worker thread a short one would wait
    release, running, nice = threading.Event(), [], {}
    real = zero_shot.BASE.predict_proba

    def slow(texts):
        long = len(texts[0]) > LONG_BODY
        nice.setdefault(long, set()).add(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        if long:
            running.append(1)
            release.wait(15)
        return real(texts)

    monkeypatch.setattr(zero_shot.BASE, "predict_proba", slow)
    long = [asyncio.create_task(served.chat.completions.create(**_chat("fine " * (LONG_BODY // 4))))
            for _ in range(45)]
    try:
        for _ in range(200):
            if len(running) >= LONG_LANE:
                break
            await asyncio.sleep(0.05)
        short = await asyncio.wait_for(served.chat.completions.create(**_chat("love it")), 5)
        assert short.choices[0].message.content == "5"
        assert len(running) == LONG_LANE, "more long requests ran at once than the long lane allows"
    finally:
        release.set()
    assert all(t.choices[0].message.content for t in await asyncio.gather(*long))
    if sys.platform.startswith("linux"):   # and the long lane yields the CPU to everything else the server does
        base = os.getpriority(os.PRIO_PROCESS, 0)
        assert nice == {True: {min(19, base + LONG_NICE)}, False: {base}}, nice


async def test_an_upload_with_a_line_past_the_cap_fails_its_job_naming_the_line(served, tmp_path):
    from core.records.jsonl import MAX_LINE
    from tests.core.backend.helpers import wait_for

    blob = tmp_path / "blob.jsonl"
    with blob.open("wb") as f:
        f.write(b'{"messages": [{"role": "user", "content": "ok"}, {"role": "assistant", "content": "5"}]}\n')
        f.truncate(MAX_LINE + 2 * 2**20)  # a sparse run of zero bytes with no newline
    uploaded = await served.files.create(file=blob, purpose="fine-tune")
    job = await served.fine_tuning.jobs.create(model="startune-local", training_file=uploaded.id)
    done = await wait_for(served, job.id, timeout=30)
    assert done.status == "failed" and done.error.code == "invalid_training_file"
    assert "row 2" in done.error.message and "longer than 16 MB" in done.error.message, done.error.message
    assert str(tmp_path) not in done.error.message


# -- what the SDKs read or send that the backend ignored -------------------------------------------------
async def test_every_response_has_a_request_id_the_sdk_reads(served):
    answer = await served.chat.completions.with_raw_response.create(**_chat("love it"))
    assert answer.request_id and answer.request_id.startswith("req_")
    assert (await served.models.list())._request_id != answer.request_id
    with pytest.raises(openai.NotFoundError) as info:
        await served.models.retrieve("ft:nope")
    assert info.value.request_id and info.value.request_id.startswith("req_")


@pytest.mark.parametrize("extra, param, code", [
    ({"top_logprobs": 2}, "top_logprobs", None),
    ({"top_logprobs": 2, "logprobs": False}, "top_logprobs", None),
    ({"max_tokens": 0}, "max_tokens", "integer_below_min_value"),
    ({"max_completion_tokens": 0}, "max_completion_tokens", "integer_below_min_value"),
])
async def test_chat_parameters_openai_refuses_are_refused(served, extra, param, code):
    with pytest.raises(openai.BadRequestError) as info:
        await served.chat.completions.create(**_chat("love it"), **extra)
    assert info.value.param == param and info.value.code == code, info.value.body


async def test_text_completions_echo_and_zero_max_tokens(served):
    prompt = "Love it, works great\n\n###\n\n"
    plain = await served.completions.create(model="startune-local", prompt=prompt)
    echoed = await served.completions.create(model="startune-local", prompt=prompt, echo=True)
    assert echoed.choices[0].text == prompt + plain.choices[0].text
    nothing = await served.completions.create(model="startune-local", prompt=prompt, max_tokens=0)
    assert nothing.choices[0].text == "" and nothing.choices[0].finish_reason == "length"
    assert nothing.usage.completion_tokens == 0
    only_prompt = await served.completions.create(model="startune-local", prompt=prompt, max_tokens=0, echo=True)
    assert only_prompt.choices[0].text == prompt
    streamed = await served.completions.create(model="startune-local", prompt=prompt, echo=True, stream=True)
    assert "".join([c.choices[0].text async for c in streamed if c.choices]) == echoed.choices[0].text
    with pytest.raises(openai.BadRequestError) as info:
        await served.completions.create(model="startune-local", prompt=prompt, echo=True, logprobs=2)
    assert info.value.param == "echo"
