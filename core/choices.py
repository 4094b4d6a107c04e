"""The values a user picks from, and their defaults: one home for the command line's choices, the app's
selects and the code that acts on them. Plain data, no imports, so ``startune --help`` stays fast."""

from __future__ import annotations

from typing import Literal

# Preparation
ConflictPolicy = Literal["keep_first", "drop", "majority"]
CONFLICT_POLICIES: tuple[ConflictPolicy, ...] = ("keep_first", "drop", "majority")
DEFAULT_CONFLICT_POLICY: ConflictPolicy = "keep_first"
Order = Literal["shuffled", "sorted"]
ORDERS: tuple[Order, ...] = ("shuffled", "sorted")
DEFAULT_ORDER: Order = "shuffled"
Format = Literal["chat", "completion"]
FORMATS: tuple[Format, ...] = ("chat", "completion")
DEFAULT_FORMAT: Format = "chat"
DEFAULT_SEED = 42
DEFAULT_SEPARATOR = "\n\n###\n\n"
DEFAULT_LABELS = "1-5"
MAX_LABELS = 50   # distinct labels a dataset may map onto: the local classifiers' class limit too
DEFAULT_FRACTIONS = "0.6,0.2,0.2"
Engine = Literal["auto", "memory", "duckdb"]
ENGINES: tuple[Engine, ...] = ("auto", "memory", "duckdb")   # core/data/outofcore.py: which one when
DEFAULT_ENGINE: Engine = "auto"

# Training
BackendKind = Literal["local", "openai", "azure", "compatible"]
BACKEND_KINDS: tuple[BackendKind, ...] = ("local", "openai", "azure", "compatible")
CLASS_WEIGHTS = ("auto", "none", "balanced")           # the local backend's own hyperparameter
# what the local trainers' "auto" choices (class weighting, step size, the epoch kept) maximise on validation;
# macro-F1 by default: star data is skewed, and accuracy alone rewards never answering 2, 3 or 4
OBJECTIVES = ("macro_f1", "accuracy", "mae")
DEFAULT_OBJECTIVE = "macro_f1"
TRAINING_TYPES = ("Standard", "GlobalStandard", "Developer")  # Azure OpenAI's trainingType
# The local backend's built-in base models, by id: here so that validation (below the backend) can tell a
# local model, which trains free, from an OpenAI one; core.backend.base_models says how each one trains.
LOCAL_BASE_MODEL = "startune-local"
LOCAL_BASE_MODELS = (LOCAL_BASE_MODEL, "minilm-l6", "smollm2-135m")


def escaped(text: str) -> str:
    """A default as typed on a command line or in a field: '\\n\\n###\\n\\n' for DEFAULT_SEPARATOR."""
    return text.encode("unicode_escape").decode("ascii")
