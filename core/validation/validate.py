"""Validating a fine-tuning JSONL file the way OpenAI does before it accepts a job."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson

from core.records.jsonl import iter_lines
from core.errors import DataError
from core.progress import ProgressFn, null_progress
from core.validation.cost import CostEstimate, default_epochs, estimate_cost
from core.validation.models import DEFAULT_MODEL, model_info
from core.validation.tokens import chat_token_totals, count_many, get_encoding

MIN_EXAMPLES = 10
CHAT_ROLES = {"system", "user", "assistant", "function", "tool", "developer"}
MESSAGE_KEYS = {"role", "content", "name", "function_call", "weight", "tool_calls", "tool_call_id", "refusal"}
COMPLETION_KEYS = {"prompt", "completion"}
LEGACY_MODEL = "babbage-002"
MAX_ISSUES_KEPT = 200  # every issue is counted; only the first ones keep their line and message

# The error categories of OpenAI's chat data-preparation guide, plus the legacy-format ones.
ERROR_CODES = {
    "invalid_json": "line is not valid JSON",
    "data_type": "example is not a JSON object",
    "missing_messages_list": "example has no 'messages' list",
    "message_missing_key": "a message lacks 'role' or 'content'",
    "message_unrecognized_key": "a message has a key OpenAI does not accept",
    "unrecognized_role": "a message has a role OpenAI does not accept",
    "missing_content": "a message has empty or non-text content",
    "invalid_weight": "an assistant message's weight is not 0 or 1",
    "example_missing_assistant_message": "example has no assistant message",
    "missing_prompt_or_completion": "example lacks 'prompt' or 'completion'",
    "unrecognized_key": "example has a key the format does not accept",
    "prompt_or_completion_not_string": "'prompt' or 'completion' is not a string",
    "mixed_formats": "chat and prompt/completion examples are mixed",
    "too_few_examples": f"OpenAI needs at least {MIN_EXAMPLES} examples",
    "empty_file": "file has no examples",
}


@dataclass
class ValidationIssue:
    code: str
    line: int | None
    message: str
    param: str | None = None

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.message}"


@dataclass
class ValidationReport:
    path: str
    model: str
    format: str                      # "chat" | "completion" | "unknown"
    n_examples: int = 0
    errors: list[ValidationIssue] = field(default_factory=list)
    error_counts: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    token_stats: dict[str, float] = field(default_factory=dict)
    n_over_limit: int = 0
    max_example_tokens: int = 0
    default_epochs: int = 3
    billed_tokens_per_epoch: int = 0
    cost: CostEstimate | None = None
    tokens_counted: bool = True      # False: a local build's report (prepare --no-tokens): no counts, no price

    @property
    def ok(self) -> bool:
        return not self.error_counts

    def first_error(self) -> ValidationIssue | None:
        return self.errors[0] if self.errors else None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["cost"] = self.cost.to_dict() if self.cost else None
        d["ok"] = self.ok
        return d


class _Collector:
    def __init__(self) -> None:
        self.issues: list[ValidationIssue] = []
        self.counts: Counter[str] = Counter()

    def add(self, code: str, line: int | None, detail: str = "", param: str | None = None) -> None:
        self.counts[code] += 1
        if len(self.issues) < MAX_ISSUES_KEPT:
            message = ERROR_CODES[code] + (f": {detail}" if detail else "")
            self.issues.append(ValidationIssue(code, line, message, param))


def _check_chat(obj: dict, line: int, out: _Collector) -> bool:
    messages = obj.get("messages")
    if not isinstance(messages, list) or not messages:
        out.add("missing_messages_list", line, param="messages")
        return False
    ok = True
    unknown_top = set(obj) - {"messages", "tools", "functions", "parallel_tool_calls"}
    if unknown_top:
        out.add("unrecognized_key", line, ", ".join(sorted(unknown_top)), param=sorted(unknown_top)[0])
        ok = False
    for i, message in enumerate(messages):
        param = f"messages[{i}]"
        if not isinstance(message, dict):
            out.add("data_type", line, f"{param} is not an object", param=param)
            ok = False
            continue
        if "role" not in message or "content" not in message and not message.get("tool_calls"):
            out.add("message_missing_key", line, param, param=param)
            ok = False
        extra = set(message) - MESSAGE_KEYS
        if extra:
            out.add("message_unrecognized_key", line, f"{param}: {', '.join(sorted(extra))}", param=param)
            ok = False
        role = message.get("role")
        if role is not None and (not isinstance(role, str) or role not in CHAT_ROLES):  # a list is unhashable
            out.add("unrecognized_role", line, f"{param}: {role!r}", param=f"{param}.role")
            ok = False
        content = message.get("content")
        if "content" in message and not message.get("tool_calls") and (
            not isinstance(content, (str, list)) or (isinstance(content, str) and not content.strip())
            or (isinstance(content, list) and not content)
        ):
            out.add("missing_content", line, param, param=f"{param}.content")
            ok = False
        # OpenAI trains on every assistant message; weight 0 leaves one out, and nothing else is a weight
        if "weight" in message and (message["weight"] not in (0, 1) or isinstance(message["weight"], bool)):
            out.add("invalid_weight", line, f"{param}: {message['weight']!r}", param=f"{param}.weight")
            ok = False
    if not any(isinstance(m, dict) and m.get("role") == "assistant" for m in messages):
        out.add("example_missing_assistant_message", line, param="messages")
        ok = False
    return ok


def _check_completion(obj: dict, line: int, out: _Collector) -> bool:
    if "prompt" not in obj or "completion" not in obj:
        out.add("missing_prompt_or_completion", line, param="completion" if "prompt" in obj else "prompt")
        return False
    ok = True
    extra = set(obj) - COMPLETION_KEYS
    if extra:
        out.add("unrecognized_key", line, ", ".join(sorted(extra)), param=sorted(extra)[0])
        ok = False
    for key in ("prompt", "completion"):
        if not isinstance(obj[key], str):
            out.add("prompt_or_completion_not_string", line, key, param=key)
            ok = False
    return ok


def validate_file(
    path: str | Path, model: str | None = None, progress: ProgressFn | None = None,
    n_epochs: int | None = None,
) -> ValidationReport:
    """Check every line; count tokens with the model's encoding; estimate the cost."""
    progress = progress or null_progress
    path = Path(path)
    try:
        size = path.stat().st_size
        fh = path.open("rb")
    except FileNotFoundError:
        raise DataError("file not found", path=path) from None
    except OSError as exc:
        raise DataError(f"cannot read: {exc.strerror}", path=path) from None

    out = _Collector()
    fmt: str | None = None
    valid: list[tuple[int, dict]] = []
    n_examples = 0
    done = 0
    with fh:
        for line_no, raw in iter_lines(fh, path):
            done += len(raw)
            if line_no % 5000 == 0:
                progress("validate", done, size)
            if not raw.strip():
                continue
            n_examples += 1
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                out.add("invalid_json", line_no, str(exc).split(":")[0])
                continue
            if not isinstance(obj, dict):
                out.add("data_type", line_no, type(obj).__name__)
                continue
            kind = "chat" if "messages" in obj else "completion" if ("prompt" in obj or "completion" in obj) else None
            if kind is None:
                out.add("missing_messages_list", line_no, "no 'messages' (nor 'prompt'/'completion')", param="messages")
                continue
            if fmt is None:
                fmt = kind
            elif kind != fmt:
                out.add("mixed_formats", line_no, f"this line is {kind}, earlier lines are {fmt}")
                continue
            if (_check_chat if kind == "chat" else _check_completion)(obj, line_no, out):
                valid.append((line_no, obj))
    progress("validate", size, size)

    fmt = fmt or "unknown"
    report, info = _new_report(path, fmt, model, n_examples, out)
    _count_tokens(valid, fmt, info.encoding, report, progress)
    return _finish(report, out, len(valid), n_epochs)


def model_for_format(fmt: str, model: str | None) -> str:
    return model or (LEGACY_MODEL if fmt == "completion" else DEFAULT_MODEL)


def _new_report(path, fmt: str, model: str | None, n_examples: int, out: _Collector):
    info = model_info(model_for_format(fmt, model))
    report = ValidationReport(str(path), info.name, fmt, n_examples=n_examples,
                              max_example_tokens=info.max_example_tokens)
    if n_examples == 0:
        out.add("empty_file", None)
    elif n_examples < MIN_EXAMPLES:
        out.add("too_few_examples", None, f"found {n_examples}")
    if fmt == "completion" and info.name in ("babbage-002", "davinci-002"):
        report.warnings.append(f"{info.name} no longer trains at OpenAI: this file is an export "
                               "(the local backend and some compatible servers accept it)")
    elif fmt == "completion" and not info.name.startswith("startune-local"):
        report.warnings.append(f"{info.name} trains on chat data; prompt/completion files are for legacy models")
    if not info.trainable and fmt != "completion" or info.note.startswith("unknown"):
        report.warnings.append(f"{info.name}: {info.note}")
    return report, info


def _finish(report: ValidationReport, out: _Collector, n_valid: int, n_epochs: int | None) -> ValidationReport:
    report.errors = out.issues
    report.error_counts = dict(out.counts)
    report.default_epochs = default_epochs(n_valid)
    report.cost = estimate_cost(report.billed_tokens_per_epoch, n_epochs or report.default_epochs, report.model)
    return report


def validate_built(
    path: str | Path, labels, text_tokens, fmt: str, *, model: str | None = None,
    system_prompt: str | None = None, separator: str = "", stop: str | None = None, n_epochs: int | None = None,
) -> ValidationReport:
    """What validate_file would report on a file the pipeline has just written, without reading it.

    Every record of such a file is one record shape per label with a review text put in, and the
    text is non-empty by construction (cleaning drops empty ones). So one record per label goes
    through the same checks as a file's lines (an issue counts once per row with that label), and
    each example's exact token count is that record's fixed part plus ``text_tokens``: the count of
    the text (chat) or of text + separator (completion), in file order. ``text_tokens=None``: tokens not
    counted (a build for a backend that does not bill by token); the report checks the format alone.
    """
    import numpy as np
    import pandas as pd

    from core.records.formats import chat_record, completion_record
    from core.validation.tokens import count_chat_tokens, count_completion_tokens, get_encoding

    codes, uniques = pd.factorize(pd.Series(labels).astype(object), sort=False)
    n = len(codes)
    out = _Collector()
    whole_file = _Collector()  # issues of the file as a whole come after the lines' ones
    report, info = _new_report(path, fmt, model, n, whole_file)
    counting = text_tokens is not None
    enc = get_encoding(info.encoding) if counting else None
    fixed = np.zeros(len(uniques), dtype=np.int64)
    per_label = np.bincount(codes, minlength=len(uniques))
    ok = np.ones(len(uniques), dtype=bool)
    probes: list[list[ValidationIssue]] = []
    for i, label in enumerate(uniques):
        if fmt == "chat":
            record = chat_record("x", label, system_prompt)
            if enc is not None:
                fixed[i] = count_chat_tokens(chat_record("", label, system_prompt)["messages"], enc)[0]
        else:
            record = completion_record("x", label, separator, stop)
            if enc is not None:
                fixed[i] = count_completion_tokens("", record["completion"], enc)[0]
        probe = _Collector()
        ok[i] = (_check_chat if fmt == "chat" else _check_completion)(record, 0, probe)
        probes.append(probe.issues)
        for issue in probe.issues:
            out.counts[issue.code] += int(per_label[i])
    keep = ok[codes] if n else np.zeros(0, dtype=bool)
    # the first issues with their lines, as a line-by-line pass would keep them
    for row in np.flatnonzero(~keep)[:MAX_ISSUES_KEPT]:
        for issue in probes[codes[row]]:
            if len(out.issues) < MAX_ISSUES_KEPT:
                out.issues.append(ValidationIssue(issue.code, int(row) + 1, issue.message, issue.param))
    for issue in whole_file.issues:
        out.add(issue.code, None, issue.message.removeprefix(ERROR_CODES[issue.code]).removeprefix(": "))
    totals = (fixed[codes] + np.asarray(text_tokens, dtype=np.int64))[keep] if counting else None
    lines = np.flatnonzero(keep) + 1
    no_system = int(keep.sum()) if fmt == "chat" and not system_prompt else 0
    not_space = not_separated = 0
    if fmt == "completion":
        spaced = np.array([completion_record("x", label, separator, stop)["completion"][:1].isspace()
                           for label in uniques], dtype=bool)
        not_space = int(per_label[ok & ~spaced].sum())
        if not _ends_with_separator(separator):
            not_separated = int(keep.sum())
    _summarise_tokens(report, totals, lines, fmt, no_system, not_space, not_separated)
    report = _finish(report, out, int(keep.sum()), n_epochs)
    if not counting:
        report.tokens_counted, report.cost = False, None
    return report


def _ends_with_separator(prompt: str) -> bool:
    return prompt.endswith(("\n\n###\n\n", "\n\n", "->", "###"))


def _count_tokens(valid: list[tuple[int, dict]], fmt: str, encoding: str, report: ValidationReport,
                  progress: ProgressFn) -> None:
    if not valid:
        return
    import numpy as np

    enc = get_encoding(encoding)
    no_system = not_space = not_separated = 0
    progress("tokens", 0, len(valid))
    if fmt == "chat":
        examples = [obj["messages"] for _, obj in valid]
        totals = chat_token_totals(examples, enc)
        no_system = sum(not any(m.get("role") == "system" for m in messages) for messages in examples)
    else:
        totals = count_many([obj["prompt"] for _, obj in valid], enc) + count_many(
            [obj["completion"] for _, obj in valid], enc)
        not_space = sum(not obj["completion"][:1].isspace() for _, obj in valid)
        not_separated = sum(not _ends_with_separator(obj["prompt"]) for _, obj in valid)
    progress("tokens", len(valid), len(valid))
    lines = np.fromiter((line for line, _ in valid), dtype=np.int64, count=len(valid))
    _summarise_tokens(report, totals, lines, fmt, no_system, not_space, not_separated)


def _summarise_tokens(report: ValidationReport, totals, lines, fmt: str, no_system: int, not_space: int,
                      not_separated: int) -> None:
    """Token stats, limit and warnings from each valid example's total (None: not counted) and line number."""
    import numpy as np

    n_valid = len(lines)
    if not n_valid:
        return
    if totals is None:
        _format_warnings(report, fmt, n_valid, no_system, not_space, not_separated)
        return
    limit = report.max_example_tokens
    over = totals > limit
    report.n_over_limit = int(over.sum())
    report.billed_tokens_per_epoch = int(np.minimum(totals, limit).sum())
    report.token_stats = {
        "min": int(totals.min()), "median": float(np.median(totals)), "p90": float(np.percentile(totals, 90)),
        "max": int(totals.max()), "mean": round(float(totals.mean()), 1), "total": int(totals.sum()),
    }
    if report.n_over_limit:
        first = int(lines[int(np.flatnonzero(over)[0])])
        report.warnings.append(f"{report.n_over_limit} examples exceed {limit:,} tokens and will be truncated "
                               f"(first at line {first})")
    _format_warnings(report, fmt, n_valid, no_system, not_space, not_separated)


def _format_warnings(report: ValidationReport, fmt: str, n_valid: int, no_system: int, not_space: int,
                     not_separated: int) -> None:
    if fmt == "chat" and no_system:
        report.warnings.append(f"{no_system} of {n_valid} examples have no system message")
    if not_space:
        report.warnings.append(f"{not_space} completions do not start with a space")
    if not_separated:
        report.warnings.append(f"{not_separated} prompts do not end with a separator such as '\\n\\n###\\n\\n'")


COMPARED_MODELS = ("gpt-4o-mini", "gpt-4.1-nano", "gpt-4.1-mini", "gpt-4o", "gpt-3.5-turbo", "startune-local")


def cost_by_model(path: str | Path, models=COMPARED_MODELS, n_epochs: int | None = None,
                  progress: ProgressFn | None = None, known: ValidationReport | None = None,
                  ) -> tuple[ValidationReport, list[CostEstimate]]:
    """Validate once per (encoding, example limit) and price the file for each model; the first
    model's report is returned for display. ``known``: the file's report already made (by prepare,
    from memory), used for the models it fits instead of reading the file again."""
    reports: dict[tuple[str, int], ValidationReport] = {}
    if known is not None:
        reports[(model_info(known.model).encoding, known.max_example_tokens)] = known
    costs = []
    for model in models:
        info = model_info(model)
        key = (info.encoding, info.max_example_tokens)
        if key not in reports:
            reports[key] = validate_file(path, model, progress=progress, n_epochs=n_epochs)
        report = reports[key]
        costs.append(estimate_cost(report.billed_tokens_per_epoch, n_epochs or report.default_epochs, info.name))
    return next(iter(reports.values())), costs


def drop_default_system_warning(report: ValidationReport, system_prompt: str | None) -> None:
    """Records without a system message are what a build was asked for when it was given no system
    prompt: warning about it is noise (files from elsewhere keep the warning)."""
    if not system_prompt:
        report.warnings = [w for w in report.warnings if not w.endswith("have no system message")]
