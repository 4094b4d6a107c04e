"""Train / val / test splits that never put one text in two splits."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from core.errors import ConfigError, DataError

if TYPE_CHECKING:
    import pandas as pd

SPLITS = ("train", "val", "test")
_SPLIT_ALIASES = {
    "train": "train", "training": "train", "trn": "train",
    "val": "val", "valid": "val", "validation": "val", "dev": "val", "development": "val",
    "test": "test", "testing": "test", "tst": "test", "eval": "test", "evaluation": "test",
}


def rng_for(seed: int, *stream: int) -> np.random.Generator:
    """An independent, reproducible generator per pipeline step, so changing one step's
    options never shifts another step's randomness."""
    return np.random.default_rng([seed, *stream])


def check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    if len(fractions) != 3:
        raise ConfigError("split fractions need three values: train, val, test")
    fr = tuple(float(f) for f in fractions)
    if not all(math.isfinite(f) for f in fr):
        raise ConfigError(f"split fractions {','.join(map(str, fractions))} must be finite numbers like 0.8,0.1,0.1")
    if any(f < 0 for f in fr) or fr[0] <= 0:
        raise ConfigError(f"split fractions {fr} must be non-negative with a train share above 0")
    if abs(sum(fr) - 1.0) > 1e-6:
        raise ConfigError(f"split fractions {fr} must add up to 1 (they add up to {sum(fr):g})")
    return fr  # type: ignore[return-value]


def split_sizes(n: int, fractions: Sequence[float]) -> list[int]:
    """Largest-remainder rounding: sizes add up to n exactly (288,065 -> 172,839/57,613/57,613)."""
    raw = [n * f for f in fractions]
    sizes = [int(np.floor(r + 1e-9)) for r in raw]
    remainders = sorted(range(len(raw)), key=lambda i: (-(raw[i] - sizes[i]), i))
    for i in remainders[: n - sum(sizes)]:
        sizes[i] += 1
    return sizes


def _assign(n: int, fractions: Sequence[float], rng: np.random.Generator) -> np.ndarray:
    order = rng.permutation(n)
    assignment = np.empty(n, dtype=np.int8)
    start = 0
    for split_no, size in enumerate(split_sizes(n, fractions)):
        assignment[order[start : start + size]] = split_no
        start += size
    return assignment


def split_frame(
    frame: pd.DataFrame, fractions: Sequence[float], seed: int, *, stratify: bool = False
) -> dict[str, pd.DataFrame]:
    """Split rows with columns text/label; rows sharing a text always land in the same split."""
    import pandas as pd

    fractions = check_fractions(fractions)
    if "group" in frame:
        codes, n_groups = pd.factorize(frame["group"].to_numpy())[0], frame["group"].nunique()
    else:
        codes, uniques = pd.factorize(frame["text"], sort=False)
        n_groups = len(uniques)
    group_label = frame["label"].groupby(codes, sort=True).first().to_numpy()
    group_split = np.empty(n_groups, dtype=np.int8)
    if stratify:
        for label_no, value in enumerate(sorted(set(group_label))):
            members = np.flatnonzero(group_label == value)
            group_split[members] = _assign(len(members), fractions, rng_for(seed, 1, label_no))
    else:
        group_split = _assign(n_groups, fractions, rng_for(seed, 1))
    row_split = group_split[codes]
    return {name: frame[row_split == i].reset_index(drop=True) for i, name in enumerate(SPLITS)}


def split_by_column(frame: pd.DataFrame, values: pd.Series, column: str) -> tuple[dict[str, pd.DataFrame], int]:
    """Use a split column the data already has. Returns (splits, rows removed because their text
    also appears in a later split: test wins over val, val over train, so evaluation stays honest)."""
    import pandas as pd

    raw = values.astype("string").str.strip().str.lower()
    mapped = raw.map(_SPLIT_ALIASES)
    unknown = raw[mapped.isna()].dropna().unique().tolist()
    if unknown or mapped.isna().any():
        shown = ", ".join(repr(u) for u in unknown[:5]) or "empty values"
        raise DataError(
            f"split column {column!r} has values that are not train/val/test: {shown}", column=column
        )
    rank = mapped.map({"train": 0, "val": 1, "test": 2}).astype("int64").to_numpy()
    keys = frame["group"].to_numpy() if "group" in frame else frame["text"].to_numpy()  # group: one code per text
    best = pd.Series(rank).groupby(keys).transform("max").to_numpy()
    leaked = rank < best
    kept = frame[~leaked]
    kept_rank = rank[~leaked]
    splits = {name: kept[kept_rank == i].reset_index(drop=True) for i, name in enumerate(SPLITS)}
    return splits, int(leaked.sum())
