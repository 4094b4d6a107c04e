"""startune's local backend: an OpenAI-compatible fine-tuning server that really trains a small model."""

from core.choices import LOCAL_BASE_MODEL  # noqa: F401  (imported from here by most of core)
LOCAL_ORG = "local"
