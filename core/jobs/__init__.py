"""The job lifecycle on any backend that speaks OpenAI's fine-tuning API."""
