"""Kept for callers outside core (the app); the home is :mod:`core.retry`."""

from core.retry import DEFAULT_POLICY, PollIntervals, RetryPolicy, call_with_backoff, without_sdk_retries

__all__ = ["DEFAULT_POLICY", "PollIntervals", "RetryPolicy", "call_with_backoff", "without_sdk_retries"]
