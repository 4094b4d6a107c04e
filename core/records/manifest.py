"""A build's manifest.json, declared once: what both preparation engines (core.data.pipeline and the
DuckDB one) write, what a launch of the user's own files records, and what every reader takes.

The manifest stays plain JSON at run time, so a build made by an earlier version still loads (its readers
ask for what may be missing with ``.get``); the declaration is for mypy, which holds each writer's fields
and each reader's keys to it."""

# no `from __future__ import annotations`: TypedDict reads NotRequired from evaluated annotations only
from typing import Any, NotRequired, TypedDict


class InputInfo(TypedDict, total=False):
    source: str
    format: str
    fingerprint: str
    rows: int
    text_column: str
    label_column: str
    split_column: str | None


class SplitInfo(TypedDict):
    file: str
    examples: int
    sha256: str
    labels: NotRequired[dict[str, int]]   # a build's splits; a launch of one's own files counts examples only
    bytes: NotRequired[int]


class SampleCount(TypedDict):
    requested: int | None
    written: int


class TokenSummary(TypedDict):
    """What pricing a launch needs of a file's validation, tied to the file's bytes (core.jobs.estimate)."""

    sha256: str
    model: str
    format: str
    ok: bool
    n_examples: int
    billed_tokens_per_epoch: int
    default_epochs: int
    n_over_limit: int
    max_example_tokens: int


class TokensNote(TypedDict):
    counted: bool
    reason: NotRequired[str]


class BuildManifest(TypedDict):
    input: InputInfo
    splits: dict[str, SplitInfo]
    # a build's (core.data): what made it
    startune_version: NotRequired[str]
    created_at: NotRequired[str]
    options: NotRequired[dict[str, Any]]    # PrepareOptions.to_dict()
    seed: NotRequired[int | None]
    format: NotRequired[str]
    format_note: NotRequired[str | None]
    cleaning: NotRequired[dict[str, Any]]   # CleanReport.to_dict() and cross_split_duplicates_removed
    engine: NotRequired[str]                # "duckdb"; absent: in memory
    samples: NotRequired[dict[str, SampleCount]]
    warnings: NotRequired[list[str]]
    corrections: NotRequired[dict[str, Any]]
    validation: NotRequired[dict[str, TokenSummary]]   # only where tokens were counted
    tokens: NotRequired[TokensNote]
    # a launch of the user's own files (core.jobs.launch)
    user_files: NotRequired[bool]


__all__ = ["BuildManifest", "InputInfo", "SampleCount", "SplitInfo", "TokenSummary", "TokensNote"]
