"""stream=True on chat and text completions: OpenAI's server-sent events, read by the real openai client,
for the classifier models (a label is one chunk) over real HTTP."""

from __future__ import annotations

import pytest

from tests.core.backend.helpers import wait_for
from tests.core.backend.test_transformer_jobs import _job, real_reviews, write_chat


async def test_a_classifier_streams_its_answer_as_the_sdk_expects(tmp_path, threads_csv):
    from core.backend.embedded import EmbeddedBackend

    train = write_chat(tmp_path / "train.jsonl", real_reviews(threads_csv, 200))
    async with EmbeddedBackend(tmp_path / "b", lease=5.0) as backend:
        client = backend.client()
        done = await wait_for(client, (await _job(client, train, "startune-local", {})).id, timeout=120)
        assert done.status == "succeeded", done.error
        messages = [{"role": "user", "content": "Crashes every time, useless"}]
        whole = await client.chat.completions.create(model=done.fine_tuned_model, messages=messages)
        stream = await client.chat.completions.create(model=done.fine_tuned_model, messages=messages, stream=True,
                                                      stream_options={"include_usage": True})
        chunks = [c async for c in stream]
        assert chunks[0].choices[0].delta.role == "assistant"
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == whole.choices[0].message.content
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
        assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == whole.usage.total_tokens

        text = await client.completions.create(model=done.fine_tuned_model, prompt="Love it", stream=True)
        pieces = [c async for c in text]
        assert "".join(c.choices[0].text for c in pieces if c.choices).strip() in {"1", "2", "3", "4", "5"}


async def test_stream_options_without_stream_is_refused(local_client):
    import openai

    with pytest.raises(openai.BadRequestError, match="stream_options"):
        await local_client.chat.completions.create(model="startune-local", messages=[{"role": "user", "content": "hi"}],
                                                   stream_options={"include_usage": True})
