"""Checking fine-tuning files as OpenAI would, counting tokens offline, estimating cost."""
