"""The data audit: which reviews' stars disagree with their text, before anything trains on them.

Confident learning (cleanlab) needs out-of-sample predicted probabilities: each cleaned row is scored
by a model that never saw its label. The model is the default linear model's features (TF-IDF word
and character n-grams, fitted once on every cleaned text: they use no label) with a softmax
regression fitted by the same optimiser for a fixed few epochs on k-1 folds, the folds on threads
(numpy's products release the GIL). cleanlab then ranks the rows whose given label its estimated
noise rates call wrong. Texts seen with several labels (found by cleaning) are listed alongside:
no model is needed to see that "Good" cannot be both 1 and 5 stars.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.choices import DEFAULT_CONFLICT_POLICY, DEFAULT_SEED, ConflictPolicy
from core.data.labels import LabelSet
from core.errors import DataError
from core.progress import ProgressFn, null_progress

if TYPE_CHECKING:
    from core.data.load import LoadedDataset

DEFAULT_FOLDS = 5
EPOCHS = 3            # out-of-fold scores, not a final model: a few passes calibrate better than many
MIN_ROWS = 50
MAX_FOLD_THREADS = 2  # two folds' products at once; more only adds memory on a small machine
CONFLICT_ROWS_SHOWN = 5
FIT_LIMIT = 50_000        # texts the TF-IDF vocabulary is fitted on, at most (memory stays bounded)
TRANSFORM_CHUNK = 20_000


@dataclass
class Issue:
    row: int              # 1-based input row (the key corrections use)
    text: str
    given: str
    suggested: str        # the most likely other label
    confidence: float     # 1 - the model's out-of-sample probability of the given label
    p_suggested: float    # that probability of the suggested label
    text_hash: str


@dataclass
class Conflict:
    text: str
    labels: dict[str, int]      # label -> rows carrying it
    rows: list[int]             # the first few rows (1-based)
    text_hash: str


@dataclass
class AuditReport:
    source: str
    fingerprint: str
    text_column: str
    label_column: str
    labels: list[str]
    rows_in: int
    rows_audited: int
    folds: int
    seed: int
    oof_accuracy: float          # how well the out-of-fold model agrees with the given labels
    noisy_share: float           # cleanlab's estimate of the share of wrong labels
    per_label: dict[str, dict]   # label -> rows, flagged, flagged share, suggested label counts
    issues: list[Issue] = field(repr=False)
    conflicts: list[Conflict] = field(repr=False)
    cleaning: dict = field(default_factory=dict)

    @property
    def flagged(self) -> int:
        return len(self.issues)

    def to_dict(self, top: int | None = None) -> dict:
        d = asdict(self)
        d["flagged"] = self.flagged
        d["flagged_share"] = self.flagged / self.rows_audited if self.rows_audited else 0.0
        d["conflicting_texts"] = len(self.conflicts)
        if top is not None:
            d["issues"] = d["issues"][:top]
            d["conflicts"] = d["conflicts"][:top]
        return d


def audit(
    source: str | Path | LoadedDataset,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    labels: LabelSet | None = None,
    conflict_policy: ConflictPolicy = DEFAULT_CONFLICT_POLICY,
    folds: int = DEFAULT_FOLDS,
    seed: int = DEFAULT_SEED,
    progress: ProgressFn | None = None,
) -> AuditReport:
    """Rank the cleaned rows of ``source`` whose label is most likely wrong (see the module's note)."""
    from core.data.clean import clean_keys
    from core.data.corrections import text_hash
    from core.data.load import LoadedDataset, load_dataset

    progress = progress or null_progress
    labels = labels or LabelSet()
    if folds < 2:
        raise DataError(f"--folds {folds}: give 2 or more")
    ds = source if isinstance(source, LoadedDataset) else load_dataset(
        source, text_column=text_column, label_column=label_column, progress=progress)
    from core.data.sizes import check_text_sizes

    check_text_sizes(ds.frame[ds.text_column], ds.source, ds.text_column)  # as prepare refuses it
    progress("clean", 0, 1)
    cleaned, texts, report = clean_keys(ds.frame, ds.text_column, ds.label_column, labels,
                                        conflict_policy=conflict_policy)
    conflicts = _conflicts(ds, texts, labels)
    rows = cleaned["row"].to_numpy()
    n = len(rows)
    if n < MIN_ROWS:
        raise DataError(f"too few usable rows to audit: {n:,} after cleaning (at least {MIN_ROWS})",
                        path=ds.source, column=ds.text_column)
    given = cleaned["label"].to_numpy(dtype=object)
    present = [v for v in labels.values if v in set(given)]
    if len(present) < 2:
        raise DataError(f"every usable row has the same label ({present[0] if present else '-'}): nothing to "
                        "compare it with", path=ds.source, column=ds.label_column)
    index = {v: i for i, v in enumerate(present)}
    y = np.fromiter((index[v] for v in given), dtype=np.int64, count=n)
    progress("clean", 1, 1)
    text_list = texts.take(rows - 1)

    proba = out_of_fold_proba(text_list, y, len(present), folds=folds, seed=seed, progress=progress)
    progress("rank", 0, 1)
    ranked, noisy = _rank(y, proba)
    suggested = _suggested(proba, y)
    issues = [Issue(int(rows[i]), text_list[i], present[y[i]], present[suggested[i]],
                    round(float(1.0 - proba[i, y[i]]), 4), round(float(proba[i, suggested[i]]), 4),
                    text_hash(text_list[i])) for i in ranked]
    flagged = np.zeros(n, dtype=bool)
    flagged[ranked] = True
    per_label = {}
    for v in labels.values:
        if v not in index:
            per_label[v] = {"rows": 0, "flagged": 0, "flagged_share": 0.0, "suggested": {}}
            continue
        mine = y == index[v]
        moved = np.bincount(suggested[mine & flagged], minlength=len(present))
        per_label[v] = {"rows": int(mine.sum()), "flagged": int((mine & flagged).sum()),
                        "flagged_share": round(float((mine & flagged).sum() / max(1, mine.sum())), 4),
                        "suggested": {present[j]: int(c) for j, c in enumerate(moved) if c}}
    progress("rank", 1, 1)
    return AuditReport(
        source=ds.source, fingerprint=ds.fingerprint, text_column=ds.text_column, label_column=ds.label_column,
        labels=list(labels.values), rows_in=report.rows_in, rows_audited=n, folds=folds, seed=seed,
        oof_accuracy=round(float(np.mean(proba.argmax(axis=1) == y)), 4), noisy_share=round(noisy, 4),
        per_label=per_label, issues=issues, conflicts=conflicts, cleaning=report.to_dict())


def out_of_fold_proba(texts: list[str], y: np.ndarray, n_classes: int, *, folds: int = DEFAULT_FOLDS,
                      seed: int = DEFAULT_SEED, progress: ProgressFn = null_progress) -> np.ndarray:
    """Each row's class probabilities from a model fitted on the other folds (features fitted once on
    every text: TF-IDF uses no label)."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from sklearn.model_selection import KFold, StratifiedKFold

    from core.backend.linear import Featurizer, fit_softmax, softmax_proba

    progress("features", 0, len(texts))
    if len(texts) > FIT_LIMIT:
        # the vocabulary from a seeded sample: counting every n-gram of every text is what costs
        # memory; the rows are then transformed a chunk at a time
        from scipy.sparse import vstack

        sample = np.sort(np.random.default_rng([seed, 5]).permutation(len(texts))[:FIT_LIMIT])
        featurizer, _ = Featurizer.fit([texts[i] for i in sample])
        parts = []
        for start in range(0, len(texts), TRANSFORM_CHUNK):
            parts.append(featurizer.transform(texts[start:start + TRANSFORM_CHUNK]))
            progress("features", min(start + TRANSFORM_CHUNK, len(texts)), len(texts))
        X = vstack(parts, format="csr")
        del parts
    else:
        _, X = Featurizer.fit(texts)
    progress("features", len(texts), len(texts))
    counts = np.bincount(y, minlength=n_classes)
    # stratified when every label can be in every fold; a rare label otherwise lands where it falls
    splitter = (StratifiedKFold(folds, shuffle=True, random_state=seed) if counts[counts > 0].min() >= folds
                else KFold(folds, shuffle=True, random_state=seed))
    proba = np.zeros((len(y), n_classes), dtype=np.float64)

    def fold(i: int, train: np.ndarray, held: np.ndarray) -> None:
        W, b = fit_softmax(X, y, n_classes, epochs=EPOCHS, rows=train, seed=seed + i)
        proba[held] = softmax_proba(X[held], W, b)

    progress("folds", 0, folds)
    with ThreadPoolExecutor(max_workers=MAX_FOLD_THREADS, thread_name_prefix="audit-fold") as pool:
        futures = [pool.submit(fold, i, train, held) for i, (train, held) in enumerate(splitter.split(X, y))]
        for done, future in enumerate(as_completed(futures), 1):
            future.result()
            progress("folds", done, folds)
    return proba


def _rank(y: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, float]:
    """(indices of the label issues, most likely wrong first; estimated share of wrong labels)."""
    from cleanlab.count import num_label_issues
    from cleanlab.filter import find_label_issues

    ranked = find_label_issues(y, proba, return_indices_ranked_by="self_confidence", n_jobs=1)
    noisy = num_label_issues(y, proba) / len(y)
    return np.asarray(ranked, dtype=np.int64), float(noisy)


def _suggested(proba: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The most likely label other than the given one."""
    others = proba.copy()
    others[np.arange(len(y)), y] = -1.0
    return others.argmax(axis=1)


def _conflicts(ds, texts, labels: LabelSet) -> list[Conflict]:
    """Texts seen with more than one valid label, most rows first."""
    import pandas as pd

    from core.data.clean import _text_keys, normalise_labels
    from core.data.corrections import text_hash

    group, empty = _text_keys(texts.raw)
    label, _ = normalise_labels(ds.frame[ds.label_column], labels)
    ok = ~empty & label.notna().to_numpy(dtype=bool)
    frame = pd.DataFrame({"group": group[ok], "label": label.to_numpy(dtype=object)[ok],
                          "row": np.flatnonzero(ok) + 1})
    per_text = frame.groupby("group")["label"].nunique()
    bad = per_text.index[per_text.to_numpy() > 1]
    if not len(bad):
        return []
    frame = frame[frame["group"].isin(bad)]
    out = []
    order = {v: i for i, v in enumerate(labels.values)}
    for _, part in sorted(frame.groupby("group"), key=lambda kv: (-len(kv[1]), kv[1]["row"].iloc[0])):
        first = int(part["row"].iloc[0])
        text = texts.take([first - 1])[0]
        counts = part["label"].value_counts()
        out.append(Conflict(text, {k: int(counts[k]) for k in sorted(counts.index, key=lambda v: order.get(v, 0))},
                            part["row"].head(CONFLICT_ROWS_SHOWN).astype(int).tolist(), text_hash(text)))
    return out
