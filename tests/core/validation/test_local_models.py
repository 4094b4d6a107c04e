"""The local backend's transformer and LLM base models are priced like the local backend: free, not unknown."""

from core.validation.models import model_info


def test_local_base_models_are_free():
    for name in ("minilm-l6", "hf:/models/tiny-bert", "hf:org/name", "ft:minilm-l6:local::abcd1234",
                 "smollm2-135m", "ft:smollm2-135m:local::abcd1234"):
        info = model_info(name)
        assert info.training_usd_per_1m == 0.0 and info.trainable, name
        assert "local backend model" in info.note and "unknown" not in info.note, name
    assert model_info("ft:hf:/models/tiny-bert:local::abcd1234").name == "hf"
    assert model_info("gpt-4o-mini").training_usd_per_1m > 0
