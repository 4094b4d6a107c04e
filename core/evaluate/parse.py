"""From a model's free-text answer to a label, or None when it cannot be told."""

from __future__ import annotations

import re
from collections.abc import Sequence

WORDS = {"one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "zero": "0",
         "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10"}
_NUMBER = re.compile(r"(?<![\d.])(\d+)(?:\.0+)?(?![\d.])")
_OUT_OF = re.compile(r"(\d+)\s*(?:/|out of|of)\s*\d+")


def parse_label(answer: str | None, labels: Sequence[str]) -> str | None:
    """'5', ' 5', '5 stars', 'Rating: 4', '4/5', '★★★★', 'four', 'Positive.' -> a label of the set.
    An answer naming two different labels, or none, is unparseable: never guessed."""
    if answer is None:
        return None
    text = answer.strip()
    if not text:
        return None
    allowed = {str(v) for v in labels}
    if text in allowed:
        return text
    lowered = text.lower().strip(" .!*\"'`:")
    for label in allowed:
        if lowered == label.lower():
            return label
    stars = text.count("★") or text.count("⭐")
    if stars and str(stars) in allowed:
        return str(stars)
    out_of = _OUT_OF.search(lowered)
    if out_of and out_of.group(1) in allowed:
        return out_of.group(1)
    found = {m.group(1) for m in _NUMBER.finditer(lowered)} & allowed
    found |= {WORDS[w] for w in re.findall(r"[a-z]+", lowered) if w in WORDS and WORDS[w] in allowed}
    if not found:
        words = set(re.findall(r"[\w-]+", lowered))
        found = {label for label in allowed if label.lower() in words}
    return found.pop() if len(found) == 1 else None


def label_probabilities(top_logprobs: dict[str, float], labels: Sequence[str]) -> dict[str, float] | None:
    """Per-label probability from a token -> logprob map, renormalised over the labels found."""
    import math

    probs: dict[str, float] = {}
    for token, logprob in top_logprobs.items():
        label = token.strip()
        if label in labels:
            probs[label] = probs.get(label, 0.0) + math.exp(logprob)
    total = sum(probs.values())
    if not total:
        return None
    return {label: probs.get(label, 0.0) / total for label in labels}
