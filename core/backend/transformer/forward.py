"""Forward batches: token ids padded per batch (not to the maximum length), texts of similar lengths
together so that padding, most of a CPU's waste, stays small."""

from __future__ import annotations

from collections.abc import Sequence

INFER_BATCH = 64              # texts in one forward pass at most...
INFER_TOKENS = 1024           # ...and padded tokens: long texts go in smaller batches than short ones


def pad_batch(ids: list[list[int]], pad_id: int, device):
    """A (batch, longest) tensor of token ids and its attention mask: padding per batch, not to MAX_LENGTH."""
    import torch

    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for i, x in enumerate(ids):
        input_ids[i, : len(x)] = torch.as_tensor(x, dtype=torch.long)
        mask[i, : len(x)] = 1
    return input_ids.to(device), mask.to(device)


def batches(lengths: Sequence[int], most: int | None = None, tokens: int | None = None) -> list[list[int]]:
    """Indices of the texts in forward batches: shortest first, each batch as many texts as fit ``tokens``
    once padded to its longest (``most`` at most, one at least). A fixed 64 left a quarter of a sorted
    chunk's tokens padding on real reviews (its last batch pads the tail's few long texts' length onto
    many shorter ones); this leaves a few percent."""
    most, tokens = most or INFER_BATCH, tokens or INFER_TOKENS
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    out: list[list[int]] = []
    current: list[int] = []
    for i in order:
        if current and (len(current) >= most or (len(current) + 1) * max(lengths[i], 1) > tokens):
            out.append(current)
            current = []
        current.append(i)
    if current:
        out.append(current)
    return out
