"""Cleaning: drop empty texts and bad labels, de-duplicate, resolve texts seen with different labels.

Texts are factorised once into integer group codes and every duplicate and conflict rule works on
those codes with numpy: on 288K rows this is several times faster than pandas string operations.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from core.data.labels import LabelSet

if TYPE_CHECKING:
    import pandas as pd

ConflictPolicy = Literal["keep_first", "drop", "majority"]
CONFLICT_POLICIES = ("keep_first", "drop", "majority")


@dataclass
class CleanReport:
    rows_in: int = 0
    empty_text: int = 0
    invalid_labels: dict[str, int] = field(default_factory=dict)   # reason -> rows dropped
    exact_duplicates: int = 0          # rows identical in every column to an earlier row
    duplicate_texts: int = 0           # further rows repeating an earlier text with the same label
    conflicting_texts: int = 0         # distinct texts seen with more than one label
    conflict_rows_dropped: int = 0     # rows removed by the conflict policy
    rows_out: int = 0

    @property
    def dropped(self) -> int:
        return self.rows_in - self.rows_out

    def to_dict(self) -> dict:
        return asdict(self) | {"dropped": self.dropped}


def normalise_labels(raw: pd.Series, labels: LabelSet) -> tuple[pd.Series, pd.Series]:
    """LabelSet.normalise_series on the distinct raw values only, then spread back by code."""
    import pandas as pd

    nested = _nested(raw)
    if nested is not None:  # a list or object is no label (and cannot be hashed): its own reason
        raw = raw.mask(nested)
    codes, uniques = pd.factorize(raw, use_na_sentinel=True)
    norm_u, reason_u = labels.normalise_series(pd.Series(uniques, dtype=object))
    missing = codes < 0
    take = np.where(missing, 0, codes)
    if len(uniques):
        norm = pd.Series(norm_u.to_numpy(dtype=object)[take], index=raw.index, dtype="string")
        reason = pd.Series(reason_u.to_numpy(dtype=object)[take], index=raw.index, dtype="string")
    else:
        norm = pd.Series(pd.NA, index=raw.index, dtype="string")
        reason = pd.Series(pd.NA, index=raw.index, dtype="string")
    norm[missing] = pd.NA
    reason[missing] = "missing_label"
    if nested is not None:
        reason[nested.to_numpy(dtype=bool)] = NOT_A_VALUE
    return norm, reason


NOT_A_VALUE = "list_or_object"


def _nested(column: pd.Series) -> pd.Series | None:
    """True where a cell holds a list or an object (typed inputs only); None when there are none."""
    from pandas.api.types import infer_dtype

    if column.dtype != object or infer_dtype(column, skipna=True) not in ("mixed", "mixed-integer", "unknown-array"):
        return None
    nested = column.map(lambda v: isinstance(v, (list, dict, tuple, np.ndarray)))
    return nested if nested.any() else None


def _hashable(frame: pd.DataFrame) -> pd.DataFrame:
    """Lists and objects in other columns as JSON text, so whole-row comparisons can hash them."""
    import orjson

    out = frame
    for name in frame.columns:
        nested = _nested(frame[name])
        if nested is not None:
            if out is frame:
                out = frame.copy()
            out[name] = frame[name].map(lambda v: orjson.dumps(v, default=str, option=orjson.OPT_SERIALIZE_NUMPY)
                                        if isinstance(v, (list, dict, tuple, np.ndarray)) else v)
    return out


def _first_of_group(group: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """True at the first row (in order) of each group among the rows where mask is set."""
    idx = np.flatnonzero(mask)
    first = np.zeros(len(group), dtype=bool)
    if len(idx):
        _, pos = np.unique(group[idx], return_index=True)
        first[idx[pos]] = True
    return first


def clean(
    frame: pd.DataFrame,
    text_column: str,
    label_column: str,
    labels: LabelSet,
    *,
    dedup: bool = True,
    conflict_policy: ConflictPolicy = "keep_first",
) -> tuple[pd.DataFrame, CleanReport]:
    """Return (kept rows with columns text/label/row/group, report).

    ``row`` is the 1-based input row, ``group`` an integer code per distinct text (the splitter keeps
    a group together). Text is compared after stripping surrounding whitespace, which is also what
    gets written. With ``dedup`` off, duplicates stay.
    """
    import pandas as pd

    if conflict_policy not in CONFLICT_POLICIES:
        raise ValueError(f"unknown conflict policy {conflict_policy!r}")
    n = len(frame)
    report = CleanReport(rows_in=n)
    text = frame[text_column].astype("string").fillna("").str.strip()
    label, reason = normalise_labels(frame[label_column], labels)
    empty = (text == "").to_numpy(dtype=bool)
    bad_label = label.isna().to_numpy(dtype=bool) & ~empty
    report.empty_text = int(empty.sum())
    report.invalid_labels = {str(k): int(v) for k, v in reason[bad_label].value_counts().items()}
    keep = ~empty & ~bad_label

    group, _ = pd.factorize(text)
    label_code = np.full(n, -1, dtype=np.int64)
    label_code[keep] = pd.Categorical(label[keep], categories=list(labels.values)).codes
    n_labels = len(labels.values)

    # Whole-row duplicates can only be among rows whose text repeats: check just those.
    repeated = keep & pd.Series(group).duplicated(keep=False).to_numpy()
    exact = np.zeros(n, dtype=bool)
    if repeated.any():
        sub = _hashable(frame[repeated])
        exact[np.flatnonzero(repeated)] = sub.duplicated(keep="first").to_numpy()
    report.exact_duplicates = int(exact.sum())
    if dedup:
        keep &= ~exact

    pair = group.astype(np.int64) * (n_labels + 1) + label_code
    pair_first = _first_of_group(pair, keep)
    labels_per_text = np.bincount(group[pair_first], minlength=group.max() + 1 if n else 0)
    conflicting = keep & (labels_per_text[group] > 1) if n else keep
    report.conflicting_texts = int((labels_per_text > 1).sum())

    if report.conflicting_texts:
        if conflict_policy == "drop":
            report.conflict_rows_dropped = int(conflicting.sum())
            keep &= ~conflicting
        else:
            if conflict_policy == "majority":
                winner = _majority_label(group, label_code, pair, keep & conflicting, n_labels)
            else:  # keep_first: the label of the text's first row
                first = _first_of_group(group, keep)
                winner = np.full(labels_per_text.shape, -1, dtype=np.int64)
                winner[group[first]] = label_code[first]
            loses = conflicting & (label_code != winner[group])
            report.conflict_rows_dropped = int(loses.sum())
            keep &= ~loses
    if dedup:
        first = _first_of_group(group, keep)
        report.duplicate_texts = int((keep & ~first).sum())
        keep &= first

    idx = np.flatnonzero(keep)
    out = pd.DataFrame({
        "text": text.iloc[idx].reset_index(drop=True),
        "label": label.iloc[idx].reset_index(drop=True),
        "row": idx + 1,
        "group": group[idx],
    })
    report.rows_out = len(out)
    return out, report


def _majority_label(group, label_code, pair, mask, n_labels) -> np.ndarray:
    """Per text group: the most frequent label; ties go to the label seen first."""
    idx = np.flatnonzero(mask)
    winner = np.full(group.max() + 1, -1, dtype=np.int64)
    if not len(idx):
        return winner
    pairs, first_pos, counts = np.unique(pair[idx], return_index=True, return_counts=True)
    g = pairs // (n_labels + 1)
    lab = pairs % (n_labels + 1)
    # sort by group, then count descending, then first appearance ascending; take the first per group
    order = np.lexsort((idx[first_pos], -counts, g))
    g_sorted = g[order]
    head = np.ones(len(order), dtype=bool)
    head[1:] = g_sorted[1:] != g_sorted[:-1]
    winner[g_sorted[head]] = lab[order][head]
    return winner
