"""startune's local backend: an OpenAI-compatible fine-tuning server that really trains a small model."""

LOCAL_BASE_MODEL = "startune-local"
LOCAL_ORG = "local"
