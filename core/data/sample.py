"""Sampling N examples per split, optionally class-balanced, and ordering a split."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np

from core.data.labels import LabelSet
from core.choices import ORDERS, Order
from core.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

Balance = Literal["equal"] | int | None


def sample_split(
    frame: pd.DataFrame, n: int | None, balance: Balance, rng: np.random.Generator
) -> pd.DataFrame:
    """Up to n rows. balance="equal": the same number per label (the rarest label's count caps it);
    balance=int: at most that many per label. Rows keep their input order; ordering comes after."""
    if n is not None and n < 0:
        raise ConfigError(f"sample size {n} must not be negative")
    if isinstance(balance, int) and not isinstance(balance, bool) and balance < 1:
        raise ConfigError(f"per-label cap {balance} must be at least 1")
    if balance is None:
        if n is None or n >= len(frame):
            return frame
        picked = np.sort(rng.choice(len(frame), size=n, replace=False))
        return frame.iloc[picked].reset_index(drop=True)

    groups = {label: np.flatnonzero(frame["label"].to_numpy() == label) for label in sorted(frame["label"].unique())}
    if balance == "equal":
        per_label = min((len(g) for g in groups.values()), default=0)
        if n is not None and groups:
            per_label = min(per_label, n // len(groups))
        caps = dict.fromkeys(groups, per_label)
    elif isinstance(balance, int):
        caps = {label: min(balance, len(g)) for label, g in groups.items()}
        if n is not None and sum(caps.values()) > n:
            caps = _fair_share(caps, n)
    else:
        raise ConfigError(f"unknown balance {balance!r}: use 'equal' or a per-label cap")
    chosen = [rng.choice(g, size=caps[label], replace=False) for label, g in groups.items() if caps[label]]
    picked = np.sort(np.concatenate(chosen)) if chosen else np.array([], dtype=np.int64)
    return frame.iloc[picked].reset_index(drop=True)


def _fair_share(caps: dict[str, int], n: int) -> dict[str, int]:
    """Cut per-label counts down to n in total, as evenly as the labels allow (water-filling):
    small labels keep all they have, the rest share what is left equally."""
    out: dict[str, int] = {}
    left = n
    pending = sorted(caps, key=lambda k: (caps[k], k))
    for i, label in enumerate(pending):
        share = left // (len(pending) - i)
        out[label] = min(caps[label], share)
        left -= out[label]
    # hand out what integer division left over, one each, largest labels first
    for label in sorted(pending, key=lambda k: (-(caps[k] - out[k]), k)):
        if left == 0:
            break
        if out[label] < caps[label]:
            out[label] += 1
            left -= 1
    return out


def order_split(frame: pd.DataFrame, order: Order, labels: LabelSet, rng: np.random.Generator) -> pd.DataFrame:
    """Shuffled (seeded), or sorted by label in the label set's order, shuffled within each label."""
    if order not in ORDERS:
        raise ConfigError(f"unknown order {order!r}: use shuffled or sorted")
    shuffled = frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)
    if order == "shuffled":
        return shuffled
    rank = shuffled["label"].map({v: i for i, v in enumerate(labels.values)})
    return shuffled.iloc[np.argsort(rank.to_numpy(), kind="stable")].reset_index(drop=True)
