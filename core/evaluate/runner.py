"""Asking a model for the label of every test example: bounded concurrency, a client-side rate
limit, retries with Retry-After, and every answer stored as it arrives so a rerun resumes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from core.records.formats import DEFAULT_SEPARATOR, Example, read_examples
from core.errors import DataError
from core.evaluate.metrics import compute_metrics
from core.evaluate.parse import label_probabilities, parse_label
from core.evaluate.ratelimit import RateLimiter
from core.progress import ProgressFn, null_progress
from core.registry.db import eval_key_of

MAX_TOKENS = 5


@dataclass
class EvalOptions:
    system_prompt: str | None = None
    few_shot: int = 0
    train: Path | None = None
    limit: int | None = None
    seed: int = 0

    def key_part(self) -> dict:
        return {"system_prompt": self.system_prompt, "few_shot": self.few_shot, "limit": self.limit, "seed": self.seed,
                "train": _sha(self.train) if self.few_shot and self.train else None}


@dataclass
class EvalReport:
    model: str
    data: str
    metrics: dict
    answered_now: int = 0          # requests made by this run (the rest came from the registry)
    answers: list[dict] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict:
        return {"model": self.model, "data": self.data, "answered_now": self.answered_now, **self.metrics}


def _sha(path: Path) -> str:
    from core.digest import sha256_file

    return sha256_file(path)


def eval_key(model: str, data_sha: str, options: EvalOptions) -> str:
    return eval_key_of(model, data_sha, options.key_part())


_read: dict[tuple, list[Example]] = {}   # the last file read: a command estimates, then evaluates, on it


def load_examples(data: Path, limit: int | None) -> list[Example]:
    stat = Path(data).stat()
    key = (str(Path(data).resolve()), stat.st_mtime_ns, stat.st_size)
    examples = _read.get(key)
    if examples is None:
        examples = list(read_examples(data))
        _read.clear()
        _read[key] = examples
    if not examples:
        raise DataError("no examples to evaluate", path=data)
    return examples[:limit] if limit else list(examples)


def pick_shots(train: Path | None, k: int, labels: list[str], seed: int) -> list[Example]:
    """k training examples, spread over the labels (round-robin), seeded."""
    if not k:
        return []
    if train is None or not Path(train).is_file():
        raise DataError("few-shot prompts need the train split", path=train, hint="pass --train BUILD_DIR/train.jsonl")
    import numpy as np

    pool = list(read_examples(train))
    rng = np.random.default_rng(seed)
    by_label = {label: [e for e in pool if e.label == label] for label in labels}
    for group in by_label.values():
        rng.shuffle(group)
    shots: list[Example] = []
    while len(shots) < k and any(by_label.values()):
        for label in labels:
            if by_label[label] and len(shots) < k:
                shots.append(by_label[label].pop())
    return shots


def build_request(model: str, example: Example, shots: list[Example], options: EvalOptions, logprobs: bool) -> tuple[str, dict]:
    if example.format == "chat":
        messages = []
        system = options.system_prompt if options.system_prompt is not None else example.system_prompt
        if system:
            messages.append({"role": "system", "content": system})
        for shot in shots:
            messages += [{"role": "user", "content": shot.text}, {"role": "assistant", "content": shot.label}]
        messages.append({"role": "user", "content": example.text})
        body = {"model": model, "messages": messages, "temperature": 0, "max_tokens": MAX_TOKENS}
        if logprobs:
            body |= {"logprobs": True, "top_logprobs": 5}
        return "chat", body
    prompt = "".join(f"{s.text}{DEFAULT_SEPARATOR} {s.label}\n\n" for s in shots) + example.text + DEFAULT_SEPARATOR
    body = {"model": model, "prompt": prompt, "temperature": 0, "max_tokens": MAX_TOKENS}
    if logprobs:
        body["logprobs"] = 5
    return "completion", body


# what is stored for an example the model refused as longer than its context: counted as unparseable
TOO_LONG_ANSWER = {"answer": "", "label": None, "probs": None, "tokens": None, "refused": "context_length_exceeded"}


def _answer_of(kind: str, response, labels: list[str]) -> dict:
    return answer_from_body(kind, response.model_dump(), labels)


def answer_from_body(kind: str, body: dict, labels: list[str]) -> dict:
    """What is stored of one answer (a chat or text completion as JSON), whichever way it came."""
    choice = body["choices"][0]
    probs = None
    logprobs = choice.get("logprobs") or {}
    if kind == "chat":
        text = (choice.get("message") or {}).get("content") or ""
        content = logprobs.get("content")
        if content:
            probs = label_probabilities({t["token"]: t["logprob"] for t in content[0].get("top_logprobs") or []},
                                        labels)
    else:
        text = choice.get("text") or ""
        tops = logprobs.get("top_logprobs")
        if tops:
            probs = label_probabilities(dict(tops[0]), labels)
    usage = body.get("usage") or {}
    return {"answer": text, "label": parse_label(text, labels), "probs": probs, "tokens": usage.get("total_tokens")}


def estimate_tokens(body: dict) -> int:
    text = orjson.dumps(body.get("messages") or body.get("prompt"))
    return len(text) // 4 + MAX_TOKENS


def estimate_cost(model: str, data: Path, options: EvalOptions, *, count_tokens: bool = True) -> dict:
    """Input and output tokens of the whole evaluation, priced for the model (None when unknown).
    ``count_tokens=False``: for a backend that does not bill by token (free, tokens left uncounted)."""
    import math

    if not count_tokens:
        return {"model": model, "examples": len(load_examples(Path(data), options.limit)), "input_tokens": None,
                "output_tokens": None, "usd": 0.0}

    from core.validation.models import model_info
    from core.validation.tokens import get_encoding

    info = model_info(model)
    enc = get_encoding(info.encoding)
    examples = load_examples(Path(data), options.limit)
    labels = sorted({e.label for e in examples})
    shots = pick_shots(options.train, options.few_shot, labels, options.seed) if options.few_shot else []
    shot_tokens = sum(len(enc.encode_ordinary(s.text)) + 8 for s in shots)
    system = len(enc.encode_ordinary(options.system_prompt)) + 4 if options.system_prompt else 0
    inputs = sum(len(enc.encode_ordinary(e.text)) + 7 + shot_tokens + system for e in examples)
    outputs = 2 * len(examples)
    price_in, price_out = info.input_usd_per_1m, info.output_usd_per_1m
    usd = None if math.isnan(price_in) else round((inputs * price_in + outputs * price_out) / 1e6, 4)
    return {"model": info.name, "examples": len(examples), "input_tokens": inputs, "output_tokens": outputs, "usd": usd}


async def evaluate(client, model: str, data: Path, options: EvalOptions | None = None, *, concurrency: int = 8,
                   rpm: float | None = None, tpm: float | None = None, registry=None,
                   progress: ProgressFn | None = None, run_id: str | None = None, batch: bool = False,
                   backend: str = "local", poll_max: float = 30.0) -> EvalReport:
    """``batch``: send the requests through the Batch API (the batch ids kept in the registry under
    ``backend``, the backend's registry key), then ask one by one whatever the batches did not answer."""
    import openai

    from core.retry import call_with_backoff, without_sdk_retries

    options = options or EvalOptions()
    progress = progress or null_progress
    data = Path(data)
    examples = load_examples(data, options.limit)
    # the labels of the whole file, not of the first --limit examples: an answer naming a label those
    # few lack is still that label, not an unparseable answer
    labels = sorted({e.label for e in load_examples(data, None)}, key=lambda v: (not v.lstrip("-").isdigit(), int(v) if v.lstrip("-").isdigit() else 0, v))
    shots = pick_shots(options.train, options.few_shot, labels, options.seed)
    data_sha = _sha(data)
    key = eval_key(model, data_sha, options)
    answers: dict[int, dict] = registry.answers(key) if registry is not None else {}
    todo = [i for i in range(len(examples)) if i not in answers]
    limiter = RateLimiter(rpm, tpm)
    semaphore = asyncio.Semaphore(concurrency)
    client = without_sdk_retries(client)  # retried below, by the one policy
    state = {"logprobs": 1, "done": len(answers), "made": 0}   # logprobs: asked for them (until refused)
    progress("evaluate", state["done"], len(examples))
    if batch and todo:
        from core.evaluate.batch import send_and_collect

        got = await send_and_collect(
            client, todo, lambda i: build_request(model, examples[i], shots, options, True),
            lambda kind, body: answer_from_body(kind, body, labels), registry=registry, key=key, backend=backend,
            progress=progress, done_before=state["done"], total=len(examples), poll_max=poll_max)
        answers.update(got)
        state["made"] += len(got)
        state["done"] += len(got)
        todo = [i for i in todo if i not in answers]

    async def ask(i: int) -> None:
        async with semaphore:
            while True:
                kind, body = build_request(model, examples[i], shots, options, bool(state["logprobs"]))
                await limiter.acquire(estimate_tokens(body))
                create = client.chat.completions.create if kind == "chat" else client.completions.create
                def send(create=create, body=body):
                    return create(**body)

                try:
                    response = await call_with_backoff(send)
                    break
                except openai.BadRequestError as exc:
                    # some backends refuse logprobs: ask without them rather than fail
                    if state["logprobs"] and "logprobs" in str(exc).lower():
                        state["logprobs"] = 0
                        continue
                    if getattr(exc, "code", None) == "context_length_exceeded":
                        # one review longer than the model reads is one unanswered example, not a lost run
                        response = None
                        break
                    raise
            answer = TOO_LONG_ANSWER if response is None else _answer_of(kind, response, labels)
            state["made"] += 1
            answers[i] = answer
            if registry is not None:
                registry.add_answer(key, i, answer)
            state["done"] += 1
            progress("evaluate", state["done"], len(examples))

    tasks = [asyncio.create_task(ask(i)) for i in todo]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    ordered = [answers[i] for i in range(len(examples))]
    metrics = compute_metrics([e.label for e in examples], [a["label"] for a in ordered], labels)
    with_probs = [a["probs"] for a in ordered if a.get("probs")]
    metrics["with_label_probabilities"] = len(with_probs)
    metrics["too_long"] = sum(1 for a in ordered if a.get("refused") == "context_length_exceeded")
    report = EvalReport(model, str(data), metrics, state["made"], ordered)
    if registry is not None:
        if run_id is None:
            run = next((r for r in registry.list_runs() if r.get("fine_tuned_model") == model), None)
            run_id = run["id"] if run else None
        registry.add_evaluation(model=model, data=str(data), data_sha=data_sha, options=options.key_part(),
                                report=report.to_dict(), run_id=run_id)
    return report
